//! The boot report's region table.

use super::{qemu_virt, MIB};
use crate::addr::PhysRange;
use crate::config::{check_regions, region_table, RegionCheck};
use crate::cpu_features::CpuFeatures;
use crate::dt::Platform;
use crate::mm::kind::MemoryKind;

/// Stand-in for mm::s2_attrs::describe: the table only passes the text through.
fn describe(kind: MemoryKind) -> &'static str {
    match kind {
        MemoryKind::Ram => "attr-ram",
        MemoryKind::Device => "attr-device",
        MemoryKind::DeviceNc => "attr-nc",
        MemoryKind::CacheableDevice => "attr-cacheable-device",
    }
}

fn qemu_check(ram_size: u64) -> RegionCheck {
    let mut p = Platform::default();
    p.ram.push(PhysRange::new(0x4000_0000, ram_size)).unwrap();
    // Two DT devices: a UART, and one under the read-only flash region (which wins).
    p.devices.add(PhysRange::new(0x0900_0000, 0x1000)).unwrap();
    p.devices.add(PhysRange::new(0x0400_0000, 0x1000)).unwrap();
    let cpu = CpuFeatures {
        fwb: true,
        dic: false,
        pa_bits: 48,
        pa_range: 5,
        vmid_bits: 16,
        dcache_line: 64,
    };
    let hyp = [PhysRange::new(0x4020_0000, 4 * MIB)];
    check_regions(
        &qemu_virt(),
        &p,
        &cpu,
        &hyp,
        PhysRange::new(0x4000_0000, MIB),
    )
}

fn table(check: &RegionCheck) -> Vec<String> {
    region_table(check, describe)
        .map(|l| l.to_string())
        .collect()
}

#[test]
fn one_line_per_region_with_ranges_kind_perms_and_memory_type() {
    assert_eq!(
        table(&qemu_check(1 << 30)),
        [
            "host-ram    ram               rwx  attr-ram              [0x40100000..0x40200000) [0x40600000..0x7b000000)",
            "dt-devices  device            rw-  attr-device           [0x9000000..0x9001000)",
            "flash       device            r--  attr-device           [0x0..0x8000000)",
            "fb-nc       device-nc         rw-  attr-nc               [0x7b000000..0x7c000000)",
            "aperture    cacheable-device  rw-  attr-cacheable-device [0x7c000000..0x80000000) exec dropped (NO_DIC)",
        ]
    );
}

#[test]
fn refused_regions_come_last_with_their_reason_and_declared_range() {
    let lines = table(&qemu_check(512 << 20));
    assert_eq!(lines.len(), 5);
    assert_eq!(
        lines[3],
        "fb-nc       device-nc         rw-  refused (OUTSIDE_RAM) [0x7b000000..0x7c000000)"
    );
    assert_eq!(
        lines[4],
        "aperture    cacheable-device  rwx  refused (OUTSIDE_RAM) [0x7c000000..0x80000000)"
    );
}

#[test]
fn empty_check_gives_an_empty_table() {
    assert_eq!(table(&RegionCheck::default()).len(), 0);
}
