//! The whole harness against a fake QEMU: a shell script that prints what a healthy Stile boot
//! prints for the machine it is given, so the CLI, the pool, the timeout and the summary are
//! checked end to end without an image.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use stile_harness::cases::select;
use stile_harness::check::run_invocation;
use stile_harness::runner::Invocation;

const FAKE_QEMU: &str = r#"#!/bin/sh
cpu= gic= smp= mem= kernel= append= el1= initrd= highmem=on bios=
while [ $# -gt 0 ]; do
    case $1 in
    -bios) bios=$2; shift ;;
    -M) case $2 in
        highmem=off) highmem=off ;;
        *) gic=${2##*gic-version=}; case $2 in *virtualization=off*) el1=1 ;; esac ;;
        esac; shift ;;
    -initrd) initrd=$2; shift ;;
    -append) append=$2; shift ;;
    -cpu) cpu=$2; shift ;;
    -smp) smp=$2; shift ;;
    -m) mem=$2; shift ;;
    -kernel) kernel=$2; shift ;;
    esac
    shift
done
if [ -z "$kernel" ]; then echo "stile: error: no DTB in x0"; exit 1; fi
if [ -n "$el1" ]; then echo "stile: error: entered at EL1 (fake)"; exit 0; fi
if [ -n "$bios" ]; then echo "U-Boot 2023.01 (fake)"; echo "Starting kernel ..."; fi
case $append in
stile.selftest=stack-overflow) echo "stile: fatal: stack overflow on CPU 0 (fake)" ;;
stile.selftest=el2-abort) echo "stile: fatal: synchronous exception taken from EL2: ESR 0x0" ;;
stile.selftest=panic) echo "stile: fatal: panic: panicked at boot/src/selftest.rs:1:1" ;;
esac
case $append in
bench=*)
    echo "stile: boot complete; entering the host at EL1"
    for m in boot-to-host-entry-1g empty-loop null-hypercall get-caps vcpu-run-hvc-exit \
        mmio-read-exit memory-fault-slot-replay memslot-clear lazy-map-4k lazy-map-2m \
        vtimer-delivery spi-injection sgi-self-round-trip vgic-gicd-read; do
        echo "bench: $m 100"
    done
    echo "host: bench: done: 14 metrics, 0 failed"
    exit 0 ;;
hostile=*hostile.cpus=4*)
    echo "stile: boot complete; entering the host at EL1"
    echo "hostile: seed 4004: 100000 calls on 4 CPUs in 10 phases: invariants checked 10 times: 0 violations"
    echo "check hostile-host: ok"
    echo "host: 1 checks passed, 0 failed"
    exit 0 ;;
hostile=*)
    echo "stile: boot complete; entering the host at EL1"
    case $append in
    *hostile.cpus=4*) echo "hostile: seed 4004: 100000 calls on 4 CPUs in 10 phases: invariants checked 10 times: 0 violations" ;;
    *) echo "hostile: seed 2026: 100000 calls on 1 CPU in 10 phases: invariants checked 10 times: 0 violations" ;;
    esac
    echo "check hostile-host: ok"
    echo "host: 1 checks passed, 0 failed"
    exit 0 ;;
esac
if [ -n "$append" ]; then echo "stile: fatal: powering off"; exit 0; fi
reason=
case $initrd in
*bundle-refused-truncated.itb) reason="truncated" ;;
*bundle-refused-not-arm64.itb) reason="kernel has no arm64 Image header" ;;
*bundle-refused-compressed.itb) reason='unsupported compression (only "none")' ;;
*bundle-refused-no-default.itb) reason="no default configuration" ;;
*bundle-refused-overlap.itb) reason="image data overlap" ;;
*bundle-refused-garbage.itb) reason="neither a FIT nor an arm64 Image" ;;
esac
if [ -n "$reason" ]; then
    echo "stile: error: host bundle refused ($reason)"
    echo "stile: error: no host VM (the host bundle could not be loaded); powering off"
    exit 0
fi
case $initrd in
*.itb)
    echo "stile: host: bundle [0x48000000..0x48100000) (Fit): kernel 1 bytes to 0x40000000, bootargs from the bundle"
    echo "check host-bundle-initrd: ok"
    echo "check host-bundle-bootargs: ok" ;;
*) [ "$mem" = 4G ] && echo "check host-no-initrd: ok" ;;
esac
if [ "$highmem" = on ]; then
    echo "stile:   dt-devices  device  rw-  Device-nGnRE  [0x4010000000..0x4020000000) [0x8000000000..0x10000000000)"
fi
[ "boot-$cpu-gicv$gic-smp$smp" = "$FAKE_HANG" ] && exec sleep 30
case $cpu in max) fwb=1 ;; *) fwb=0 ;; esac
case $mem in 1G) mib=1024 ;; 2G) mib=2048 ;; 4G) mib=4096 ;; *) mib=512 ;; esac
[ "boot-$cpu-gicv$gic-smp$smp" = "$FAKE_WRONG_FWB" ] && fwb=7
echo "stile: cpu: FWB=$fwb DIC=1 PARange=48 VMIDbits=16"
echo "stile: ram: $mib MiB at 0x40000000"
echo "stile: console: pl011 at 0x9000000"
echo "stile: cpus: $smp"
echo "stile: gic: v$gic"
echo "stile: host: stage 2 ready: VMID 0, 48-bit IPA, 5 table pages"
echo "stile:   fb-nc       device-nc         rw-  Normal-NC"
if [ "$mib" = 512 ]; then
    echo "stile: error: region 'aperture' refused (OUTSIDE_RAM)"
    echo "stile: error: region 'fb-nc' refused (OUTSIDE_RAM)"
elif [ "$fwb" = 1 ]; then
    echo "stile:   aperture    cacheable-device  rw-  Normal-WB (forced by FWB)"
else
    echo "stile: error: region 'aperture' refused (NEEDS_FWB)"
fi
echo "stile: boot complete"
echo "check guest-fault-storm-10000: ok"
echo "check guest-region-revoke: ok"
if [ "$smp" -gt 1 ]; then
    echo "check smp-vcpu-busy-on-other-cpu: ok"
    echo "check smp-all-cpus-online: ok"
else
    echo "smp: one CPU in the DT: SMP checks skipped"
fi
echo "check isolation-debug-second-guest: ok"
echo "qemu-system-aarch64: a warning on stderr" >&2
echo "check hypercall-refusal-flood: ok"
echo "check vgic-sgi-without-vgic-undefined: ok"
echo "check vgic-sgi-to-self: ok"
echo "check vgic-sgi-to-other-vcpu: ok"
echo "check vgic-spi-from-host-reaches-handler: ok"
echo "check vgic-virtual-timer-on-time: ok"
echo "check vgic-virtual-timer-while-running-injected-in-el2: ok"
echo "check vgic-nothing-left-for-the-next-guest: ok"
if [ "$smp" -lt 2 ]; then
    echo "vgic-ipi: vgic-ipi-across-cpus and vgic-ipi-at-traps-across-cpus skipped: one CPU in the DT"
elif [ "$gic" = 2 ]; then
    echo "vgic-ipi: vgic-ipi-across-cpus and vgic-ipi-at-traps-across-cpus skipped: GICv2: its vGIC has no kick"
else
    echo "check vgic-ipi-across-cpus: ok"
    echo "check vgic-ipi-at-traps-across-cpus: ok"
fi
echo "stile: warning: log: 1968 host refusal lines dropped (rate limit)"
echo "host: 25 checks passed, 0 failed"
"#;

/// A scratch directory, removed when the test is done with it.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

/// A scratch directory with the fake QEMU and (optionally) fake image files.
fn scratch(name: &str, with_images: bool) -> Scratch {
    let dir = std::env::temp_dir().join(format!("stile-harness-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let qemu = dir.join("qemu");
    fs::write(&qemu, FAKE_QEMU).unwrap();
    fs::set_permissions(&qemu, fs::Permissions::from_mode(0o755)).unwrap();
    if with_images {
        fs::write(dir.join("stile.bin"), b"fake").unwrap();
        fs::write(dir.join("stile.elf"), b"fake").unwrap();
        // The bundle cases wrap the host payload: any bytes do for the fake.
        fs::write(dir.join("host.bin"), b"fake host").unwrap();
    }
    Scratch(dir)
}

fn harness(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stile-harness"));
    cmd.arg("--qemu")
        .arg(dir.join("qemu"))
        .arg("--image")
        .arg(dir.join("stile.bin"))
        .arg("--elf")
        .arg(dir.join("stile.elf"))
        .arg("--host")
        .arg(dir.join("host.bin"))
        // The Linux cases need build/linux (make linux); tests/fake_linux.rs has theirs.
        .arg("--no-linux")
        .args(extra)
        .env_remove("FAKE_HANG")
        .env_remove("FAKE_WRONG_FWB");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn healthy_boots_all_pass() {
    let dir = scratch("healthy", true);
    let out = harness(&dir, &["--jobs", "2"], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    let all = select(None).len();
    // Cases with inner checks add one result per payload check (eleven in the fake with one
    // CPU; with two, two SMP checks more, and on a GICv3 the two IPI checks).
    let inner: usize = select(None)
        .iter()
        .filter(|c| c.inner_checks)
        .map(|c| match (c.smp > 1, c.gic) {
            (false, _) => 11,
            (true, 3) => 15,
            (true, _) => 13,
        })
        .sum();
    assert_eq!(
        text.lines()
            .filter(|l| l.ends_with(": ok") && !l.contains('/'))
            .count(),
        all,
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("check guests-") && l.contains('/'))
            .count(),
        inner,
        "{text}"
    );
    let all = all + inner;
    // The no-DTB boot may exit with any status, and the log says which.
    assert!(text.contains("check boot-no-dtb: ok\n  ended by itself with exit status 1"));
    let last = format!("{all} passed, 0 failed");
    assert_eq!(text.lines().last(), Some(last.as_str()));
}

#[test]
fn a_hung_boot_is_killed_at_the_timeout_and_reported() {
    let dir = scratch("hung", true);
    let start = Instant::now();
    let out = harness(
        &dir,
        // A one-CPU boot: the command line's timeout is its limit (two CPUs get 60 s).
        &["--timeout", "1", "--filter", "cortex-a57"],
        &[("FAKE_HANG", "boot-cortex-a57-gicv3-smp1")],
    );
    let text = stdout(&out);
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("check boot-cortex-a57-gicv3-smp1: FAIL timed out after 1 s (killed)"),
        "{text}"
    );
    assert!(text.contains("  command: "), "{text}");
    assert_eq!(text.lines().last(), Some("3 passed, 1 failed"));
}

#[test]
fn a_wrong_feature_line_fails_with_the_line_and_the_output_tail() {
    let dir = scratch("fwb", true);
    let out = harness(
        &dir,
        &["--filter", "boot-max-gicv2-smp1"],
        &[("FAKE_WRONG_FWB", "boot-max-gicv2-smp1")],
    );
    let text = stdout(&out);
    assert!(!out.status.success());
    // The first line names the QEMU that ran; the case's verdict comes next.
    assert!(text.starts_with("stile-harness: QEMU: "), "{text}");
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("check boot-max-gicv2-smp1: FAIL malformed cpu line")),
        "{text}"
    );
    // stderr is collected too, in order.
    assert!(text.contains(
        "    qemu-system-aarch64: a warning on stderr\n    check hypercall-refusal-flood: ok"
    ));
    assert_eq!(text.lines().last(), Some("0 passed, 1 failed"));
}

#[test]
fn missing_images_fail_every_case_with_a_hint() {
    let dir = scratch("noimage", false);
    let out = harness(&dir, &[], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1));
    let fails: Vec<_> = text.lines().filter(|l| l.contains(": FAIL ")).collect();
    let all = select(None).len();
    assert_eq!(fails.len(), all, "{text}");
    assert!(fails
        .iter()
        .all(|l| l.ends_with("not found: run `make image` first")));
    let last = format!("0 passed, {all} failed");
    assert_eq!(text.lines().last(), Some(last.as_str()));
}

#[test]
fn list_and_filter_select_cases() {
    let dir = scratch("list", false);
    let out = harness(&dir, &["--list", "--filter", "gicv2"], &[]);
    assert!(out.status.success());
    assert_eq!(stdout(&out).lines().count(), 8);
    let out = harness(&dir, &["--filter", "no-such-case"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

/// The brief's fake: a boot that prints a line and then hangs, through the same code path a
/// QEMU case takes (runner + expectations of a real case).
#[test]
fn a_fake_boot_that_hangs_is_killed_through_the_case_path() {
    let case = select(Some("boot-max-gicv3-smp1"))[0];
    let inv = Invocation {
        program: "sh".into(),
        args: vec![
            "-c".into(),
            "echo stile: cpu: FWB=1 DIC=0 PARange=48 VMIDbits=16; echo pid $$; exec sleep 30"
                .into(),
        ],
        timeout: Duration::from_secs(1),
    };
    let start = Instant::now();
    let out = run_invocation(case, &inv);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(out.unmet[0], "timed out after 1 s (killed)");
    assert!(out
        .unmet
        .contains(&"no line starting `stile: boot complete`".to_owned()));
    // What it printed before hanging is kept for the report.
    assert!(out.output.starts_with("stile: cpu: FWB=1"));
    let pid = out
        .output
        .lines()
        .nth(1)
        .unwrap()
        .trim_start_matches("pid ");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} still exists"
    );
}
