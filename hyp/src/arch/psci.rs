//! Calls to the PSCI firmware (or to QEMU's built-in PSCI) through the DT's conduit, and
//! what to do on a machine without any (Raspberry Pi firmware, QEMU's raspi3b): there an
//! SMC is undefined, so power-off and reset park the CPU with a message instead.

use crate::dt::Conduit;
use core::sync::atomic::{AtomicU8, Ordering};
use log::error;
use smccc::{psci, Hvc, Smc};

/// Power the machine off; if that fails (no PSCI, or it returned), park this CPU forever.
pub fn power_off(conduit: Conduit) -> ! {
    let _ = match conduit {
        Conduit::Smc => psci::system_off::<Smc>(),
        Conduit::Hvc => psci::system_off::<Hvc>(),
    };
    park()
}

/// [`power_off`] through `conduit`, or with no PSCI at all, say so and park.
pub fn power_off_or_park(conduit: Option<Conduit>) -> ! {
    match conduit {
        Some(c) => power_off(c),
        None => {
            error!("psci: no PSCI firmware in the DT, cannot power off (parking this CPU)");
            park()
        }
    }
}

/// Stop this CPU for good (no interrupts are unmasked at EL2).
pub fn park() -> ! {
    loop {
        aarch64_cpu::asm::wfe();
    }
}

const SMC: u8 = 0;
const HVC: u8 = 1;
const NONE: u8 = 2;

/// Conduit for the fatal paths and the host's relayed calls. SMC until the DT is read.
static FIRMWARE: AtomicU8 = AtomicU8::new(SMC);

/// Remember the conduit the fatal paths should power off with.
pub fn set_default_conduit(conduit: Conduit) {
    set_firmware(Some(conduit));
}

/// Remember the PSCI conduit the DT names, or that there is no PSCI firmware at all.
pub fn set_firmware(conduit: Option<Conduit>) {
    let v = match conduit {
        Some(Conduit::Smc) => SMC,
        Some(Conduit::Hvc) => HVC,
        None => NONE,
    };
    FIRMWARE.store(v, Ordering::Relaxed);
}

fn firmware() -> Option<Conduit> {
    match FIRMWARE.load(Ordering::Relaxed) {
        SMC => Some(Conduit::Smc),
        HVC => Some(Conduit::Hvc),
        _ => None,
    }
}

/// Power off through the recorded conduit (SMC if none was recorded; parks without PSCI).
pub fn power_off_default() -> ! {
    power_off_or_park(firmware())
}

/// PSCI NOT_SUPPORTED, the answer to a relayed call on a machine without PSCI.
const NOT_SUPPORTED: u64 = -1i64 as u64;

/// Relays a host SMC to the firmware, unless there is none: then a call that asked for the
/// machine to go down (`final_call`) parks with a message, and any other is answered
/// NOT_SUPPORTED (an SMC with nothing at EL3 would be undefined at EL2).
pub fn relay(args: [u64; 4], final_call: Option<&str>) -> [u64; 4] {
    if firmware().is_some() {
        return super::firmware::smc(args);
    }
    if let Some(what) = final_call {
        error!("psci: host asked for {what}, but the DT has no PSCI firmware (parking this CPU)");
        park();
    }
    [NOT_SUPPORTED, 0, 0, 0]
}
