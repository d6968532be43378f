//! TRANSLATE's answer held against the expectation (`expect`): the first difference, named.

use crate::expect::{Expected, XnRule};
use crate::translate::{reason_name, status_name, Translation};
use core::fmt;
use stile_abi::{Reason, Status};

/// The first way TRANSLATE's answer differs from the expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// Wrong status (x0), or the right error status with the wrong reason (x1).
    Answer {
        x0: u64,
        x1: u64,
        want: Status,
        want_reason: Option<Reason>,
    },
    Field {
        what: &'static str,
        got: u64,
        want: u64,
    },
    Flag {
        what: &'static str,
        got: bool,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Mismatch::Answer {
                x0,
                x1,
                want,
                want_reason,
            } => {
                write!(f, "got {}", status_name(x0))?;
                if Status::from_u64(x0).is_some_and(|s| s != Status::Success) {
                    write!(f, " ({})", reason_name(x1))?;
                }
                write!(f, ", want {}", status_name(want.as_u64()))?;
                match want_reason {
                    Some(r) => write!(f, " ({})", r.name()),
                    None => Ok(()),
                }
            }
            Mismatch::Field { what, got, want } => write!(f, "{what} {got:#x}, want {want:#x}"),
            Mismatch::Flag { what, got } => {
                write!(f, "{what} {}, want {}", on_off(got), on_off(!got))
            }
        }
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "set"
    } else {
        "clear"
    }
}

/// Checks `got` against `want`, field by field in a fixed order (status, reason, PA,
/// MemAttr, S2AP, XN, PAR attribute); the first difference is the answer.
pub fn compare(want: &Expected, got: &Translation, regs: [u64; 4]) -> Result<(), Mismatch> {
    let answer = |want, want_reason| Mismatch::Answer {
        x0: regs[0],
        x1: regs[1],
        want,
        want_reason,
    };
    match (want, got) {
        (
            Expected::Refused { status, reason },
            Translation::Refused {
                status: s,
                reason: r,
            },
        ) => {
            if s != status || *r != *reason as u64 {
                return Err(answer(*status, Some(*reason)));
            }
            Ok(())
        }
        (Expected::Refused { status, reason }, _) => Err(answer(*status, Some(*reason))),
        (Expected::Mapped(m), Translation::Mapped { pa, par_attr, s2 }) => {
            let field = |what, got: u64, want: u64| {
                if got == want {
                    Ok(())
                } else {
                    Err(Mismatch::Field { what, got, want })
                }
            };
            let flag = |what, got: bool, want: bool| {
                if got == want {
                    Ok(())
                } else {
                    Err(Mismatch::Flag { what, got })
                }
            };
            field("PA", *pa, m.pa)?;
            field("stage-2 MemAttr", s2.memattr().into(), m.memattr.into())?;
            flag("S2AP read", s2.read(), true)?;
            flag("S2AP write", s2.write(), m.write)?;
            match m.xn {
                XnRule::Set => flag("XN", s2.xn(), true)?,
                XnRule::Clear => flag("XN", s2.xn(), false)?,
                XnRule::Either => {}
            }
            field("PAR attr", *par_attr, m.par_attr.into())
        }
        (Expected::Mapped(_), _) => Err(answer(Status::Success, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expect::test_support::{denied, mapped};
    use crate::translate::decode;

    #[test]
    fn the_right_answer_compares_equal() {
        let want = mapped(0x0900_0000, 0x1, true, XnRule::Set, 0x04);
        let x3 = 1 << 54 | 1 << 10 | 3 << 6 | 0x1 << 2;
        let regs = [0, 0x0900_0000, 0x04, x3];
        assert_eq!(compare(&want, &decode(regs), regs), Ok(()));
    }

    #[test]
    fn each_wrong_field_is_named() {
        let want = mapped(0x0900_0000, 0x1, true, XnRule::Set, 0x04);
        let good = 1u64 << 54 | 1 << 10 | 3 << 6 | 0x1 << 2;
        let cases: [([u64; 4], &str); 6] = [
            ([0, 0x0900_1000, 0x04, good], "PA 0x9001000, want 0x9000000"),
            (
                [0, 0x0900_0000, 0x04, good & !(0xf << 2)],
                "stage-2 MemAttr 0x0, want 0x1",
            ),
            (
                [0, 0x0900_0000, 0x04, good & !(1 << 7)],
                "S2AP write clear, want set",
            ),
            (
                [0, 0x0900_0000, 0x04, good & !(1 << 54)],
                "XN clear, want set",
            ),
            ([0, 0x0900_0000, 0x00, good], "PAR attr 0x0, want 0x4"),
            (
                [Status::Denied.as_u64(), 8, 0, 0],
                "got DENIED (NO_MAPPING), want SUCCESS",
            ),
        ];
        for (regs, text) in cases {
            let m = compare(&want, &decode(regs), regs).unwrap_err();
            assert_eq!(m.to_string(), text);
        }
    }

    #[test]
    fn a_refusal_must_have_the_right_reason() {
        let want = denied(Reason::NeedsFwb);
        let regs = [Status::Denied.as_u64(), Reason::NeedsFwb as u64, 0, 0];
        assert_eq!(compare(&want, &decode(regs), regs), Ok(()));
        let regs = [Status::Denied.as_u64(), Reason::OutsideRam as u64, 0, 0];
        let m = compare(&want, &decode(regs), regs).unwrap_err();
        assert_eq!(
            m.to_string(),
            "got DENIED (OUTSIDE_RAM), want DENIED (NEEDS_FWB)"
        );
        let regs = [0, 0x7c00_0000, 0xff, 0];
        let m = compare(&want, &decode(regs), regs).unwrap_err();
        assert_eq!(m.to_string(), "got SUCCESS, want DENIED (NEEDS_FWB)");
    }
}
