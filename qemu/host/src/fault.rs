//! What to do with an exception the EL1 vectors took: the one decision `arch/exceptions.rs`
//! asks for. Only a synchronous exception at the armed probe instruction is survivable.

use core::fmt;

/// A vector table entry, by the index qemu/el1-vectors.S passes (0..16: origin * 4 + kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vector(pub u64);

impl Vector {
    /// "Current EL with SP_ELx, synchronous": where Stile injects aborts (offset 0x200).
    pub const CURRENT_SPX_SYNC: Vector = Vector(4);

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
    /// A probe access aborted, as the check hoped: record ESR/FAR, resume after it.
    RecordAndSkip,
    /// Anything else: report and power off.
    Fatal,
}

/// `armed` is the address of the probe instruction in flight, if any.
pub fn classify(vector: Vector, elr: u64, armed: Option<u64>) -> Action {
    if vector == Vector::CURRENT_SPX_SYNC && armed == Some(elr) {
        Action::RecordAndSkip
    } else {
        Action::Fatal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROBE: u64 = 0x4021_0000;

    #[test]
    fn a_synchronous_exception_at_the_armed_probe_is_skipped() {
        assert_eq!(
            classify(Vector::CURRENT_SPX_SYNC, PROBE, Some(PROBE)),
            Action::RecordAndSkip
        );
    }

    #[test]
    fn everything_else_is_fatal() {
        let cases = [
            (Vector(4), PROBE + 4, Some(PROBE)),
            (Vector(4), PROBE, None),
            (Vector(5), PROBE, Some(PROBE)),
            (Vector(7), PROBE, Some(PROBE)),
            (Vector(0), PROBE, Some(PROBE)),
            (Vector(8), PROBE, Some(PROBE)),
        ];
        for (v, elr, armed) in cases {
            assert_eq!(classify(v, elr, armed), Action::Fatal, "{v}");
        }
    }

    #[test]
    fn vectors_are_named_by_kind_and_origin() {
        assert_eq!(Vector(4).to_string(), "synchronous exception from EL1");
        assert_eq!(Vector(7).to_string(), "SError from EL1");
        assert_eq!(Vector(1).to_string(), "IRQ from EL1 (SP_EL0)");
        assert_eq!(Vector(15).to_string(), "SError from a lower EL (AArch32)");
    }
}
