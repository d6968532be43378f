//! The DTB corpus: every board DTB of Debian's arm64 kernel package, fetched by
//! scripts/fetch-board-dtbs.sh into build/board-dtbs/dtbs (or `STILE_BOARD_DTBS`).
//!
//! Ignored by a plain `cargo test` (the corpus is ~580 files fetched from Debian);
//! scripts/test.sh fetches it and runs this with `--ignored`, or says loudly that it skipped.
//! Rules: discovery never panics on any of them, and Stile drives the console of at least
//! 90% of those that name one in `/chosen/stdout-path`.

use crate::console::Console;
use crate::dt::parse::discover;
use crate::dt::{ConsoleSource, NoConsole};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn corpus_dir() -> PathBuf {
    match std::env::var_os("STILE_BOARD_DTBS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/board-dtbs/dtbs"),
    }
}

fn dtbs_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            dtbs_under(&path, out);
        } else if path.extension().is_some_and(|e| e == "dtb") {
            out.push(path);
        }
    }
}

#[derive(Default)]
struct Tally {
    dtbs: usize,
    refused: BTreeMap<&'static str, usize>,
    with_stdout: usize,
    driven: usize,
    from_earlycon: usize,
    /// Why the others were not, with the unsupported `compatible` where that is the reason.
    missed: BTreeMap<String, usize>,
}

#[test]
#[ignore = "needs the fetched corpus: scripts/fetch-board-dtbs.sh, run by scripts/test.sh"]
fn board_dtb_corpus_consoles() {
    let dir = corpus_dir();
    let mut files = Vec::new();
    dtbs_under(&dir, &mut files);
    files.sort();
    assert!(
        !files.is_empty(),
        "no DTBs under {} (run scripts/fetch-board-dtbs.sh)",
        dir.display()
    );
    let mut t = Tally::default();
    for file in &files {
        let blob = std::fs::read(file).expect("readable DTB");
        t.dtbs += 1;
        let outcome = std::panic::catch_unwind(|| discover(&blob));
        let platform = match outcome {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                println!("  refused: {} ({})", file.display(), e.reason());
                *t.refused.entry(e.reason()).or_default() += 1;
                // A refused DTB that names a console counts against us: no console on it.
                if blob.windows(12).any(|w| w == b"stdout-path\0") {
                    t.with_stdout += 1;
                    let key = format!("DTB refused: {}", e.reason());
                    *t.missed.entry(key).or_default() += 1;
                }
                continue;
            }
            Err(_) => panic!("discovery panicked on {}", file.display()),
        };
        if platform.no_console == Some(NoConsole::NoStdoutPath) {
            continue;
        }
        t.with_stdout += 1;
        let checked = platform.console.as_ref().map(Console::check);
        match (checked, platform.no_console) {
            (Some(Ok(())), _) => {
                // Some DTBs carry `earlycon=` in bootargs: the fallback for a stdout-path
                // UART Stile cannot drive.
                if platform.console_source == ConsoleSource::Earlycon {
                    t.from_earlycon += 1;
                }
                t.driven += 1;
            }
            (Some(Err(e)), _) => *t.missed.entry(e.reason().to_string()).or_default() += 1,
            (None, Some(why)) => {
                let key = format!("{} {}", why.reason(), platform.unsupported_uart);
                *t.missed.entry(key).or_default() += 1;
            }
            (None, None) => unreachable!("no console without a reason"),
        }
    }
    println!("board DTB corpus: {} DTBs from {}", t.dtbs, dir.display());
    for (why, n) in &t.refused {
        println!("  refused ({why}): {n}");
    }
    for (why, n) in &t.missed {
        println!("  no console ({why}): {n}");
    }
    println!(
        "  consoles from earlycon= (stdout-path UART not driven): {}",
        t.from_earlycon
    );
    println!(
        "consoles driven: {} / {} DTBs with stdout-path ({:.1}%)",
        t.driven,
        t.with_stdout,
        100.0 * t.driven as f64 / t.with_stdout.max(1) as f64
    );
    assert!(
        t.with_stdout > 0,
        "no DTB in the corpus names a stdout-path"
    );
    assert!(
        t.driven * 10 >= t.with_stdout * 9,
        "consoles on fewer than 90% of the DTBs with a stdout-path"
    );
}
