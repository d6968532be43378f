//! The table of boots. A case is data: the QEMU machine, how the image is loaded, extra QEMU
//! arguments, and what the output must show. Add a case by adding a row.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::board_cases::{BoardModel, BOARD_CASES};
use crate::bundles::Bundle;
use crate::expect::{ExitRule, Expect};

/// How the image gets into the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// `-kernel stile.bin`: the raw image with the arm64 Image header, entered at EL2 with
    /// x0 = DTB.
    Kernel,
    /// `-device loader,file=stile.elf,cpu-num=0`: entered at EL2 with x0 = 0 (no DTB).
    ElfNoDtb,
    /// `-kernel stile.bin` on a machine without virtualization: entered at EL1.
    KernelAtEl1,
    /// One of QEMU's board models with its own image and board DTB (board_cases.rs); the
    /// case's cpu/gic/mem fields are unused.
    Board(&'static BoardModel),
}

/// What goes in the initrd slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Initrd {
    /// The host payload (`--host`) as a plain arm64 Image.
    Host,
    /// A bundle the harness writes around the host payload (`bundles.rs`).
    Bundle(Bundle),
}

#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub name: &'static str,
    pub cpu: &'static str,
    pub gic: u8,
    pub smp: u8,
    /// QEMU `-m` syntax.
    pub mem: &'static str,
    pub load: Load,
    pub initrd: Initrd,
    /// Appended after the standard arguments.
    pub extra_args: &'static [&'static str],
    pub expect: &'static [Expect],
    pub exit: ExitRule,
    /// This case's own limit in seconds, instead of the command line's `--timeout`.
    pub max_secs: Option<u64>,
    /// The payloads' own `check <name>: ok|FAIL` lines are results too: report and count
    /// each as `<case>/<name>`.
    pub inner_checks: bool,
}

/// A boot that must reach `stile: boot complete` and power off cleanly.
macro_rules! boot {
    // The CPU x GIC x SMP matrix, named boot-<cpu>-gicv<g>-smp<s>, with 1 GiB of RAM. (This
    // arm comes first: macro_rules cannot backtrack out of a failed `$name:expr`.)
    (cpu $cpu:literal fwb $fwb:literal, gic $gic:literal, smp $smp:literal) => {
        boot!(concat!("boot-", $cpu, "-gicv", $gic, "-smp", $smp),
              cpu $cpu fwb $fwb, gic $gic, smp $smp, mem "1G" = 1024 MiB)
    };
    ($name:expr, cpu $cpu:literal fwb $fwb:literal, gic $gic:literal, smp $smp:literal,
     mem $mem:literal = $mib:literal MiB) => {
        Case {
            name: $name,
            cpu: $cpu,
            gic: $gic,
            smp: $smp,
            mem: $mem,
            load: Load::Kernel,
            initrd: Initrd::Host,
            extra_args: &[],
            expect: &[
                Expect::CpuFeatures { fwb: $fwb },
                Expect::Starts(concat!("stile: ram: ", $mib, " MiB")),
                Expect::Starts("stile: console: pl011 at 0x9000000"),
                Expect::Starts(concat!("stile: cpus: ", $smp)),
                Expect::Starts(concat!("stile: gic: v", $gic)),
                Expect::Starts("stile: boot complete"),
                // With a second CPU the payload runs guests on two CPUs at once.
                Expect::Starts(if $smp > 1 {
                    "check smp-vcpu-busy-on-other-cpu: ok"
                } else {
                    "smp: one CPU in the DT: SMP checks skipped"
                }),
                Expect::Starts(if $smp > 1 {
                    "check smp-all-cpus-online: ok"
                } else {
                    "smp: one CPU in the DT: SMP checks skipped"
                }),
                // Issue 12: IPIs between two vCPUs on two CPUs (GICv3: the kick).
                vgic_ipi!(gic $gic, smp $smp, 0),
                vgic_ipi!(gic $gic, smp $smp, 1),
                Expect::Never("stile: fatal:"),
                Expect::Never("panic"),
                // The host payload ran every check and powered off through PSCI.
                HOST_ALL_PASSED,
                Expect::Never(HOST_CHECK_FAILED),
            ],
            exit: ExitRule::Status(0),
            // Two CPUs or more run guests on each and the IPI checks: more than the
            // default 20 s on a loaded machine.
            max_secs: if $smp > 1 { Some(60) } else { None },
            inner_checks: false,
        }
    };
}

/// What the IPI checks across CPUs print (qemu/host/src/arch/vgic_ipi.rs): each `ok` on a
/// GICv3 with two CPUs or more; said to be skipped on a GICv2 (no kick) or with one CPU.
/// `$i` picks the line: 0 or 1.
macro_rules! vgic_ipi {
    (gic $gic:literal, smp $smp:literal, $i:literal) => {
        Expect::Starts(if $smp < 2 {
            "vgic-ipi: vgic-ipi-across-cpus and vgic-ipi-at-traps-across-cpus skipped: one CPU"
        } else if $gic == 2 {
            "vgic-ipi: vgic-ipi-across-cpus and vgic-ipi-at-traps-across-cpus skipped: GICv2"
        } else if $i == 0 {
            "check vgic-ipi-across-cpus: ok"
        } else {
            "check vgic-ipi-at-traps-across-cpus: ok"
        })
    };
}

/// The host payload's summary when all its in-QEMU checks passed.
pub const HOST_ALL_PASSED: Expect = Expect::StartsMentioning {
    prefix: "host:",
    word: "checks passed, 0 failed",
};
/// What a failed host check prints (`check <name>: FAIL <why>`).
pub const HOST_CHECK_FAILED: &str = ": FAIL ";

/// The host payload's refusal flood (2,000 VM_DESTROY of no VM) prints at most the rate
/// limit's share: 32 lines a second per source, plus the garbage checks' own refusals.
pub const REFUSAL_FLOOD_BOUNDED: Expect = Expect::AtMostLines {
    text: "hvc: host VM_DESTROY (0xc6000011) refused",
    max: 200,
};

/// A boot whose host payload runs guests; its in-QEMU checks are reported one by one.
macro_rules! guests {
    ($name:literal, cpu $cpu:literal) => {
        guests!($name, cpu $cpu, gic 3)
    };
    ($name:literal, cpu $cpu:literal, gic $gic:literal) => {
        Case {
            name: $name,
            cpu: $cpu,
            gic: $gic,
            // Two CPUs: the vGIC's IPIs between vCPUs running on both at once.
            smp: 2,
            mem: "1G",
            load: Load::Kernel,
            initrd: Initrd::Host,
            extra_args: &[],
            expect: &[
                HOST_ALL_PASSED,
                Expect::Never("stile: fatal:"),
                Expect::Starts("check guest-fault-storm-10000: ok"),
                // A board region revoked behind the guest's slot, and restored.
                Expect::Starts("check guest-region-revoke: ok"),
                // Issue 13: every register class, both guests; a refusal flood of 2,000
                // calls is logged within the rate limit (a few seconds' worth at most),
                // and the log says lines were dropped.
                Expect::Starts("check isolation-debug-second-guest: ok"),
                Expect::Starts("check hypercall-refusal-flood: ok"),
                REFUSAL_FLOOD_BOUNDED,
                Expect::Contains("host refusal lines dropped (rate limit)"),
                // Issue 12: the vGIC in EL2 (the machine's GIC, v2 or v3): its checks ran.
                Expect::Starts("check vgic-sgi-without-vgic-undefined: ok"),
                Expect::Starts("check vgic-sgi-to-self: ok"),
                Expect::Starts("check vgic-sgi-to-other-vcpu: ok"),
                Expect::Starts("check vgic-spi-from-host-reaches-handler: ok"),
                Expect::Starts("check vgic-virtual-timer-on-time: ok"),
                Expect::Starts("check vgic-virtual-timer-while-running-injected-in-el2: ok"),
                Expect::Starts("check vgic-nothing-left-for-the-next-guest: ok"),
                vgic_ipi!(gic $gic, smp 2, 0),
                vgic_ipi!(gic $gic, smp 2, 1),
            ],
            exit: ExitRule::Status(0),
            max_secs: Some(60),
            inner_checks: true,
        }
    };
}

/// A host boot that checks the board's regions against the CPU and RAM it runs on.
macro_rules! regions {
    ($name:literal, cpu $cpu:literal, mem $mem:literal, $($e:expr),* $(,)?) => {
        Case {
            name: $name,
            cpu: $cpu,
            gic: 3,
            smp: 1,
            mem: $mem,
            load: Load::Kernel,
            initrd: Initrd::Host,
            extra_args: &[],
            expect: &[
                HOST_ALL_PASSED,
                Expect::Never(HOST_CHECK_FAILED),
                Expect::Never("stile: fatal:"),
                // Mapping the host's RAM and every DT device (the PCIe windows reach 1 TiB)
                // uses blocks: a handful of table pages.
                Expect::NumberAtMost {
                    prefix: "stile: host: stage 2 ready:",
                    unit: "table pages",
                    max: 16,
                },
                $($e),*
            ],
            exit: ExitRule::Status(0),
            max_secs: None,
            inner_checks: false,
        }
    };
}

/// A boot that provokes a fatal error with `-append <bootargs>` and must report `line`.
macro_rules! fatal {
    ($name:literal, $bootargs:literal, $line:literal) => {
        Case {
            name: $name,
            cpu: "max",
            gic: 3,
            smp: 1,
            mem: "1G",
            load: Load::Kernel,
            initrd: Initrd::Host,
            extra_args: &["-append", $bootargs],
            expect: &[
                Expect::Starts($line),
                Expect::Starts("stile: fatal: powering off"),
                Expect::Never("stile: boot complete"),
            ],
            exit: ExitRule::Status(0),
            max_secs: Some(10),
            inner_checks: false,
        }
    };
}

/// `make bench` still runs: a quick bench (`bench=100`) prints a line for every metric
/// (docs/PERFORMANCE.md; no thresholds here: the figures are the bench's business) and ends
/// without a failure. Under `-icount` as `make bench` runs it.
const BENCH_SMOKE: Case = Case {
    name: "bench-smoke",
    cpu: "max",
    gic: 3,
    smp: 1,
    mem: "1G",
    load: Load::Kernel,
    initrd: Initrd::Host,
    extra_args: &["-append", "bench=100", "-icount", "shift=0,sleep=off"],
    expect: &[
        Expect::Starts("bench: boot-to-host-entry-1g"),
        Expect::Starts("bench: empty-loop"),
        Expect::Starts("bench: null-hypercall"),
        Expect::Starts("bench: get-caps"),
        Expect::Starts("bench: vcpu-run-hvc-exit"),
        Expect::Starts("bench: mmio-read-exit"),
        Expect::Starts("bench: memory-fault-slot-replay"),
        Expect::Starts("bench: memslot-clear"),
        Expect::Starts("bench: lazy-map-4k"),
        Expect::Starts("bench: lazy-map-2m"),
        Expect::Starts("bench: vtimer-delivery"),
        Expect::Starts("bench: spi-injection"),
        Expect::Starts("bench: sgi-self-round-trip"),
        Expect::Starts("bench: vgic-gicd-read"),
        Expect::StartsMentioning {
            prefix: "host: bench: done:",
            word: " 0 failed",
        },
        Expect::Never(HOST_CHECK_FAILED),
        Expect::Never("stile: fatal:"),
        Expect::Never("host: fatal:"),
        // Bench mode runs no checks.
        Expect::Never("checks passed"),
    ],
    exit: ExitRule::Status(0),
    max_secs: None,
    inner_checks: false,
};

/// The hostile host: 100,000 seeded random hypercalls with EL2's invariants checked
/// (docs/HOST-PAYLOAD.md, "Hostile mode").
const HOSTILE_HOST: Case = Case {
    name: "hostile-host-100k",
    cpu: "max",
    gic: 3,
    smp: 1,
    mem: "1G",
    load: Load::Kernel,
    initrd: Initrd::Host,
    extra_args: &["-append", "hostile=100000 hostile.seed=2026"],
    expect: &[
        Expect::StartsMentioning {
            prefix: "hostile: seed 2026:",
            word: "invariants checked 10 times: 0 violations",
        },
        Expect::Starts("check hostile-host: ok"),
        Expect::Starts("host: 1 checks passed, 0 failed"),
        Expect::Never(HOST_CHECK_FAILED),
        Expect::Never("stile: fatal:"),
        Expect::Never("host: fatal:"),
        Expect::Never("panic"),
    ],
    exit: ExitRule::Status(0),
    max_secs: Some(120),
    inner_checks: false,
};

/// The same from four host CPUs at once: each makes its own seeded stream of calls on the
/// same guests (BUSY is an answer), phases of 10,000 calls; the first CPU checks the
/// invariants after each phase, once the other three are off. 100,000 calls in 10 phases,
/// about 70 s on 2 host cores since stage 2 issues one broadcast TLBI per unmap
/// (docs/HOST-PAYLOAD.md: with two per page it took up to 300 s for 20,000).
const HOSTILE_HOST_4CPU: Case = Case {
    name: "hostile-host-4cpu-100k",
    cpu: "max",
    gic: 3,
    smp: 4,
    mem: "1G",
    load: Load::Kernel,
    initrd: Initrd::Host,
    extra_args: &["-append", "hostile=100000 hostile.seed=4004 hostile.cpus=4"],
    expect: &[
        Expect::StartsMentioning {
            prefix: "hostile: seed 4004:",
            word: "on 4 CPUs in 10 phases",
        },
        Expect::StartsMentioning {
            prefix: "hostile: seed 4004:",
            word: "invariants checked 10 times: 0 violations",
        },
        Expect::Starts("check hostile-host: ok"),
        Expect::Starts("host: 1 checks passed, 0 failed"),
        Expect::Never(HOST_CHECK_FAILED),
        Expect::Never("stile: fatal:"),
        Expect::Never("host: fatal:"),
        Expect::Never("panic"),
    ],
    exit: ExitRule::Status(0),
    max_secs: Some(420),
    inner_checks: false,
};

// FEAT_S2FWB on QEMU 7.2: `max` has it, the Cortex models do not (docs/ARCHITECTURE.md).
pub static CASES: &[Case] = &[
    boot!(cpu "max" fwb 1, gic 2, smp 1),
    boot!(cpu "max" fwb 1, gic 2, smp 4),
    boot!(cpu "max" fwb 1, gic 3, smp 1),
    boot!(cpu "max" fwb 1, gic 3, smp 4),
    boot!(cpu "cortex-a72" fwb 0, gic 2, smp 1),
    boot!(cpu "cortex-a72" fwb 0, gic 2, smp 4),
    boot!(cpu "cortex-a72" fwb 0, gic 3, smp 1),
    boot!(cpu "cortex-a72" fwb 0, gic 3, smp 4),
    boot!(cpu "cortex-a57" fwb 0, gic 2, smp 1),
    boot!(cpu "cortex-a57" fwb 0, gic 2, smp 4),
    boot!(cpu "cortex-a57" fwb 0, gic 3, smp 1),
    boot!(cpu "cortex-a57" fwb 0, gic 3, smp 4),
    // Without a DTB there is nothing to boot from: say so and stop, never hang.
    Case {
        name: "boot-no-dtb",
        cpu: "max",
        gic: 3,
        smp: 1,
        mem: "1G",
        load: Load::ElfNoDtb,
        initrd: Initrd::Host,
        extra_args: &[],
        expect: &[Expect::StartsMentioning {
            prefix: "stile: error:",
            word: "DTB",
        }],
        exit: ExitRule::AnyStatus,
        max_secs: Some(10),
        inner_checks: false,
    },
    // RAM size comes from the DTB, not from a constant.
    boot!("boot-512m", cpu "max" fwb 1, gic 3, smp 1, mem "512M" = 512 MiB),
    // Issue 3: per-region cacheability from the board config, checked against the CPU.
    regions!("host-regions-fwb-maps-the-aperture", cpu "max", mem "1G",
        Expect::Contains("aperture    cacheable-device  rw-  Normal-WB (forced by FWB)"),
        Expect::Never("refused (NEEDS_FWB)")),
    regions!("host-regions-no-fwb-refuses-the-aperture", cpu "cortex-a72", mem "1G",
        Expect::Line("stile: error: region 'aperture' refused (NEEDS_FWB)"),
        Expect::Contains("fb-nc       device-nc         rw-  Normal-NC")),
    regions!("host-regions-512m-refuses-carve-outs-outside-ram", cpu "max", mem "512M",
        Expect::Line("stile: error: region 'aperture' refused (OUTSIDE_RAM)"),
        Expect::Line("stile: error: region 'fb-nc' refused (OUTSIDE_RAM)")),
    // Issue 4: guests, memslots, exits and replay, on a CPU with FWB and on one without;
    // every check of the host payload's VMM counts as a result of its own.
    guests!("guests-max", cpu "max"),
    guests!("guests-cortex-a72", cpu "cortex-a72"),
    // The same checks with a virtual GICv2 (GICH/GICV from the DT).
    guests!("guests-max-gicv2", cpu "max", gic 2),
    guests!("guests-cortex-a72-gicv2", cpu "cortex-a72", gic 2),
    // A loader that forgot to enter at EL2: say so on the DT's console and power off.
    Case {
        name: "boot-at-el1-refused",
        cpu: "max",
        gic: 3,
        smp: 1,
        mem: "1G",
        load: Load::KernelAtEl1,
        initrd: Initrd::Host,
        extra_args: &[],
        expect: &[
            Expect::Starts("stile: error: entered at EL1"),
            Expect::Never("stile: boot complete"),
        ],
        exit: ExitRule::Status(0),
        max_secs: Some(10),
        inner_checks: false,
    },
    // The fatal paths, provoked on purpose (`stile.selftest=` in bootargs): each must report
    // and power off, never hang.
    fatal!(
        "fatal-stack-overflow-hits-guard",
        "stile.selftest=stack-overflow",
        "stile: fatal: stack overflow on CPU 0"
    ),
    fatal!(
        "fatal-el2-data-abort-decoded",
        "stile.selftest=el2-abort",
        "stile: fatal: synchronous exception taken from EL2: ESR"
    ),
    fatal!(
        "fatal-panic-reports-location",
        "stile.selftest=panic",
        "stile: fatal: panic: panicked at boot/src/selftest.rs"
    ),
    BENCH_SMOKE,
    UBOOT_BOOTI,
    HOSTILE_HOST,
    HOSTILE_HOST_4CPU,
];

/// The board user's path (README, docs/BOARDS.md): Debian's U-Boot for QEMU virt as the
/// firmware (-bios) at EL2, starting Stile with `booti` on images QEMU hands it through
/// fw_cfg (`qfw load`); its environment (bootcmd, bootm_size) is in the second flash bank.
/// scripts/setup-uboot.sh (run by scripts/setup.sh) writes both files.
const UBOOT_BOOTI: Case = Case {
    name: "uboot-booti",
    cpu: "max",
    gic: 3,
    smp: 1,
    mem: "1G",
    load: Load::Kernel,
    initrd: Initrd::Host,
    extra_args: &[
        "-bios",
        "build/u-boot/u-boot.bin",
        "-drive",
        "if=pflash,format=raw,unit=1,readonly=on,file=build/u-boot/env.img",
    ],
    expect: &[
        Expect::Contains("U-Boot 20"),
        Expect::Contains("Starting kernel"),
        Expect::Starts("stile: console: pl011 at 0x9000000"),
        Expect::Starts("stile: boot complete"),
        Expect::Never("stile: fatal:"),
        Expect::Never("stile: error: host payload refused"),
        HOST_ALL_PASSED,
        Expect::Never(HOST_CHECK_FAILED),
    ],
    exit: ExitRule::Status(0),
    max_secs: None,
    inner_checks: false,
};

/// The cases only QEMU >= 10 can run (`--qemu10`, on QEMU 10 from scripts/setup.sh):
/// CPU models 7.2 lacks, and `max` with CTR_EL0.DIC=1, where cacheable-device memory may
/// be executable (QEMU 7.2's `max` has DIC=0: there exec is dropped, NO_DIC).
pub static QEMU10_CASES: &[Case] = &[
    boot!("q10-boot-max-gicv3-smp4", cpu "max" fwb 1, gic 3, smp 4, mem "1G" = 1024 MiB),
    boot!("q10-boot-neoverse-n2-gicv3-smp2", cpu "neoverse-n2" fwb 1, gic 3, smp 2,
        mem "1G" = 1024 MiB),
    boot!("q10-boot-cortex-a76-gicv2-smp1", cpu "cortex-a76" fwb 0, gic 2, smp 1,
        mem "1G" = 1024 MiB),
    regions!("q10-host-regions-dic-maps-the-aperture-executable", cpu "max", mem "1G",
        Expect::Contains("DIC=1"),
        Expect::Contains("aperture    cacheable-device  rwx  Normal-WB (forced by FWB)"),
        Expect::Never("exec dropped (NO_DIC)")),
    guests!("q10-guests-max", cpu "max"),
    BOARD_CASES[0],
    BOARD_CASES[1],
    BOARD_CASES[2],
    BOARD_CASES[3],
];

/// Every case: the table here, then the host-bundle cases.
pub fn all() -> impl Iterator<Item = &'static Case> {
    CASES.iter().chain(crate::bundle_cases::CASES.iter())
}

/// The cases whose name contains `filter` (all of them for `None`).
pub fn select(filter: Option<&str>) -> Vec<&'static Case> {
    all()
        .filter(|c| filter.is_none_or(|f| c.name.contains(f)))
        .collect()
}

/// [`select`] over another table (e.g. [`QEMU10_CASES`]).
pub fn select_from(table: &'static [Case], filter: Option<&str>) -> Vec<&'static Case> {
    table
        .iter()
        .filter(|c| filter.is_none_or(|f| c.name.contains(f)))
        .collect()
}

impl Case {
    /// The image file this case loads.
    pub fn image(&self, bin: &Path, elf: &Path) -> PathBuf {
        match self.load {
            Load::Kernel | Load::KernelAtEl1 => bin.to_path_buf(),
            Load::ElfNoDtb => elf.to_path_buf(),
            Load::Board(board) => board.image(bin),
        }
    }

    /// QEMU's arguments (without the program name) for loading `image`.
    pub fn qemu_args(&self, image: &Path, host: Option<&Path>) -> Vec<OsString> {
        if let Load::Board(board) = self.load {
            let mut args = board.qemu_args(image, host);
            args.extend(self.extra_args.iter().map(OsString::from));
            return args;
        }
        let mut args: Vec<OsString> = [
            "-M",
            &format!(
                "virt,virtualization={},gic-version={}",
                if self.load == Load::KernelAtEl1 {
                    "off"
                } else {
                    "on"
                },
                self.gic
            ),
            "-cpu",
            self.cpu,
            "-smp",
            &self.smp.to_string(),
            "-m",
            self.mem,
            // The serial port is our only window; no display, no monitor on stdio, and a
            // guest reset ends QEMU instead of rebooting forever.
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
        match self.load {
            Load::Kernel | Load::KernelAtEl1 => {
                args.push("-kernel".into());
                args.push(image.into());
                if let Some(host) = host {
                    args.push("-initrd".into());
                    args.push(host.into());
                }
            }
            Load::Board(_) => {}
            Load::ElfNoDtb => {
                let mut dev = OsString::from("loader,file=");
                dev.push(image);
                dev.push(",cpu-num=0");
                args.push("-device".into());
                args.push(dev);
            }
        }
        args.extend(self.extra_args.iter().map(OsString::from));
        args
    }
}

#[cfg(test)]
mod tests;
