//! The qemu-virt board's regions: valid, as the issue describes them, and what the boot-time
//! check makes of them on the QEMU DTB dumps in hyp/testdata.

#![cfg(feature = "qemu-virt")]

use stile_abi::Reason;
use stile_hyp::addr::PhysRange;
use stile_hyp::config::{check_regions, validate, Owner, RegionCheck};
use stile_hyp::cpu_features::CpuFeatures;
use stile_hyp::dt::Platform;
use stile_hyp::mm::kind::{MemoryKind, Perms};
use stile_platform::{BOARD, REGIONS};

const MIB: u64 = 1 << 20;

/// QEMU 7.2 `-cpu max`: FEAT_S2FWB, no CTR_EL0.DIC.
const QEMU72_MAX: CpuFeatures = CpuFeatures {
    fwb: true,
    dic: false,
    pa_bits: 48,
    pa_range: 5,
    vmid_bits: 16,
    dcache_line: 64,
};

fn boot(dtb: &[u8], cpu: &CpuFeatures) -> RegionCheck {
    let platform = Platform::from_dtb(dtb).unwrap();
    // The image where board.ld links it, plus a frame pool; the DTB where QEMU 7.2 puts it
    // for `-kernel` (the boot log says `dtb 0x48000000 (1048576 bytes)`).
    let hyp = [PhysRange::new(0x4020_0000, 8 * MIB)];
    check_regions(
        REGIONS,
        &platform,
        cpu,
        &hyp,
        PhysRange::new(0x4800_0000, MIB),
    )
}

#[test]
fn regions_pass_the_build_time_checks() {
    assert_eq!(validate(REGIONS), Ok(()));
}

#[test]
fn board_keeps_its_name_and_console() {
    assert_eq!(BOARD.name, "qemu-virt");
    assert_eq!(
        BOARD.default_console.regs,
        PhysRange::new(0x0900_0000, 0x1000)
    );
}

#[test]
fn regions_are_the_documented_qemu_virt_map() {
    let summary: Vec<_> = REGIONS
        .iter()
        .map(|r| {
            (
                r.name,
                r.range.base.0,
                r.range.end(),
                r.kind,
                r.perms,
                r.owner,
                r.assignable,
            )
        })
        .collect();
    use MemoryKind::*;
    let host = Owner::Host;
    assert_eq!(
        summary,
        [
            ("flash", 0, 0x0800_0000, Device, Perms::R, host, false),
            (
                "fb-nc",
                0x7B00_0000,
                0x7C00_0000,
                DeviceNc,
                Perms::RW,
                host,
                true
            ),
            (
                "aperture",
                0x7C00_0000,
                0x8000_0000,
                CacheableDevice,
                Perms::RWX,
                host,
                true
            ),
        ]
    );
}

#[test]
fn with_1g_on_qemu72_max_every_region_is_accepted_and_the_aperture_loses_exec() {
    let c = boot(
        include_bytes!("../../hyp/testdata/qemu-virt-gicv3-smp4-1g.dtb"),
        &QEMU72_MAX,
    );
    assert!(c.refused.is_empty(), "{:?}", c.refused);
    let aperture = c.accepted_named("aperture").unwrap();
    assert_eq!(aperture.exec_dropped, Some(Reason::NoDic));
    let host: Vec<_> = c
        .accepted_named("host-ram")
        .unwrap()
        .ranges
        .iter()
        .copied()
        .collect();
    let span = |start: u64, end: u64| PhysRange::new(start, end - start);
    assert_eq!(
        host,
        [
            span(0x4000_0000, 0x4020_0000),
            span(0x40A0_0000, 0x4800_0000),
            span(0x4810_0000, 0x7B00_0000)
        ]
    );
}

#[test]
fn with_512m_the_carve_outs_are_refused_outside_ram() {
    let c = boot(
        include_bytes!("../../hyp/testdata/qemu-virt-gicv2-smp1-512m.dtb"),
        &QEMU72_MAX,
    );
    assert_eq!(c.refusal_of("fb-nc"), Some(Reason::OutsideRam));
    assert_eq!(c.refusal_of("aperture"), Some(Reason::OutsideRam));
    // flash, and the two DT rows: host RAM and devices.
    assert_eq!(c.accepted.len(), 3);
}

#[test]
fn with_4g_host_ram_is_all_dt_ram_around_the_carve_outs() {
    let c = boot(
        include_bytes!("../../hyp/testdata/qemu-virt-gicv3-smp2-4g.dtb"),
        &QEMU72_MAX,
    );
    assert!(c.refused.is_empty());
    let host = c.accepted_named("host-ram").unwrap();
    let host: Vec<_> = host.ranges.iter().map(|r| (r.base.0, r.end())).collect();
    assert_eq!(host.first(), Some(&(0x4000_0000, 0x4020_0000)));
    assert!(host.contains(&(0x4810_0000, 0x7B00_0000)), "{host:x?}");
    assert_eq!(host.last(), Some(&(0x8000_0000, 0x1_4000_0000)));
}

#[test]
fn the_host_gets_the_high_pcie_windows_as_devices_and_flash_read_only() {
    let c = boot(
        include_bytes!("../../hyp/testdata/qemu-virt-gicv3-smp4-2g.dtb"),
        &QEMU72_MAX,
    );
    let devices = c.accepted_named("dt-devices").unwrap();
    let has = |a: u64| devices.ranges.iter().any(|r| r.base.0 <= a && a < r.end());
    assert!(has(0x40_1000_0000) && has(0x80_0000_0000) && has(0x0900_0000));
    assert!(
        !has(0),
        "flash is the board's read-only region, not a DT device"
    );
    assert_eq!(c.accepted_named("flash").unwrap().perms, Perms::R);
}

#[test]
fn without_fwb_the_aperture_is_refused_needs_fwb() {
    let cortex_a72 = CpuFeatures {
        fwb: false,
        pa_bits: 40,
        pa_range: 2,
        ..QEMU72_MAX
    };
    let c = boot(
        include_bytes!("../../hyp/testdata/qemu-virt-gicv3-smp4-1g.dtb"),
        &cortex_a72,
    );
    assert_eq!(c.refusal_of("aperture"), Some(Reason::NeedsFwb));
    assert_eq!(c.refused.len(), 1);
}
