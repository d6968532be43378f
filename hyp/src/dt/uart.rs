//! The console UART's description, decoded as the DT states it.
//!
//! The node's `compatible` strings are tried most specific first; the first one a family
//! below lists picks the driver. Values are passed on as given (a `reg-io-width` of 2 stays
//! 2): the console's layout check is the one place that decides what it can drive, and says
//! why it refuses.

use super::node::{is_available, prop, u32_prop, Node};
use super::translate::first_reg;
use super::{DtError, NoConsole, UartInfo, UartKind, MAX_COMPATIBLE};

/// One UART family: the `compatible` strings that name it, and the register stride and
/// access width its binding implies when the node does not say.
struct Family {
    kind: UartKind,
    compatible: &'static [&'static str],
    /// `reg-shift` when the node has none.
    shift: u8,
    /// `reg-io-width` when the node has none.
    io_width: u8,
    /// The binding fixes the layout: the node's own `reg-shift`/`reg-io-width` are ignored.
    fixed: bool,
}

const fn family(kind: UartKind, compatible: &'static [&'static str]) -> Family {
    Family {
        kind,
        compatible,
        shift: 0,
        io_width: 1,
        fixed: false,
    }
}

/// Every UART family Stile drives. Bindings: Linux's Documentation/devicetree/bindings/serial.
const FAMILIES: &[Family] = &[
    family(UartKind::SbsaUart, &["arm,sbsa-uart"]),
    family(UartKind::Pl011, &["arm,pl011"]),
    family(
        UartKind::Ns16550,
        &[
            "ns16550a",
            "ns16550",
            "ns16450",
            "ns16750",
            "ns16850",
            "ns8250",
            "snps,dw-apb-uart",
            "nvidia,tegra20-uart",
            "marvell,armada-38x-uart",
            "intel,xscale-uart",
            "mrvl,pxa-uart",
            "mrvl,mmp-uart",
        ],
    ),
    // The OMAP/K3 UART: 16550 registers 4 bytes apart, which its binding does not spell out.
    Family {
        shift: 2,
        ..family(
            UartKind::Ns16550,
            &[
                "ti,am654-uart",
                "ti,omap4-uart",
                "ti,omap3-uart",
                "ti,omap2-uart",
            ],
        )
    },
    // The bcm2835 aux "mini UART": 16550-like registers, 32-bit, 4 bytes apart; its node's
    // `reg` starts at AUX_MU_IO (aux block + 0x40).
    Family {
        shift: 2,
        io_width: 4,
        fixed: true,
        ..family(UartKind::Ns16550, &["brcm,bcm2835-aux-uart"])
    },
    family(
        UartKind::Meson,
        &[
            "amlogic,meson-ao-uart",
            "amlogic,meson-gx-uart",
            "amlogic,meson-g12a-uart",
            "amlogic,meson-s4-uart",
            "amlogic,meson8b-uart",
            "amlogic,meson8-uart",
            "amlogic,meson6-uart",
        ],
    ),
    family(
        UartKind::Imx,
        &["fsl,imx6q-uart", "fsl,imx53-uart", "fsl,imx21-uart"],
    ),
    family(
        UartKind::Cadence,
        &[
            "cdns,uart-r1p12",
            "cdns,uart-r1p8",
            "xlnx,zynqmp-uart",
            "xlnx,xuartps",
        ],
    ),
    family(UartKind::Armada3700, &["marvell,armada-3700-uart"]),
    family(
        UartKind::QcomGeni,
        &["qcom,geni-debug-uart", "qcom,geni-uart"],
    ),
    family(UartKind::QcomUartDm, &["qcom,msm-uartdm-v1.4"]),
    family(
        UartKind::RenesasScif,
        &[
            "renesas,rcar-gen3-scif",
            "renesas,rcar-gen2-scif",
            "renesas,scif",
        ],
    ),
    family(
        UartKind::Lpuart32,
        &[
            "fsl,imx7ulp-lpuart",
            "fsl,imx8qxp-lpuart",
            "fsl,imx8ulp-lpuart",
            "fsl,imx93-lpuart",
        ],
    ),
];

/// A decoded UART, plus the clock to look up when it has no `clock-frequency` of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Uart {
    pub info: UartInfo,
    /// First phandle of `clocks` (the UART clock in the PL011 and 8250 bindings).
    pub clock: Option<u32>,
}

/// The family of the first of the node's `compatible` strings that names one.
fn family_of(node: &Node<'_>) -> Result<Option<&'static Family>, DtError> {
    let Some(bytes) = prop(node, "compatible")? else {
        return Ok(None);
    };
    Ok(bytes.split(|&b| b == 0).find_map(|name| {
        FAMILIES
            .iter()
            .find(|f| f.compatible.iter().any(|c| c.as_bytes() == name))
    }))
}

/// The family for an `earlycon=<name>` driver name, as Linux's earlycon drivers call
/// themselves (`uart`/`uart8250` take a further `mmio32`-style width in earlycon.rs).
pub(super) fn earlycon_kind(name: &str) -> Option<UartKind> {
    Some(match name {
        "pl011" => UartKind::Pl011,
        "sbsa" | "qdf2400_e44" => UartKind::SbsaUart,
        "uart" | "uart8250" | "ns16550" | "ns16550a" | "omap8250" | "bcm2835aux" => {
            UartKind::Ns16550
        }
        "meson" => UartKind::Meson,
        "ec_imx6q" | "ec_imx21" => UartKind::Imx,
        "cdns" => UartKind::Cadence,
        "ar3700_uart" => UartKind::Armada3700,
        "qcom_geni" => UartKind::QcomGeni,
        "msm_serial_dm" => UartKind::QcomUartDm,
        "lpuart32" => UartKind::Lpuart32,
        "scif" => UartKind::RenesasScif,
        _ => return None,
    })
}

/// A one-cell property that must fit a u8 (`reg-shift`, `reg-io-width`).
fn small(node: &Node<'_>, name: &str, absent: u8) -> Result<u8, DtError> {
    match u32_prop(node, name)? {
        None => Ok(absent),
        Some(v) => u8::try_from(v).map_err(|_| DtError::Malformed),
    }
}

/// The UART `chain` ends at, or why it cannot be the console.
pub(super) fn decode(
    chain: &[Node<'_>],
    baud: Option<u32>,
) -> Result<Result<Uart, NoConsole>, DtError> {
    let Some(node) = chain.last() else {
        return Ok(Err(NoConsole::PathNotFound));
    };
    let Some(family) = family_of(node)? else {
        return Ok(Err(NoConsole::NoDriver));
    };
    if !is_available(node)? {
        return Ok(Err(NoConsole::Disabled));
    }
    let Some(regs) = first_reg(chain)? else {
        return Ok(Err(NoConsole::NoAddress));
    };
    let clock = match prop(node, "clocks")? {
        Some(&[a, b, c, d, ..]) => Some(u32::from_be_bytes([a, b, c, d])),
        _ => None,
    };
    let (reg_shift, reg_io_width) = if family.fixed {
        (family.shift, family.io_width)
    } else {
        (
            small(node, "reg-shift", family.shift)?,
            small(node, "reg-io-width", family.io_width)?,
        )
    };
    let info = UartInfo {
        kind: family.kind,
        regs,
        reg_shift,
        reg_io_width,
        // The spec's own example uses 0 for "not known".
        clock_frequency: u32_prop(node, "clock-frequency")?.filter(|&hz| hz != 0),
        baud,
    };
    Ok(Ok(Uart { info, clock }))
}

/// The node's first `compatible` string, cut to fit (for "no driver for ..." log lines).
pub(super) fn first_compatible(
    node: &Node<'_>,
) -> Result<heapless::String<MAX_COMPATIBLE>, DtError> {
    let mut out = heapless::String::new();
    let Some(bytes) = prop(node, "compatible")? else {
        return Ok(out);
    };
    let first = bytes.split(|&b| b == 0).next().unwrap_or(&[]);
    for &b in first.iter().take(MAX_COMPATIBLE) {
        // Printable ASCII only: this goes to a console.
        let c = if b.is_ascii_graphic() { b as char } else { '?' };
        if out.push(c).is_err() {
            break;
        }
    }
    Ok(out)
}

/// The rate of a `fixed-clock` node, the only clock provider whose rate the DT itself gives.
pub(super) fn fixed_clock_rate(node: &Node<'_>) -> Result<Option<u32>, DtError> {
    if !super::node::is_compatible(node, &["fixed-clock"])? {
        return Ok(None);
    }
    Ok(u32_prop(node, "clock-frequency")?.filter(|&hz| hz != 0))
}
