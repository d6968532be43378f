//! Matches one run's output and ending against a case's expectations.
//!
//! Pure functions over text, so every rule is unit-tested without QEMU.

use crate::runner::End;

/// Something a case's output must (or must not) contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// A line that is exactly this (trailing whitespace and `\r` aside).
    Line(&'static str),
    /// A line that starts with this, followed by the end of the line or a character that is
    /// not a letter or digit: `stile: cpus: 4` is met by `stile: cpus: 4 (psci)` but not by
    /// `stile: cpus: 40`.
    Starts(&'static str),
    /// A line as for [`Expect::Starts`] whose remainder mentions `word` (any case).
    StartsMentioning {
        prefix: &'static str,
        word: &'static str,
    },
    /// The feature line `stile: cpu: FWB=<0|1> DIC=<0|1> PARange=<bits> VMIDbits=<8|16>`,
    /// well formed, with this FWB value. Nothing else is pinned: DIC, PARange and VMIDbits
    /// differ between CPU models and QEMU versions.
    CpuFeatures { fwb: u8 },
    /// No line contains this (any case: a panic handler may shout).
    Never(&'static str),
    /// A line starting with `prefix` that contains a number directly followed by `unit`
    /// (e.g. `5 table pages`), and that number is at most `max`.
    NumberAtMost {
        prefix: &'static str,
        unit: &'static str,
        max: u64,
    },
    /// A line that contains `text` anywhere (for lines with a varying prefix).
    Contains(&'static str),
    /// At most `max` lines contain `text` (a flood that must not be logged line by line).
    AtMostLines { text: &'static str, max: usize },
}

/// How the program must end (besides not timing out, which always fails).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitRule {
    /// Exits by itself with this status (QEMU's is 0 after PSCI SYSTEM_OFF).
    Status(i32),
    /// Exits by itself with any status or signal: it only must not hang.
    AnyStatus,
    /// Never exits by itself (the CPU parks: a board without PSCI): the harness ends the run
    /// once this line is out, and it must come before the deadline.
    StopsAt(&'static str),
}

const CPU_PREFIX: &str = "stile: cpu: ";
const CPU_SHAPE: &str = "stile: cpu: FWB=<0|1> DIC=<0|1> PARange=<bits> VMIDbits=<8|16>";

/// Every unmet expectation, most telling first: forbidden lines (they name the cause), then
/// how the run ended, then missing lines in table order. Empty means the case passed.
pub fn unmet(expect: &[Expect], exit: ExitRule, output: &str, end: End) -> Vec<String> {
    let lines: Vec<&str> = output.lines().map(str::trim_end).collect();
    let mut unmet = Vec::new();

    for e in expect {
        if let Expect::Never(bad) = e {
            let needle = bad.to_ascii_lowercase();
            if let Some((n, line)) = lines
                .iter()
                .enumerate()
                .find(|(_, l)| l.to_ascii_lowercase().contains(&needle))
            {
                unmet.push(format!("forbidden `{bad}` on line {}: `{line}`", n + 1));
            }
        }
    }

    match (end, exit) {
        (End::Stopped, ExitRule::StopsAt(_)) => {}
        (End::Stopped, _) => unmet.push("ended by the harness without a reason".into()),
        (End::Code(_) | End::Signal(_), ExitRule::StopsAt(line)) => {
            unmet.push(format!("exited by itself, expected to stop at `{line}`"))
        }
        (End::TimedOut(t), _) => unmet.push(format!(
            "timed out after {} (killed)",
            seconds(t.as_secs_f64())
        )),
        (End::Code(got), ExitRule::Status(want)) if got != want => {
            unmet.push(format!("exit status {got}, expected {want}"))
        }
        (End::Signal(sig), ExitRule::Status(want)) => unmet.push(format!(
            "killed by signal {sig}, expected exit status {want}"
        )),
        _ => {}
    }

    for e in expect {
        if let Some(why) = missing(*e, &lines) {
            unmet.push(why);
        }
    }
    unmet
}

/// Why a positive expectation is not met, or `None` if it is (or is a `Never`).
fn missing(e: Expect, lines: &[&str]) -> Option<String> {
    match e {
        Expect::Line(want) => (!lines.contains(&want)).then(|| format!("no line `{want}`")),
        Expect::Starts(prefix) => (!lines.iter().any(|l| rest_after(l, prefix).is_some()))
            .then(|| format!("no line starting `{prefix}`")),
        Expect::StartsMentioning { prefix, word } => {
            let word_lc = word.to_ascii_lowercase();
            let found = lines.iter().any(|l| {
                rest_after(l, prefix).is_some_and(|r| r.to_ascii_lowercase().contains(&word_lc))
            });
            (!found).then(|| format!("no line starting `{prefix}` that mentions `{word}`"))
        }
        Expect::CpuFeatures { fwb } => cpu_features_missing(fwb, lines),
        Expect::Never(_) => None,
        Expect::NumberAtMost { prefix, unit, max } => number_at_most(prefix, unit, max, lines),
        Expect::Contains(text) => (!lines.iter().any(|l| l.contains(text)))
            .then(|| format!("no line containing `{text}`")),
        Expect::AtMostLines { text, max } => {
            let n = lines.iter().filter(|l| l.contains(text)).count();
            (n > max).then(|| format!("{n} lines contain `{text}`, want at most {max}"))
        }
    }
}

/// The number just before `unit` in `line` (`"... 5 table pages"` -> 5).
fn number_before(line: &str, unit: &str) -> Option<u64> {
    let at = line.find(unit)?;
    let head = line[..at].trim_end();
    let digits = head.len() - head.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    head[head.len() - digits..].parse().ok()
}

fn number_at_most(prefix: &str, unit: &str, max: u64, lines: &[&str]) -> Option<String> {
    let Some(line) = lines.iter().find(|l| l.starts_with(prefix)) else {
        return Some(format!("no line starting `{prefix}`"));
    };
    match number_before(line, unit) {
        Some(n) if n <= max => None,
        Some(n) => Some(format!("{n} {unit} > {max} in `{line}`")),
        None => Some(format!("no number before `{unit}` in `{line}`")),
    }
}

/// The text after `prefix` if `line` starts with it at a word boundary.
fn rest_after<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(prefix)?;
    match rest.chars().next() {
        Some(c) if c.is_ascii_alphanumeric() => None,
        _ => Some(rest),
    }
}

fn cpu_features_missing(fwb: u8, lines: &[&str]) -> Option<String> {
    let candidates: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with(CPU_PREFIX))
        .collect();
    if candidates.is_empty() {
        return Some(format!("no line `{CPU_SHAPE}` (want FWB={fwb})"));
    }
    // Any well-formed line with the right FWB will do (an SMP boot might print one per CPU);
    // otherwise explain what is wrong with the first one.
    let mut first_problem = None;
    for line in candidates {
        let problem = match parse_cpu_features(&line[CPU_PREFIX.len()..]) {
            Some(got) if got == fwb => return None,
            Some(got) => format!("cpu line says FWB={got}, expected FWB={fwb}: `{line}`"),
            None => format!("malformed cpu line `{line}`, expected `{CPU_SHAPE}`"),
        };
        first_problem.get_or_insert(problem);
    }
    first_problem
}

/// The FWB value if `rest` has the shape `FWB=<0|1> DIC=<0|1> PARange=<n> VMIDbits=<8|16>`
/// (more fields may follow).
fn parse_cpu_features(rest: &str) -> Option<u8> {
    let mut fields = rest.split_whitespace();
    let mut field = |key: &str| fields.next()?.strip_prefix(key)?.strip_prefix('=');
    let bit = |v: &str| match v {
        "0" => Some(0u8),
        "1" => Some(1u8),
        _ => None,
    };
    let fwb = bit(field("FWB")?)?;
    bit(field("DIC")?)?;
    let pa = field("PARange")?;
    if pa.is_empty() || !pa.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    matches!(field("VMIDbits")?, "8" | "16").then_some(fwb)
}

/// `20 s`, `0.5 s`: whole seconds without a fraction.
pub fn seconds(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

#[cfg(test)]
mod number_tests {
    use super::*;

    #[test]
    fn at_most_lines_counts_the_lines_that_contain_the_text() {
        let lines = ["a refused", "b refused", "c"];
        let e = |max| {
            missing(
                Expect::AtMostLines {
                    text: "refused",
                    max,
                },
                &lines,
            )
        };
        assert_eq!(e(2), None);
        assert_eq!(
            e(1).as_deref(),
            Some("2 lines contain `refused`, want at most 1")
        );
    }

    #[test]
    fn number_at_most_reads_the_count_before_the_unit() {
        let lines = ["stile: host: stage 2 ready: VMID 0, 48-bit IPA, 5 table pages"];
        let e = |max| number_at_most("stile: host: stage 2 ready:", "table pages", max, &lines);
        assert_eq!(e(8), None);
        assert_eq!(e(5), None);
        assert!(e(4).unwrap().starts_with("5 table pages > 4"));
        assert!(number_at_most("stile: nope", "x", 1, &lines).is_some());
        assert!(number_at_most("stile: host", "widgets", 1, &lines)
            .unwrap()
            .contains("no number"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const GOOD: &str = "\
stile: cpu: FWB=1 DIC=0 PARange=48 VMIDbits=16\r
stile: ram: 1024 MiB at 0x40000000
stile: console: pl011 at 0x9000000
stile: cpus: 4 (psci smc)
stile: gic: v3
stile: boot complete
";

    const BOOT: &[Expect] = &[
        Expect::CpuFeatures { fwb: 1 },
        Expect::Starts("stile: ram: 1024 MiB"),
        Expect::Starts("stile: console: pl011 at 0x9000000"),
        Expect::Starts("stile: cpus: 4"),
        Expect::Starts("stile: gic: v3"),
        Expect::Line("stile: boot complete"),
        Expect::Never("stile: error:"),
        Expect::Never("panic"),
    ];

    fn check(output: &str, end: End) -> Vec<String> {
        unmet(BOOT, ExitRule::Status(0), output, end)
    }

    #[test]
    fn a_good_boot_meets_everything() {
        assert_eq!(check(GOOD, End::Code(0)), Vec::<String>::new());
    }

    #[test]
    fn a_missing_line_is_reported() {
        let out = GOOD.replace("stile: boot complete\n", "");
        assert_eq!(
            check(&out, End::Code(0)),
            ["no line `stile: boot complete`"]
        );
    }

    #[test]
    fn an_exact_line_is_not_met_by_a_longer_one() {
        let out = GOOD.replace("boot complete", "boot completed");
        assert_eq!(
            check(&out, End::Code(0)),
            ["no line `stile: boot complete`"]
        );
    }

    #[test]
    fn a_forbidden_line_is_reported_first() {
        let out = format!("{GOOD}stile: error: no memory node in the DTB\n");
        let unmet = check(&out, End::Code(0));
        assert_eq!(
            unmet,
            ["forbidden `stile: error:` on line 7: `stile: error: no memory node in the DTB`"]
        );
    }

    #[test]
    fn a_panic_is_forbidden_in_any_case() {
        let out = format!("{GOOD}stile: PANIC at hyp/src/lib.rs:1\n");
        assert!(check(&out, End::Code(0))[0].starts_with("forbidden `panic` on line 7"));
    }

    #[test]
    fn a_timeout_is_reported_as_a_timeout() {
        let out = GOOD.replace("stile: boot complete\n", "");
        let unmet = check(&out, End::TimedOut(Duration::from_secs(20)));
        assert_eq!(
            unmet,
            [
                "timed out after 20 s (killed)",
                "no line `stile: boot complete`"
            ]
        );
    }

    #[test]
    fn a_timeout_fails_even_when_any_status_is_allowed() {
        let unmet = unmet(
            &[],
            ExitRule::AnyStatus,
            "",
            End::TimedOut(Duration::from_millis(500)),
        );
        assert_eq!(unmet, ["timed out after 0.5 s (killed)"]);
    }

    #[test]
    fn a_wrong_exit_status_or_a_signal_is_reported() {
        assert_eq!(check(GOOD, End::Code(1)), ["exit status 1, expected 0"]);
        assert_eq!(
            check(GOOD, End::Signal(6)),
            ["killed by signal 6, expected exit status 0"]
        );
        assert!(unmet(&[], ExitRule::AnyStatus, "", End::Code(1)).is_empty());
    }

    #[test]
    fn a_prefix_must_end_at_a_word_boundary() {
        let out = GOOD.replace("stile: cpus: 4 (psci smc)", "stile: cpus: 40");
        assert_eq!(
            check(&out, End::Code(0)),
            ["no line starting `stile: cpus: 4`"]
        );
        let out = GOOD.replace("stile: cpus: 4 (psci smc)", "stile: cpus: 4");
        assert!(check(&out, End::Code(0)).is_empty());
    }

    #[test]
    fn the_cpu_line_must_have_the_expected_fwb() {
        let out = GOOD.replace("FWB=1", "FWB=0");
        let unmet = check(&out, End::Code(0));
        assert_eq!(unmet.len(), 1);
        assert!(
            unmet[0].starts_with("cpu line says FWB=0, expected FWB=1"),
            "{unmet:?}"
        );
    }

    #[test]
    fn the_cpu_line_must_have_the_documented_shape() {
        for bad in [
            "stile: cpu: FWB=1 DIC=2 PARange=48 VMIDbits=16",
            "stile: cpu: FWB=1 DIC=0 PARange=big VMIDbits=16",
            "stile: cpu: FWB=1 DIC=0 PARange=48 VMIDbits=12",
            "stile: cpu: FWB=1 PARange=48 VMIDbits=16",
            "stile: cpu: DIC=0 FWB=1 PARange=48 VMIDbits=16",
        ] {
            let out = GOOD.replace("stile: cpu: FWB=1 DIC=0 PARange=48 VMIDbits=16", bad);
            let unmet = check(&out, End::Code(0));
            assert_eq!(unmet.len(), 1, "{bad}");
            assert!(unmet[0].starts_with("malformed cpu line"), "{unmet:?}");
        }
        let out = GOOD.replace("VMIDbits=16", "VMIDbits=8 (more later)");
        assert!(check(&out, End::Code(0)).is_empty());
        let out = GOOD.replace("stile: cpu: FWB=1 DIC=0 PARange=48 VMIDbits=16\r\n", "");
        assert!(check(&out, End::Code(0))[0].starts_with("no line `stile: cpu: FWB=<0|1>"));
    }

    #[test]
    fn a_line_that_mentions_a_word_is_found_in_any_case() {
        let want = [Expect::StartsMentioning {
            prefix: "stile: error:",
            word: "DTB",
        }];
        let ok = unmet(
            &want,
            ExitRule::AnyStatus,
            "stile: error: no dtb (x0 = 0)\n",
            End::Code(1),
        );
        assert!(ok.is_empty());
        let bad = unmet(
            &want,
            ExitRule::AnyStatus,
            "stile: error: bad x0\n",
            End::Code(1),
        );
        assert_eq!(
            bad,
            ["no line starting `stile: error:` that mentions `DTB`"]
        );
    }
}
