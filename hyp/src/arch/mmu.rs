//! Turning the EL2 stage-1 MMU on over tables built by `mm::pgtable` (identity map).

use crate::addr::PhysAddr;
use crate::mm::el2_attrs::MAIR_EL2;
use core::arch::asm;

/// 48-bit virtual addresses, walks start at level 0.
pub const EL2_VA_BITS: u8 = 48;

const TCR_RES1: u64 = 1 << 31 | 1 << 23;
const TCR_T0SZ: u64 = 64 - EL2_VA_BITS as u64;
/// Table walks: inner/outer write-back write-allocate, inner shareable, 4 KiB granule.
const TCR_WALK: u64 = 1 << 8 | 1 << 10 | 3 << 12;

const SCTLR_RES1: u64 = 0x30c5_0830;
const SCTLR_M: u64 = 1 << 0;
const SCTLR_C: u64 = 1 << 2;
const SCTLR_SA: u64 = 1 << 3;
const SCTLR_I: u64 = 1 << 12;
const SCTLR_WXN: u64 = 1 << 19;

/// The boot CPU's EL2 MMU registers { MAIR, TCR, TTBR0, SCTLR }, for CPUs started later:
/// entry.S's warm entry reads them with its MMU off (so they are written with the boot
/// CPU's MMU off too, straight to memory). SCTLR = 0 means "not set yet".
#[no_mangle]
static mut stile_el2_mmu: [u64; 4] = [0; 4];

/// Enable the MMU and caches at EL2 with `root` as TTBR0_EL2.
///
/// # Safety
/// `root` must be a complete table that identity-maps everything EL2 touches from here on
/// (at least the running code, stacks and data), with the attribute encodings of
/// `mm::el2_attrs`; caches over those ranges must hold no stale lines.
pub unsafe fn enable_el2_mmu(root: PhysAddr, pa_range: u8) {
    let tcr = TCR_RES1 | TCR_T0SZ | TCR_WALK | ((pa_range as u64 & 7) << 16);
    let sctlr = SCTLR_RES1 | SCTLR_M | SCTLR_C | SCTLR_SA | SCTLR_I | SCTLR_WXN;
    // SAFETY: only the boot CPU runs (others start after the host does), with its MMU off,
    // so this store reaches memory, where the warm entry reads it.
    unsafe {
        core::ptr::write_volatile(&raw mut stile_el2_mmu, [MAIR_EL2, tcr, root.0, sctlr]);
    }
    // SAFETY: the caller guarantees the tables identity-map all live code and data, so the
    // instruction after the SCTLR write (and everything after) still translates.
    unsafe {
        asm!(
            "msr mair_el2, {mair}",
            "msr tcr_el2, {tcr}",
            "msr ttbr0_el2, {ttbr}",
            "isb",
            "tlbi alle2",
            "dsb nsh",
            "isb",
            "msr sctlr_el2, {sctlr}",
            "isb",
            "ic iallu",
            "dsb nsh",
            "isb",
            mair = in(reg) MAIR_EL2,
            tcr = in(reg) tcr,
            ttbr = in(reg) root.0,
            sctlr = in(reg) sctlr,
            options(nostack),
        );
    }
}
