//! Probe accesses that may take an abort Stile injects: arm, access, disarm, read the record.
//! (The handler side is `exceptions.rs`; the instructions are in probe.S.)

use crate::machine::{Access, Fault};
use core::sync::atomic::{compiler_fence, AtomicBool, AtomicU64, Ordering};

core::arch::global_asm!(include_str!("probe.S"));

extern "C" {
    fn host_probe_load32(addr: u64) -> u32;
    fn host_probe_store32(addr: u64, value: u32);
    fn host_secondary_park();
}

/// Address of the probe instruction in flight; 0 = none. Plain loads and stores only (one
/// CPU; the exception is synchronous), so nothing here needs exclusive-access instructions.
static ARMED: AtomicU64 = AtomicU64::new(0);
static FAULTED: AtomicBool = AtomicBool::new(false);
static ESR: AtomicU64 = AtomicU64::new(0);
static FAR: AtomicU64 = AtomicU64::new(0);

/// The armed probe instruction, for the exception handler.
pub fn armed() -> Option<u64> {
    match ARMED.load(Ordering::Relaxed) {
        0 => None,
        pc => Some(pc),
    }
}

/// Called by the exception handler for an abort at the armed instruction.
pub fn record(esr: u64, far: u64) {
    ESR.store(esr, Ordering::Relaxed);
    FAR.store(far, Ordering::Relaxed);
    FAULTED.store(true, Ordering::Relaxed);
}

/// Runs `access` (a call to one of probe.S's functions) armed at `pc`.
fn armed_at<T>(pc: u64, access: impl FnOnce() -> T) -> Result<T, Fault> {
    FAULTED.store(false, Ordering::Relaxed);
    ARMED.store(pc, Ordering::Relaxed);
    compiler_fence(Ordering::SeqCst);
    let value = access();
    compiler_fence(Ordering::SeqCst);
    ARMED.store(0, Ordering::Relaxed);
    if FAULTED.load(Ordering::Relaxed) {
        Err(Fault {
            esr: ESR.load(Ordering::Relaxed),
            far: FAR.load(Ordering::Relaxed),
        })
    } else {
        Ok(value)
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
