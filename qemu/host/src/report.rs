//! The output contract: `check <name>: ok` or `check <name>: FAIL <why>`, one line per check,
//! then `host: <N> checks passed, <M> failed`.

use crate::fail::Fail;
use core::fmt;

pub struct Report<W> {
    out: W,
    passed: u32,
    failed: u32,
}

impl<W: fmt::Write> Report<W> {
    pub fn new(out: W) -> Self {
        Report {
            out,
            passed: 0,
            failed: 0,
        }
    }

    /// Counts and prints one check. (A console that cannot print loses the line, not the count.)
    pub fn check(&mut self, name: impl fmt::Display, result: Result<(), Fail>) {
        let _ = match result {
            Ok(()) => {
                self.passed += 1;
                writeln!(self.out, "check {name}: ok")
            }
            Err(why) => {
                self.failed += 1;
                writeln!(self.out, "check {name}: FAIL {why}")
            }
        };
    }

    /// A narration line (not a check): printed as given, counted nowhere.
    pub fn note(&mut self, line: fmt::Arguments<'_>) {
        let _ = writeln!(self.out, "{line}");
    }

    pub fn passed(&self) -> u32 {
        self.passed
    }

    pub fn failed(&self) -> u32 {
        self.failed
    }

    /// The closing line.
    pub fn summary(&mut self) {
        let _ = writeln!(
            self.out,
            "host: {} checks passed, {} failed",
            self.passed, self.failed
        );
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_summary_follow_the_contract() {
        let mut r = Report::new(String::new());
        r.check("host-uid", Ok(()));
        r.check(
            format_args!("host-hyp-read-page{}", 2),
            Err(Fail::Missing("no stile-hyp node")),
        );
        r.summary();
        assert_eq!((r.passed(), r.failed()), (1, 1));
        assert_eq!(
            r.into_inner(),
            "check host-uid: ok\n\
             check host-hyp-read-page2: FAIL no stile-hyp node\n\
             host: 1 checks passed, 1 failed\n"
        );
    }
}
