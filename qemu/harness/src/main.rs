//! `stile-harness`: boots the Stile image under QEMU once per case and checks what it prints.
//! Run from the repository root after `make image`; see `--help`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use stile_harness::cases::{self, Case};
use stile_harness::check::{self, Config, Outcome};
use stile_harness::linux_cases::{self, LinuxCase, LinuxFiles, Selected};
use stile_harness::{pool, report};

const USAGE: &str = "\
usage: stile-harness [--image PATH.bin] [--elf PATH.elf] [--host PATH.bin] [--filter SUBSTR] [--jobs N]
                     [--timeout SECS] [--qemu PROGRAM] [--qemu10] [--list] [--linux-dir DIR]
                     [--with-waiting] [--no-linux]

Boots the Stile image under QEMU once per case, in parallel, and prints one
`check <name>: ok|FAIL <why>` line per case, then `N passed, M failed`.
Exit status 0 iff every selected case passed.

  --image PATH    raw image for -kernel          (default build/qemu-virt/stile.bin)
  --elf PATH      ELF for the no-DTB boot        (default build/qemu-virt/stile.elf)
  --host PATH     host payload, given as -initrd  (default: none)
  --filter SUBSTR only cases whose name contains SUBSTR
  --jobs N        boots at once                  (default: number of CPUs)
  --timeout SECS  hard limit per boot; QEMU is killed after it (default 20)
  --qemu PROGRAM  QEMU to run                    (default qemu-system-aarch64)
  --qemu10        run the QEMU >= 10 cases (CPU models and DIC=1 that 7.2 lacks)
  --list          print the selected case names and exit
  --linux-dir DIR kernel, initramfs and host bundle of the Linux cases (default build/linux,
                  from `make linux`); the full Linux matrix runs when --filter names it
  --with-waiting  also run the Linux cases that wait for other work (listed as `skip`)
  --no-linux      leave the Linux cases out";

struct Cli {
    config: Config,
    filter: Option<String>,
    jobs: usize,
    list: bool,
    /// Run the QEMU >= 10 table (`cases::QEMU10_CASES`) instead of the main one.
    qemu10: bool,
    linux_dir: PathBuf,
    with_waiting: bool,
    no_linux: bool,
}

/// `Ok(None)` means `--help` was asked for.
fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Cli>, String> {
    let mut cli = Cli {
        config: Config {
            qemu: "qemu-system-aarch64".into(),
            image: PathBuf::from("build/qemu-virt/stile.bin"),
            elf: PathBuf::from("build/qemu-virt/stile.elf"),
            host: None,
            timeout: Duration::from_secs(20),
        },
        filter: None,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        list: false,
        qemu10: false,
        linux_dir: PathBuf::from("build/linux"),
        with_waiting: false,
        no_linux: false,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Accept both `--opt value` and `--opt=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--list" => cli.list = true,
            "--qemu10" => cli.qemu10 = true,
            "--with-waiting" => cli.with_waiting = true,
            "--no-linux" => cli.no_linux = true,
            "--linux-dir" => cli.linux_dir = value()?.into(),
            "--image" => cli.config.image = value()?.into(),
            "--elf" => cli.config.elf = value()?.into(),
            "--host" => cli.config.host = Some(value()?.into()),
            "--filter" => cli.filter = Some(value()?),
            "--qemu" => cli.config.qemu = value()?,
            "--jobs" => {
                let v = value()?;
                cli.jobs = match v.parse() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("--jobs wants a positive number, not `{v}`")),
                };
            }
            "--timeout" => {
                let v = value()?;
                cli.config.timeout = match v.parse::<f64>() {
                    Ok(s) if s > 0.0 && s.is_finite() => Duration::from_secs_f64(s),
                    _ => return Err(format!("--timeout wants seconds > 0, not `{v}`")),
                };
            }
            _ => return Err(format!("unknown argument `{arg}`")),
        }
    }
    Ok(Some(cli))
}

/// The first line of `<qemu> --version`, or why there is none.
fn qemu_version(qemu: &str) -> String {
    match std::process::Command::new(qemu).arg("--version").output() {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            format!(
                "{qemu}: {}",
                text.lines().next().unwrap_or("no version line")
            )
        }
        Err(e) => format!("{qemu}: cannot run it ({e})"),
    }
}

fn main() -> ExitCode {
    let cli = match parse(std::env::args().skip(1)) {
        Ok(Some(cli)) => cli,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("stile-harness: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let selected: Vec<&Case> = if cli.qemu10 {
        cases::select_from(cases::QEMU10_CASES, cli.filter.as_deref())
    } else {
        cases::select(cli.filter.as_deref())
    };
    // The Linux cases run on the machine's QEMU, not in the QEMU >= 10 table.
    let linux = if cli.no_linux || cli.qemu10 {
        vec![]
    } else {
        linux_cases::select(cli.filter.as_deref(), cli.with_waiting)
    };
    if selected.is_empty() && linux.is_empty() {
        // A typo in --filter must not look like a green run.
        eprintln!(
            "stile-harness: no case matches `{}` (see --list)",
            cli.filter.as_deref().unwrap_or_default()
        );
        return ExitCode::from(2);
    }
    if cli.list {
        for case in &selected {
            println!("{}", case.name);
        }
        for (case, how) in &linux {
            match how {
                Selected::Run => println!("{}", case.name),
                Selected::Waits(what) => println!("{} (waits for {what})", case.name),
            }
        }
        return ExitCode::SUCCESS;
    }

    // Which QEMU ran matters (7.2 and 10 differ in DIC, CPU models, machines): say it.
    println!("stile-harness: QEMU: {}", qemu_version(&cli.config.qemu));
    let mut results: Vec<bool> = Vec::with_capacity(selected.len());
    pool::run_in_order(
        &selected,
        cli.jobs,
        |case| check::run_case(case, &cli.config),
        |i, outcome: Outcome| {
            print!("{}", report::format_outcome(&outcome));
            results.push(outcome.passed());
            if selected[i].inner_checks {
                for (line, ok) in report::inner_checks(outcome.name, &outcome.output) {
                    println!("{line}");
                    results.push(ok);
                }
            }
        },
    );

    // Debian's Linux as the host: slower boots, after the others. Their /init's own checks
    // count one by one.
    let files = LinuxFiles {
        stile: cli.config.image.clone(),
        dir: cli.linux_dir.clone(),
    };
    for (case, how) in &linux {
        if let Selected::Waits(what) = how {
            println!(
                "skip {}: waits for {what} (run it with --with-waiting)",
                case.name
            );
        }
    }
    let to_run: Vec<&LinuxCase> = linux
        .iter()
        .filter(|(_, how)| *how == Selected::Run)
        .map(|(c, _)| *c)
        .collect();
    pool::run_in_order(
        &to_run,
        cli.jobs,
        |case| linux_cases::run_case(case, &cli.config.qemu, &files, cli.config.timeout),
        |_, outcome: Outcome| {
            print!("{}", report::format_outcome(&outcome));
            results.push(outcome.passed());
            for (line, ok) in report::inner_checks(outcome.name, &outcome.output) {
                println!("{line}");
                results.push(ok);
            }
        },
    );
    println!("{}", report::summary(&results));
    if results.iter().all(|ok| *ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Option<Cli>, String> {
        parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn defaults() {
        let cli = args("").unwrap().unwrap();
        assert_eq!(cli.config.image, PathBuf::from("build/qemu-virt/stile.bin"));
        assert_eq!(cli.config.elf, PathBuf::from("build/qemu-virt/stile.elf"));
        assert_eq!(cli.config.timeout, Duration::from_secs(20));
        assert!(cli.jobs >= 1);
        assert!(!cli.list && cli.filter.is_none());
    }

    #[test]
    fn every_option_parses_in_both_spellings() {
        let cli = args("--image a.bin --elf=a.elf --filter smp4 --jobs=3 --timeout 1.5 --list")
            .unwrap()
            .unwrap();
        assert_eq!(cli.config.image, PathBuf::from("a.bin"));
        assert_eq!(cli.config.elf, PathBuf::from("a.elf"));
        assert_eq!(cli.filter.as_deref(), Some("smp4"));
        assert_eq!(cli.jobs, 3);
        assert_eq!(cli.config.timeout, Duration::from_millis(1500));
        assert!(cli.list);
    }

    #[test]
    fn bad_arguments_are_refused() {
        for bad in [
            "--jobs 0",
            "--jobs x",
            "--timeout 0",
            "--timeout",
            "--bogus",
            "stray",
        ] {
            assert!(args(bad).is_err(), "{bad}");
        }
        assert!(args("--help").unwrap().is_none());
    }
}
