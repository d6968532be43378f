//! What the payload does, from its bootargs (the host DTB's `/chosen/bootargs`: QEMU's
//! `-append` without Stile's own `stile.*` words): its checks (the default), or the bench.

use core::fmt;

/// Iterations per metric of a full bench (`bench`).
pub const FULL: u64 = 10_000;
/// More iterations than that are refused (the bench would take minutes per metric).
pub const MAX_ITERATIONS: u64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No `bench` word: the checks (docs/HOST-PAYLOAD.md).
    Checks,
    /// `bench` (10,000 iterations per metric) or `bench=<n>`.
    Bench { iterations: u64 },
    /// `bench=boot`: only the boot figure (`scripts/bench.sh` boots with more RAM for it).
    BootOnly,
}

/// A `bench=` word that means nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadBench<'a>(pub &'a str);

impl fmt::Display for BadBench<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bootargs `{}`: want `bench`, `bench=boot` or `bench=<1..={MAX_ITERATIONS}>`",
            self.0
        )
    }
}

/// The mode `bootargs` asks for; the last `bench` word wins (as on Linux's command line).
pub fn parse(bootargs: &str) -> Result<Mode, BadBench<'_>> {
    let Some(word) = bootargs
        .split_ascii_whitespace()
        .rev()
        .find(|w| *w == "bench" || w.starts_with("bench="))
    else {
        return Ok(Mode::Checks);
    };
    match word.strip_prefix("bench=") {
        None => Ok(Mode::Bench { iterations: FULL }),
        Some("boot") => Ok(Mode::BootOnly),
        Some(n) => match n.parse::<u64>() {
            Ok(n) if (1..=MAX_ITERATIONS).contains(&n) => Ok(Mode::Bench { iterations: n }),
            _ => Err(BadBench(word)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_bench_word_means_the_checks() {
        assert_eq!(parse(""), Ok(Mode::Checks));
        assert_eq!(parse("console=ttyAMA0 quiet"), Ok(Mode::Checks));
        assert_eq!(parse("benchmark nobench"), Ok(Mode::Checks));
    }

    #[test]
    fn bench_is_the_full_run_and_bench_n_a_quick_one() {
        assert_eq!(parse("bench"), Ok(Mode::Bench { iterations: FULL }));
        assert_eq!(
            parse("quiet bench=100"),
            Ok(Mode::Bench { iterations: 100 })
        );
        assert_eq!(parse("bench=boot"), Ok(Mode::BootOnly));
        assert_eq!(
            parse("bench=100 bench"),
            Ok(Mode::Bench { iterations: FULL })
        );
    }

    #[test]
    fn a_bench_word_that_means_nothing_is_refused_with_the_word() {
        for bad in ["bench=", "bench=0", "bench=x", "bench=-1", "bench=1000001"] {
            assert_eq!(parse(bad), Err(BadBench(bad)), "{bad}");
        }
        assert!(BadBench("bench=x")
            .to_string()
            .starts_with("bootargs `bench=x`"));
    }
}
