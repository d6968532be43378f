//! System register reads at EL1.

use core::arch::asm;

macro_rules! read_sysreg {
    ($name:literal) => {{
        let v: u64;
        // SAFETY: reading this syndrome register has no side effects and is allowed at EL1.
        unsafe {
            asm!(concat!("mrs {}, ", $name), out(reg) v, options(nomem, nostack, preserves_flags))
        };
        v
    }};
}

pub fn esr_el1() -> u64 {
    read_sysreg!("esr_el1")
}

pub fn far_el1() -> u64 {
    read_sysreg!("far_el1")
}
