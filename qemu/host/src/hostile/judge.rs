//! What counts as EL2 breaking its promises, one reply or one phase at a time.

use core::fmt;
use stile_abi::{Reason, Status};

/// A broken invariant (the first one is reported; all are counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// x0 is not an SMCCC status Stile returns (with the call's x0).
    BadStatus { fid: u64, x0: u64 },
    /// A refusal whose reason code is not one docs/ABI.md names.
    UnknownReason { fid: u64, x1: u64 },
    /// REVISION stopped answering as it should.
    Revision { x0: u64 },
    /// A load from memory the host must not reach (Stile's, a guest's) went through.
    Reachable { addr: u64 },
    /// Memory a destroyed guest had still holds something.
    NotScrubbed { addr: u64, value: u32 },
    /// VM_DESTROY of a guest the campaign made (no vCPU running) was refused.
    DestroyRefused { vm: u64, reason: u64 },
    /// After every guest is gone, EL2's books (free frames, VMIDs, guests) are not where
    /// they were.
    BooksOff { baseline: [u64; 3], now: [u64; 3] },
    /// VM_CREATE accepted memory the campaign never meant to give.
    UnplannedDonation { pa: u64 },
    /// Another host CPU did not finish its calls of phase `phase` in time: a call that
    /// never returned (EL2 hung or deadlocked) or a CPU that never came up.
    Stalled { phase: u64 },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Violation::BadStatus { fid, x0 } => {
                write!(f, "call {fid:#x} answered x0={x0:#x}, not a status")
            }
            Violation::UnknownReason { fid, x1 } => {
                write!(f, "call {fid:#x} refused with unknown reason {x1}")
            }
            Violation::Revision { x0 } => write!(f, "REVISION answered x0={x0:#x}"),
            Violation::Reachable { addr } => {
                write!(f, "the host read {addr:#x}, which it must not reach")
            }
            Violation::NotScrubbed { addr, value } => {
                write!(f, "{addr:#x} reads {value:#x} after VM_DESTROY")
            }
            Violation::DestroyRefused { vm, reason } => {
                write!(f, "VM_DESTROY of vm {vm} refused (reason {reason})")
            }
            Violation::BooksOff { baseline, now } => write!(
                f,
                "EL2's books (free frames, VMIDs, guests) {now:?}, were {baseline:?}"
            ),
            Violation::UnplannedDonation { pa } => {
                write!(f, "VM_CREATE took {pa:#x}, which was never offered")
            }
            Violation::Stalled { phase } => write!(
                f,
                "another host CPU did not finish its calls of phase {phase} in time"
            ),
        }
    }
}

/// What is wrong with `reply` to the call `x`, if anything. Every reply must be SUCCESS or
/// one of the three SMCCC errors Stile uses, and a refusal must name a known reason.
pub fn reply_problem(x: [u64; 7], reply: [u64; 4]) -> Option<Violation> {
    let fid = x[0];
    let status = Status::from_u64(reply[0]);
    match status {
        None => Some(Violation::BadStatus { fid, x0: reply[0] }),
        Some(Status::Success) => None,
        Some(_) if Reason::from_u64(reply[1]).is_none() => {
            Some(Violation::UnknownReason { fid, x1: reply[1] })
        }
        Some(_) => None,
    }
}
