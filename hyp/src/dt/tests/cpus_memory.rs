//! Limits and edge cases of /memory, /memreserve/ and /cpus, on built trees.

use super::builder::{with_memory, Dtb};
use super::{parse, parse_ok};
use crate::addr::PhysRange;
use crate::dt::{DtError, EnableMethod, MAX_CPUS, MAX_RAM_RANGES, MAX_RESERVED};

fn cpus(d: &mut Dtb, ids: &[u32], extra: impl Fn(&mut Dtb)) {
    d.begin("cpus")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[0]);
    for id in ids {
        d.begin(&format!("cpu@{id:x}"))
            .str("device_type", "cpu")
            .cells("reg", &[*id]);
        extra(d);
        d.end();
    }
    d.end();
}

#[test]
fn more_memory_ranges_than_the_list_holds_is_too_many() {
    let mut d = with_memory();
    let reg: Vec<u32> = (0..MAX_RAM_RANGES as u32)
        .flat_map(|i| [0, 0x8000_0000 + i * 0x100_0000, 0, 0x10_0000])
        .collect();
    d.begin("memory@80000000")
        .str("device_type", "memory")
        .cells("reg", &reg)
        .end()
        .end();
    // 1 range in the first node + MAX_RAM_RANGES here.
    assert_eq!(parse(&d.finish()), Err(DtError::TooMany));
}

#[test]
fn more_reservations_than_the_list_holds_is_too_many() {
    let mut d = with_memory();
    for i in 0..=MAX_RESERVED as u64 {
        d.memreserve(0x4000_0000 + i * 0x1000, 0x1000);
    }
    d.end();
    assert_eq!(parse(&d.finish()), Err(DtError::TooMany));
}

#[test]
fn more_cpus_than_the_list_holds_is_too_many() {
    let mut d = with_memory();
    let ids: Vec<u32> = (0..=MAX_CPUS as u32).collect();
    cpus(&mut d, &ids, |_| {});
    d.end();
    assert_eq!(parse(&d.finish()), Err(DtError::TooMany));
}

#[test]
fn two_cpus_with_one_mpidr_are_malformed() {
    let mut d = with_memory();
    cpus(&mut d, &[1, 1], |_| {});
    d.end();
    assert_eq!(parse(&d.finish()), Err(DtError::Malformed));
}

#[test]
fn failed_cpus_are_dropped_disabled_ones_kept() {
    let mut d = with_memory();
    d.begin("cpus")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[0]);
    for (id, status) in [(0, "okay"), (1, "disabled"), (2, "fail")] {
        d.begin(&format!("cpu@{id}"))
            .str("device_type", "cpu")
            .cells("reg", &[id])
            .str("status", status)
            .end();
    }
    d.end().end();
    let ids: Vec<u64> = parse_ok(&d.finish()).cpus.iter().map(|c| c.mpidr).collect();
    assert_eq!(ids, [0, 1]);
}

#[test]
fn spin_table_without_release_address_cannot_be_started() {
    let mut d = with_memory();
    cpus(&mut d, &[0], |d| {
        d.str("enable-method", "spin-table");
    });
    d.end();
    assert_eq!(
        parse_ok(&d.finish()).cpus[0].enable_method,
        EnableMethod::None
    );
}

#[test]
fn one_cell_release_address_is_accepted() {
    let mut d = with_memory();
    cpus(&mut d, &[0], |d| {
        d.str("enable-method", "spin-table")
            .cells("cpu-release-addr", &[0x8000_fff8]);
    });
    d.end();
    let expected = EnableMethod::SpinTable {
        release_addr: 0x8000_fff8,
    };
    assert_eq!(parse_ok(&d.finish()).cpus[0].enable_method, expected);
}

#[test]
fn cpu_without_reg_is_malformed() {
    let mut d = with_memory();
    d.begin("cpus")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[0])
        .begin("cpu@0")
        .str("device_type", "cpu")
        .end()
        .end()
        .end();
    assert_eq!(parse(&d.finish()), Err(DtError::Malformed));
}

#[test]
fn memory_with_zero_cells_is_malformed_not_a_division_by_zero() {
    // The fdt crate's `Reg` would compute len % 0 here.
    let mut d = Dtb::new();
    d.begin("")
        .cells("#address-cells", &[0])
        .cells("#size-cells", &[0])
        .begin("memory@0")
        .str("device_type", "memory")
        .cells("reg", &[0, 0x1000])
        .end()
        .end();
    assert_eq!(parse(&d.finish()), Err(DtError::Malformed));
}

#[test]
fn reg_not_a_whole_number_of_entries_is_malformed() {
    let mut d = Dtb::new();
    d.begin("")
        .begin("memory@0")
        .str("device_type", "memory")
        // Defaults are 2 address + 1 size cells: 4 cells is not a whole entry.
        .cells("reg", &[0, 0x4000_0000, 0, 0x1000])
        .end()
        .end();
    assert_eq!(parse(&d.finish()), Err(DtError::Malformed));
}

#[test]
fn memory_wrapping_the_address_space_is_malformed() {
    let mut d = Dtb::new();
    d.begin("")
        .begin("memory@0")
        .str("device_type", "memory")
        .cells("reg", &[0xffff_ffff, 0xffff_f000, 0x2000])
        .end()
        .end();
    assert_eq!(parse(&d.finish()), Err(DtError::Malformed));
}

#[test]
fn empty_or_disabled_memory_nodes_are_not_ram() {
    let mut d = Dtb::new();
    d.begin("")
        .begin("memory@0")
        .str("device_type", "memory")
        .cells("reg", &[0, 0x4000_0000, 0])
        .end()
        .begin("memory@1")
        .str("device_type", "memory")
        .str("status", "disabled")
        .cells("reg", &[0, 0x8000_0000, 0x1000])
        .end()
        .end();
    assert_eq!(parse(&d.finish()), Err(DtError::NoMemory));
}

#[test]
fn memory_nodes_below_the_root_are_not_ram() {
    let mut d = Dtb::new();
    d.begin("")
        .begin("soc")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[1])
        .prop("ranges", &[])
        .begin("memory@0")
        .str("device_type", "memory")
        .cells("reg", &[0, 0x4000_0000, 0x1000])
        .end()
        .end()
        .end();
    assert_eq!(parse(&d.finish()), Err(DtError::NoMemory));
}

#[test]
fn default_cells_are_two_address_and_one_size() {
    let mut d = Dtb::new();
    d.begin("")
        .begin("memory@0")
        .str("device_type", "memory")
        .cells("reg", &[0x1, 0x0, 0x4000_0000])
        .end()
        .end();
    let p = parse_ok(&d.finish());
    assert_eq!(
        p.ram.as_slice(),
        &[PhysRange::new(0x1_0000_0000, 0x4000_0000)]
    );
}
