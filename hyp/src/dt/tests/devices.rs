//! The device-range walk on QEMU dumps: every device `reg`, PCIe's ECAM and windows (high
//! ones with highmem on), none of RAM.

use super::{parse_ok, QEMU_V2_SMP1_512M, QEMU_V3_SMP2_4G, QEMU_V3_SMP4_1G};
use crate::addr::{PhysAddr, PhysRange};
use crate::dt::devices::add_merging;
use crate::mm::ranges::{RangeSet, MAX_RANGES};

const QEMU_V3_SMP4_2G: &[u8] = include_bytes!("../../../testdata/qemu-virt-gicv3-smp4-2g.dtb");
const QEMU_V2_1G_HIGHMEM_OFF: &[u8] =
    include_bytes!("../../../testdata/qemu-virt-gicv2-smp1-1g-highmem-off.dtb");
const QEMU_V3_3G_HIGHMEM_OFF: &[u8] =
    include_bytes!("../../../testdata/qemu-virt-gicv3-smp4-3g-highmem-off.dtb");

fn covered(set: &RangeSet, addr: u64) -> bool {
    set.iter().any(|r| r.contains(PhysAddr(addr)))
}

const HIGH_ECAM: u64 = 0x40_1000_0000;
const HIGH_MMIO: u64 = 0x80_0000_0000;

#[test]
fn highmem_on_dumps_describe_the_high_pcie_ecam_and_64_bit_window() {
    for dtb in [
        QEMU_V3_SMP4_1G,
        QEMU_V3_SMP2_4G,
        QEMU_V3_SMP4_2G,
        QEMU_V2_SMP1_512M,
    ] {
        let d = parse_ok(dtb).devices;
        assert!(covered(&d, HIGH_ECAM), "{d:?}");
        assert!(covered(&d, HIGH_ECAM + 0xfff_ffff));
        assert!(covered(&d, HIGH_MMIO));
        assert!(covered(&d, HIGH_MMIO + 0x7f_ffff_ffff));
        assert!(!covered(&d, HIGH_MMIO + 0x80_0000_0000));
    }
}

#[test]
fn highmem_off_dumps_keep_pcie_below_4_gib() {
    for dtb in [QEMU_V2_1G_HIGHMEM_OFF, QEMU_V3_3G_HIGHMEM_OFF] {
        let d = parse_ok(dtb).devices;
        assert!(d.iter().all(|r| r.end() <= 1 << 32), "{d:?}");
        // Low ECAM (0x3f00_0000), 32-bit window, I/O window.
        for addr in [0x3f00_0000, 0x1000_0000, 0x3eff_0000] {
            assert!(covered(&d, addr), "{addr:#x} in {d:?}");
        }
    }
}

#[test]
fn the_walk_finds_uart_gic_virtio_flash_rtc_and_fw_cfg() {
    let d = parse_ok(QEMU_V3_SMP4_1G).devices;
    for addr in [
        0x0900_0000, // pl011
        0x0901_0000, // pl031 rtc
        0x0902_0000, // fw-cfg
        0x0800_0000, // GICD
        0x080a_0000, // GICR
        0x0a00_0000, // first virtio-mmio
        0x0a00_3e00, // last virtio-mmio
        0x0000_0000, // flash bank 0
        0x0400_0000, // flash bank 1
    ] {
        assert!(covered(&d, addr), "{addr:#x} in {d:?}");
    }
}

#[test]
fn no_device_range_touches_ram_or_cpu_or_reserved_nodes() {
    for dtb in [
        QEMU_V3_SMP4_1G,
        QEMU_V3_SMP2_4G,
        QEMU_V3_SMP4_2G,
        QEMU_V2_SMP1_512M,
    ] {
        let p = parse_ok(dtb);
        for ram in p.ram.iter() {
            assert!(p.devices.iter().all(|d| !d.overlaps(ram)), "{ram}");
        }
        // Nothing at 0 page of CPU MPIDRs etc.: devices are page aligned.
        assert!(p
            .devices
            .iter()
            .all(|r| r.base.0 % 0x1000 == 0 && r.size % 0x1000 == 0));
    }
}

#[test]
fn a_full_set_merges_the_closest_neighbours_instead_of_dropping_a_device() {
    let mut set = RangeSet::new();
    for i in 0..(MAX_RANGES as u64 + 10) {
        add_merging(&mut set, PhysRange::new(i * 0x10_0000, 0x1000));
    }
    assert!(set.len() <= MAX_RANGES);
    for i in 0..(MAX_RANGES as u64 + 10) {
        assert!(covered(&set, i * 0x10_0000), "{i}");
    }
}
