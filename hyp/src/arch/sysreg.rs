//! Reads of the identification and state registers Stile needs.

use crate::cpu_features::IdRegs;
use aarch64_cpu::registers::{
    CurrentEL, Readable, CNTFRQ_EL0, CNTPCT_EL0, ID_AA64MMFR0_EL1, ID_AA64MMFR1_EL1,
    ID_AA64MMFR2_EL1, MPIDR_EL1,
};

pub fn id_regs() -> IdRegs {
    IdRegs {
        id_aa64mmfr0: ID_AA64MMFR0_EL1.get(),
        id_aa64mmfr1: ID_AA64MMFR1_EL1.get(),
        id_aa64mmfr2: ID_AA64MMFR2_EL1.get(),
        ctr_el0: ctr_el0(),
    }
}

/// The physical counter and its frequency (ticks per second).
pub fn counter() -> (u64, u64) {
    (CNTPCT_EL0.get(), CNTFRQ_EL0.get())
}

/// The exception level we run at (0..=3).
pub fn current_el() -> u8 {
    ((CurrentEL.get() >> 2) & 3) as u8
}

/// This CPU's affinity (MPIDR_EL1 Aff3..Aff0, as the DT's cpu `reg` holds it).
pub fn mpidr() -> u64 {
    MPIDR_EL1.get() & 0xff_00ff_ffff
}

/// CTR_EL0 (aarch64-cpu has no accessor for it).
fn ctr_el0() -> u64 {
    let v: u64;
    // SAFETY: reading CTR_EL0 has no side effects.
    unsafe {
        core::arch::asm!("mrs {}, ctr_el0", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}
