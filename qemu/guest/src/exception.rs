//! What the guest's vector does with an exception: the one decision `arch/exceptions.rs`
//! asks for. Only a synchronous exception at the armed access instruction is survivable
//! (an abort the VMM had Stile inject); anything else is reported to the VMM and ends the run.

/// A vector table entry, by the index qemu/el1-vectors.S passes (0..16: origin * 4 + kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vector(pub u64);

impl Vector {
    /// "Current EL with SP_ELx, synchronous" (offset 0x200): where Stile injects aborts into
    /// a guest running at EL1h.
    pub const CURRENT_SPX_SYNC: Vector = Vector(4);
    /// Not a vector: FATAL's x4 for a panic.
    pub const PANIC: Vector = Vector(u64::MAX);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Record ESR/FAR for the access, resume after it.
    RecordAndSkip,
    /// Tell the VMM (FATAL) and power off.
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
}
