//! `earlycon=<driver>,[<iotype>,]<address>[,<options>]` on the command line: the console
//! when stdout-path gives none, read the way Linux reads it (its "earlycon" parameter).
//!
//! Only MMIO UARTs of the families Stile drives are taken; anything else (`io` port space,
//! big-endian registers, a driver name Stile does not know, a bare `earlycon` that means
//! "use stdout-path") gives no console rather than a guess.

use super::uart::earlycon_kind;
use super::{UartInfo, UartKind};
use crate::addr::PhysRange;

/// What Stile maps and reserves for an earlycon UART: the DT gives no size, and every
/// family's registers fit one 4 KiB page.
const EARLYCON_FRAME: u64 = 0x1000;

/// The UART the last `earlycon=` in `bootargs` names, if Stile can drive it.
pub(super) fn find(bootargs: &str) -> Option<UartInfo> {
    let value = bootargs
        .split_ascii_whitespace()
        .filter_map(|arg| arg.strip_prefix("earlycon="))
        .next_back()?;
    parse(value)
}

fn parse(value: &str) -> Option<UartInfo> {
    let mut fields = value.split(',');
    let name = fields.next()?;
    let kind = earlycon_kind(name)?;
    let mut next = fields.next()?;
    // The 8250 default access is bytes at stride 1; some drivers fix their own layout.
    let (mut shift, mut width) = match name {
        "bcm2835aux" => (2, 4),
        "omap8250" => (2, 1),
        _ => (0, 1),
    };
    let iotype = match next {
        "mmio" => Some((0, 1)),
        "mmio16" => Some((1, 2)),
        "mmio32" | "mmio32native" => Some((2, 4)),
        "io" | "mmio32be" => return None,
        _ => None,
    };
    if let Some((s, w)) = iotype {
        // Only the 8250 family reads the width; the others are always 32-bit.
        if kind == UartKind::Ns16550 {
            (shift, width) = (s, w);
        }
        next = fields.next()?;
    }
    let base = number(next)?;
    let baud = fields.next().and_then(super::stdout_path::baud);
    Some(UartInfo {
        kind,
        regs: PhysRange::new(base, EARLYCON_FRAME),
        reg_shift: shift,
        reg_io_width: width,
        clock_frequency: None,
        baud,
    })
}

/// "0x..." hex, "0..." octal, otherwise decimal (C's strtoull with base 0).
fn number(text: &str) -> Option<u64> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if text.len() > 1 && text.starts_with('0') {
        u64::from_str_radix(&text[1..], 8).ok()
    } else {
        text.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(args: &str) -> Option<(UartKind, u64, u8, u8, Option<u32>)> {
        find(args).map(|u| (u.kind, u.regs.base.0, u.reg_shift, u.reg_io_width, u.baud))
    }

    #[test]
    fn pl011_with_and_without_an_iotype() {
        let want = Some((UartKind::Pl011, 0x900_0000, 0, 1, None));
        assert_eq!(found("earlycon=pl011,0x9000000"), want);
        assert_eq!(
            found("quiet earlycon=pl011,mmio32,0x9000000 stile.x=1"),
            want
        );
    }

    #[test]
    fn uart8250_iotype_sets_stride_and_width() {
        assert_eq!(
            found("earlycon=uart8250,mmio32,0xff1a0000,1500000n8"),
            Some((UartKind::Ns16550, 0xff1a_0000, 2, 4, Some(1_500_000)))
        );
        assert_eq!(
            found("earlycon=uart,mmio,0x21c0500"),
            Some((UartKind::Ns16550, 0x21c_0500, 0, 1, None))
        );
        assert_eq!(
            found("earlycon=bcm2835aux,0xfe215040"),
            Some((UartKind::Ns16550, 0xfe21_5040, 2, 4, None))
        );
    }

    #[test]
    fn other_families_by_their_linux_names() {
        for (arg, kind) in [
            ("earlycon=meson,0xc81004c0", UartKind::Meson),
            ("earlycon=cdns,mmio,0xff000000", UartKind::Cadence),
            ("earlycon=ec_imx6q,0x30890000", UartKind::Imx),
            ("earlycon=qcom_geni,0xa84000", UartKind::QcomGeni),
            ("earlycon=ar3700_uart,0xd0012000", UartKind::Armada3700),
        ] {
            assert_eq!(find(arg).map(|u| u.kind), Some(kind), "{arg}");
        }
    }

    #[test]
    fn the_last_earlycon_wins() {
        let got = found("earlycon=pl011,0x1000 earlycon=pl011,0x2000");
        assert_eq!(got.map(|g| g.1), Some(0x2000));
    }

    #[test]
    fn no_guess_for_what_is_not_an_mmio_uart_stile_drives() {
        for args in [
            "",
            "earlycon",
            "earlycon=",
            "earlycon=pl011",
            "earlycon=uart8250,io,0x3f8",
            "earlycon=uart8250,mmio32be,0x1000",
            "earlycon=efifb",
            "earlycon=pl011,zz",
            "earlycon=pl011,0x",
            "console=ttyAMA0 earlycon_x=pl011,0x1000",
        ] {
            assert_eq!(find(args), None, "{args:?}");
        }
    }

    #[test]
    fn addresses_read_as_c_reads_them() {
        assert_eq!(number("0x10"), Some(16));
        assert_eq!(number("010"), Some(8));
        assert_eq!(number("10"), Some(10));
        assert_eq!(number("0"), Some(0));
        assert_eq!(number("0x1_0"), None);
        assert_eq!(number("0xffffffffffffffffff"), None);
    }
}
