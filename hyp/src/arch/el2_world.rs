//! Writing a world's EL2 registers (vm/world_regs.rs decides their values).

pub use crate::vm::world_regs::*;
use core::arch::asm;

/// Trap the running world's FP/SIMD use (`trap`), or let it through; `base` is the world's
/// CPTR_EL2 without TFP.
#[inline]
pub fn trap_fp(base: u64, trap: bool) {
    let v = if trap { base | CPTR_EL2_TFP } else { base };
    // SAFETY: CPTR_EL2 only decides which lower-EL instructions trap; the ISB makes the
    // change apply before the next ERET.
    unsafe { asm!("msr cptr_el2, {}", "isb", in(reg) v, options(nostack)) };
}

/// Switch EL2's view to `w` (stage 2, traps, MPIDR the world reads).
pub fn load_world(w: &El2World) {
    // SAFETY: these only configure the EL1&0 regime, which runs after the caller's ERET;
    // VMIDs keep the worlds' TLB entries apart, so no invalidation is needed.
    unsafe {
        asm!(
            "msr hcr_el2, {hcr}",
            "msr vtcr_el2, {vtcr}",
            "msr vttbr_el2, {vttbr}",
            "msr vmpidr_el2, {vmpidr}",
            "isb",
            hcr = in(reg) w.hcr,
            vtcr = in(reg) w.vtcr,
            vttbr = in(reg) w.vttbr,
            vmpidr = in(reg) w.vmpidr,
            options(nostack),
        );
    }
}
