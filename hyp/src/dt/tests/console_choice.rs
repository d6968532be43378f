//! Which console the DT yields: stdout-path first, then `earlycon=`, else none with a
//! reason; and how a node's `compatible` list picks the driver.

use super::builder::{with_memory, Dtb};
use super::parse_ok;
use crate::dt::{ConsoleSource, NoConsole, Platform, UartKind};

/// A tree whose /chosen has `stdout` (if any) and `bootargs`, and one UART at 0x1000.
fn tree(stdout: Option<&str>, bootargs: &str, compatible: &[&str], status: &str) -> Platform {
    let mut d: Dtb = with_memory();
    {
        let chosen = d.begin("chosen");
        if let Some(path) = stdout {
            chosen.str("stdout-path", path);
        }
        chosen.str("bootargs", bootargs).end();
    }
    let mut list = Vec::new();
    for c in compatible {
        list.extend_from_slice(c.as_bytes());
        list.push(0);
    }
    d.begin("uart@1000")
        .prop("compatible", &list)
        .str("status", status)
        .cells("reg", &[0, 0x1000, 0, 0x1000])
        .end();
    d.end();
    parse_ok(&d.finish())
}

#[test]
fn the_most_specific_compatible_picks_the_driver() {
    // "arm,sbsa-uart" first: no UARTCR writes, even though it also claims PL011.
    let p = tree(
        Some("/uart@1000"),
        "",
        &["arm,sbsa-uart", "arm,pl011"],
        "okay",
    );
    assert_eq!(p.console.map(|c| c.kind), Some(UartKind::SbsaUart));
    let p = tree(
        Some("/uart@1000"),
        "",
        &["vendor,unknown", "arm,pl011"],
        "okay",
    );
    assert_eq!(p.console.map(|c| c.kind), Some(UartKind::Pl011));
}

#[test]
fn bcm2835_aux_layout_is_fixed_by_its_binding() {
    let p = tree(Some("/uart@1000"), "", &["brcm,bcm2835-aux-uart"], "okay");
    let c = p.console.unwrap();
    assert_eq!(
        (c.kind, c.reg_shift, c.reg_io_width),
        (UartKind::Ns16550, 2, 4)
    );
}

#[test]
fn earlycon_is_the_console_when_stdout_path_names_no_driven_uart() {
    let p = tree(
        Some("/uart@1000"),
        "earlycon=uart8250,mmio32,0xff1a0000",
        &["vendor,unknown-uart"],
        "okay",
    );
    let c = p.console.unwrap();
    assert_eq!((c.kind, c.regs.base.0), (UartKind::Ns16550, 0xff1a_0000));
    assert_eq!(p.console_source, ConsoleSource::Earlycon);
    assert_eq!(p.no_console, None);
}

#[test]
fn stdout_path_wins_over_earlycon() {
    let p = tree(
        Some("/uart@1000"),
        "earlycon=pl011,0x9000000",
        &["ns16550a"],
        "okay",
    );
    assert_eq!(p.console.map(|c| c.regs.base.0), Some(0x1000));
    assert_eq!(p.console_source, ConsoleSource::StdoutPath);
}

#[test]
fn no_console_says_why_and_names_the_unknown_uart() {
    let cases: [(Option<&str>, &[&str], &str, NoConsole); 4] = [
        (None, &["ns16550a"], "okay", NoConsole::NoStdoutPath),
        (
            Some("/nosuch"),
            &["ns16550a"],
            "okay",
            NoConsole::PathNotFound,
        ),
        (
            Some("/uart@1000"),
            &["ns16550a"],
            "disabled",
            NoConsole::Disabled,
        ),
        (
            Some("/uart@1000"),
            &["vendor,unknown-uart"],
            "okay",
            NoConsole::NoDriver,
        ),
    ];
    for (stdout, compatible, status, why) in cases {
        let p = tree(stdout, "console=ttyS0", compatible, status);
        assert_eq!(p.console, None, "{why:?}");
        assert_eq!(p.console_source, ConsoleSource::None);
        assert_eq!(p.no_console, Some(why));
    }
    let p = tree(Some("/uart@1000"), "", &["vendor,unknown-uart"], "okay");
    assert_eq!(p.unsupported_uart.as_str(), "vendor,unknown-uart");
}
