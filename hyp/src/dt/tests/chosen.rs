//! /chosen: bootargs and the initrd range.

use super::builder::with_memory;
use super::{parse, parse_ok, QEMU_V3_SMP4_1G};
use crate::addr::PhysRange;
use crate::dt::DtError;

fn with_chosen(props: impl FnOnce(&mut super::builder::Dtb)) -> Vec<u8> {
    let mut d = with_memory();
    d.begin("chosen");
    props(&mut d);
    d.end().end();
    d.finish()
}

#[test]
fn bootargs_and_initrd_are_read() {
    let dtb = with_chosen(|d| {
        d.str("bootargs", "stile.selftest=panic")
            .cells("linux,initrd-start", &[0x4800_0000])
            .cells("linux,initrd-end", &[0, 0x4810_0000]);
    });
    let p = parse_ok(&dtb);
    assert_eq!(p.bootargs.as_str(), "stile.selftest=panic");
    assert_eq!(p.initrd, Some(PhysRange::new(0x4800_0000, 0x10_0000)));
}

#[test]
fn qemu_dump_without_append_has_no_bootargs_or_initrd() {
    let p = parse_ok(QEMU_V3_SMP4_1G);
    assert_eq!(p.bootargs.as_str(), "");
    assert_eq!(p.initrd, None);
}

#[test]
fn initrd_with_only_one_end_or_backwards_is_malformed() {
    let one = with_chosen(|d| {
        d.cells("linux,initrd-start", &[0x4800_0000]);
    });
    assert_eq!(parse(&one), Err(DtError::Malformed));
    let backwards = with_chosen(|d| {
        d.cells("linux,initrd-start", &[0x4900_0000])
            .cells("linux,initrd-end", &[0x4800_0000]);
    });
    assert_eq!(parse(&backwards), Err(DtError::Malformed));
    let odd = with_chosen(|d| {
        d.prop("linux,initrd-start", &[1, 2, 3])
            .cells("linux,initrd-end", &[0x4800_0000]);
    });
    assert_eq!(parse(&odd), Err(DtError::Malformed));
}

#[test]
fn overlong_bootargs_are_refused_not_cut() {
    let long = "x".repeat(crate::dt::MAX_BOOTARGS + 1);
    let dtb = with_chosen(|d| {
        d.str("bootargs", &long);
    });
    assert_eq!(parse(&dtb), Err(DtError::TooMany));
}

#[test]
fn bootargs_as_long_as_linux_allows_are_kept_whole() {
    // Linux arm64's COMMAND_LINE_SIZE is 2048; the old limit here was 256.
    let long = format!("console=ttyAMA0 {}", "y".repeat(2000));
    let dtb = with_chosen(|d| {
        d.str("bootargs", &long);
    });
    assert_eq!(parse_ok(&dtb).bootargs.as_str(), long);
}

#[test]
fn u_boots_memreserve_of_exactly_the_initrd_is_dropped_others_kept() {
    let mut d = with_memory();
    // As U-Boot's booti leaves it: the initrd reserved, plus an unrelated reservation.
    d.memreserve(0x4ffd_9000, 0x2_6040)
        .memreserve(0x4000_0000, 0x1000);
    d.begin("chosen")
        .cells("linux,initrd-start", &[0x4ffd_9000])
        .cells("linux,initrd-end", &[0x4fff_f040])
        .end()
        .end();
    let p = parse_ok(&d.finish());
    assert_eq!(p.initrd, Some(PhysRange::new(0x4ffd_9000, 0x2_6040)));
    let reserved: Vec<PhysRange> = p.reserved.iter().map(|r| r.range).collect();
    assert_eq!(reserved, [PhysRange::new(0x4000_0000, 0x1000)]);
}

#[test]
fn a_memreserve_only_overlapping_the_initrd_is_kept() {
    let mut d = with_memory();
    d.memreserve(0x4ffd_9000, 0x1000);
    d.begin("chosen")
        .cells("linux,initrd-start", &[0x4ffd_9000])
        .cells("linux,initrd-end", &[0x4fff_f040])
        .end()
        .end();
    let p = parse_ok(&d.finish());
    assert_eq!(p.reserved.len(), 1);
}

/// libfdt's path lookup (U-Boot writing the initrd, Linux's early boot reading bootargs)
/// takes the first node named "chosen" or "chosen@..."; the host DTB rewriter edits that one
/// too, so Stile must read the same node (found by the host_dtb fuzz target).
#[test]
fn the_first_chosen_with_or_without_unit_address_is_the_one_read() {
    let mut d = with_memory();
    d.begin("chosen@40000000")
        .str("bootargs", "first")
        .end()
        .begin("chosen")
        .str("bootargs", "second")
        .end()
        .end();
    assert_eq!(parse_ok(&d.finish()).bootargs.as_str(), "first");
}
