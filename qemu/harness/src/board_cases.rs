//! Stile on QEMU's board models (QEMU >= 10), each with Debian's unmodified board DTB (from
//! build/board-dtbs, scripts/fetch-board-dtbs.sh) and the board's own image
//! (`make image PLATFORM=<board>`). QEMU plays the boot firmware: it loads the image, the
//! host payload as the initrd, and writes the `/memory` node and `/chosen` into the DTB.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::cases::{Case, Initrd, Load, HOST_ALL_PASSED, HOST_CHECK_FAILED};
use crate::expect::{ExitRule, Expect};

/// Where scripts/fetch-board-dtbs.sh leaves the DTBs (relative to the repository).
pub const BOARD_DTBS: &str = "build/board-dtbs/dtbs";

/// One QEMU machine and what Stile is booted with on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardModel {
    /// `-M` value.
    pub machine: &'static str,
    /// platform/<board>: the image is build/<platform>/stile.bin.
    pub platform: &'static str,
    /// Below [`BOARD_DTBS`].
    pub dtb: &'static str,
    /// `-m` value.
    pub mem: &'static str,
    /// Which of the machine's UARTs the DT's stdout-path names (QEMU routes the n-th
    /// `-serial` to it).
    pub console_serial: u8,
}

impl BoardModel {
    /// The board's image, beside the qemu-virt one the harness was given.
    pub fn image(&self, virt_image: &Path) -> PathBuf {
        let build = virt_image
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("build"));
        build.join(self.platform).join("stile.bin")
    }

    pub fn dtb(&self) -> PathBuf {
        Path::new(BOARD_DTBS).join(self.dtb)
    }

    pub fn qemu_args(&self, image: &Path, host: Option<&Path>) -> Vec<OsString> {
        let mut args: Vec<OsString> = ["-M", self.machine, "-m", self.mem]
            .iter()
            .map(OsString::from)
            .collect();
        for _ in 0..self.console_serial {
            args.extend(["-serial", "null"].map(OsString::from));
        }
        args.extend(
            [
                "-serial",
                "stdio",
                "-nographic",
                "-no-reboot",
                "-monitor",
                "none",
                "-kernel",
            ]
            .map(OsString::from),
        );
        args.push(image.into());
        args.push("-dtb".into());
        args.push(self.dtb().into());
        if let Some(host) = host {
            args.push("-initrd".into());
            args.push(host.into());
        }
        args
    }
}

const RASPI4B: BoardModel = BoardModel {
    machine: "raspi4b",
    platform: "rpi4",
    dtb: "broadcom/bcm2711-rpi-4-b.dtb",
    mem: "2G",
    console_serial: 1,
};
const RASPI3B: BoardModel = BoardModel {
    machine: "raspi3b",
    platform: "rpi3",
    dtb: "broadcom/bcm2837-rpi-3-b.dtb",
    mem: "1G",
    console_serial: 1,
};
const ZCU102: BoardModel = BoardModel {
    // Without virtualization=on the A53s have no EL2.
    machine: "xlnx-zcu102,virtualization=on",
    platform: "zcu102",
    dtb: "xilinx/zynqmp-zcu102-rev1.0.dtb",
    mem: "2G",
    console_serial: 0,
};
const IMX8MP_EVK: BoardModel = BoardModel {
    machine: "imx8mp-evk",
    platform: "imx8mp",
    dtb: "freescale/imx8mp-evk.dtb",
    mem: "2G",
    console_serial: 1,
};

/// A board boot: Stile's boot log names the board's console and CPUs, the host payload's
/// checks all pass, and the machine goes down: through PSCI, or on a board without PSCI
/// (the Raspberry Pis) by parking the CPU with a message, where the harness ends the run.
/// `smp`: what shows the host's secondaries ran.
macro_rules! board {
    ($name:literal, $model:expr, console $console:literal, cpus $cpus:literal,
     smp [$($smp:expr),*], args [$($arg:literal),*], $exit:expr) => {
        Case {
            name: $name,
            cpu: "",
            gic: 0,
            smp: 4,
            mem: "",
            load: Load::Board(&$model),
            initrd: Initrd::Host,
            extra_args: &[$($arg),*],
            expect: &[
                Expect::Starts($console),
                Expect::Starts($cpus),
                Expect::Starts("stile: boot complete"),
                $($smp,)*
                Expect::Never("stile: fatal:"),
                Expect::Never("panic"),
                HOST_ALL_PASSED,
                Expect::Never(HOST_CHECK_FAILED),
            ],
            exit: $exit,
            max_secs: Some(60),
            inner_checks: false,
        }
    };
}

/// The Raspberry Pis' secondaries: spin-table CPUs Stile releases and holds at EL2, which
/// the host starts with Stile's PSCI (vm/psci_held.rs); all four run the payload at once.
const HELD_SPIN_TABLE: [Expect; 4] = [
    Expect::Starts(
        "stile: cpus: 3 spin-table CPUs released into EL2, 3 waiting there for the host's CPU_ON",
    ),
    Expect::Starts("check smp-two-guests-at-once: ok"),
    Expect::Starts("check smp-cpu-on-again-over-hvc: ok"),
    Expect::Line("smp: 4 CPUs online at once"),
];

const PARKED: &str = "stile: error: psci: host asked for SYSTEM_OFF, but the DT has no PSCI firmware (parking this CPU)";

pub const BOARD_CASES: [Case; 4] = [
    board!("q10-board-raspi4b", RASPI4B,
        console "stile: console: ns16550 at 0xfe215040 (from /chosen stdout-path)",
        cpus "stile: cpus: 4 (enable-method spin-table)",
        smp [HELD_SPIN_TABLE[0], HELD_SPIN_TABLE[1], HELD_SPIN_TABLE[2], HELD_SPIN_TABLE[3]],
        args [],
        ExitRule::StopsAt(PARKED)),
    board!("q10-board-raspi3b", RASPI3B,
        console "stile: console: ns16550 at 0x3f215040 (from /chosen stdout-path)",
        cpus "stile: cpus: 4 (enable-method spin-table)",
        smp [HELD_SPIN_TABLE[0], HELD_SPIN_TABLE[1], HELD_SPIN_TABLE[2], HELD_SPIN_TABLE[3]],
        args [],
        ExitRule::StopsAt(PARKED)),
    board!("q10-board-xlnx-zcu102", ZCU102,
        console "stile: console: cadence at 0xff000000 (from /chosen stdout-path)",
        cpus "stile: cpus: 4 (enable-method psci)",
        smp [Expect::Line("smp: 4 CPUs online at once")],
        args [],
        ExitRule::Status(0)),
    board!("q10-board-imx8mp-evk", IMX8MP_EVK,
        console "stile: console: imx at 0x30890000 (from /chosen stdout-path)",
        cpus "stile: cpus: 4 (enable-method psci)",
        smp [],
        // QEMU's model wires only the GIC's IRQ and FIQ outputs to the CPUs (not the
        // virtual IRQ): the payload skips the checks that take a virtual interrupt.
        args ["-append", "vgic.no-virq"],
        ExitRule::Status(0)),
];
