//! The host's hypercalls: decode x0..x6 once, route to the call, encode x0..x3 back.
//! Arch-free: the state the calls act on comes through [`HvcBackend`]. VCPU_RUN is not
//! answered here: it switches worlds, so it comes back as [`Dispatch::Run`].

use crate::vm::memslot::SlotRequest;
use crate::vm::revoke::Revoked;
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

/// A refused call: the reason, from which the status follows (see [`status_of`]).
pub type Refused = Reason;

/// Wrong ids and malformed arguments are INVALID_PARAMETERS; everything Stile declines by
/// policy (ownership, capabilities, limits, busy memory) is DENIED.
pub const fn status_of(r: Reason) -> Status {
    match r {
        Reason::NoSuchVm
        | Reason::NoSuchVcpu
        | Reason::BadArgument
        | Reason::Misaligned
        | Reason::OutOfRange => Status::InvalidParameters,
        _ => Status::Denied,
    }
}

/// The hypervisor state hypercalls act on.
pub trait HvcBackend {
    fn translate(&mut self, vm: u64, addr: u64) -> Translation;
    /// (capability bits, reason bytes).
    fn caps(&mut self) -> (u64, u64);
    fn stats(&mut self, vm: u64) -> Result<[u64; 3], Refused>;
    fn vm_create(&mut self, ram_pa: u64, ram_size: u64, flags: u64) -> Result<u64, Refused>;
    fn vm_destroy(&mut self, vm: u64) -> Result<(), Refused>;
    fn vcpu_create(
        &mut self,
        vm: u64,
        pc: u64,
        run_page: u64,
        x0: u64,
        flags: u64,
    ) -> Result<u64, Refused>;
    fn memslot_set(&mut self, vm: u64, req: &SlotRequest) -> Result<(), Refused>;
    fn memslot_clear(&mut self, vm: u64, slot: u64) -> Result<(), Refused>;
    fn region_revoke(&mut self, base: u64) -> Result<Revoked, Refused>;
    fn region_restore(&mut self, base: u64) -> Result<(), Refused>;
    fn vgic_config(&mut self, vm: u64, gicd: u64, gicr: u64) -> Result<(), Refused>;
    fn irq_line(&mut self, vm: u64, intid: u64, level: u64) -> Result<(), Refused>;
    /// (pending 0/1, INTID or 1023, virtual timer deadline or u64::MAX).
    fn vcpu_pending(&mut self, vm: u64, vcpu: u64) -> Result<[u64; 3], Refused>;
}

/// Results in x0..x3.
pub type Regs = [u64; 4];

/// What to do with one HVC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// Return these in x0..x3.
    Reply(Regs),
    /// VCPU_RUN: switch to this vCPU (its checks happen there).
    Run { vm: u64, vcpu: u64 },
}

fn ok(x1: u64) -> Dispatch {
    Dispatch::Reply([Status::Success.as_u64(), x1, 0, 0])
}

fn refused(r: Reason) -> Dispatch {
    Dispatch::Reply([status_of(r).as_u64(), r as u64, 0, 0])
}

fn done<T>(r: Result<T, Refused>, x1: impl FnOnce(T) -> u64) -> Dispatch {
    match r {
        Ok(v) => ok(x1(v)),
        Err(reason) => refused(reason),
    }
}

/// Handle one HVC with arguments `x` (x0 = function ID, x1..x6 arguments).
pub fn dispatch(x: &[u64; 7], backend: &mut impl HvcBackend) -> Dispatch {
    let fid = x[0] as u32;
    let reply = |r: Regs| Dispatch::Reply(r);
    match fid {
        FN_CALL_UID => return reply(UID.map(u64::from)),
        FN_REVISION => return reply([REVISION.0 as u64, REVISION.1 as u64, 0, 0]),
        _ => {}
    }
    let Some(f) = Function::from_id(fid) else {
        return reply([Status::NotSupported.as_u64(), Reason::None as u64, 0, 0]);
    };
    match f {
        Function::Translate => match backend.translate(x[1], x[2]) {
            Translation::Mapped {
                pa,
                par_attr,
                s2_attrs,
            } => reply([Status::Success.as_u64(), pa, par_attr as u64, s2_attrs]),
            Translation::Unmapped(r) => reply([Status::Denied.as_u64(), r as u64, 0, 0]),
            Translation::Invalid(r) => reply([Status::InvalidParameters.as_u64(), r as u64, 0, 0]),
        },
        Function::GetCaps => {
            let (bits, reasons) = backend.caps();
            reply([Status::Success.as_u64(), bits, reasons, 0])
        }
        Function::Stats => match backend.stats(x[1]) {
            Ok([a, b, c]) => reply([Status::Success.as_u64(), a, b, c]),
            Err(r) => refused(r),
        },
        Function::VmCreate => done(backend.vm_create(x[1], x[2], x[3]), |id| id),
        Function::VmDestroy => done(backend.vm_destroy(x[1]), |_| 0),
        Function::VcpuCreate => done(backend.vcpu_create(x[1], x[2], x[3], x[4], x[5]), |id| id),
        Function::VcpuRun => Dispatch::Run {
            vm: x[1],
            vcpu: x[2],
        },
        Function::MemslotSet => {
            let req = SlotRequest {
                index: x[2],
                ipa: x[3],
                pa: x[4],
                size: x[5],
                word: x[6],
            };
            done(backend.memslot_set(x[1], &req), |_| 0)
        }
        Function::MemslotClear => done(backend.memslot_clear(x[1], x[2]), |_| 0),
        Function::RegionRevoke => match backend.region_revoke(x[1]) {
            Ok(r) => reply([Status::Success.as_u64(), r.slots, r.vms, 0]),
            Err(r) => refused(r),
        },
        Function::RegionRestore => done(backend.region_restore(x[1]), |_| 0),
        Function::VgicConfig => done(backend.vgic_config(x[1], x[2], x[3]), |_| 0),
        Function::IrqLine => done(backend.irq_line(x[1], x[2], x[3]), |_| 0),
        Function::VcpuPending => match backend.vcpu_pending(x[1], x[2]) {
            Ok([a, b, c]) => reply([Status::Success.as_u64(), a, b, c]),
            Err(r) => refused(r),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the last call's arguments; answers with canned results.
    #[derive(Default)]
    struct Fake {
        last: Option<(&'static str, [u64; 4])>,
        /// VCPU_CREATE's fifth argument.
        flags: u64,
        refuse: Option<Reason>,
    }

    impl Fake {
        fn answer<T>(&mut self, name: &'static str, args: [u64; 4], v: T) -> Result<T, Refused> {
            self.last = Some((name, args));
            self.refuse.map_or(Ok(v), Err)
        }
    }

    impl HvcBackend for Fake {
        fn translate(&mut self, vm: u64, addr: u64) -> Translation {
            self.last = Some(("translate", [vm, addr, 0, 0]));
            match self.refuse {
                Some(r) => Translation::Unmapped(r),
                None => Translation::Mapped {
                    pa: addr,
                    par_attr: 0xff,
                    s2_attrs: 0x7fc,
                },
            }
        }
        fn caps(&mut self) -> (u64, u64) {
            (0b111, 0x0101)
        }
        fn stats(&mut self, vm: u64) -> Result<[u64; 3], Refused> {
            self.answer("stats", [vm, 0, 0, 0], [1, 2, 3])
        }
        fn vm_create(&mut self, pa: u64, size: u64, flags: u64) -> Result<u64, Refused> {
            self.answer("vm_create", [pa, size, flags, 0], 7)
        }
        fn vm_destroy(&mut self, vm: u64) -> Result<(), Refused> {
            self.answer("vm_destroy", [vm, 0, 0, 0], ())
        }
        fn vcpu_create(
            &mut self,
            vm: u64,
            pc: u64,
            run: u64,
            x0: u64,
            flags: u64,
        ) -> Result<u64, Refused> {
            self.flags = flags;
            self.answer("vcpu_create", [vm, pc, run, x0], 2)
        }
        fn memslot_set(&mut self, vm: u64, r: &SlotRequest) -> Result<(), Refused> {
            self.answer("memslot_set", [vm, r.index, r.ipa, r.word], ())
        }
        fn memslot_clear(&mut self, vm: u64, slot: u64) -> Result<(), Refused> {
            self.answer("memslot_clear", [vm, slot, 0, 0], ())
        }
        fn region_revoke(&mut self, base: u64) -> Result<Revoked, Refused> {
            self.answer(
                "region_revoke",
                [base, 0, 0, 0],
                Revoked { slots: 3, vms: 2 },
            )
        }
        fn region_restore(&mut self, base: u64) -> Result<(), Refused> {
            self.answer("region_restore", [base, 0, 0, 0], ())
        }
        fn vgic_config(&mut self, vm: u64, gicd: u64, gicr: u64) -> Result<(), Refused> {
            self.answer("vgic_config", [vm, gicd, gicr, 0], ())
        }
        fn irq_line(&mut self, vm: u64, intid: u64, level: u64) -> Result<(), Refused> {
            self.answer("irq_line", [vm, intid, level, 0], ())
        }
        fn vcpu_pending(&mut self, vm: u64, vcpu: u64) -> Result<[u64; 3], Refused> {
            self.answer("vcpu_pending", [vm, vcpu, 0, 0], [1, 27, 500])
        }
    }

    fn call(x: [u64; 7], fake: &mut Fake) -> Dispatch {
        dispatch(&x, fake)
    }

    fn f(func: Function) -> u64 {
        func as u64
    }

    #[test]
    fn uid_and_revision_are_answered() {
        let mut fake = Fake::default();
        assert_eq!(
            call([FN_CALL_UID as u64, 0, 0, 0, 0, 0, 0], &mut fake),
            Dispatch::Reply(UID.map(u64::from))
        );
        assert_eq!(
            call([FN_REVISION as u64, 0, 0, 0, 0, 0, 0], &mut fake),
            Dispatch::Reply([0, 3, 0, 0])
        );
    }

    #[test]
    fn every_call_passes_its_registers_in_order() {
        let mut fake = Fake::default();
        assert_eq!(
            call(
                [f(Function::VmCreate), 0x4400_0000, 0x40_0000, 0, 9, 9, 9],
                &mut fake
            ),
            ok(7)
        );
        assert_eq!(
            fake.last,
            Some(("vm_create", [0x4400_0000, 0x40_0000, 0, 0]))
        );
        assert_eq!(
            call(
                [
                    f(Function::VcpuCreate),
                    1,
                    0x4000_0000,
                    0x4100_0000,
                    5,
                    9,
                    9
                ],
                &mut fake
            ),
            ok(2)
        );
        assert_eq!(
            fake.last,
            Some(("vcpu_create", [1, 0x4000_0000, 0x4100_0000, 5]))
        );
        assert_eq!(fake.flags, 9, "x5 is VCPU_CREATE's flags");
        call(
            [
                f(Function::MemslotSet),
                1,
                3,
                0x4000_0000,
                0x4400_0000,
                0x20_0000,
                0x700,
            ],
            &mut fake,
        );
        assert_eq!(fake.last, Some(("memslot_set", [1, 3, 0x4000_0000, 0x700])));
        assert_eq!(
            call([f(Function::Stats), 1, 0, 0, 0, 0, 0], &mut fake),
            Dispatch::Reply([0, 1, 2, 3])
        );
        assert_eq!(
            call([f(Function::GetCaps), 0, 0, 0, 0, 0, 0], &mut fake),
            Dispatch::Reply([0, 0b111, 0x0101, 0])
        );
        assert_eq!(
            call([f(Function::VcpuRun), 1, 2, 0, 0, 0, 0], &mut fake),
            Dispatch::Run { vm: 1, vcpu: 2 }
        );
        assert_eq!(
            call(
                [f(Function::RegionRevoke), 0x7c00_0000, 9, 9, 9, 9, 9],
                &mut fake
            ),
            Dispatch::Reply([0, 3, 2, 0])
        );
        assert_eq!(fake.last, Some(("region_revoke", [0x7c00_0000, 0, 0, 0])));
        assert_eq!(
            call(
                [f(Function::RegionRestore), 0x7c00_0000, 9, 9, 9, 9, 9],
                &mut fake
            ),
            ok(0)
        );
        assert_eq!(fake.last, Some(("region_restore", [0x7c00_0000, 0, 0, 0])));
        call(
            [f(Function::VgicConfig), 1, 0x800_0000, 0x80a_0000, 9, 9, 9],
            &mut fake,
        );
        assert_eq!(
            fake.last,
            Some(("vgic_config", [1, 0x800_0000, 0x80a_0000, 0]))
        );
        call([f(Function::IrqLine), 1, 40, 1, 9, 9, 9], &mut fake);
        assert_eq!(fake.last, Some(("irq_line", [1, 40, 1, 0])));
        assert_eq!(
            call([f(Function::VcpuPending), 1, 0, 9, 9, 9, 9], &mut fake),
            Dispatch::Reply([0, 1, 27, 500])
        );
        assert_eq!(fake.last, Some(("vcpu_pending", [1, 0, 0, 0])));
    }

    #[test]
    fn refusals_carry_status_and_reason() {
        let mut fake = Fake {
            refuse: Some(Reason::NotOptedIn),
            ..Fake::default()
        };
        let denied = Dispatch::Reply([Status::Denied.as_u64(), Reason::NotOptedIn as u64, 0, 0]);
        assert_eq!(
            call([f(Function::MemslotSet), 1, 0, 0, 0, 0, 0], &mut fake),
            denied
        );
        fake.refuse = Some(Reason::NoSuchVm);
        let invalid = Dispatch::Reply([
            Status::InvalidParameters.as_u64(),
            Reason::NoSuchVm as u64,
            0,
            0,
        ]);
        assert_eq!(
            call([f(Function::VmDestroy), 99, 0, 0, 0, 0, 0], &mut fake),
            invalid
        );
    }

    #[test]
    fn translate_encodes_each_outcome() {
        let mut fake = Fake::default();
        let r = call(
            [f(Function::Translate), 0, 0x4000_0000, 0, 0, 0, 0],
            &mut fake,
        );
        assert_eq!(r, Dispatch::Reply([0, 0x4000_0000, 0xff, 0x7fc]));
        fake.refuse = Some(Reason::HypMemory);
        let r = call([f(Function::Translate), 0, 8, 0, 0, 0, 0], &mut fake);
        assert_eq!(
            r,
            Dispatch::Reply([Status::Denied.as_u64(), Reason::HypMemory as u64, 0, 0])
        );
    }

    #[test]
    fn unknown_functions_are_not_supported_whatever_the_arguments() {
        for fid in [0u64, 0xC600_00FF, 0x8600_FF02, u64::MAX] {
            let mut fake = Fake::default();
            let r = call(
                [
                    fid,
                    u64::MAX,
                    u64::MAX,
                    u64::MAX,
                    u64::MAX,
                    u64::MAX,
                    u64::MAX,
                ],
                &mut fake,
            );
            assert_eq!(
                r,
                Dispatch::Reply([Status::NotSupported.as_u64(), 0, 0, 0]),
                "{fid:#x}"
            );
            assert_eq!(fake.last, None, "backend not consulted for {fid:#x}");
        }
    }
}
