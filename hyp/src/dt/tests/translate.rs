//! `reg` through nested buses' `ranges`, checked on the console's address.

use super::builder::{with_memory, Dtb};
use super::parse_ok;
use crate::addr::PhysRange;

/// /bus@0 (2-cell parent, 1-cell child) holding /bus@0/sub@0 (1-cell both) holding the UART.
fn nested(outer_ranges: &[u32], inner_ranges: &[u32], uart_reg: u32) -> Vec<u8> {
    let mut d: Dtb = with_memory();
    d.begin("chosen")
        .str("stdout-path", "/bus@0/sub@0/uart")
        .end();
    d.begin("bus@0")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[1])
        .cells("ranges", outer_ranges)
        .begin("sub@0")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[1])
        .cells("ranges", inner_ranges)
        .begin("uart")
        .str("compatible", "ns16550a")
        .cells("reg", &[uart_reg, 0x100])
        .end()
        .end()
        .end()
        .end();
    d.finish()
}

#[test]
fn nested_bus_ranges_translate_step_by_step() {
    // Outer: child 0x1000_0000.. -> CPU 0x1_2000_0000 (second entry). Inner: child 0 ->
    // outer 0x1000_0000. UART at inner 0x500 -> outer 0x1000_0500 -> CPU 0x1_2000_0500.
    let outer = [
        0x0,
        0x0,
        0x0,
        0x1000,
        0x1000_0000,
        0x1,
        0x2000_0000,
        0x1000_0000,
    ];
    let inner = [0x0, 0x1000_0000, 0x10_0000];
    let console = parse_ok(&nested(&outer, &inner, 0x500)).console.unwrap();
    assert_eq!(console.regs, PhysRange::new(0x1_2000_0500, 0x100));
}

#[test]
fn empty_ranges_is_the_identity() {
    let console = parse_ok(&nested(&[], &[], 0x9000_0000)).console.unwrap();
    assert_eq!(console.regs.base.as_u64(), 0x9000_0000);
}

#[test]
fn address_outside_every_range_has_no_cpu_address() {
    let inner = [0x0, 0x1000_0000, 0x1000];
    assert_eq!(parse_ok(&nested(&[], &inner, 0x2000)).console, None);
}
