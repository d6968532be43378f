//! Ends of the run: power off through PSCI SYSTEM_OFF, after a report when something went
//! wrong (`host: fatal: ...`).

use super::console::Out;
use super::exceptions::Frame;
use super::smccc;
use crate::psci::SYSTEM_OFF;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};
use stile_guest::exception::Vector;
use stile_hyp::dt::Conduit;
use stile_hyp::esr::Esr;

/// PSCI conduit: false = SMC (the default: Stile traps and relays it), true = HVC.
static CONDUIT_HVC: AtomicBool = AtomicBool::new(false);
/// Set once a fatal report starts, so a fault inside it powers off without recursing.
static IN_FATAL: AtomicBool = AtomicBool::new(false);

/// The conduit the DT's /psci names, for `power_off`.
pub fn set_conduit(conduit: Conduit) {
    CONDUIT_HVC.store(conduit == Conduit::Hvc, Ordering::Relaxed);
}

/// PSCI SYSTEM_OFF; if it returns, park this CPU.
pub fn power_off() -> ! {
    let off = [SYSTEM_OFF, 0, 0, 0];
    if CONDUIT_HVC.load(Ordering::Relaxed) {
        smccc::hvc(off);
    } else {
        smccc::smc(off);
    }
    loop {
        // SAFETY: wfe only waits.
        unsafe { core::arch::asm!("wfe", options(nomem, nostack, preserves_flags)) };
    }
}

/// Reports `why` and powers off.
pub fn stop(why: core::fmt::Arguments<'_>) -> ! {
    // Plain load/store, not a swap: this may run with the MMU off.
    if !IN_FATAL.load(Ordering::Relaxed) {
        IN_FATAL.store(true, Ordering::Relaxed);
        let _ = writeln!(Out, "host: fatal: {why}");
    }
    power_off()
}

/// An exception the payload did not expect.
pub fn exception(vector: Vector, frame: &Frame, esr: u64, far: u64) -> ! {
    let e = Esr(esr);
    stop(format_args!(
        "{vector}: ESR {esr:#x} (EC {:#x} {:?}) ELR {:#x} FAR {far:#x} SPSR {:#x}",
        e.ec_raw(),
        e.ec(),
        frame.elr,
        frame.spsr
    ))
}

pub fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    stop(format_args!("panic: {info}"))
}
