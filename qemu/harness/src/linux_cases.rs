//! Debian's Linux as Stile's host (docs/LINUX-HOST.md): the kernel, initramfs and host bundle
//! `make linux` writes to build/linux/, booted under Stile and, as the reference, directly at
//! EL1. Its /init prints `check linux-<name>: ok|FAIL <why>` lines; each counts as a result.
//!
//! A case that needs work from another branch says so in `waits_for`: it is listed as
//! `skip <name>: waits for <what>` and not run unless `--with-waiting` is given (the lead
//! deletes the field at merge time). Cases marked `matrix` run only when `--filter` names
//! them (e.g. `--filter linux-`), so the default run stays short.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::check::Outcome;
use crate::expect::{self, ExitRule, Expect};
use crate::runner::{self, Invocation};

/// How Linux gets into the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boot {
    /// The reference: QEMU loads the kernel and initramfs itself and enters Linux at EL1
    /// (`virtualization=off`), `-append` is the command line.
    Direct,
    /// Stile at EL2, the host bundle (`host.itb`: kernel + initramfs + command line) in the
    /// initrd slot.
    Bundle,
    /// Stile at EL2 with the kernel alone in the initrd slot (what Stile could take before the
    /// host bundle); QEMU's loader puts the initramfs at [`INTERIM_INITRD_AT`] and the command
    /// line's `initrd=` tells Linux where it is. Retire with the bundle.
    InterimInitrdArg,
}

/// Where the interim boot's initramfs goes: host RAM on a 1 GiB machine, above what Stile
/// places (payload copy, DTB) and below the board's carve-outs at 0x7b000000.
pub const INTERIM_INITRD_AT: u64 = 0x7000_0000;

/// The command line of the direct and interim boots (the bundle carries its own, the same).
const BOOTARGS: &str = "console=ttyAMA0 quiet panic=-1";

#[derive(Clone, Copy, Debug)]
pub struct LinuxCase {
    pub name: &'static str,
    /// QEMU `-cpu` argument.
    pub cpu: &'static str,
    pub gic: u8,
    pub smp: u8,
    /// QEMU `-m` syntax.
    pub mem: &'static str,
    pub highmem: bool,
    pub boot: Boot,
    /// Extra words for the kernel command line (direct and interim boots only).
    pub bootargs: &'static str,
    pub expect: &'static [Expect],
    /// Runs only with `--with-waiting` until the named work has landed.
    pub waits_for: Option<&'static str>,
    /// Part of the full matrix: runs only when `--filter` selects it by name.
    pub matrix: bool,
    /// Limit for one boot, in seconds (Linux under TCG on a shared machine: generous).
    pub max_secs: u64,
}

/// `-cpu max` boots Linux ~3x faster with QEMU's cheaper pointer-authentication algorithm
/// (same features; docs/LINUX-HOST.md has the measurement).
pub const MAX: &str = "max,pauth-impdef=on";

/// What every boot that reaches the end of /init shows.
macro_rules! linux_checks {
    ($($e:expr),* $(,)?) => {
        &[
            Expect::Never("Kernel panic"),
            Expect::Never("Unable to handle kernel"),
            Expect::Never("Internal error: Oops"),
            Expect::Never("Call trace:"),
            Expect::Never("stile: fatal:"),
            Expect::Never(": FAIL "),
            Expect::Starts("check linux-userspace: ok"),
            Expect::Starts("check linux-cpus-online: ok"),
            Expect::Starts("check linux-memtotal: ok"),
            Expect::Starts("check linux-modules: ok"),
            Expect::Starts("check linux-virtio-blk: ok"),
            Expect::StartsMentioning { prefix: "linux: checks done", word: " 0 failed" },
            $($e),*
        ]
    };
}

/// All CPUs online, and as many as the case has (/init says how many before its check line).
macro_rules! cpus {
    (1) => {
        Expect::StartsMentioning {
            prefix: "linux: cpus-online:",
            word: "(1 CPUs)",
        }
    };
    (4) => {
        Expect::StartsMentioning {
            prefix: "linux: cpus-online:",
            word: "(4 CPUs)",
        }
    };
}
const HOTPLUG: Expect = Expect::Starts("check linux-cpu-hotplug: ok");
const RAM_FILL: Expect = Expect::Starts("check linux-ram-fill: ok");
/// Linux's `poweroff -f` (PSCI SYSTEM_OFF) went through Stile's relay.
const OFF_THROUGH_STILE: Expect = Expect::StartsMentioning {
    prefix: "stile: psci:",
    word: "SYSTEM_OFF",
};
/// Linux sees the CPU's own SVE vector length (QEMU max: 2048 bits), not ZCR_EL2's reset value.
const SVE_256: Expect = Expect::Contains("SVE: maximum available vector length 256 bytes");

/// One row of the Linux-on-Stile matrix: 2 GiB, highmem on, the bundle.
macro_rules! on_stile {
    ($name:literal, $cpu:expr, gic $gic:literal, smp $smp:tt, $waits:expr, matrix $m:literal,
     $($e:expr),*) => {
        LinuxCase {
            name: $name,
            cpu: $cpu,
            gic: $gic,
            smp: $smp,
            mem: "2G",
            highmem: true,
            boot: Boot::Bundle,
            bootargs: "",
            expect: linux_checks!(
                Expect::Starts("stile: boot complete"),
                cpus!($smp),
                RAM_FILL,
                OFF_THROUGH_STILE,
                $($e),*
            ),
            waits_for: $waits,
            matrix: $m,
            max_secs: 300,
        }
    };
}

/// What the matrix needs from Stile beyond the basics: the host bundle with the DT memory map,
/// and the host's SMP (PSCI CPU_ON relayed). Both have landed; a case that waits for work
/// still to come names it here as `Some("...")`.
const WAITS_SMP: Option<&str> = None;
const WAITS_BUNDLE: Option<&str> = None;

pub static CASES: &[LinuxCase] = &[
    // The reference: the same kernel and initramfs straight at EL1, no Stile. If this fails,
    // the fault is in the kernel/initramfs/QEMU, not in Stile.
    LinuxCase {
        name: "linux-direct-cortex-a72-gicv3-smp4",
        cpu: "cortex-a72",
        gic: 3,
        smp: 4,
        mem: "2G",
        highmem: true,
        boot: Boot::Direct,
        bootargs: "",
        expect: linux_checks!(cpus!(4), HOTPLUG, RAM_FILL),
        waits_for: None,
        matrix: false,
        max_secs: 300,
    },
    LinuxCase {
        name: "linux-direct-max-gicv3-smp4",
        cpu: MAX,
        gic: 3,
        smp: 4,
        mem: "2G",
        highmem: true,
        boot: Boot::Direct,
        bootargs: "",
        expect: linux_checks!(cpus!(4), HOTPLUG, RAM_FILL, SVE_256),
        waits_for: None,
        matrix: true,
        max_secs: 300,
    },
    // What ran under Stile before the host bundle: one CPU, 1 GiB below 4 GiB, the kernel alone
    // as the initrd and the initramfs beside it (QEMU's loader, `initrd=` on the command line).
    // The RAM fill was skipped: RAM Stile held back but the host DTB still promised crashed it.
    // Kept in the full matrix: a plain Image in the initrd slot must keep working.
    LinuxCase {
        name: "linux-on-stile-interim-max-gicv3-smp1",
        cpu: MAX,
        gic: 3,
        smp: 1,
        mem: "1G",
        highmem: false,
        boot: Boot::InterimInitrdArg,
        bootargs: "hostinit.skip=ram-fill",
        expect: linux_checks!(
            Expect::Starts("stile: boot complete"),
            cpus!(1),
            OFF_THROUGH_STILE,
            SVE_256
        ),
        waits_for: None,
        matrix: true,
        max_secs: 240,
    },
    LinuxCase {
        name: "linux-on-stile-interim-cortex-a72-gicv2-smp1",
        cpu: "cortex-a72",
        gic: 2,
        smp: 1,
        mem: "1G",
        highmem: false,
        boot: Boot::InterimInitrdArg,
        bootargs: "hostinit.skip=ram-fill",
        expect: linux_checks!(
            Expect::Starts("stile: boot complete"),
            cpus!(1),
            OFF_THROUGH_STILE
        ),
        waits_for: None,
        matrix: true,
        max_secs: 240,
    },
    // Issue 10's matrix: {max, cortex-a72} x {GICv2, GICv3} x {1, 4 CPUs}, 2 GiB, highmem on.
    on_stile!("linux-on-stile-max-gicv3-smp4", MAX, gic 3, smp 4, WAITS_SMP, matrix false,
        HOTPLUG, SVE_256),
    on_stile!("linux-on-stile-cortex-a72-gicv3-smp4", "cortex-a72", gic 3, smp 4, WAITS_SMP,
        matrix false, HOTPLUG),
    on_stile!("linux-on-stile-max-gicv2-smp4", MAX, gic 2, smp 4, WAITS_SMP, matrix true,
        HOTPLUG, SVE_256),
    on_stile!("linux-on-stile-cortex-a72-gicv2-smp4", "cortex-a72", gic 2, smp 4, WAITS_SMP,
        matrix true, HOTPLUG),
    on_stile!("linux-on-stile-max-gicv3-smp1", MAX, gic 3, smp 1, WAITS_BUNDLE, matrix true,
        SVE_256),
    on_stile!("linux-on-stile-cortex-a72-gicv3-smp1", "cortex-a72", gic 3, smp 1, WAITS_BUNDLE,
        matrix true,),
    on_stile!("linux-on-stile-max-gicv2-smp1", MAX, gic 2, smp 1, WAITS_BUNDLE, matrix true,
        SVE_256),
    on_stile!("linux-on-stile-cortex-a72-gicv2-smp1", "cortex-a72", gic 2, smp 1, WAITS_BUNDLE,
        matrix true,),
];

/// What a selection does with a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selected {
    Run,
    /// Listed as skipped, with why.
    Waits(&'static str),
}

/// The cases to run or list as waiting: without a filter, all but the matrix ones; with one,
/// those whose name contains it. Waiting cases run only with `with_waiting`.
pub fn select(filter: Option<&str>, with_waiting: bool) -> Vec<(&'static LinuxCase, Selected)> {
    CASES
        .iter()
        .filter(|c| match filter {
            None => !c.matrix,
            Some(f) => c.name.contains(f),
        })
        .map(|c| match c.waits_for {
            Some(what) if !with_waiting => (c, Selected::Waits(what)),
            _ => (c, Selected::Run),
        })
        .collect()
}

/// The files a Linux boot needs, from `make linux` (scripts/build-linux.sh).
#[derive(Clone, Debug)]
pub struct LinuxFiles {
    pub stile: PathBuf,
    pub dir: PathBuf,
}

impl LinuxFiles {
    fn kernel(&self) -> PathBuf {
        self.dir.join("Image")
    }
    fn initramfs(&self) -> PathBuf {
        self.dir.join("initramfs.cpio.gz")
    }
    fn bundle(&self) -> PathBuf {
        self.dir.join("host.itb")
    }
}

impl LinuxCase {
    /// QEMU's arguments (without the program name); `disk` is the virtio-blk disk's file and
    /// `initramfs_len` the initramfs's size (the interim boot's `initrd=` needs it).
    pub fn qemu_args(&self, files: &LinuxFiles, disk: &Path, initramfs_len: u64) -> Vec<OsString> {
        let virt = if self.boot == Boot::Direct {
            "off"
        } else {
            "on"
        };
        let highmem = if self.highmem { "" } else { ",highmem=off" };
        let mut args: Vec<OsString> = [
            "-M",
            &format!(
                "virt,virtualization={virt},gic-version={}{highmem}",
                self.gic
            ),
            "-cpu",
            self.cpu,
            "-smp",
            &self.smp.to_string(),
            "-m",
            self.mem,
            "-nographic",
            "-no-reboot",
            "-serial",
            "stdio",
            "-monitor",
            "none",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let cmdline = |extra: &str| {
            [BOOTARGS, self.bootargs, extra]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut push = |a: &str, b: OsString| {
            args.push(a.into());
            args.push(b);
        };
        match self.boot {
            Boot::Direct => {
                push("-kernel", files.kernel().into());
                push("-initrd", files.initramfs().into());
                push("-append", cmdline("").into());
            }
            Boot::Bundle => {
                push("-kernel", files.stile.clone().into());
                push("-initrd", files.bundle().into());
            }
            Boot::InterimInitrdArg => {
                push("-kernel", files.stile.clone().into());
                push("-initrd", files.kernel().into());
                let at = format!("initrd={INTERIM_INITRD_AT:#x},{initramfs_len}");
                push("-append", cmdline(&at).into());
                let mut dev = OsString::from("loader,force-raw=on,addr=");
                dev.push(format!("{INTERIM_INITRD_AT:#x},file="));
                dev.push(files.initramfs());
                push("-device", dev);
            }
        }
        let mut drive = OsString::from("if=none,format=raw,id=disk0,file=");
        drive.push(disk);
        push("-drive", drive);
        push("-device", "virtio-blk-device,drive=disk0".into());
        args
    }
}

/// The label /init looks for at the start of the disk.
pub const DISK_LABEL: &[u8] = b"stile-linux-disk";
const DISK_BYTES: u64 = 8 << 20;

/// A scratch disk for one boot, removed when dropped.
struct Disk(PathBuf);

impl Disk {
    fn create(case: &str) -> std::io::Result<Disk> {
        let path =
            std::env::temp_dir().join(format!("stile-harness-{}-{case}.img", std::process::id()));
        let mut f = fs::File::create(&path)?;
        f.write_all(DISK_LABEL)?;
        f.set_len(DISK_BYTES)?;
        Ok(Disk(path))
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Runs `case` with `qemu` and judges it; `timeout` is the command line's, raised to the
/// case's own limit (Linux boots take longer than Stile's).
pub fn run_case(case: &LinuxCase, qemu: &str, files: &LinuxFiles, timeout: Duration) -> Outcome {
    let refused = |why: String| Outcome {
        name: case.name,
        unmet: vec![why],
        ..Outcome::default()
    };
    let mut needed = vec![files.kernel(), files.initramfs()];
    if case.boot != Boot::Direct {
        needed.push(files.stile.clone());
    }
    if case.boot == Boot::Bundle {
        needed.push(files.bundle());
    }
    if let Some(missing) = needed.iter().find(|p| !p.is_file()) {
        return refused(format!(
            "{} not found: run `make linux` (and `make image`) first",
            missing.display()
        ));
    }
    let initramfs_len = fs::metadata(files.initramfs()).map_or(0, |m| m.len());
    let disk = match Disk::create(case.name) {
        Ok(d) => d,
        Err(e) => return refused(format!("cannot create the scratch disk: {e}")),
    };
    let inv = Invocation {
        program: qemu.into(),
        args: case.qemu_args(files, &disk.0, initramfs_len),
        timeout: timeout.max(Duration::from_secs(case.max_secs)),
    };
    let command = Some(inv.display());
    match runner::run(&inv) {
        Ok(run) => Outcome {
            name: case.name,
            unmet: expect::unmet(case.expect, ExitRule::Status(0), &run.output, run.end),
            notes: vec![],
            command,
            output: run.output,
        },
        Err(e) => Outcome {
            command,
            ..refused(format!("cannot start `{qemu}`: {e}"))
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> LinuxFiles {
        LinuxFiles {
            stile: "b/stile.bin".into(),
            dir: "b/linux".into(),
        }
    }

    fn args(name: &str) -> String {
        let c = CASES.iter().find(|c| c.name == name).expect(name);
        let a = c.qemu_args(&files(), Path::new("/tmp/d.img"), 1234);
        a.iter()
            .map(|s| s.to_str().unwrap())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn names_are_unique_and_say_linux() {
        let mut names: Vec<_> = CASES.iter().map(|c| c.name).collect();
        assert!(names.iter().all(|n| n.starts_with("linux-")));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CASES.len());
    }

    #[test]
    fn the_issue_matrix_is_there_on_2g_with_highmem() {
        for cpu in ["max", "cortex-a72"] {
            for gic in [2, 3] {
                for smp in [1, 4] {
                    let name = format!("linux-on-stile-{cpu}-gicv{gic}-smp{smp}");
                    let c = CASES.iter().find(|c| c.name == name).expect(&name);
                    assert_eq!((c.gic, c.smp, c.mem, c.highmem), (gic, smp, "2G", true));
                    assert_eq!(c.boot, Boot::Bundle);
                    assert!(c.cpu.starts_with(cpu));
                    assert!(c.expect.contains(&RAM_FILL) && c.expect.contains(&OFF_THROUGH_STILE));
                    assert_eq!(c.expect.contains(&HOTPLUG), smp > 1, "{name}");
                    assert_eq!(c.expect.contains(&SVE_256), cpu == "max", "{name}");
                    // The 4-CPU GICv3 boots are in the default run.
                    assert_eq!(!c.matrix, gic == 3 && smp == 4, "{name}");
                }
            }
        }
    }

    #[test]
    fn waiting_cases_are_listed_not_run_unless_asked() {
        let default = select(None, false);
        assert!(default.iter().all(|(c, _)| !c.matrix));
        for (c, how) in select(Some("linux-"), false) {
            match c.waits_for {
                Some(what) => assert_eq!(how, Selected::Waits(what), "{}", c.name),
                None => assert_eq!(how, Selected::Run, "{}", c.name),
            }
        }
        assert!(select(None, true).iter().all(|(_, s)| *s == Selected::Run));
        // A filter reaches the matrix.
        assert_eq!(select(Some("linux-on-stile-"), true).len(), 10);
        assert!(select(Some("nothing-like-this"), false).is_empty());
    }

    #[test]
    fn every_case_forbids_panics_and_failed_checks() {
        for c in CASES {
            assert!(
                c.expect.contains(&Expect::Never("Kernel panic")),
                "{}",
                c.name
            );
            assert!(c.expect.contains(&Expect::Never(": FAIL ")), "{}", c.name);
        }
    }

    #[test]
    fn command_lines() {
        assert_eq!(
            args("linux-direct-cortex-a72-gicv3-smp4"),
            "-M virt,virtualization=off,gic-version=3 -cpu cortex-a72 -smp 4 -m 2G -nographic \
             -no-reboot -serial stdio -monitor none -kernel b/linux/Image \
             -initrd b/linux/initramfs.cpio.gz -append console=ttyAMA0 quiet panic=-1 \
             -drive if=none,format=raw,id=disk0,file=/tmp/d.img \
             -device virtio-blk-device,drive=disk0"
        );
        assert_eq!(
            args("linux-on-stile-max-gicv3-smp4"),
            "-M virt,virtualization=on,gic-version=3 -cpu max,pauth-impdef=on -smp 4 -m 2G \
             -nographic -no-reboot -serial stdio -monitor none -kernel b/stile.bin \
             -initrd b/linux/host.itb -drive if=none,format=raw,id=disk0,file=/tmp/d.img \
             -device virtio-blk-device,drive=disk0"
        );
        assert_eq!(
            args("linux-on-stile-interim-max-gicv3-smp1"),
            "-M virt,virtualization=on,gic-version=3,highmem=off -cpu max,pauth-impdef=on \
             -smp 1 -m 1G -nographic -no-reboot -serial stdio -monitor none \
             -kernel b/stile.bin -initrd b/linux/Image \
             -append console=ttyAMA0 quiet panic=-1 hostinit.skip=ram-fill initrd=0x70000000,1234 \
             -device loader,force-raw=on,addr=0x70000000,file=b/linux/initramfs.cpio.gz \
             -drive if=none,format=raw,id=disk0,file=/tmp/d.img \
             -device virtio-blk-device,drive=disk0"
        );
    }

    #[test]
    fn a_missing_build_is_a_clear_failure() {
        let f = LinuxFiles {
            stile: "/nonexistent/stile.bin".into(),
            dir: "/nonexistent/linux".into(),
        };
        let out = run_case(&CASES[0], "qemu-system-aarch64", &f, Duration::from_secs(1));
        assert!(out.unmet[0].contains("run `make linux`"), "{:?}", out.unmet);
    }
}
