//! The Linux-host cases end to end against a fake QEMU that prints what Linux's /init prints:
//! waiting cases are listed as skipped, /init's own check lines count one by one, and a failed
//! one fails its case.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use stile_harness::linux_cases::{select, Selected};

const FAKE_QEMU: &str = r#"#!/bin/sh
[ "$1" = --version ] && { echo "QEMU emulator version 0.0 (fake)"; exit 0; }
cpu= smp= stile= disk=
while [ $# -gt 0 ]; do
    case $1 in
    -cpu) cpu=$2; shift ;;
    -smp) smp=$2; shift ;;
    -kernel) case $2 in *stile.bin) stile=1 ;; esac; shift ;;
    -drive) disk=${2##*file=}; shift ;;
    esac
    shift
done
[ -n "$stile" ] && echo "stile: boot complete; entering the host at EL1"
# The harness's scratch disk must carry the label /init looks for.
[ "$(head -c 16 "$disk")" = stile-linux-disk ] || { echo "no labelled disk at $disk"; exit 1; }
case $cpu in max*) echo "linux: dmesg: SVE: maximum available vector length 256 bytes per vector" ;; esac
echo "check linux-userspace: ok"
echo "linux: cpus-online: online 0-$((smp - 1)) of present 0-$((smp - 1)) ($smp CPUs)"
echo "check linux-cpus-online: ok"
for c in memtotal modules virtio-blk; do echo "check linux-$c: ok"; done
[ "$smp" -gt 1 ] && echo "check linux-cpu-hotplug: ok"
if [ -n "$FAKE_RAM_FILL_FAILS" ]; then
    echo "check linux-ram-fill: FAIL dd of 1800 MiB failed: Segmentation fault"
    echo "linux: checks done at 9.9s: 5 passed, 1 failed; powering off"
else
    echo "check linux-ram-fill: ok"
    echo "linux: checks done at 9.9s: 6 passed, 0 failed; powering off"
fi
[ -n "$stile" ] && echo "stile: psci: host asked for SYSTEM_OFF; relaying it"
exit 0
"#;

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("stile-fake-linux-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("linux")).unwrap();
    let qemu = dir.join("qemu");
    fs::write(&qemu, FAKE_QEMU).unwrap();
    fs::set_permissions(&qemu, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(dir.join("stile.bin"), b"fake").unwrap();
    for f in ["Image", "initramfs.cpio.gz", "host.itb"] {
        fs::write(dir.join("linux").join(f), b"fake").unwrap();
    }
    Scratch(dir)
}

fn harness(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stile-harness"));
    cmd.arg("--qemu")
        .arg(dir.join("qemu"))
        .arg("--image")
        .arg(dir.join("stile.bin"))
        .arg("--linux-dir")
        .arg(dir.join("linux"))
        .args(extra)
        .env_remove("FAKE_RAM_FILL_FAILS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out: Output = cmd.output().unwrap();
    // The first line says which QEMU ran; the tests read what follows.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("stile-harness: QEMU: "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// `check <name>/...` lines in `text`, for cases whose name starts with `prefix`.
fn inner(text: &str, prefix: &str) -> usize {
    text.lines()
        .filter(|l| l.starts_with(&format!("check {prefix}")) && l.contains('/'))
        .count()
}

#[test]
fn linux_cases_pass_and_count_their_inner_checks_waiting_ones_are_skipped() {
    // (Nothing waits today; a case that does is listed as `skip` and not counted.)
    let dir = scratch("ok");
    let text = harness(&dir.0, &["--filter", "linux-"], &[]);
    let selected = select(Some("linux-"), false);
    let run = selected.iter().filter(|(_, s)| *s == Selected::Run).count();
    let waiting = selected.len() - run;
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("skip linux-"))
            .count(),
        waiting,
        "{text}"
    );
    let cases_ok = text
        .lines()
        .filter(|l| l.starts_with("check linux-") && !l.contains('/') && l.ends_with(": ok"))
        .count();
    assert_eq!(cases_ok, run, "{text}");
    // Every run case's /init checks: userspace, cpus, memtotal, modules, virtio-blk, RAM fill,
    // and hotplug where there is a second CPU.
    let inner_checks = inner(&text, "linux-");
    assert!(inner_checks >= run * 6, "{text}");
    let last = format!("{} passed, 0 failed", run + inner_checks);
    assert_eq!(text.lines().last(), Some(last.as_str()), "{text}");
}

#[test]
fn waiting_cases_run_when_asked() {
    let dir = scratch("waiting");
    let text = harness(
        &dir.0,
        &[
            "--filter",
            "linux-on-stile-max-gicv3-smp4",
            "--with-waiting",
        ],
        &[],
    );
    assert!(
        text.starts_with("check linux-on-stile-max-gicv3-smp4: ok\n"),
        "{text}"
    );
    assert_eq!(inner(&text, "linux-on-stile-max-gicv3-smp4"), 7, "{text}");
    assert_eq!(text.lines().last(), Some("8 passed, 0 failed"));
}

#[test]
fn a_failed_init_check_fails_the_case_and_counts() {
    let dir = scratch("fail");
    let text = harness(
        &dir.0,
        &["--filter", "linux-direct-cortex-a72-gicv3-smp4"],
        &[("FAKE_RAM_FILL_FAILS", "1")],
    );
    assert!(
        text.starts_with("check linux-direct-cortex-a72-gicv3-smp4: FAIL forbidden `: FAIL `"),
        "{text}"
    );
    assert!(text.contains(
        "check linux-direct-cortex-a72-gicv3-smp4/linux-ram-fill: FAIL dd of 1800 MiB failed"
    ));
    // The case and its failed check fail; its six good checks pass.
    assert_eq!(text.lines().last(), Some("6 passed, 2 failed"), "{text}");
}

#[test]
fn a_missing_linux_build_says_make_linux() {
    let dir = scratch("missing");
    fs::remove_file(dir.0.join("linux/host.itb")).unwrap();
    let text = harness(
        &dir.0,
        &[
            "--filter",
            "linux-on-stile-max-gicv3-smp4",
            "--with-waiting",
        ],
        &[],
    );
    assert!(
        text.contains("host.itb not found: run `make linux`"),
        "{text}"
    );
}
