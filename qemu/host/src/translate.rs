//! TRANSLATE (docs/ABI.md): the request, and its answer decoded once into a typed value.

use stile_abi::{Function, Reason, Status};

/// x0..x3 for TRANSLATE(vm, addr).
pub const fn request(vm: u64, addr: u64) -> [u64; 4] {
    [Function::Translate as u64, vm, addr, 0]
}

/// The stage-2 leaf descriptor's attribute bits (x3 of a successful TRANSLATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S2Attrs(pub u64);

impl S2Attrs {
    /// MemAttr[3:0], descriptor bits [5:2].
    pub const fn memattr(self) -> u8 {
        ((self.0 >> 2) & 0xf) as u8
    }

    /// S2AP[0], bit 6.
    pub const fn read(self) -> bool {
        self.0 & (1 << 6) != 0
    }

    /// S2AP[1], bit 7.
    pub const fn write(self) -> bool {
        self.0 & (1 << 7) != 0
    }

    /// XN, bit 54.
    pub const fn xn(self) -> bool {
        self.0 & (1 << 54) != 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Translation {
    Mapped {
        pa: u64,
        /// PAR_EL1.ATTR of `AT S12E1R` (a byte; kept whole so a wider value is caught).
        par_attr: u64,
        s2: S2Attrs,
    },
    /// An SMCCC error status, with x1 (a [`Reason`] code, raw).
    Refused { status: Status, reason: u64 },
    /// x0 is no SMCCC status at all.
    BadStatus(u64),
}

pub const fn decode(regs: [u64; 4]) -> Translation {
    match Status::from_u64(regs[0]) {
        Some(Status::Success) => Translation::Mapped {
            pa: regs[1],
            par_attr: regs[2],
            s2: S2Attrs(regs[3]),
        },
        Some(status) => Translation::Refused {
            status,
            reason: regs[1],
        },
        None => Translation::BadStatus(regs[0]),
    }
}

/// SMCCC's names for a status value (`?` for anything else).
pub const fn status_name(x0: u64) -> &'static str {
    match Status::from_u64(x0) {
        Some(Status::Success) => "SUCCESS",
        Some(Status::NotSupported) => "NOT_SUPPORTED",
        Some(Status::InvalidParameters) => "INVALID_PARAMETERS",
        Some(Status::Denied) => "DENIED",
        None => "?",
    }
}

/// docs/ABI.md's name for a reason code (`?` for an unknown one).
pub const fn reason_name(x1: u64) -> &'static str {
    match Reason::from_u64(x1) {
        Some(r) => r.name(),
        None => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_carries_pa_par_attr_and_stage2_bits() {
        let x3 = 1 << 54 | 1 << 10 | 3 << 8 | 1 << 6 | 0x1 << 2;
        let t = decode([0, 0x900_0000, 0x04, x3]);
        let Translation::Mapped { pa, par_attr, s2 } = t else {
            panic!("{t:?}");
        };
        assert_eq!((pa, par_attr), (0x900_0000, 0x04));
        assert_eq!(
            (s2.memattr(), s2.read(), s2.write(), s2.xn()),
            (1, true, false, true)
        );
    }

    #[test]
    fn errors_carry_status_and_raw_reason_and_garbage_is_kept() {
        let denied = decode([Status::Denied.as_u64(), Reason::HypMemory as u64, 0, 0]);
        assert_eq!(
            denied,
            Translation::Refused {
                status: Status::Denied,
                reason: 5
            }
        );
        assert_eq!(decode([7, 0, 0, 0]), Translation::BadStatus(7));
    }

    #[test]
    fn names_match_smccc_and_abi() {
        assert_eq!(status_name(u64::MAX - 1), "INVALID_PARAMETERS");
        assert_eq!(status_name(12), "?");
        assert_eq!(reason_name(Reason::NeedsFwb as u64), "NEEDS_FWB");
        assert_eq!(reason_name(999), "?");
    }

    #[test]
    fn request_is_the_translate_function_id() {
        assert_eq!(request(0, 0x1000), [0xC600_0001, 0, 0x1000, 0]);
    }
}
