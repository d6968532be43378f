//! What a person or CI reads: one `check <name>: ok|FAIL <why>` per case, then one summary.

use crate::check::Outcome;

/// Output lines shown under a failure: enough to see where a boot stopped.
pub const TAIL_LINES: usize = 15;

/// The lines printed for one case. A failure carries the command line and the end of the
/// output, indented, so a CI log explains itself.
pub fn format_outcome(o: &Outcome) -> String {
    let mut s = String::new();
    match o.unmet.split_first() {
        None => s.push_str(&format!("check {}: ok\n", o.name)),
        Some((first, rest)) => {
            s.push_str(&format!("check {}: FAIL {first}", o.name));
            if !rest.is_empty() {
                s.push_str(&format!(" (and {} more unmet)", rest.len()));
            }
            s.push('\n');
        }
    }
    for note in &o.notes {
        s.push_str(&format!("  {note}\n"));
    }
    if o.passed() {
        return s;
    }
    if let Some(cmd) = &o.command {
        s.push_str(&format!("  command: {cmd}\n"));
        let lines: Vec<&str> = o.output.lines().map(str::trim_end).collect();
        if lines.is_empty() {
            s.push_str("  (no output)\n");
        } else {
            let from = lines.len().saturating_sub(TAIL_LINES);
            s.push_str(&format!(
                "  output, last {} of {} lines:\n",
                lines.len() - from,
                lines.len()
            ));
            for line in &lines[from..] {
                s.push_str(&format!("    {line}\n"));
            }
        }
    }
    s
}

/// The closing line, exactly `N passed, M failed`, over every reported result.
pub fn summary(results: &[bool]) -> String {
    let passed = results.iter().filter(|ok| **ok).count();
    format!("{passed} passed, {} failed", results.len() - passed)
}

/// The payloads' own `check <name>: ok|FAIL <why>` lines in `output`, renamed
/// `check <case>/<name>: ...`, with whether each passed.
pub fn inner_checks(case: &str, output: &str) -> Vec<(String, bool)> {
    output
        .lines()
        .map(str::trim_end)
        .filter_map(|l| l.strip_prefix("check "))
        .filter_map(|rest| {
            let (name, verdict) = rest.split_once(": ")?;
            let ok = verdict == "ok";
            (ok || verdict.starts_with("FAIL"))
                .then(|| (format!("check {case}/{name}: {verdict}"), ok))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_checks_are_renamed_under_their_case() {
        let out = "vmm: x\ncheck guest-a: ok\ncheck guest-b: FAIL wrong value\ncheck weird\n";
        assert_eq!(
            inner_checks("guests-max", out),
            vec![
                ("check guests-max/guest-a: ok".to_string(), true),
                (
                    "check guests-max/guest-b: FAIL wrong value".to_string(),
                    false
                ),
            ]
        );
    }

    fn outcome(unmet: &[&str], output: &str) -> Outcome {
        Outcome {
            name: "boot-max-gicv3-smp1",
            unmet: unmet.iter().map(|s| s.to_string()).collect(),
            notes: vec![],
            command: Some("qemu-system-aarch64 -M virt".into()),
            output: output.into(),
        }
    }

    #[test]
    fn a_pass_is_one_line() {
        assert_eq!(
            format_outcome(&outcome(&[], "lots\nof\noutput\n")),
            "check boot-max-gicv3-smp1: ok\n"
        );
    }

    #[test]
    fn a_pass_keeps_its_notes() {
        let mut o = outcome(&[], "");
        o.notes
            .push("ended by itself with exit status 1 after 0.2 s".into());
        assert_eq!(
            format_outcome(&o),
            "check boot-max-gicv3-smp1: ok\n  ended by itself with exit status 1 after 0.2 s\n"
        );
    }

    #[test]
    fn a_failure_names_the_first_unmet_and_shows_the_last_lines() {
        let output: String = (1..=20).map(|i| format!("line {i}\r\n")).collect();
        let text = format_outcome(&outcome(
            &[
                "timed out after 20 s (killed)",
                "no line `stile: boot complete`",
            ],
            &output,
        ));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "check boot-max-gicv3-smp1: FAIL timed out after 20 s (killed) (and 1 more unmet)"
        );
        assert_eq!(lines[1], "  command: qemu-system-aarch64 -M virt");
        assert_eq!(lines[2], "  output, last 15 of 20 lines:");
        assert_eq!(lines[3], "    line 6");
        assert_eq!(lines[17], "    line 20");
        assert_eq!(lines.len(), 18);
    }

    #[test]
    fn a_failure_without_output_says_so() {
        let text = format_outcome(&outcome(&["exit status 1, expected 0"], ""));
        assert_eq!(
            text,
            "check boot-max-gicv3-smp1: FAIL exit status 1, expected 0\n\
             \x20 command: qemu-system-aarch64 -M virt\n\
             \x20 (no output)\n"
        );
    }

    #[test]
    fn a_failure_before_running_has_no_command() {
        let mut o = outcome(
            &["build/qemu-virt/stile.bin not found: run `make image` first"],
            "",
        );
        o.command = None;
        assert_eq!(
            format_outcome(&o),
            "check boot-max-gicv3-smp1: FAIL build/qemu-virt/stile.bin not found: \
             run `make image` first\n"
        );
    }

    #[test]
    fn the_summary_counts_failures() {
        let all = [
            outcome(&[], ""),
            outcome(&["x"], ""),
            outcome(&[], ""),
            outcome(&["y", "z"], ""),
        ];
        let results: Vec<bool> = all.iter().map(Outcome::passed).collect();
        assert_eq!(summary(&results), "2 passed, 2 failed");
        assert_eq!(summary(&results[..1]), "1 passed, 0 failed");
        assert_eq!(summary(&[]), "0 passed, 0 failed");
    }
}
