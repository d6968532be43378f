//! What an EL1 payload's vector does with an exception: the one decision
//! `arch/exceptions.rs` asks for, in the guest and (through this crate) in the host. Only a
//! synchronous exception at the armed access instruction is survivable (an abort Stile
//! injected: the guest's armed access, the host's probe); anything else is reported and ends
//! the run.

use core::fmt;
use core::sync::atomic::{compiler_fence, AtomicBool, AtomicU64, Ordering};

/// A vector table entry, by the index qemu/el1-vectors.S passes (0..16: origin * 4 + kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vector(pub u64);

impl Vector {
    /// "Current EL with SP_ELx, synchronous" (offset 0x200): where Stile injects aborts into
    /// a guest running at EL1h.
    pub const CURRENT_SPX_SYNC: Vector = Vector(4);
    /// Not a vector: FATAL's x4 for a panic.
    pub const PANIC: Vector = Vector(u64::MAX);

    fn kind(self) -> &'static str {
        ["synchronous exception", "IRQ", "FIQ", "SError"][(self.0 & 3) as usize]
    }

    fn origin(self) -> &'static str {
        [
            "EL1 (SP_EL0)",
            "EL1",
            "a lower EL (AArch64)",
            "a lower EL (AArch32)",
        ][((self.0 >> 2) & 3) as usize]
    }
}

impl fmt::Display for Vector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} from {}", self.kind(), self.origin())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// An armed access aborted, as expected: record ESR/FAR, resume after it.
    RecordAndSkip,
    /// Anything else: report (the guest tells the VMM with FATAL) and power off.
    Fatal,
}

/// `armed` is the address of the access instruction in flight, if any.
pub fn classify(vector: Vector, elr: u64, armed: Option<u64>) -> Action {
    if vector == Vector::CURRENT_SPX_SYNC && armed == Some(elr) {
        Action::RecordAndSkip
    } else {
        Action::Fatal
    }
}

/// The access instruction in flight; 0 = none. Plain loads and stores only (the guest's
/// MMU is off, so no exclusives; one CPU, and the exception is synchronous).
static ARMED: AtomicU64 = AtomicU64::new(0);
static FAULTED: AtomicBool = AtomicBool::new(false);
static ESR: AtomicU64 = AtomicU64::new(0);
static FAR: AtomicU64 = AtomicU64::new(0);

/// The armed access instruction, for the exception handler.
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

/// Runs `access` (a call to the assembly function whose access instruction is at `pc`)
/// armed: its value and, if it aborted, the abort's ESR and FAR.
pub fn run_armed<T>(pc: u64, access: impl FnOnce() -> T) -> (T, Option<(u64, u64)>) {
    FAULTED.store(false, Ordering::Relaxed);
    ARMED.store(pc, Ordering::Relaxed);
    compiler_fence(Ordering::SeqCst);
    let value = access();
    compiler_fence(Ordering::SeqCst);
    ARMED.store(0, Ordering::Relaxed);
    let abort = FAULTED
        .load(Ordering::Relaxed)
        .then(|| (ESR.load(Ordering::Relaxed), FAR.load(Ordering::Relaxed)));
    (value, abort)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: u64 = 0x8008_1000;

    #[test]
    fn only_a_synchronous_exception_at_the_armed_access_is_survivable() {
        assert_eq!(
            classify(Vector::CURRENT_SPX_SYNC, AT, Some(AT)),
            Action::RecordAndSkip
        );
        for (v, elr, armed) in [
            (Vector(4), AT + 4, Some(AT)),
            (Vector(4), AT, None),
            (Vector(5), AT, Some(AT)),
            (Vector(0), AT, Some(AT)),
            (Vector(8), AT, Some(AT)),
        ] {
            assert_eq!(classify(v, elr, armed), Action::Fatal, "{v:?}");
        }
    }

    #[test]
    fn vectors_are_named_by_kind_and_origin() {
        use std::string::ToString;
        assert_eq!(Vector(4).to_string(), "synchronous exception from EL1");
        assert_eq!(Vector(7).to_string(), "SError from EL1");
        assert_eq!(Vector(1).to_string(), "IRQ from EL1 (SP_EL0)");
        assert_eq!(Vector(15).to_string(), "SError from a lower EL (AArch32)");
    }
}
