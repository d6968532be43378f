//! The host's hypercalls: decode x0..x3 once, route to the call, encode x0..x3 back.
//! Arch-free: what needs the CPU (address translation) comes through [`HvcBackend`].

use stile_abi::{Function, Reason, Status, FN_CALL_UID, FN_REVISION, REVISION, UID};

/// What TRANSLATE found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Translation {
    Mapped {
        pa: u64,
        par_attr: u8,
        s2_attrs: u64,
    },
    /// A VM exists, but nothing is mapped at the address: why.
    Unmapped(Reason),
    /// The arguments themselves were wrong (no such VM, address out of range).
    Invalid(Reason),
}

/// The hypervisor state hypercalls act on.
pub trait HvcBackend {
    fn translate(&mut self, vm: u64, addr: u64) -> Translation;
}

/// Results in x0..x3.
pub type Regs = [u64; 4];

fn status(s: Status, x1: u64) -> Regs {
    [s.as_u64(), x1, 0, 0]
}

/// Handle one HVC with arguments `x` (x0 = function ID).
pub fn dispatch(x: Regs, backend: &mut impl HvcBackend) -> Regs {
    let fid = x[0] as u32;
    match fid {
        FN_CALL_UID => UID.map(u64::from),
        FN_REVISION => [REVISION.0 as u64, REVISION.1 as u64, 0, 0],
        _ => match Function::from_id(fid) {
            Some(Function::Translate) => match backend.translate(x[1], x[2]) {
                Translation::Mapped {
                    pa,
                    par_attr,
                    s2_attrs,
                } => [Status::Success.as_u64(), pa, par_attr as u64, s2_attrs],
                Translation::Unmapped(r) => status(Status::Denied, r as u64),
                Translation::Invalid(r) => status(Status::InvalidParameters, r as u64),
            },
            None => status(Status::NotSupported, Reason::None as u64),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake(Translation, Option<(u64, u64)>);

    impl HvcBackend for Fake {
        fn translate(&mut self, vm: u64, addr: u64) -> Translation {
            self.1 = Some((vm, addr));
            self.0
        }
    }

    fn call(x: Regs, t: Translation) -> (Regs, Option<(u64, u64)>) {
        let mut f = Fake(t, None);
        (dispatch(x, &mut f), f.1)
    }

    const ANY: Translation = Translation::Unmapped(Reason::NoMapping);

    #[test]
    fn uid_and_revision_are_answered() {
        assert_eq!(
            call([FN_CALL_UID as u64, 0, 0, 0], ANY).0,
            UID.map(u64::from)
        );
        assert_eq!(call([FN_REVISION as u64, 0, 0, 0], ANY).0, [0, 1, 0, 0]);
    }

    #[test]
    fn translate_passes_vm_and_address_and_encodes_each_outcome() {
        let fid = Function::Translate as u64;
        let mapped = Translation::Mapped {
            pa: 0x4000_0000,
            par_attr: 0xff,
            s2_attrs: 0x7fc,
        };
        let (r, args) = call([fid, 0, 0x4000_0000, 0], mapped);
        assert_eq!(args, Some((0, 0x4000_0000)));
        assert_eq!(r, [0, 0x4000_0000, 0xff, 0x7fc]);
        let (r, _) = call([fid, 0, 0x8, 0], Translation::Unmapped(Reason::HypMemory));
        assert_eq!(r, [Status::Denied.as_u64(), Reason::HypMemory as u64, 0, 0]);
        let (r, _) = call([fid, 99, 0, 0], Translation::Invalid(Reason::NoSuchVm));
        assert_eq!(
            r,
            [
                Status::InvalidParameters.as_u64(),
                Reason::NoSuchVm as u64,
                0,
                0
            ]
        );
    }

    #[test]
    fn unknown_functions_are_not_supported_whatever_the_arguments() {
        for fid in [0u64, 0xC600_00FF, 0x8600_FF02, u64::MAX] {
            let (r, args) = call([fid, u64::MAX, u64::MAX, u64::MAX], ANY);
            assert_eq!(r[0], Status::NotSupported.as_u64(), "{fid:#x}");
            assert_eq!(args, None, "backend not consulted for {fid:#x}");
        }
    }
}
