//! Why a check failed: one typed value per way of failing, printed after `FAIL`.

use crate::compare::Mismatch;
use crate::translate::status_name;
use core::fmt;

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
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
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
}
