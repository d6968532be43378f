//! What the SMP checks conclude from what the two CPUs recorded (arch/smp.rs runs them):
//! arch-free, so the rules are unit-tested.

use crate::fail::Fail;

/// What one CPU's VCPU_RUN of the contested vCPU came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not tried (the other CPU had already finished with it).
    NotTried,
    /// It ran the guest to its HVC exit.
    Ran,
    /// Refused with BUSY: the other CPU was running it.
    Busy,
    /// Anything else: (x0, x1) as returned.
    Other(u64, u64),
}

/// Exactly one CPU may run a vCPU at a time: of two CPUs that tried the same vCPU while
/// it ran, one ran it and the other was told BUSY.
pub fn one_ran_one_busy(primary: Outcome, secondary: Outcome) -> Result<(), Fail> {
    match (primary, secondary) {
        (Outcome::Ran, Outcome::Busy) | (Outcome::Busy, Outcome::Ran) => Ok(()),
        (Outcome::Ran, Outcome::Ran) => Err(Fail::Setup("both CPUs ran the same vCPU")),
        (Outcome::Ran, Outcome::NotTried) => Err(Fail::Setup(
            "the second CPU never tried the vCPU while it ran",
        )),
        (Outcome::Other(x0, x1), _) | (_, Outcome::Other(x0, x1)) => Err(Fail::Value {
            what: "VCPU_RUN of the contested vCPU: x0 (x1 below)",
            got: x0,
            want: x1,
        }),
        _ => Err(Fail::Setup("neither CPU ran the contested vCPU")),
    }
}

/// Two guests ran at once: the other CPU's guest made progress (`before` -> `after` exits)
/// while this CPU ran its own `ran` round trips, all of them HVC exits, at least `want`.
pub fn ran_at_once(ran: u64, want: u64, before: u64, after: u64) -> Result<(), Fail> {
    if ran < want {
        return Err(Fail::Value {
            what: "round trips of this CPU's guest",
            got: ran,
            want,
        });
    }
    if after <= before {
        return Err(Fail::Setup(
            "the other CPU's guest made no exits while this CPU ran its own",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_cpu_may_win_but_the_other_is_busy() {
        assert!(one_ran_one_busy(Outcome::Ran, Outcome::Busy).is_ok());
        assert!(one_ran_one_busy(Outcome::Busy, Outcome::Ran).is_ok());
    }

    #[test]
    fn two_runs_or_no_contest_fail() {
        assert!(one_ran_one_busy(Outcome::Ran, Outcome::Ran).is_err());
        assert!(one_ran_one_busy(Outcome::Ran, Outcome::NotTried).is_err());
        assert!(one_ran_one_busy(Outcome::Busy, Outcome::Busy).is_err());
        assert!(one_ran_one_busy(Outcome::Other(0, 6), Outcome::Busy).is_err());
    }

    #[test]
    fn progress_on_the_other_cpu_during_our_run_is_overlap() {
        assert!(ran_at_once(100, 100, 5, 9).is_ok());
        assert!(ran_at_once(100, 100, 9, 9).is_err());
        assert!(ran_at_once(99, 100, 5, 9).is_err());
        assert!(ran_at_once(150, 100, 5, 6).is_ok());
    }
}
