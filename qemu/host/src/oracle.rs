//! The test oracle: qemu-virt's memory regions as the payload expects Stile's board config to
//! declare them. A copy on purpose, not an import of the hypervisor's config: a wrong config
//! row must show up as a failed check, not be agreed with.

use stile_hyp::mm::kind::MemoryKind;

/// How a region relates to the `/memory` RAM of the DT (decides when Stile must refuse it
/// with OUTSIDE_RAM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RamRule {
    /// A device window: never RAM, never refused for it.
    NotRam,
    /// The host's RAM: the DT's RAM inside the region. Refused only where the probe is not RAM.
    ClippedToRam,
    /// Carved out of RAM (QEMU has no such device): all of it must lie in one RAM range.
    CarvedFromRam,
}

/// Where in a region the check probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The region's first byte.
    Base,
    /// A fixed address inside it.
    At(u64),
    /// The payload's own image base: host RAM that is surely neither Stile's nor reserved.
    PayloadImage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Check names are `host-translate-<name>`.
    pub name: &'static str,
    pub base: u64,
    pub size: u64,
    pub kind: MemoryKind,
    /// Stage 2 grants write access (S2AP[1]); every region is readable.
    pub write: bool,
    pub ram: RamRule,
    pub probe: Probe,
}

impl Region {
    pub const fn end(&self) -> u64 {
        self.base + self.size
    }

    pub const fn contains(&self, addr: u64) -> bool {
        addr >= self.base && addr < self.end()
    }
}

const MIB: u64 = 1 << 20;

/// qemu-virt's regions, in address order of their use by the checks.
pub const QEMU_VIRT: [Region; 5] = [
    Region {
        name: "host-ram",
        base: 0x4000_0000,
        size: 0x7b00_0000 - 0x4000_0000,
        kind: MemoryKind::Ram,
        write: true,
        ram: RamRule::ClippedToRam,
        probe: Probe::PayloadImage,
    },
    Region {
        name: "flash",
        base: 0x0,
        size: 0x0800_0000,
        kind: MemoryKind::Device,
        write: false,
        ram: RamRule::NotRam,
        probe: Probe::Base,
    },
    Region {
        name: "virt-mmio",
        base: 0x0800_0000,
        size: 0x4000_0000 - 0x0800_0000,
        kind: MemoryKind::Device,
        write: true,
        ram: RamRule::NotRam,
        // The PL011.
        probe: Probe::At(0x0900_0000),
    },
    Region {
        name: "fb-nc",
        base: 0x7b00_0000,
        size: 16 * MIB,
        kind: MemoryKind::DeviceNc,
        write: true,
        ram: RamRule::CarvedFromRam,
        probe: Probe::Base,
    },
    Region {
        name: "aperture",
        base: 0x7c00_0000,
        size: 64 * MIB,
        kind: MemoryKind::CacheableDevice,
        write: true,
        ram: RamRule::CarvedFromRam,
        probe: Probe::Base,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_do_not_overlap_and_probes_lie_inside_them() {
        for (i, a) in QEMU_VIRT.iter().enumerate() {
            for b in &QEMU_VIRT[i + 1..] {
                assert!(
                    a.end() <= b.base || b.end() <= a.base,
                    "{} / {}",
                    a.name,
                    b.name
                );
            }
            if let Probe::At(p) = a.probe {
                assert!(a.contains(p), "{}", a.name);
            }
        }
    }

    #[test]
    fn only_ram_kinds_and_carve_outs_are_tied_to_the_dts_ram() {
        for r in QEMU_VIRT {
            let device_window = matches!(r.kind, MemoryKind::Device);
            assert_eq!(r.ram == RamRule::NotRam, device_window, "{}", r.name);
        }
    }
}
