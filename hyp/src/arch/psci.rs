//! Calls to the PSCI firmware (or to QEMU's built-in PSCI) through the DT's conduit.

use crate::dt::Conduit;
use smccc::{psci, Hvc, Smc};

/// Power the machine off; if that fails (no PSCI, or it returned), park this CPU forever.
pub fn power_off(conduit: Conduit) -> ! {
    let _ = match conduit {
        Conduit::Smc => psci::system_off::<Smc>(),
        Conduit::Hvc => psci::system_off::<Hvc>(),
    };
    park()
}

/// Stop this CPU for good (no interrupts are unmasked at EL2).
pub fn park() -> ! {
    loop {
        aarch64_cpu::asm::wfe();
    }
}

/// Conduit for `power_off_default`: 0 = SMC, 1 = HVC. Set from the DT at boot.
static DEFAULT_CONDUIT: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

/// Remember the conduit the fatal paths should power off with.
pub fn set_default_conduit(conduit: Conduit) {
    let v = matches!(conduit, Conduit::Hvc) as u8;
    DEFAULT_CONDUIT.store(v, core::sync::atomic::Ordering::Relaxed);
}

/// Power off through the conduit recorded by `set_default_conduit` (SMC if none was).
pub fn power_off_default() -> ! {
    match DEFAULT_CONDUIT.load(core::sync::atomic::Ordering::Relaxed) {
        1 => power_off(Conduit::Hvc),
        _ => power_off(Conduit::Smc),
    }
}
