//! Stile's calls as the VMM makes them (docs/ABI.md): one request type, typed results, and
//! a refusal that prints as `<STATUS> (<REASON>)`.

use super::machine::VmmMachine;
use crate::translate::{reason_name, status_name};
use core::fmt;
use stile_abi::{Function, Reason, Status};
use stile_guest::ipa::Ipa;
use stile_hyp::addr::PhysAddr;

/// An error status with its reason (x0, x1 as returned, raw).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: u64,
    pub reason: u64,
}

impl Refusal {
    pub fn is(&self, reason: Reason) -> bool {
        self.reason == reason as u64 && self.status == status_for(reason).as_u64()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})",
            status_name(self.status),
            reason_name(self.reason)
        )?;
        if Reason::from_u64(self.reason).is_none() {
            write!(f, " [{:#x}]", self.reason)?;
        }
        Ok(())
    }
}

/// The status docs/ABI.md pairs with a reason: INVALID_PARAMETERS for an argument wrong in
/// itself, DENIED for everything else.
pub const fn status_for(reason: Reason) -> Status {
    match reason {
        Reason::NoSuchVm
        | Reason::NoSuchVcpu
        | Reason::BadArgument
        | Reason::Misaligned
        | Reason::OutOfRange => Status::InvalidParameters,
        _ => Status::Denied,
    }
}

/// One call: the function and x1..x6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub function: Function,
    pub args: [u64; 6],
}

impl Request {
    pub const fn new(function: Function, args: [u64; 6]) -> Request {
        Request { function, args }
    }

    pub const fn vm_create(pa: u64, size: u64, flags: u64) -> Request {
        Request::new(Function::VmCreate, [pa, size, flags, 0, 0, 0])
    }

    pub const fn vm_destroy(vm: u64) -> Request {
        Request::new(Function::VmDestroy, [vm, 0, 0, 0, 0, 0])
    }

    pub const fn vcpu_create(vm: u64, entry: u64, run_page: u64, x0: u64) -> Request {
        Request::new(Function::VcpuCreate, [vm, entry, run_page, x0, 0, 0])
    }

    pub const fn vcpu_run(vm: u64, vcpu: u64) -> Request {
        Request::new(Function::VcpuRun, [vm, vcpu, 0, 0, 0, 0])
    }

    pub const fn memslot_set(vm: u64, slot: &SlotRequest) -> Request {
        Request::new(
            Function::MemslotSet,
            [vm, slot.slot, slot.ipa.0, slot.pa, slot.size, slot.word],
        )
    }

    pub const fn stats(vm: u64) -> Request {
        Request::new(Function::Stats, [vm, 0, 0, 0, 0, 0])
    }

    pub const fn get_caps() -> Request {
        Request::new(Function::GetCaps, [0; 6])
    }

    pub const fn translate(vm: u64, ipa: Ipa) -> Request {
        Request::new(Function::Translate, [vm, ipa.0, 0, 0, 0, 0])
    }

    pub const fn regs(&self) -> [u64; 7] {
        let a = self.args;
        [self.function as u64, a[0], a[1], a[2], a[3], a[4], a[5]]
    }
}

/// x1..x3 of a SUCCESS, or the refusal.
pub type Answer = Result<[u64; 3], Refusal>;

pub const fn decode(x: [u64; 4]) -> Answer {
    if x[0] == Status::Success.as_u64() {
        Ok([x[1], x[2], x[3]])
    } else {
        Err(Refusal {
            status: x[0],
            reason: x[1],
        })
    }
}

pub fn call(m: &mut impl VmmMachine, req: &Request) -> Answer {
    decode(m.call(req.regs()))
}

/// MEMSLOT_SET's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRequest {
    pub slot: u64,
    pub ipa: Ipa,
    /// Backing PA (ignored for mmio slots).
    pub pa: u64,
    pub size: u64,
    /// `stile_abi::slot::word(kind, perms, flags)`.
    pub word: u64,
}

/// STATS' three counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Stage-2 faults resolved inside EL2 (lazy maps).
    pub resolved: u64,
    /// Exits delivered to the host.
    pub exits: u64,
    /// Aborts injected into the VM.
    pub injected: u64,
}

pub fn stats(m: &mut impl VmmMachine, vm: u64) -> Result<Stats, Refusal> {
    call(m, &Request::stats(vm)).map(|x| Stats {
        resolved: x[0],
        exits: x[1],
        injected: x[2],
    })
}

pub fn vm_create(m: &mut impl VmmMachine, ram: PhysAddr, size: u64) -> Result<u64, Refusal> {
    call(m, &Request::vm_create(ram.0, size, 0)).map(|x| x[0])
}

pub fn vcpu_create(
    m: &mut impl VmmMachine,
    vm: u64,
    entry: Ipa,
    run_page: PhysAddr,
    x0: u64,
) -> Result<u64, Refusal> {
    call(m, &Request::vcpu_create(vm, entry.0, run_page.0, x0)).map(|x| x[0])
}

pub fn memslot_set(m: &mut impl VmmMachine, vm: u64, s: &SlotRequest) -> Result<(), Refusal> {
    call(m, &Request::memslot_set(vm, s)).map(|_| ())
}

pub fn vm_destroy(m: &mut impl VmmMachine, vm: u64) -> Result<(), Refusal> {
    call(m, &Request::vm_destroy(vm)).map(|_| ())
}

/// Holds a call's result against docs/ABI.md: `None` = it must succeed, `Some(r)` = it must
/// be refused with `r` and the status that goes with it.
pub fn expect<T>(
    call_name: &'static str,
    got: Result<T, Refusal>,
    want: Option<Reason>,
) -> Result<(), crate::fail::Fail> {
    use crate::fail::Fail;
    match (got, want) {
        (Ok(_), None) => Ok(()),
        (Err(refusal), None) => Err(Fail::Refused {
            call: call_name,
            refusal,
        }),
        (Err(e), Some(r)) if e.is(r) => Ok(()),
        (Err(got), Some(want)) => Err(Fail::WrongRefusal { got, want }),
        (Ok(_), Some(want)) => Err(Fail::Accepted {
            call: call_name,
            want,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_print_status_and_reason_names() {
        let r = Refusal {
            status: Status::Denied.as_u64(),
            reason: Reason::Busy as u64,
        };
        assert_eq!(r.to_string(), "DENIED (BUSY)");
        assert!(r.is(Reason::Busy));
        assert!(!r.is(Reason::NotOwned));
        let odd = Refusal {
            status: 7,
            reason: 99,
        };
        assert_eq!(odd.to_string(), "? (?) [0x63]");
    }

    #[test]
    fn a_reason_is_only_right_with_its_status() {
        let wrong_status = Refusal {
            status: Status::Denied.as_u64(),
            reason: Reason::Misaligned as u64,
        };
        assert!(!wrong_status.is(Reason::Misaligned));
        assert_eq!(status_for(Reason::NoSuchVcpu), Status::InvalidParameters);
        assert_eq!(status_for(Reason::Overlap), Status::Denied);
    }

    #[test]
    fn expectations_want_the_exact_reason_and_its_status() {
        let busy = Refusal {
            status: Status::Denied.as_u64(),
            reason: Reason::Busy as u64,
        };
        assert!(expect("X", Err::<(), _>(busy), Some(Reason::Busy)).is_ok());
        assert!(expect("X", Err::<(), _>(busy), Some(Reason::NotOwned)).is_err());
        assert!(expect("X", Err::<(), _>(busy), None).is_err());
        assert!(expect("X", Ok::<(), Refusal>(()), Some(Reason::Busy)).is_err());
        assert!(expect("X", Ok::<(), Refusal>(()), None).is_ok());
    }

    #[test]
    fn requests_put_the_function_in_x0_and_arguments_in_order() {
        let s = SlotRequest {
            slot: 3,
            ipa: Ipa(0x9010_0000),
            pa: 0x7ab0_1000,
            size: 0x1000,
            word: 0x104,
        };
        assert_eq!(
            Request::memslot_set(1, &s).regs(),
            [0xC600_0020, 1, 3, 0x9010_0000, 0x7ab0_1000, 0x1000, 0x104]
        );
        assert_eq!(decode([0, 5, 6, 7]), Ok([5, 6, 7]));
        assert_eq!(
            decode([Status::Denied.as_u64(), 21, 0, 0]),
            Err(Refusal {
                status: Status::Denied.as_u64(),
                reason: 21
            })
        );
    }
}
