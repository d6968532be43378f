//! GIC and timer decoding beyond what the fixtures show.

use super::builder::{with_memory, Dtb};
use super::{parse, parse_ok};
use crate::addr::PhysRange;
use crate::dt::{DtError, Gic, Timer, MAX_GICR_RANGES};

const PHANDLE: u32 = 1;

/// A GICv3 at the root with `reg` given as (base, size) pairs.
fn gicv3(d: &mut Dtb, regions: Option<u32>, reg: &[(u32, u32)], interrupt_cells: u32) {
    let reg: Vec<u32> = reg.iter().flat_map(|&(b, s)| [0, b, 0, s]).collect();
    d.begin("interrupt-controller@8000000")
        .str("compatible", "arm,gic-v3")
        .cells("#interrupt-cells", &[interrupt_cells])
        .cells("phandle", &[PHANDLE])
        .cells("reg", &reg);
    if let Some(n) = regions {
        d.cells("#redistributor-regions", &[n]);
    }
    d.end();
}

fn timer(d: &mut Dtb, specs: &[u32], parent: Option<u32>) {
    d.begin("timer")
        .str("compatible", "arm,armv8-timer")
        .cells("interrupts", specs);
    if let Some(p) = parent {
        d.cells("interrupt-parent", &[p]);
    }
    d.end();
}

const PPIS_3_CELLS: [u32; 12] = [1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4];
const QEMU_TIMER: Timer = Timer {
    secure_phys: 29,
    nonsecure_phys: 30,
    virt: 27,
    hyp_phys: 26,
};

#[test]
fn gicv3_redistributor_regions_bound_the_gicr_list() {
    // GICD, two GICR regions, then GICC/GICH/GICV which are not redistributors.
    let reg = [
        (0x0800_0000, 0x1_0000),
        (0x080a_0000, 0x10_0000),
        (0x0900_0000, 0x10_0000),
        (0x0c00_0000, 0x2000),
        (0x0c01_0000, 0x2000),
        (0x0c02_0000, 0x2000),
    ];
    let mut d = with_memory();
    gicv3(&mut d, Some(2), &reg, 3);
    d.end();
    let Some(Gic::V3 { gicd, gicr }) = parse_ok(&d.finish()).gic else {
        panic!("expected a GICv3");
    };
    assert_eq!(gicd, PhysRange::new(0x0800_0000, 0x1_0000));
    let expected = [
        PhysRange::new(0x080a_0000, 0x10_0000),
        PhysRange::new(0x0900_0000, 0x10_0000),
    ];
    assert_eq!(gicr.as_slice(), &expected);
}

#[test]
fn gicv3_without_redistributor_regions_has_one_gicr() {
    let mut d = with_memory();
    gicv3(
        &mut d,
        None,
        &[
            (0x0800_0000, 0x1_0000),
            (0x080a_0000, 0x10_0000),
            (0x0c00_0000, 0x2000),
        ],
        3,
    );
    d.end();
    let Some(Gic::V3 { gicr, .. }) = parse_ok(&d.finish()).gic else {
        panic!("expected a GICv3");
    };
    assert_eq!(gicr.as_slice(), &[PhysRange::new(0x080a_0000, 0x10_0000)]);
}

#[test]
fn gicv3_with_more_redistributor_regions_than_supported_is_too_many() {
    let n = MAX_GICR_RANGES as u32 + 1;
    let reg: Vec<(u32, u32)> = (0..=n)
        .map(|i| (0x0800_0000 + i * 0x10_0000, 0x1000))
        .collect();
    let mut d = with_memory();
    gicv3(&mut d, Some(n), &reg, 3);
    d.end();
    assert_eq!(parse(&d.finish()), Err(DtError::TooMany));
}

#[test]
fn gicv3_listing_fewer_regions_than_it_declares_is_malformed() {
    let mut d = with_memory();
    gicv3(
        &mut d,
        Some(3),
        &[(0x0800_0000, 0x1_0000), (0x080a_0000, 0x10_0000)],
        3,
    );
    d.end();
    assert_eq!(parse(&d.finish()), Err(DtError::Malformed));
}

#[test]
fn gicv2_without_gicc_is_malformed() {
    let mut d = with_memory();
    d.begin("interrupt-controller@8000000")
        .str("compatible", "arm,gic-400")
        .cells("reg", &[0, 0x0800_0000, 0, 0x1000])
        .end()
        .end();
    assert_eq!(parse(&d.finish()), Err(DtError::Malformed));
}

#[test]
fn disabled_gic_is_not_reported() {
    let mut d = with_memory();
    d.begin("interrupt-controller@8000000")
        .str("compatible", "arm,gic-400")
        .str("status", "disabled")
        .cells(
            "reg",
            &[0, 0x0800_0000, 0, 0x1000, 0, 0x0801_0000, 0, 0x2000],
        )
        .end()
        .end();
    assert_eq!(parse_ok(&d.finish()).gic, None);
}

#[test]
fn timer_before_the_gic_in_the_blob_still_gets_intids() {
    // interrupt-parent inherited from the root, as QEMU and most boards do it.
    let mut d = Dtb::new();
    d.begin("")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2])
        .cells("interrupt-parent", &[PHANDLE])
        .begin("memory@40000000")
        .str("device_type", "memory")
        .cells("reg", &[0, 0x4000_0000, 0, 0x1000_0000])
        .end();
    timer(&mut d, &PPIS_3_CELLS, None);
    gicv3(
        &mut d,
        None,
        &[(0x0800_0000, 0x1_0000), (0x080a_0000, 0x10_0000)],
        3,
    );
    d.end();
    assert_eq!(parse_ok(&d.finish()).timer, Some(QEMU_TIMER));
}

#[test]
fn timer_specifiers_follow_the_gics_interrupt_cells() {
    // GICv3 with PPI partitions: a fourth cell per specifier.
    let specs = [1, 13, 4, 0, 1, 14, 4, 0, 1, 11, 4, 0, 1, 10, 4, 0];
    let mut d = with_memory();
    gicv3(
        &mut d,
        None,
        &[(0x0800_0000, 0x1_0000), (0x080a_0000, 0x10_0000)],
        4,
    );
    timer(&mut d, &specs, Some(PHANDLE));
    d.end();
    assert_eq!(parse_ok(&d.finish()).timer, Some(QEMU_TIMER));
}

#[test]
fn extended_ppis_start_at_intid_1056() {
    let specs = [3, 0, 4, 3, 1, 4, 3, 2, 4, 3, 63, 4];
    let mut d = with_memory();
    gicv3(
        &mut d,
        None,
        &[(0x0800_0000, 0x1_0000), (0x080a_0000, 0x10_0000)],
        3,
    );
    timer(&mut d, &specs, Some(PHANDLE));
    d.end();
    let expected = Timer {
        secure_phys: 1056,
        nonsecure_phys: 1057,
        virt: 1058,
        hyp_phys: 1119,
    };
    assert_eq!(parse_ok(&d.finish()).timer, Some(expected));
}

#[test]
fn timer_wired_to_another_controller_has_no_gic_intids() {
    let mut d = with_memory();
    gicv3(
        &mut d,
        None,
        &[(0x0800_0000, 0x1_0000), (0x080a_0000, 0x10_0000)],
        3,
    );
    timer(&mut d, &PPIS_3_CELLS, Some(PHANDLE + 1));
    d.end();
    assert_eq!(parse_ok(&d.finish()).timer, None);
}

#[test]
fn timer_with_spis_or_too_few_specifiers_is_malformed() {
    let spi = [0, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4];
    let short = [1, 13, 4, 1, 14, 4, 1, 11, 4];
    let ppi_out_of_range = [1, 16, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4];
    for specs in [
        &spi[..],
        &short[..],
        &ppi_out_of_range[..],
        &PPIS_3_CELLS[..11],
    ] {
        let mut d = with_memory();
        gicv3(
            &mut d,
            None,
            &[(0x0800_0000, 0x1_0000), (0x080a_0000, 0x10_0000)],
            3,
        );
        timer(&mut d, specs, Some(PHANDLE));
        d.end();
        assert_eq!(parse(&d.finish()), Err(DtError::Malformed), "{specs:?}");
    }
}
