//! The console UART's description, decoded as the DT states it.
//!
//! Values are passed on as given (a `reg-io-width` of 2 stays 2): the console's layout
//! check is the one place that decides what it can drive, and says why it refuses.

use super::node::{is_available, is_compatible, prop, u32_prop, Node};
use super::translate::first_reg;
use super::{DtError, UartInfo, UartKind};

const PL011: &[&str] = &["arm,pl011"];
const NS16550: &[&str] = &["ns16550a", "ns16550", "snps,dw-apb-uart"];

/// A decoded UART, plus the clock to look up when it has no `clock-frequency` of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Uart {
    pub info: UartInfo,
    /// First phandle of `clocks` (the UART clock in the PL011 and 8250 bindings).
    pub clock: Option<u32>,
}

fn kind(node: &Node<'_>) -> Result<Option<UartKind>, DtError> {
    if is_compatible(node, PL011)? {
        Ok(Some(UartKind::Pl011))
    } else if is_compatible(node, NS16550)? {
        Ok(Some(UartKind::Ns16550))
    } else {
        Ok(None)
    }
}

/// A one-cell property that must fit a u8 (`reg-shift`, `reg-io-width`).
fn small(node: &Node<'_>, name: &str, absent: u8) -> Result<u8, DtError> {
    match u32_prop(node, name)? {
        None => Ok(absent),
        Some(v) => u8::try_from(v).map_err(|_| DtError::Malformed),
    }
}

/// `None` for a node we have no driver for, a disabled one, or one without a CPU address.
pub(super) fn decode(chain: &[Node<'_>], baud: Option<u32>) -> Result<Option<Uart>, DtError> {
    let Some(node) = chain.last() else {
        return Ok(None);
    };
    let Some(kind) = kind(node)? else {
        return Ok(None);
    };
    if !is_available(node)? {
        return Ok(None);
    }
    let Some(regs) = first_reg(chain)? else {
        return Ok(None);
    };
    let clock = match prop(node, "clocks")? {
        Some(&[a, b, c, d, ..]) => Some(u32::from_be_bytes([a, b, c, d])),
        _ => None,
    };
    let info = UartInfo {
        kind,
        regs,
        reg_shift: small(node, "reg-shift", 0)?,
        reg_io_width: small(node, "reg-io-width", 1)?,
        // The spec's own example uses 0 for "not known".
        clock_frequency: u32_prop(node, "clock-frequency")?.filter(|&hz| hz != 0),
        baud,
    };
    Ok(Some(Uart { info, clock }))
}

/// The rate of a `fixed-clock` node, the only clock provider whose rate the DT itself gives.
pub(super) fn fixed_clock_rate(node: &Node<'_>) -> Result<Option<u32>, DtError> {
    if !is_compatible(node, &["fixed-clock"])? {
        return Ok(None);
    }
    Ok(u32_prop(node, "clock-frequency")?.filter(|&hz| hz != 0))
}
