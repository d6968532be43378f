//! `make test`'s share of the fuzzing: every target replays its committed corpus
//! (fuzz/corpus/<target>/), the crash inputs whose fixes it guards (fuzz/regressions/
//! <target>/) and any crash libFuzzer saved and nobody fixed yet (fuzz/artifacts/<target>/).
//! One test per target and directory, failing with the names of the inputs that panic or
//! take longer than [`PER_INPUT`]. Needs no fuzzing engine.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;
use stile_fuzz_targets::TARGETS;

/// A hang is an input that takes this long (the slowest seed takes milliseconds).
const PER_INPUT: Duration = Duration::from_secs(20);

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `target`'s inputs in `kind` (corpus, regressions, artifacts); returns how many.
fn replay(target: &str, kind: &str) -> usize {
    let run = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, run)| *run)
        .unwrap_or_else(|| panic!("no target {target}"));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(kind)
        .join(target);
    let files = inputs(&dir);
    let count = files.len();
    // The inputs run on a worker, so a hang is reported rather than waited for.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for path in files {
            let data = std::fs::read(&path).expect("readable input");
            let outcome = catch_unwind(AssertUnwindSafe(|| run(&data)));
            let message = outcome.err().map(|e| {
                e.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            });
            let _ = tx.send((path, message));
        }
    });
    let mut failed = Vec::new();
    for _ in 0..count {
        match rx.recv_timeout(PER_INPUT) {
            Ok((_, None)) => {}
            Ok((path, Some(message))) => failed.push(format!("{}: {message}", path.display())),
            Err(_) => {
                failed.push(format!(
                    "an input of {target}/{kind} ran over {PER_INPUT:?}"
                ));
                break;
            }
        }
    }
    assert!(failed.is_empty(), "{target} {kind}:\n{}", failed.join("\n"));
    count
}

macro_rules! replay_tests {
    ($($target:ident),*) => {$(
        mod $target {
            #[test]
            fn corpus_replays_cleanly() {
                let n = super::replay(stringify!($target), "corpus");
                assert!(n > 0, "no seeds for {}", stringify!($target));
            }

            #[test]
            fn saved_crashes_stay_fixed() {
                super::replay(stringify!($target), "regressions");
                super::replay(stringify!($target), "artifacts");
            }
        }
    )*};
}

replay_tests!(
    dt_platform,
    host_dtb,
    hypercalls,
    fault_classify,
    stage2_ops,
    host_bundle
);

#[test]
fn every_target_is_replayed() {
    let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "dt_platform",
            "host_dtb",
            "hypercalls",
            "fault_classify",
            "stage2_ops",
            "host_bundle"
        ]
    );
}
