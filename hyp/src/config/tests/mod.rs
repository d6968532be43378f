//! Tests for the board config, one file per job of the code under test.

use crate::addr::PhysRange;
use crate::config::{Owner, Region};
use crate::mm::kind::{MemoryKind, Perms};

mod boot_check;
mod host_ram;
mod static_check;
mod table;

const MIB: u64 = 1 << 20;

/// A host-owned, non-assignable region; tests change what they are about.
fn region(name: &'static str, base: u64, size: u64, kind: MemoryKind, perms: Perms) -> Region {
    Region {
        name,
        range: PhysRange::new(base, size),
        kind,
        perms,
        owner: Owner::Host,
        assignable: false,
    }
}

/// The qemu-virt config (platform/qemu-virt/regions.toml) as the hypervisor sees it.
pub(crate) fn qemu_virt() -> [Region; 3] {
    [
        region("flash", 0, 0x0800_0000, MemoryKind::Device, Perms::R),
        Region {
            assignable: true,
            ..region(
                "fb-nc",
                0x7B00_0000,
                16 * MIB,
                MemoryKind::DeviceNc,
                Perms::RW,
            )
        },
        Region {
            assignable: true,
            ..region(
                "aperture",
                0x7C00_0000,
                64 * MIB,
                MemoryKind::CacheableDevice,
                Perms::RWX,
            )
        },
    ]
}
