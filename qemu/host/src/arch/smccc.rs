//! SMCCC calls from EL1 (HVC to Stile, SMC that Stile traps and relays) and the real
//! [`Machine`].

use super::probe;
use crate::machine::{Access, Machine};
use core::arch::asm;

/// `hvc #0`: x0..x3 in, x0..x3 out.
pub fn hvc(r: [u64; 4]) -> [u64; 4] {
    let (mut x0, mut x1, mut x2, mut x3) = (r[0], r[1], r[2], r[3]);
    // SAFETY: an SMCCC call touches no memory of ours; SMCCC 1.0 lets the callee clobber
    // x4..x17, so they are declared clobbered.
    unsafe {
        asm!(
            "hvc #0",
            inout("x0") x0, inout("x1") x1, inout("x2") x2, inout("x3") x3,
            out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _,
            out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _,
            out("x15") _, out("x16") _, out("x17") _,
            options(nostack),
        )
    };
    [x0, x1, x2, x3]
}

/// `smc #0`: x0..x3 in, x0..x3 out.
pub fn smc(r: [u64; 4]) -> [u64; 4] {
    let (mut x0, mut x1, mut x2, mut x3) = (r[0], r[1], r[2], r[3]);
    // SAFETY: as for `hvc`.
    unsafe {
        asm!(
            "smc #0",
            inout("x0") x0, inout("x1") x1, inout("x2") x2, inout("x3") x3,
            out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _,
            out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _,
            out("x15") _, out("x16") _, out("x17") _,
            options(nostack),
        )
    };
    [x0, x1, x2, x3]
}

/// The CPU itself.
pub struct Real;

impl Machine for Real {
    fn hvc(&mut self, regs: [u64; 4]) -> [u64; 4] {
        hvc(regs)
    }

    fn smc(&mut self, regs: [u64; 4]) -> [u64; 4] {
        smc(regs)
    }

    unsafe fn read32(&mut self, addr: u64) -> Access {
        // SAFETY: the trait's contract is `probe::read32`'s.
        unsafe { probe::read32(addr) }
    }

    unsafe fn write32(&mut self, addr: u64, value: u32) -> Access {
        // SAFETY: the trait's contract is `probe::write32`'s.
        unsafe { probe::write32(addr, value) }
    }
}
