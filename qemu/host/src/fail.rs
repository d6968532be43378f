//! Why a check failed: one typed value per way of failing, printed after `FAIL`.

use crate::compare::Mismatch;
use crate::translate::status_name;
use crate::vmm::calls::{status_for, Refusal};
use crate::vmm::exit::Exit;
use crate::vmm::image::ImageProblem;
use core::fmt;
use stile_abi::Reason;
use stile_guest::protocol::Verdict;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    /// TRANSLATE answered, but not as the oracle says; with x0..x3 as returned.
    Translate { mismatch: Mismatch, regs: [u64; 4] },
    /// A returned value differs from the one wanted.
    Value {
        what: &'static str,
        got: u64,
        want: u64,
    },
    /// A value is below the least one wanted.
    Below {
        what: &'static str,
        got: u64,
        min: u64,
    },
    /// A call that must be refused was not (`x0` as returned).
    NotRefused { what: &'static str, x0: u64 },
    /// x0 is not one of the statuses wanted (`want` lists them).
    Status { x0: u64, want: &'static str },
    /// A PSCI call that must succeed returned an error.
    PsciError { what: &'static str, ret: i32 },
    /// An access that must abort completed.
    NotBlocked { addr: u64 },
    /// Something the check needs is not there.
    Missing(&'static str),
    /// The payload itself is not where the check assumes.
    Setup(&'static str),
    /// A Stile call that must succeed was refused.
    Refused {
        call: &'static str,
        refusal: Refusal,
    },
    /// A call was refused, but not for the reason (or with the status) docs/ABI.md gives.
    WrongRefusal { got: Refusal, want: Reason },
    /// A call that must be refused succeeded.
    Accepted { call: &'static str, want: Reason },
    /// The guest exited in a way the scenario does not allow.
    UnexpectedExit(Exit),
    /// An exit the scenario needs did not happen.
    MissingExit(&'static str),
    /// The guest's own verdict (REPORT's x2 and details).
    Guest { verdict: u64, detail: [u64; 5] },
    /// The guest took an exception it did not expect and reported it (FATAL).
    GuestFatal { esr: u64, elr: u64, far: u64 },
    /// The check could not run: an earlier step failed.
    NotRun(&'static str),
    /// Memory given back by VM_DESTROY still aborts.
    StillBlocked { addr: u64 },
    /// Memory given back by VM_DESTROY holds something.
    NotScrubbed { addr: u64, value: u32 },
    /// The embedded guest image cannot be used.
    Image(ImageProblem),
    /// A register class is not isolated as docs/ISOLATION.md says.
    Isolation(crate::vmm::isolation::Problem),
    /// The hostile host's campaign found EL2 breaking a promise.
    Hostile(crate::hostile::Violation),
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Fail::Isolation(p) => write!(f, "{p}"),
            Fail::Translate { mismatch, regs } => write!(
                f,
                "{mismatch} (x0={:#x} x1={:#x} x2={:#x} x3={:#x})",
                regs[0], regs[1], regs[2], regs[3]
            ),
            Fail::Value { what, got, want } => write!(f, "{what} {got:#x}, want {want:#x}"),
            Fail::Below { what, got, min } => write!(f, "{what} {got:#x}, want >= {min:#x}"),
            Fail::NotRefused { what, x0 } => write!(f, "{what} was not refused (x0={x0:#x})"),
            Fail::Status { x0, want } => {
                write!(f, "got {} (x0={x0:#x}), want {want}", status_name(x0))
            }
            Fail::PsciError { what, ret } => write!(f, "{what} returned PSCI error {ret}"),
            Fail::NotBlocked { addr } => write!(f, "access to {addr:#x} was not blocked"),
            Fail::Missing(what) | Fail::Setup(what) => f.write_str(what),
            Fail::Refused { call, refusal } => write!(f, "{call} refused: {refusal}"),
            Fail::WrongRefusal { got, want } => write!(
                f,
                "got {got}, want {} ({})",
                status_name(status_for(want).as_u64()),
                want.name()
            ),
            Fail::Accepted { call, want } => write!(
                f,
                "{call} succeeded, want {} ({})",
                status_name(status_for(want).as_u64()),
                want.name()
            ),
            Fail::UnexpectedExit(e) => write!(f, "unexpected exit: {e}"),
            Fail::MissingExit(what) => write!(f, "no {what} exit"),
            Fail::Guest { verdict, detail } => {
                let name = Verdict::from_u64(verdict).map_or("an unknown verdict", Verdict::name);
                write!(f, "the guest reports {name} (")?;
                for (i, d) in detail.iter().enumerate() {
                    let sep = if i == 0 { "" } else { " " };
                    write!(f, "{sep}{d:#x}")?;
                }
                f.write_str(")")
            }
            Fail::GuestFatal { esr, elr, far } => write!(
                f,
                "the guest took an exception it did not expect: ESR {esr:#x} ELR {elr:#x} FAR {far:#x}"
            ),
            Fail::NotRun(why) => write!(f, "not run: {why}"),
            Fail::StillBlocked { addr } => write!(f, "a host read of {addr:#x} still aborts"),
            Fail::NotScrubbed { addr, value } => {
                write!(f, "{addr:#x} holds {value:#x}, want 0 (not scrubbed)")
            }
            Fail::Image(problem) => write!(f, "{problem}"),
            Fail::Hostile(v) => write!(f, "{v}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_read_as_one_short_reason() {
        let v = Fail::Value {
            what: "ESR_EL1.EC",
            got: 0x24,
            want: 0x25,
        };
        assert_eq!(v.to_string(), "ESR_EL1.EC 0x24, want 0x25");
        let b = Fail::NotBlocked { addr: 0x7f00_0000 };
        assert_eq!(b.to_string(), "access to 0x7f000000 was not blocked");
        let n = Fail::NotRefused {
            what: "CPU_ON",
            x0: 0,
        };
        assert_eq!(n.to_string(), "CPU_ON was not refused (x0=0x0)");
    }

    #[test]
    fn vmm_failures_name_statuses_and_reasons_as_docs_abi_does() {
        let got = Refusal {
            status: stile_abi::Status::Denied.as_u64(),
            reason: Reason::NotOwned as u64,
        };
        let w = Fail::WrongRefusal {
            got,
            want: Reason::Misaligned,
        };
        assert_eq!(
            w.to_string(),
            "got DENIED (NOT_OWNED), want INVALID_PARAMETERS (MISALIGNED)"
        );
        let a = Fail::Accepted {
            call: "VM_DESTROY",
            want: Reason::NoSuchVm,
        };
        assert_eq!(
            a.to_string(),
            "VM_DESTROY succeeded, want INVALID_PARAMETERS (NO_SUCH_VM)"
        );
        let g = Fail::Guest {
            verdict: 1,
            detail: [0xa5, 0xff, 0, 0, 0],
        };
        assert_eq!(
            g.to_string(),
            "the guest reports wrong value (0xa5 0xff 0x0 0x0 0x0)"
        );
    }
}
