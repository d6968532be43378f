//! Boot-time validation: each rule with the exact reason, on hand-built machines and on the
//! QEMU DTB dumps in hyp/testdata.

use super::{qemu_virt, region, MIB};
use crate::addr::PhysRange;
use crate::config::{check_regions, Owner, Region, RegionCheck, DEVICE_OVERLAPS_RAM};
use crate::cpu_features::CpuFeatures;
use crate::dt::{Platform, Reserved, ReservedSource};
use crate::mm::kind::{MemoryKind, Perms};
use stile_abi::Reason;

const GIB: u64 = 1 << 30;
const RAM_BASE: u64 = 0x4000_0000;
/// Where the qemu-virt image is linked (board.ld), with room for a frame pool.
const HYP: PhysRange = PhysRange::new(0x4020_0000, 4 * MIB);
/// QEMU puts the DTB it generates at the start of RAM.
const DTB: PhysRange = PhysRange::new(RAM_BASE, 0x10_0000);

/// QEMU 7.2 `-cpu max`: FWB but no DIC.
const MAX_QEMU72: CpuFeatures = CpuFeatures {
    fwb: true,
    dic: false,
    pa_bits: 48,
    pa_range: 5,
    vmid_bits: 16,
    dcache_line: 64,
};
const WITH_DIC: CpuFeatures = CpuFeatures {
    dic: true,
    ..MAX_QEMU72
};
/// `-cpu cortex-a72`: neither, and 40 bits of PA.
const CORTEX_A72: CpuFeatures = CpuFeatures {
    fwb: false,
    dic: false,
    pa_bits: 40,
    pa_range: 2,
    ..MAX_QEMU72
};

const QEMU_1G: &[u8] = include_bytes!("../../../testdata/qemu-virt-gicv3-smp4-1g.dtb");
const QEMU_512M: &[u8] = include_bytes!("../../../testdata/qemu-virt-gicv2-smp1-512m.dtb");

fn machine(ram: &[(u64, u64)]) -> Platform {
    let mut p = Platform::default();
    for &(base, size) in ram {
        p.ram.push(PhysRange::new(base, size)).unwrap();
    }
    p
}

fn dump(dtb: &[u8]) -> Platform {
    Platform::from_dtb(dtb).unwrap()
}

fn reserve(p: &mut Platform, base: u64, size: u64) {
    p.reserved
        .push(Reserved {
            range: PhysRange::new(base, size),
            source: ReservedSource::ReservedMemoryNode,
            no_map: true,
        })
        .unwrap();
}

fn check(regions: &[Region], p: &Platform, cpu: &CpuFeatures) -> RegionCheck {
    check_regions(regions, p, cpu, &[HYP], DTB)
}

fn ranges_of(c: &RegionCheck, name: &str) -> Vec<(u64, u64)> {
    let a = c
        .accepted_named(name)
        .unwrap_or_else(|| panic!("{name} not accepted: {:?}", c.refusal_of(name)));
    a.ranges.iter().map(|r| (r.base.0, r.end())).collect()
}

fn device(name: &'static str, base: u64, size: u64) -> Region {
    region(name, base, size, MemoryKind::Device, Perms::RW)
}

fn carve_out(name: &'static str, base: u64, size: u64, kind: MemoryKind) -> Region {
    region(name, base, size, kind, Perms::RW)
}

fn host_ram(base: u64, size: u64) -> Region {
    region("host-ram", base, size, MemoryKind::Ram, Perms::RWX)
}

// --- The qemu-virt config on the QEMU dumps -------------------------------------------------

#[test]
fn qemu_virt_1g_on_qemu72_max_accepts_every_region() {
    let c = check(&qemu_virt(), &dump(QEMU_1G), &MAX_QEMU72);
    assert!(c.refused.is_empty(), "{:?}", c.refused);
    // The board's three, plus the DT's host RAM and devices.
    assert_eq!(c.accepted.len(), 5);
    assert_eq!(
        ranges_of(&c, "host-ram"),
        [(0x4010_0000, 0x4020_0000), (0x4060_0000, 0x7B00_0000)]
    );
    assert_eq!(ranges_of(&c, "aperture"), [(0x7C00_0000, 0x8000_0000)]);
    assert_eq!(ranges_of(&c, "fb-nc"), [(0x7B00_0000, 0x7C00_0000)]);
    let devices = ranges_of(&c, "dt-devices");
    assert!(
        devices.contains(&(0x40_1000_0000, 0x40_2000_0000)),
        "{devices:x?}"
    );
    assert!(devices.iter().all(|&(_, end)| end <= 0x100_0000_0000));
}

#[test]
fn qemu_virt_1g_on_qemu72_max_maps_the_aperture_without_exec() {
    let c = check(&qemu_virt(), &dump(QEMU_1G), &MAX_QEMU72);
    let aperture = c.accepted_named("aperture").unwrap();
    assert_eq!(aperture.exec_dropped, Some(Reason::NoDic));
    assert_eq!(aperture.perms, Perms::RW);
}

#[test]
fn qemu_virt_512m_refuses_aperture_and_fb_nc_outside_ram() {
    let c = check(&qemu_virt(), &dump(QEMU_512M), &MAX_QEMU72);
    assert_eq!(c.refusal_of("aperture"), Some(Reason::OutsideRam));
    assert_eq!(c.refusal_of("fb-nc"), Some(Reason::OutsideRam));
    assert_eq!(c.refused.len(), 2);
    assert_eq!(
        ranges_of(&c, "host-ram"),
        [(0x4010_0000, 0x4020_0000), (0x4060_0000, 0x6000_0000)]
    );
}

#[test]
fn qemu_virt_1g_on_cortex_a72_refuses_the_aperture_needs_fwb() {
    let c = check(&qemu_virt(), &dump(QEMU_1G), &CORTEX_A72);
    assert_eq!(c.refusal_of("aperture"), Some(Reason::NeedsFwb));
    assert_eq!(c.refused.len(), 1);
}

#[test]
fn refusal_prints_as_the_log_line_expects() {
    let c = check(&qemu_virt(), &dump(QEMU_512M), &MAX_QEMU72);
    let lines: Vec<String> = c.refused.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        lines,
        [
            "region 'fb-nc' refused (OUTSIDE_RAM)",
            "region 'aperture' refused (OUTSIDE_RAM)"
        ]
    );
}

// --- Host RAM: clipped, holes punched -------------------------------------------------------

#[test]
fn host_ram_is_clipped_to_dt_ram() {
    let p = machine(&[(RAM_BASE, 512 * MIB), (0x1_0000_0000, GIB)]);
    let c = check_regions(
        &[host_ram(0, 0x2_0000_0000)],
        &p,
        &WITH_DIC,
        &[],
        PhysRange::new(0x100, 0x100),
    );
    assert_eq!(
        ranges_of(&c, "host-ram"),
        [(0x4000_0000, 0x6000_0000), (0x1_0000_0000, 0x1_4000_0000)]
    );
}

#[test]
fn host_ram_has_holes_for_hyp_dtb_and_reserved_memory() {
    let mut p = machine(&[(RAM_BASE, GIB)]);
    reserve(&mut p, 0x5000_0000, MIB);
    let c = check(&[host_ram(RAM_BASE, GIB)], &p, &WITH_DIC);
    assert_eq!(
        ranges_of(&c, "host-ram"),
        [
            (0x4010_0000, 0x4020_0000),
            (0x4060_0000, 0x5000_0000),
            (0x5010_0000, 0x8000_0000)
        ]
    );
}

#[test]
fn host_ram_edges_around_an_unaligned_dtb_are_whole_pages() {
    let p = machine(&[(RAM_BASE, 16 * MIB)]);
    let dtb = PhysRange::new(0x4080_0008, 0x1_0000);
    let c = check_regions(&[host_ram(RAM_BASE, 16 * MIB)], &p, &WITH_DIC, &[], dtb);
    assert_eq!(
        ranges_of(&c, "host-ram"),
        [(0x4000_0000, 0x4080_0000), (0x4081_1000, 0x4100_0000)]
    );
}

#[test]
fn host_ram_is_refused_outside_ram_only_when_nothing_is_left() {
    let p = machine(&[(RAM_BASE, GIB)]);
    let c = check(&[host_ram(0x1_0000_0000, GIB)], &p, &WITH_DIC);
    assert_eq!(c.refusal_of("host-ram"), Some(Reason::OutsideRam));
    // Entirely taken by the hypervisor: nothing left either.
    let c = check(&[host_ram(HYP.base.0, HYP.size)], &p, &WITH_DIC);
    assert_eq!(c.refusal_of("host-ram"), Some(Reason::OutsideRam));
    // One page left is enough.
    let c = check(&[host_ram(HYP.base.0, HYP.size + 0x1000)], &p, &WITH_DIC);
    assert_eq!(ranges_of(&c, "host-ram"), [(HYP.end(), HYP.end() + 0x1000)]);
}

#[test]
fn host_ram_is_clipped_to_the_pa_range() {
    let p = machine(&[(RAM_BASE, GIB), (0xFF_C000_0000, 2 * GIB)]);
    let c = check(&[host_ram(RAM_BASE, 0x100_0000_0000)], &p, &CORTEX_A72);
    let ranges = ranges_of(&c, "host-ram");
    assert_eq!(ranges.last(), Some(&(0xFF_C000_0000, 0x100_0000_0000)));
}

#[test]
fn carve_outs_leave_host_ram_even_when_refused() {
    // Host RAM declared over all of RAM; the aperture at its top is refused (no FWB) but
    // must not become host RAM.
    let p = machine(&[(RAM_BASE, GIB)]);
    let regions = [
        host_ram(RAM_BASE, GIB),
        carve_out(
            "aperture",
            0x7C00_0000,
            64 * MIB,
            MemoryKind::CacheableDevice,
        ),
    ];
    let c = check(&regions, &p, &CORTEX_A72);
    assert_eq!(c.refusal_of("aperture"), Some(Reason::NeedsFwb));
    assert_eq!(
        ranges_of(&c, "host-ram").last().map(|r| r.1),
        Some(0x7C00_0000)
    );
}

#[test]
fn a_device_region_refused_in_ram_leaves_host_ram_too() {
    let p = machine(&[(RAM_BASE, GIB)]);
    let regions = [host_ram(RAM_BASE, GIB), device("oops", 0x7000_0000, MIB)];
    let c = check(&regions, &p, &WITH_DIC);
    assert_eq!(c.refusal_of("oops"), Some(DEVICE_OVERLAPS_RAM));
    assert!(c
        .accepted_named("host-ram")
        .unwrap()
        .ranges
        .iter()
        .all(|r| !r.overlaps(&PhysRange::new(0x7000_0000, MIB))));
}

#[test]
fn too_many_holes_drop_whole_pieces_never_keep_a_hole() {
    let p = machine(&[(RAM_BASE, GIB)]);
    // 80 one-page holes, 1 MiB apart: more pieces than a RangeSet holds.
    let holes: Vec<PhysRange> = (0..80)
        .map(|i| PhysRange::new(0x5000_0000 + i * MIB, 0x1000))
        .collect();
    let c = check_regions(&[host_ram(RAM_BASE, GIB)], &p, &WITH_DIC, &holes, DTB);
    let host = c.accepted_named("host-ram").unwrap();
    assert!(host.pieces_dropped);
    for hole in holes.iter().chain([&DTB]) {
        assert!(host.ranges.iter().all(|r| !r.overlaps(hole)), "{hole}");
    }
}

// --- Host RAM and devices from the DT, without a declared host-ram region ------------------

#[test]
fn without_a_host_ram_region_the_host_gets_all_dt_ram_around_the_holes() {
    let mut p = machine(&[(RAM_BASE, 2 * GIB), (0x1_0000_0000, GIB)]);
    reserve(&mut p, 0x5000_0000, MIB);
    // Reserved without no-map: the host's kernel maps it, so stage 2 must too.
    p.reserved
        .push(Reserved {
            range: PhysRange::new(0x6000_0000, MIB),
            source: ReservedSource::MemReserve,
            no_map: false,
        })
        .unwrap();
    let aperture = carve_out("aperture", 0x7C00_0000, 64 * MIB, MemoryKind::DeviceNc);
    let c = check(&[aperture], &p, &WITH_DIC);
    assert_eq!(
        ranges_of(&c, "host-ram"),
        [
            (0x4010_0000, 0x4020_0000),
            (0x4060_0000, 0x5000_0000),
            (0x5010_0000, 0x7C00_0000),
            (0x8000_0000, 0xC000_0000),
            (0x1_0000_0000, 0x1_4000_0000),
        ]
    );
}

#[test]
fn dt_devices_are_clipped_to_the_pa_range_and_lose_ram_hyp_and_regions() {
    let mut p = machine(&[(RAM_BASE, GIB)]);
    for (base, size) in [
        (0x0900_0000, 0x1000),
        (0x0, 0x800_0000),                // under a board region: the region wins
        (0x3F00_0000, 0x200_0000),        // straddles into RAM: RAM is cut out
        (0x80_0000_0000, 0x80_0000_0000), // the 64-bit PCIe window, past 40 bits
    ] {
        p.devices.add(PhysRange::new(base, size)).unwrap();
    }
    let flash = region("flash", 0, 0x800_0000, MemoryKind::Device, Perms::R);
    let c = check(&[flash], &p, &CORTEX_A72);
    assert_eq!(
        ranges_of(&c, "dt-devices"),
        [
            (0x0900_0000, 0x0900_1000),
            (0x3F00_0000, 0x4000_0000),
            (0x80_0000_0000, 0x100_0000_0000)
        ]
    );
    let c = check(&[flash], &p, &MAX_QEMU72);
    assert_eq!(
        ranges_of(&c, "dt-devices").last(),
        Some(&(0x80_0000_0000, 0x100_0000_0000))
    );
}

#[test]
fn no_dt_devices_means_no_device_row() {
    let c = check(&[], &machine(&[(RAM_BASE, GIB)]), &WITH_DIC);
    assert!(c.accepted_named("dt-devices").is_none());
    assert_eq!(c.accepted.len(), 1, "host RAM only");
}

// --- Every other region: taken whole or refused whole -------------------------------------

#[test]
fn region_beyond_the_pa_range_is_refused() {
    let p = machine(&[(RAM_BASE, GIB)]);
    let far = device("far-mmio", 0x100_0000_0000, MIB);
    let c = check(&[far], &p, &CORTEX_A72);
    assert_eq!(c.refusal_of("far-mmio"), Some(Reason::OutsidePaRange));
    // The same address fits 48 bits.
    assert!(check(&[far], &p, &WITH_DIC).refused.is_empty());
}

#[test]
fn region_ending_exactly_at_the_pa_limit_fits() {
    let p = machine(&[(RAM_BASE, GIB)]);
    let top = device("top", 0xFF_FFF0_0000, MIB);
    assert!(check(&[top], &p, &CORTEX_A72).refused.is_empty());
}

#[test]
fn pa_range_is_checked_before_anything_else() {
    let p = machine(&[(RAM_BASE, GIB)]);
    let region = carve_out("gpu", 0x100_0000_0000, GIB, MemoryKind::CacheableDevice);
    let c = check(&[region], &p, &CORTEX_A72);
    assert_eq!(c.refusal_of("gpu"), Some(Reason::OutsidePaRange));
}

#[test]
fn carve_out_straddling_the_end_of_ram_is_refused_outside_ram() {
    let p = machine(&[(RAM_BASE, GIB)]);
    let fb = carve_out("fb-nc", 0x7F00_0000, 32 * MIB, MemoryKind::DeviceNc);
    assert_eq!(
        check(&[fb], &p, &WITH_DIC).refusal_of("fb-nc"),
        Some(Reason::OutsideRam)
    );
}

#[test]
fn carve_out_across_two_touching_dt_ranges_is_inside_ram() {
    let p = machine(&[(RAM_BASE, 512 * MIB), (0x6000_0000, 512 * MIB)]);
    let fb = carve_out("fb-nc", 0x5F00_0000, 32 * MIB, MemoryKind::DeviceNc);
    assert!(check(&[fb], &p, &WITH_DIC).refused.is_empty());
}

#[test]
fn guest_pool_ram_must_lie_inside_ram() {
    let p = machine(&[(RAM_BASE, 512 * MIB)]);
    let pool = Region {
        owner: Owner::GuestPool,
        assignable: true,
        ..region("pool", 0x7000_0000, 64 * MIB, MemoryKind::Ram, Perms::RWX)
    };
    assert_eq!(
        check(&[pool], &p, &WITH_DIC).refusal_of("pool"),
        Some(Reason::OutsideRam)
    );
    let inside = Region {
        range: PhysRange::new(0x5000_0000, 64 * MIB),
        ..pool
    };
    let c = check(&[inside], &p, &WITH_DIC);
    assert_eq!(ranges_of(&c, "pool"), [(0x5000_0000, 0x5400_0000)]);
}

#[test]
fn device_region_overlapping_ram_is_refused() {
    let p = machine(&[(RAM_BASE, GIB)]);
    let straddling = device("mmio", 0x3F00_0000, 32 * MIB);
    assert_eq!(
        check(&[straddling], &p, &WITH_DIC).refusal_of("mmio"),
        Some(DEVICE_OVERLAPS_RAM)
    );
}

#[test]
fn device_region_outside_ram_is_accepted() {
    let p = machine(&[(RAM_BASE, GIB)]);
    let uart = device("uart", 0x0900_0000, 0x1000);
    let c = check(&[uart], &p, &CORTEX_A72);
    assert_eq!(ranges_of(&c, "uart"), [(0x0900_0000, 0x0900_1000)]);
    assert_eq!(c.accepted_named("uart").unwrap().perms, Perms::RW);
}

#[test]
fn region_over_hypervisor_memory_is_refused() {
    let p = machine(&[(RAM_BASE, GIB)]);
    let fb = carve_out("fb-nc", HYP.base.0 + MIB, MIB, MemoryKind::DeviceNc);
    assert_eq!(
        check(&[fb], &p, &WITH_DIC).refusal_of("fb-nc"),
        Some(Reason::HypMemory)
    );
}

#[test]
fn region_over_the_dtb_is_refused() {
    let p = machine(&[(RAM_BASE, GIB)]);
    let fb = carve_out("fb-nc", RAM_BASE, MIB, MemoryKind::DeviceNc);
    assert_eq!(
        check(&[fb], &p, &WITH_DIC).refusal_of("fb-nc"),
        Some(Reason::CollidesWithDtb)
    );
}

#[test]
fn region_over_dt_reserved_memory_is_refused() {
    let mut p = machine(&[(RAM_BASE, GIB)]);
    reserve(&mut p, 0x7C00_0000, 0x1000);
    let aperture = carve_out(
        "aperture",
        0x7C00_0000,
        64 * MIB,
        MemoryKind::CacheableDevice,
    );
    assert_eq!(
        check(&[aperture], &p, &WITH_DIC).refusal_of("aperture"),
        Some(Reason::CollidesWithReserved)
    );
}

#[test]
fn cacheable_device_is_refused_without_fwb() {
    let p = machine(&[(RAM_BASE, GIB)]);
    let aperture = carve_out(
        "aperture",
        0x7C00_0000,
        64 * MIB,
        MemoryKind::CacheableDevice,
    );
    let no_fwb = CpuFeatures {
        fwb: false,
        ..WITH_DIC
    };
    assert_eq!(
        check(&[aperture], &p, &no_fwb).refusal_of("aperture"),
        Some(Reason::NeedsFwb)
    );
}

#[test]
fn executable_cacheable_device_without_dic_is_accepted_without_exec() {
    let p = machine(&[(RAM_BASE, GIB)]);
    let aperture = region(
        "aperture",
        0x7C00_0000,
        64 * MIB,
        MemoryKind::CacheableDevice,
        Perms::RWX,
    );
    let c = check(&[aperture], &p, &MAX_QEMU72);
    let a = c.accepted_named("aperture").unwrap();
    assert_eq!((a.perms, a.exec_dropped), (Perms::RW, Some(Reason::NoDic)));
    // With DIC it keeps exec.
    let c = check(&[aperture], &p, &WITH_DIC);
    let a = c.accepted_named("aperture").unwrap();
    assert_eq!((a.perms, a.exec_dropped), (Perms::RWX, None));
}

#[test]
fn non_executable_cacheable_device_without_dic_has_nothing_dropped() {
    let p = machine(&[(RAM_BASE, GIB)]);
    let aperture = carve_out(
        "aperture",
        0x7C00_0000,
        64 * MIB,
        MemoryKind::CacheableDevice,
    );
    let c = check(&[aperture], &p, &MAX_QEMU72);
    assert_eq!(c.accepted_named("aperture").unwrap().exec_dropped, None);
}

#[test]
fn executable_device_slipping_past_the_build_is_mapped_without_exec() {
    let p = machine(&[(RAM_BASE, GIB)]);
    let uart = region("uart", 0x0900_0000, 0x1000, MemoryKind::Device, Perms::RWX);
    let c = check(&[uart], &p, &WITH_DIC);
    assert_eq!(c.accepted_named("uart").unwrap().perms, Perms::RW);
}

#[test]
fn regions_past_max_regions_are_skipped_but_still_kept_out_of_host_ram() {
    let p = machine(&[(RAM_BASE, GIB)]);
    let mut regions: Vec<Region> = (0..crate::config::MAX_REGIONS as u64)
        .map(|i| device("mmio", 0x1000_0000 + i * MIB, MIB))
        .collect();
    regions.insert(0, host_ram(RAM_BASE, GIB));
    let extra = carve_out("extra", 0x7000_0000, MIB, MemoryKind::DeviceNc);
    regions.push(extra);
    let c = check(&regions, &p, &WITH_DIC);
    assert_eq!(
        c.accepted.len() + c.refused.len(),
        crate::config::MAX_REGIONS
    );
    assert!(c.accepted_named("extra").is_none());
    assert!(c
        .accepted_named("host-ram")
        .unwrap()
        .ranges
        .iter()
        .all(|r| !r.overlaps(&extra.range)));
}
