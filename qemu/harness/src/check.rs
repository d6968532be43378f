//! One case from start to verdict: find the image, run QEMU, match the output.

use std::path::PathBuf;
use std::time::Duration;

use crate::cases::{Case, Initrd};
use crate::expect::{self, ExitRule};
use crate::runner::{self, End, Invocation};

/// What is the same for every case in one harness run.
#[derive(Clone, Debug)]
pub struct Config {
    pub qemu: String,
    pub image: PathBuf,
    pub elf: PathBuf,
    /// The host payload, passed as `-initrd` to every `-kernel` boot (none: no `-initrd`).
    pub host: Option<PathBuf>,
    pub timeout: Duration,
}

/// The verdict on one case, with what a failure report needs.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub name: &'static str,
    /// Every unmet expectation, most telling first; empty means ok.
    pub unmet: Vec<String>,
    /// Facts worth recording even on success (e.g. the exit status of a boot allowed any).
    pub notes: Vec<String>,
    /// The command line, when one was run.
    pub command: Option<String>,
    pub output: String,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.unmet.is_empty()
    }

    fn refused(name: &'static str, why: String) -> Self {
        Outcome {
            name,
            unmet: vec![why],
            ..Outcome::default()
        }
    }
}

/// Runs `case` under QEMU as `config` says.
pub fn run_case(case: &Case, config: &Config) -> Outcome {
    let image = case.image(&config.image, &config.elf);
    if !image.is_file() {
        return Outcome::refused(
            case.name,
            format!("{} not found: run `make image` first", image.display()),
        );
    }
    if let Some(host) = config.host.as_deref().filter(|h| !h.is_file()) {
        return Outcome::refused(
            case.name,
            format!("{} not found: run `make image` first", host.display()),
        );
    }
    let timeout = match case.max_secs {
        Some(s) => config.timeout.min(Duration::from_secs(s)),
        None => config.timeout,
    };
    let bundle = match write_bundle(case, config) {
        Ok(b) => b,
        Err(why) => return Outcome::refused(case.name, why),
    };
    let initrd = bundle
        .as_ref()
        .map(|b| b.0.as_path())
        .or(config.host.as_deref());
    let inv = Invocation {
        program: config.qemu.clone().into(),
        args: case.qemu_args(image, initrd),
        timeout,
    };
    run_invocation(case, &inv)
}

/// A bundle file, removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// For a bundle case, writes its bundle around the host payload to a file of its own.
fn write_bundle(case: &Case, config: &Config) -> Result<Option<TempFile>, String> {
    let Initrd::Bundle(kind) = case.initrd else {
        return Ok(None);
    };
    let host = config
        .host
        .as_deref()
        .ok_or("a bundle case needs the host payload (--host)")?;
    let payload = std::fs::read(host).map_err(|e| format!("{}: {e}", host.display()))?;
    let path = std::env::temp_dir().join(format!(
        "stile-harness-{}-{}.itb",
        std::process::id(),
        case.name
    ));
    std::fs::write(&path, kind.build(&payload)).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Some(TempFile(path)))
}

/// Runs `inv` (QEMU, or a fake in tests) and judges its output by `case`'s expectations.
pub fn run_invocation(case: &Case, inv: &Invocation) -> Outcome {
    let command = Some(inv.display());
    let run = match runner::run(inv) {
        Ok(run) => run,
        Err(e) => {
            let program = inv.program.to_string_lossy();
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                " (run scripts/setup.sh)"
            } else {
                ""
            };
            return Outcome {
                command,
                ..Outcome::refused(case.name, format!("cannot start `{program}`: {e}{hint}"))
            };
        }
    };
    let mut notes = Vec::new();
    // When any exit status is allowed, the status itself is still worth keeping in the log.
    let how = match run.end {
        End::Code(c) => Some(format!("exit status {c}")),
        End::Signal(s) => Some(format!("signal {s}")),
        End::TimedOut(_) => None,
    };
    if let (ExitRule::AnyStatus, Some(how)) = (case.exit, how) {
        notes.push(format!(
            "ended by itself with {how} after {}",
            expect::seconds(run.elapsed.as_secs_f64())
        ));
    }
    Outcome {
        name: case.name,
        unmet: expect::unmet(case.expect, case.exit, &run.output, run.end),
        notes,
        command,
        output: run.output,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::select;

    fn config(dir: &str) -> Config {
        Config {
            qemu: "qemu-system-aarch64".into(),
            image: PathBuf::from(dir).join("stile.bin"),
            elf: PathBuf::from(dir).join("stile.elf"),
            host: None,
            timeout: Duration::from_secs(20),
        }
    }

    #[test]
    fn a_missing_image_fails_every_case_with_a_hint() {
        for case in select(None) {
            let out = run_case(case, &config("/nonexistent/build"));
            assert!(!out.passed());
            assert_eq!(out.unmet.len(), 1);
            assert!(
                out.unmet[0].contains("run `make image` first"),
                "{:?}",
                out.unmet
            );
            assert!(out.command.is_none());
        }
    }

    #[test]
    fn a_missing_qemu_is_a_clear_failure() {
        let case = select(Some("boot-max-gicv3-smp1"))[0];
        let inv = Invocation {
            program: "/nonexistent/qemu-system-aarch64".into(),
            args: vec![],
            timeout: Duration::from_secs(1),
        };
        let out = run_invocation(case, &inv);
        assert!(out.unmet[0].starts_with("cannot start `/nonexistent/qemu-system-aarch64`"));
        assert!(out.unmet[0].ends_with("(run scripts/setup.sh)"));
    }
}
