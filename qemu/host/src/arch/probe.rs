//! Probe accesses that may take an abort Stile injects: arm, access, disarm, read the record.
//! (The handler side is `exceptions.rs`; the instructions are in probe.S; the armed state
//! is the guest crate's `exception`, shared with the guest.)

use crate::machine::{Access, Fault};

core::arch::global_asm!(include_str!("probe.S"));

extern "C" {
    fn host_probe_load32(addr: u64) -> u32;
    fn host_probe_store32(addr: u64, value: u32);
    fn host_secondary_park();
}

/// Runs `access` (a call to one of probe.S's functions) armed at `pc` (the guest crate's
/// armed access, which the exception handler checks).
fn armed_at<T>(pc: u64, access: impl FnOnce() -> T) -> Result<T, Fault> {
    match stile_guest::exception::run_armed(pc, access) {
        (value, None) => Ok(value),
        (_, Some((esr, far))) => Err(Fault { esr, far }),
    }
}

/// # Safety
/// As `Machine::read32` requires.
pub unsafe fn read32(addr: u64) -> Access {
    let pc = host_probe_load32 as *const () as u64;
    // SAFETY: the caller vouches for `addr`; an abort at the load is skipped by the handler
    // (armed at exactly that instruction), after which the function returns normally.
    match armed_at(pc, || unsafe { host_probe_load32(addr) }) {
        Ok(v) => Access::Done(v),
        Err(f) => Access::Aborted(f),
    }
}

/// # Safety
/// As `Machine::write32` requires.
pub unsafe fn write32(addr: u64, value: u32) -> Access {
    let pc = host_probe_store32 as *const () as u64;
    // SAFETY: as for `read32`.
    match armed_at(pc, || unsafe { host_probe_store32(addr, value) }) {
        Ok(()) => Access::Done(0),
        Err(f) => Access::Aborted(f),
    }
}

/// The `wfe` loop a wrongly started secondary CPU would run.
pub fn park_entry() -> u64 {
    host_secondary_park as *const () as u64
}
