//! What the checks need from the CPU, as a trait: `arch` implements it for real (HVC, SMC,
//! probe loads and stores that may take an injected abort); the tests implement a fake Stile.

/// An abort the payload's vectors took at a probe access (and skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// ESR_EL1 at the exception.
    pub esr: u64,
    /// FAR_EL1 at the exception.
    pub far: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The access completed (a read's value; 0 for a write).
    Done(u32),
    /// It took a synchronous exception, which the vectors recorded and skipped.
    Aborted(Fault),
}

pub trait Machine {
    /// `hvc #0` with x0..x3 (SMCCC); returns x0..x3.
    fn hvc(&mut self, regs: [u64; 4]) -> [u64; 4];
    /// `smc #0` with x0..x3 (SMCCC); returns x0..x3.
    fn smc(&mut self, regs: [u64; 4]) -> [u64; 4];
    /// One 32-bit load from `addr` (identity mapped).
    ///
    /// # Safety
    /// `addr` must be 4-byte aligned, below 512 GiB, and memory without read side effects
    /// that the payload does not use (Stile's, which the access is meant to be refused for).
    unsafe fn read32(&mut self, addr: u64) -> Access;
    /// One 32-bit store of `value` to `addr` (identity mapped).
    ///
    /// # Safety
    /// As for [`Machine::read32`]: if the store is not refused, it lands there.
    unsafe fn write32(&mut self, addr: u64, value: u32) -> Access;
}
