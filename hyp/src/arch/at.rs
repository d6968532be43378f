//! Address translation instructions: what the MMU itself says a VM gets.

use core::arch::asm;

/// `AT S12E1R` on `va` with the EL1 regime and stage 2 currently loaded: stage 1 as the VM
/// has it, then stage 2. Returns PAR_EL1 (F = bit 0; on success PA[47:12] and ATTR[63:56]).
/// The VM's own PAR_EL1 is preserved.
pub fn at_s12e1r(va: u64) -> u64 {
    let saved: u64;
    let par: u64;
    // SAFETY: AT only writes PAR_EL1, which is saved and restored around it; the ISB makes
    // the result visible to the MRS that follows.
    unsafe {
        asm!(
            "mrs {saved}, par_el1",
            "at s12e1r, {va}",
            "isb",
            "mrs {par}, par_el1",
            "msr par_el1, {saved}",
            va = in(reg) va,
            saved = out(reg) saved,
            par = out(reg) par,
            options(nostack, preserves_flags),
        );
    }
    let _ = saved;
    par
}

/// The memory-attribute byte of a successful PAR_EL1 (MAIR encoding), or `None` on a fault.
pub fn par_attr(par: u64) -> Option<u8> {
    (par & 1 == 0).then_some((par >> 56) as u8)
}
