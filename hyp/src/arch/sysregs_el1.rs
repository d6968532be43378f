//! The lower EL's exception registers, for injecting exceptions into a VM.

use crate::vm::inject::El1Exception;
use core::arch::asm;

/// Load `e` into the current VM's EL1 exception registers (its ELR/SPSR_EL2 part is the
/// caller's job: they live in the saved Context).
pub fn write_el1_exception(e: &El1Exception) {
    // SAFETY: these EL1 registers belong to the VM currently loaded; EL2 itself does not use
    // them, and writing them is exactly how an exception is injected.
    unsafe {
        asm!(
            "msr esr_el1, {esr}",
            "msr far_el1, {far}",
            "msr elr_el1, {elr}",
            "msr spsr_el1, {spsr}",
            esr = in(reg) e.esr_el1,
            far = in(reg) e.far_el1,
            elr = in(reg) e.elr_el1,
            spsr = in(reg) e.spsr_el1,
            options(nomem, nostack, preserves_flags),
        );
    }
}

pub fn vbar_el1() -> u64 {
    let v: u64;
    // SAFETY: reading VBAR_EL1 has no side effects.
    unsafe { asm!("mrs {}, vbar_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// ESR_EL2, FAR_EL2 and HPFAR_EL2 of the exception being handled.
#[inline]
pub fn trap_syndrome() -> (u64, u64, u64) {
    let (esr, far, hpfar): (u64, u64, u64);
    // SAFETY: reading the EL2 syndrome registers has no side effects.
    unsafe {
        asm!(
            "mrs {esr}, esr_el2",
            "mrs {far}, far_el2",
            "mrs {hpfar}, hpfar_el2",
            esr = out(reg) esr,
            far = out(reg) far,
            hpfar = out(reg) hpfar,
            options(nomem, nostack, preserves_flags),
        );
    }
    (esr, far, hpfar)
}

/// ESR_EL2 of the exception being handled.
#[inline]
pub fn esr_el2() -> u64 {
    let esr: u64;
    // SAFETY: reading ESR_EL2 has no side effects.
    unsafe { asm!("mrs {}, esr_el2", out(reg) esr, options(nomem, nostack, preserves_flags)) };
    esr
}
