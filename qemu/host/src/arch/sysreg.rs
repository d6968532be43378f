//! System register reads at EL1.

use core::arch::asm;
use stile_hyp::cpu_features::IdRegs;

macro_rules! read_sysreg {
    ($name:literal) => {{
        let v: u64;
        // SAFETY: reading this ID/syndrome register has no side effects and is allowed at EL1.
        unsafe {
            asm!(concat!("mrs {}, ", $name), out(reg) v, options(nomem, nostack, preserves_flags))
        };
        v
    }};
}

pub fn id_regs() -> IdRegs {
    IdRegs {
        id_aa64mmfr0: read_sysreg!("id_aa64mmfr0_el1"),
        id_aa64mmfr1: read_sysreg!("id_aa64mmfr1_el1"),
        id_aa64mmfr2: read_sysreg!("id_aa64mmfr2_el1"),
        ctr_el0: read_sysreg!("ctr_el0"),
    }
}

pub fn esr_el1() -> u64 {
    read_sysreg!("esr_el1")
}

pub fn far_el1() -> u64 {
    read_sysreg!("far_el1")
}

/// The exception level we run at (CurrentEL[3:2]).
pub fn current_el() -> u64 {
    (read_sysreg!("CurrentEL") >> 2) & 3
}

pub fn mpidr_el1() -> u64 {
    read_sysreg!("mpidr_el1")
}

/// The virtual counter and its frequency (for bounded waits).
pub fn counter() -> (u64, u64) {
    (read_sysreg!("cntvct_el0"), read_sysreg!("cntfrq_el0"))
}

/// What a second CPU needs to share our EL1 map: MAIR, TCR, TTBR0, SCTLR, VBAR.
pub fn el1_mmu_regs() -> [u64; 5] {
    [
        read_sysreg!("mair_el1"),
        read_sysreg!("tcr_el1"),
        read_sysreg!("ttbr0_el1"),
        read_sysreg!("sctlr_el1"),
        read_sysreg!("vbar_el1"),
    ]
}
