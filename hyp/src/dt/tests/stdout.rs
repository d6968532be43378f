//! stdout-path: splitting off options, reading the baud rate, resolving aliases and paths.

use super::builder::with_memory;
use super::{parse_ok, BOARD_16550, QEMU_V3_SMP4_1G};
use crate::dt::node::{base_name, Node};
use crate::dt::stdout_path::{baud, resolve, split, StdoutPath};
use crate::dt::uart;
use crate::dt::{NoConsole, UartKind};
use fdt::nodes::AsNode;
use fdt::Fdt;

fn root(dtb: &[u8]) -> Node<'_> {
    Fdt::new_unaligned_fallible(dtb)
        .unwrap()
        .root()
        .unwrap()
        .as_node()
}

/// The full name ("serial@2000000") of the node `value` resolves to, if any.
fn resolves_to(dtb: &[u8], value: &str) -> Option<String> {
    let chain = resolve(root(dtb), split(value).path).unwrap()?;
    let name = chain.last().unwrap().name().unwrap();
    Some(name.to_string())
}

#[test]
fn options_after_the_first_colon_are_split_off() {
    let s = split("serial0:115200n8");
    assert_eq!(
        s,
        StdoutPath {
            path: "serial0",
            options: Some("115200n8")
        }
    );
    assert_eq!(split("/pl011@9000000").options, None);
    assert_eq!(split("/soc/uart@0:9600:extra").options, Some("9600:extra"));
}

#[test]
fn baud_is_the_leading_number_of_the_options() {
    assert_eq!(baud("115200n8"), Some(115_200));
    assert_eq!(baud("9600"), Some(9600));
    assert_eq!(baud("n8"), None);
    assert_eq!(baud(""), None);
    assert_eq!(baud("0n8"), None);
    assert_eq!(baud("99999999999n8"), None, "does not fit a u32");
}

#[test]
fn alias_with_options_resolves_through_aliases() {
    let found = resolves_to(BOARD_16550, "serial0:115200n8");
    assert_eq!(found.as_deref(), Some("serial@2000000"));
}

#[test]
fn absolute_path_without_options_resolves_directly() {
    let found = resolves_to(QEMU_V3_SMP4_1G, "/pl011@9000000");
    assert_eq!(found.as_deref(), Some("pl011@9000000"));
}

#[test]
fn path_components_may_omit_the_unit_address() {
    assert_eq!(
        resolves_to(BOARD_16550, "/soc/serial@2001000").as_deref(),
        Some("serial@2001000")
    );
    // Without a unit address, the first node of that name.
    assert_eq!(
        resolves_to(BOARD_16550, "/soc@f0000000/serial").as_deref(),
        Some("serial@2000000")
    );
}

#[test]
fn unknown_alias_or_path_resolves_to_nothing() {
    for value in [
        "serial9:115200n8",
        "/nosuch",
        "/soc/nosuch@0",
        "",
        ":115200",
        "serial0/x",
    ] {
        assert_eq!(resolves_to(BOARD_16550, value), None, "{value:?}");
    }
    // QEMU virt has no /aliases at all.
    assert_eq!(resolves_to(QEMU_V3_SMP4_1G, "serial0"), None);
}

#[test]
fn stdout_naming_a_non_uart_gives_no_console() {
    let chain = resolve(root(BOARD_16550), "/soc/interrupt-controller")
        .unwrap()
        .unwrap();
    assert_eq!(base_name(chain.last().unwrap()), Ok("interrupt-controller"));
    assert_eq!(uart::decode(&chain, None), Ok(Err(NoConsole::NoDriver)));
}

#[test]
fn stdout_path_wins_over_legacy_linux_stdout_path() {
    let mut d = with_memory();
    d.begin("chosen")
        .str("stdout-path", "/uart@1000:38400")
        .str("linux,stdout-path", "/uart@2000")
        .end();
    for at in [0x1000u32, 0x2000] {
        d.begin(&format!("uart@{at:x}"))
            .str("compatible", "ns16550a")
            .cells("reg", &[0, at, 0, 0x100])
            .end();
    }
    d.end();
    let console = parse_ok(&d.finish()).console.unwrap();
    assert_eq!(console.regs.base.as_u64(), 0x1000);
    assert_eq!(console.baud, Some(38_400));
    assert_eq!(console.kind, UartKind::Ns16550);
}

#[test]
fn uart_behind_a_bus_without_ranges_has_no_cpu_address() {
    let mut d = with_memory();
    d.begin("chosen").str("stdout-path", "/i2c@0/uart@48").end();
    d.begin("i2c@0")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[0])
        .begin("uart@48")
        .str("compatible", "ns16550a")
        .cells("reg", &[0x48])
        .end()
        .end();
    d.end();
    assert_eq!(parse_ok(&d.finish()).console, None);
}
