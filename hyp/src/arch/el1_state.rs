//! Moving a world's EL1 system registers and FP/SIMD state in and out of the CPU.

use crate::vm::vcpu::{El1Regs, FpRegs};
use core::arch::asm;
use core::mem::offset_of;

core::arch::global_asm!(include_str!("fp.S"));

extern "C" {
    fn stile_fp_save(regs: *mut FpRegs);
    fn stile_fp_restore(regs: *const FpRegs);
}

const _: () = assert!(offset_of!(FpRegs, fpsr) == 512 && offset_of!(FpRegs, fpcr) == 520);

/// One MRS per field, in El1Regs order.
macro_rules! el1_registers {
    ($m:ident) => {
        $m!(sctlr, "sctlr_el1");
        $m!(cpacr, "cpacr_el1");
        $m!(ttbr0, "ttbr0_el1");
        $m!(ttbr1, "ttbr1_el1");
        $m!(tcr, "tcr_el1");
        $m!(mair, "mair_el1");
        $m!(amair, "amair_el1");
        $m!(vbar, "vbar_el1");
        $m!(contextidr, "contextidr_el1");
        $m!(tpidr_el0, "tpidr_el0");
        $m!(tpidrro_el0, "tpidrro_el0");
        $m!(tpidr_el1, "tpidr_el1");
        $m!(sp_el0, "sp_el0");
        $m!(sp_el1, "sp_el1");
        $m!(elr, "elr_el1");
        $m!(spsr, "spsr_el1");
        $m!(esr, "esr_el1");
        $m!(far, "far_el1");
        $m!(par, "par_el1");
        $m!(afsr0, "afsr0_el1");
        $m!(afsr1, "afsr1_el1");
        $m!(cntkctl, "cntkctl_el1");
        $m!(csselr, "csselr_el1");
        $m!(cntv_ctl, "cntv_ctl_el0");
        $m!(cntv_cval, "cntv_cval_el0");
    };
}

/// Save the EL1 registers of the world that was running.
pub fn save_el1(r: &mut El1Regs) {
    macro_rules! save {
        ($field:ident, $reg:literal) => {
            // SAFETY: reading an EL1 register from EL2 has no side effects.
            unsafe { asm!(concat!("mrs {}, ", $reg), out(reg) r.$field, options(nomem, nostack, preserves_flags)) };
        };
    }
    el1_registers!(save);
}

/// Load the EL1 registers of the world about to run (the ISB before ERET is the caller's).
pub fn restore_el1(r: &El1Regs) {
    macro_rules! restore {
        ($field:ident, $reg:literal) => {
            // SAFETY: EL1 registers only affect the EL1&0 regime, which does not run until
            // the ERET into the world these values belong to.
            unsafe { asm!(concat!("msr ", $reg, ", {}"), in(reg) r.$field, options(nomem, nostack, preserves_flags)) };
        };
    }
    el1_registers!(restore);
}

pub fn save_fp(f: &mut FpRegs) {
    // SAFETY: stores 528 bytes into `f`, which is exactly an FpRegs (offsets asserted).
    unsafe { stile_fp_save(f) }
}

pub fn restore_fp(f: &FpRegs) {
    // SAFETY: loads 528 bytes from `f`; only FP/SIMD registers change.
    unsafe { stile_fp_restore(f) }
}
