//! Ends of the run that are not the normal SYSTEM_OFF: tell the VMM (FATAL), then power off.

use super::cpu::{hvc, Real};
use crate::exception::Vector;
use crate::protocol::{Call, PSCI_SYSTEM_OFF};
use crate::run::Console;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};

/// Set once a panic report starts, so a panic inside it does not print again.
static IN_PANIC: AtomicBool = AtomicBool::new(false);
/// Set once `stop` runs: if its own HVC faults (no EL2 to take it), park instead of recursing.
static IN_STOP: AtomicBool = AtomicBool::new(false);

/// FATAL(esr, elr, far, vector), then PSCI SYSTEM_OFF; parks if both return.
pub fn stop(esr: u64, elr: u64, far: u64, vector: u64) -> ! {
    // Plain load/store, not a swap: the MMU is off.
    if !IN_STOP.load(Ordering::Relaxed) {
        IN_STOP.store(true, Ordering::Relaxed);
        hvc([Call::Fatal as u64, esr, elr, far, vector, 0, 0, 0]);
        hvc([PSCI_SYSTEM_OFF, 0, 0, 0, 0, 0, 0, 0]);
    }
    loop {
        // SAFETY: wfe only waits.
        unsafe { core::arch::asm!("wfe", options(nomem, nostack, preserves_flags)) };
    }
}

pub fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // Plain load/store, not a swap: the MMU is off.
    if !IN_PANIC.load(Ordering::Relaxed) {
        IN_PANIC.store(true, Ordering::Relaxed);
        let _ = writeln!(Console(&mut Real), "panic: {info}");
    }
    stop(0, 0, 0, Vector::PANIC.0)
}
