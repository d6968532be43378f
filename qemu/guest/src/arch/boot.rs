//! From entry.S to the arch-free guest.

use super::cpu::Real;
use super::fatal;
use crate::ipa::Ipa;
use crate::run;

/// From entry.S: relocated, BSS zeroed, on our stack, VBAR_EL1 set, MMU still off.
pub fn run(x0: u64, entry: u64) -> ! {
    run::main(&mut Real, x0, Ipa(entry));
    // SYSTEM_OFF came back: Stile should never let it.
    fatal::stop(0, 0, 0, u64::MAX - 1)
}
