//! The board models' regions as the payload expects Stile's board config to declare them
//! (platform/<board>/regions.toml), copied on purpose like [`crate::oracle::QEMU_VIRT`]; and
//! which table a machine gets, by its DT's root `compatible`.

use crate::oracle::{Probe, RamRule, Region, QEMU_VIRT};
use stile_hyp::mm::kind::MemoryKind;

const fn ram(name: &'static str, base: u64, size: u64, probe: Probe) -> Region {
    Region {
        name,
        base,
        size,
        kind: MemoryKind::Ram,
        write: true,
        ram: RamRule::ClippedToRam,
        probe,
    }
}

const fn device(name: &'static str, base: u64, size: u64, probe: Probe) -> Region {
    Region {
        name,
        base,
        size,
        kind: MemoryKind::Device,
        write: true,
        ram: RamRule::NotRam,
        probe,
    }
}

// No board declares its host RAM or its SoC's device windows any more: Stile takes both from
// the DT (`host-ram`, `dt-devices`). The rows named so below check that: the DT's RAM at the
// payload is mapped as RAM, and the console the DT names is mapped Device rw-. Their base
// and size only bound where the probe may lie.

/// Raspberry Pi 4 (QEMU raspi4b: 2 GiB, the DT's /memory says 960 MiB at 0).
pub const RPI4: [Region; 2] = [
    ram("host-ram", 0, 0xfc00_0000, Probe::PayloadImage),
    // The aux mini UART, the console: the DT's node through /soc's `ranges`.
    device("dt-devices", 0xfe21_5000, 0x1000, Probe::Base),
];

/// Raspberry Pi 3 (QEMU raspi3b: 1 GiB).
pub const RPI3: [Region; 2] = [
    ram("host-ram", 0, 0x3f00_0000, Probe::PayloadImage),
    device("dt-devices", 0x3f21_5000, 0x1000, Probe::Base),
];

/// qemu-virt's two guest windows, which the zcu102 and imx8mp configs repeat.
const FB_NC: Region = QEMU_VIRT[3];
const APERTURE: Region = QEMU_VIRT[4];

/// ZynqMP ZCU102 (QEMU xlnx-zcu102: 2 GiB).
pub const ZCU102: [Region; 5] = [
    ram("host-ram", 0, 0x7b00_0000, Probe::PayloadImage),
    FB_NC,
    APERTURE,
    // The board's one device row: the PL windows the boot DT does not describe.
    device("pl", 0x8000_0000, 0x4000_0000, Probe::Base),
    // UART0, the console.
    device("dt-devices", 0xff00_0000, 0x1000, Probe::Base),
];

/// i.MX 8M Plus EVK (QEMU imx8mp-evk: 2 GiB from 0x4000_0000).
pub const IMX8MP: [Region; 5] = [
    // UART2, the console.
    device("dt-devices", 0x3089_0000, 0x1000, Probe::Base),
    ram("host-ram", 0x4000_0000, 0x3b00_0000, Probe::PayloadImage),
    FB_NC,
    APERTURE,
    // The DT's RAM past the carve-outs is the host's too: no board ceiling stops at them.
    ram("host-ram-upper", 0x8000_0000, 0x8000_0000, Probe::Base),
];

/// (a `compatible` of the DT's root node, the board name, its regions); first match wins.
const MACHINES: [(&str, &str, &[Region]); 5] = [
    ("linux,dummy-virt", "qemu-virt", &QEMU_VIRT),
    ("brcm,bcm2711", "rpi4", &RPI4),
    ("brcm,bcm2837", "rpi3", &RPI3),
    ("xlnx,zynqmp", "zcu102", &ZCU102),
    ("fsl,imx8mp", "imx8mp", &IMX8MP),
];

/// The board and regions for a root `compatible` property (NUL-separated strings).
pub fn for_root_compatible(compatible: &[u8]) -> Option<(&'static str, &'static [Region])> {
    compatible.split(|&b| b == 0).find_map(|name| {
        MACHINES
            .iter()
            .find(|(c, ..)| c.as_bytes() == name)
            .map(|&(_, board, regions)| (board, regions))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_are_found_by_any_root_compatible() {
        let name = |c: &[u8]| for_root_compatible(c).map(|(n, _)| n);
        assert_eq!(name(b"linux,dummy-virt\0"), Some("qemu-virt"));
        assert_eq!(name(b"raspberrypi,4-model-b\0brcm,bcm2711\0"), Some("rpi4"));
        assert_eq!(name(b"raspberrypi,3-model-b\0brcm,bcm2837\0"), Some("rpi3"));
        assert_eq!(
            name(b"xlnx,zynqmp-zcu102-rev1.0\0xlnx,zynqmp-zcu102\0xlnx,zynqmp\0"),
            Some("zcu102")
        );
        assert_eq!(name(b"fsl,imx8mp-evk\0fsl,imx8mp\0"), Some("imx8mp"));
        assert_eq!(name(b"vendor,other\0"), None);
    }

    #[test]
    fn the_repeated_windows_are_qemu_virts() {
        assert_eq!((FB_NC.name, APERTURE.name), ("fb-nc", "aperture"));
    }

    #[test]
    fn board_regions_do_not_overlap_and_probes_lie_inside_them() {
        for (_, board, regions) in MACHINES {
            for (i, a) in regions.iter().enumerate() {
                if let Probe::At(addr) = a.probe {
                    assert!(a.contains(addr), "{board} {}", a.name);
                }
                for b in &regions[i + 1..] {
                    assert!(
                        a.end() <= b.base || b.end() <= a.base,
                        "{board}: {} {}",
                        a.name,
                        b.name
                    );
                }
            }
        }
    }
}
