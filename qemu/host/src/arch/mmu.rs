//! Turning the EL1 stage-1 MMU on over the identity map `el1_map` built.

use crate::el1_attrs::MAIR_EL1;
use crate::el1_map::VA_BITS;
use core::arch::asm;
use stile_hyp::addr::PhysAddr;

const TCR_T0SZ: u64 = 64 - VA_BITS as u64;
/// TTBR0 walks: inner/outer write-back write-allocate, inner shareable, 4 KiB granule.
const TCR_WALK0: u64 = 1 << 8 | 1 << 10 | 3 << 12;
/// No TTBR1 walks (EPD1); TG1 must still hold a valid granule (0b10 = 4 KiB).
const TCR_NO_TTBR1: u64 = 1 << 23 | 2 << 30;
const TCR_IPS_SHIFT: u32 = 32;

/// Bits that are RES1 in SCTLR_EL1 on Armv8.0 (EOS, TSCXT, EIS, SPAN, nTLSMD, LSMAOE).
const SCTLR_RES1: u64 = 1 << 11 | 1 << 20 | 1 << 22 | 1 << 23 | 1 << 28 | 1 << 29;
const SCTLR_M: u64 = 1 << 0;
const SCTLR_C: u64 = 1 << 2;
const SCTLR_SA: u64 = 1 << 3;
const SCTLR_I: u64 = 1 << 12;

/// Enable the EL1 MMU and caches with `root` as TTBR0_EL1.
///
/// # Safety
/// `root` must be a complete identity map of everything used from here on (this code, its
/// stack and data, the console) with `el1_attrs` encodings, and caches over those ranges
/// must hold no stale lines.
pub unsafe fn enable_el1_mmu(root: PhysAddr, pa_range: u8) {
    let tcr = TCR_T0SZ | TCR_WALK0 | TCR_NO_TTBR1 | (u64::from(pa_range & 7) << TCR_IPS_SHIFT);
    let sctlr = SCTLR_RES1 | SCTLR_M | SCTLR_C | SCTLR_SA | SCTLR_I;
    // SAFETY: the caller guarantees the tables identity-map all live code and data, so the
    // instruction after the SCTLR write (and everything after) still translates.
    unsafe {
        asm!(
            "msr mair_el1, {mair}",
            "msr tcr_el1, {tcr}",
            "msr ttbr0_el1, {ttbr}",
            "isb",
            "tlbi vmalle1",         // nothing cached from before may survive
            "dsb nsh",
            "isb",
            "msr sctlr_el1, {sctlr}",
            "isb",
            "ic iallu",             // fetches now go through the new attributes
            "dsb nsh",
            "isb",
            mair = in(reg) MAIR_EL1,
            tcr = in(reg) tcr,
            ttbr = in(reg) root.0,
            sctlr = in(reg) sctlr,
            options(nostack),
        );
    }
}
