//! Building an exception for a lower-EL world to take at its own EL1, as if its CPU had
//! raised it: what EL2 writes to ESR_EL1/FAR_EL1/ELR_EL1/SPSR_EL1 and where the world resumes.

use crate::esr::Esr;

/// DAIF masked, EL1h: the PSTATE an exception taken to EL1 starts with.
const SPSR_EL1H_MASKED: u64 = 0x3c5;
const SPSR_MODE_MASK: u64 = 0xf;
const MODE_EL0T: u64 = 0b0000;
const MODE_EL1T: u64 = 0b0100;

const EC_UNKNOWN: u64 = 0x00;
const EC_IABT_LOWER: u64 = 0x20;
const EC_IABT_SAME: u64 = 0x21;
const EC_DABT_LOWER: u64 = 0x24;
const EC_DABT_SAME: u64 = 0x25;
const IL: u64 = 1 << 25;
const WNR: u64 = 1 << 6;
/// Synchronous external abort, not on a table walk: "no memory answered here".
const FSC_SEA: u64 = 0x10;

/// What to load into the world's EL1 exception registers, and its new ELR_EL2/SPSR_EL2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct El1Exception {
    pub esr_el1: u64,
    pub far_el1: u64,
    pub elr_el1: u64,
    pub spsr_el1: u64,
    pub elr_el2: u64,
    pub spsr_el2: u64,
}

/// Vector offset for a synchronous exception taken to EL1 from the world's mode.
fn vector_offset(spsr: u64) -> u64 {
    match spsr & SPSR_MODE_MASK {
        MODE_EL1T => 0x000,
        MODE_EL0T => 0x400,
        _ => 0x200, // EL1h
    }
}

fn from_el0(spsr: u64) -> bool {
    spsr & SPSR_MODE_MASK == MODE_EL0T
}

fn deliver(esr_el1: u64, far: u64, elr: u64, spsr: u64, vbar_el1: u64) -> El1Exception {
    El1Exception {
        esr_el1,
        far_el1: far,
        elr_el1: elr,
        spsr_el1: spsr,
        elr_el2: vbar_el1.wrapping_add(vector_offset(spsr)),
        spsr_el2: SPSR_EL1H_MASKED,
    }
}

/// A synchronous external abort for the access described by the stage-2 abort `esr`
/// (an instruction abort stays an instruction abort; a data abort keeps its direction).
pub fn external_abort(esr: Esr, far: u64, elr: u64, spsr: u64, vbar_el1: u64) -> El1Exception {
    let instruction = matches!(esr.ec_raw(), 0x20 | 0x21);
    let ec = match (instruction, from_el0(spsr)) {
        (true, true) => EC_IABT_LOWER,
        (true, false) => EC_IABT_SAME,
        (false, true) => EC_DABT_LOWER,
        (false, false) => EC_DABT_SAME,
    };
    let wnr = if !instruction && esr.wnr() { WNR } else { 0 };
    deliver(ec << 26 | IL | wnr | FSC_SEA, far, elr, spsr, vbar_el1)
}

/// An undefined-instruction exception at `elr` (for traps EL2 does not emulate).
pub fn undefined(elr: u64, spsr: u64, vbar_el1: u64) -> El1Exception {
    deliver(EC_UNKNOWN << 26 | IL, 0, elr, spsr, vbar_el1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VBAR: u64 = 0x4000_0800;
    const EL1H: u64 = 0x3c5;

    #[test]
    fn data_abort_from_el1h_lands_at_vbar_plus_0x200_as_ec_0x25() {
        // Stage-2 data abort from a lower EL, write, translation fault level 3.
        let esr = Esr(0x24 << 26 | 1 << 25 | 1 << 6 | 0x07);
        let e = external_abort(esr, 0x4020_0000, 0x4000_1234, EL1H, VBAR);
        assert_eq!(e.esr_el1 >> 26, 0x25);
        assert_eq!(e.esr_el1 & 0x3f, 0x10, "synchronous external abort");
        assert_ne!(e.esr_el1 & WNR, 0, "keeps the direction");
        assert_eq!(
            (e.far_el1, e.elr_el1, e.spsr_el1),
            (0x4020_0000, 0x4000_1234, EL1H)
        );
        assert_eq!((e.elr_el2, e.spsr_el2), (VBAR + 0x200, 0x3c5));
    }

    #[test]
    fn abort_from_el0_uses_the_lower_el_vector_and_class() {
        let esr = Esr(0x24 << 26 | 0x07);
        let e = external_abort(esr, 0x1000, 0x2000, 0x0, VBAR);
        assert_eq!(e.esr_el1 >> 26, 0x24);
        assert_eq!(e.elr_el2, VBAR + 0x400);
        assert_eq!(e.esr_el1 & WNR, 0);
    }

    #[test]
    fn instruction_abort_stays_an_instruction_abort() {
        let esr = Esr(0x20 << 26 | 1 << 6 | 0x07);
        let e = external_abort(esr, 0x8000, 0x8000, 0x3c4, VBAR);
        assert_eq!(e.esr_el1 >> 26, 0x21);
        assert_eq!(e.esr_el1 & WNR, 0, "WnR means nothing for fetches");
        assert_eq!(e.elr_el2, VBAR, "EL1t vector at offset 0");
    }

    #[test]
    fn undefined_is_ec_0_with_il() {
        let e = undefined(0x1234, EL1H, VBAR);
        assert_eq!(e.esr_el1, IL);
        assert_eq!(e.elr_el2, VBAR + 0x200);
    }

    #[test]
    fn a_garbage_vbar_wraps_instead_of_panicking() {
        let e = undefined(0, EL1H, u64::MAX);
        assert_eq!(e.elr_el2, 0x1ff);
    }
}
