//! The architected timer's PPIs, read through the GIC's interrupt specifier format.
//!
//! A GIC specifier is (type, number, flags[, partition]); timers are per-CPU interrupts,
//! so type is PPI (INTID = 16 + number) or, on GICv3.1, extended PPI (1056 + number).

use super::gic::FoundGic;
use super::node::{is_available, is_compatible, prop, u32_prop, Node};
use super::{DtError, Timer};

const COMPATIBLE: &[&str] = &["arm,armv8-timer", "arm,armv7-timer"];
const PPI: u32 = 1;
const EPPI: u32 = 3;

/// The timer node's specifiers and whose format they are in, kept until the GIC is known
/// (the timer may come first in the blob).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RawTimer<'a> {
    pub interrupts: &'a [u8],
    /// `interrupt-parent` of the node or its nearest ancestor that has one.
    pub parent: Option<u32>,
}

pub(super) fn find<'a>(chain: &[Node<'a>]) -> Result<Option<RawTimer<'a>>, DtError> {
    let Some(node) = chain.last() else {
        return Ok(None);
    };
    if !is_compatible(node, COMPATIBLE)? || !is_available(node)? {
        return Ok(None);
    }
    let Some(interrupts) = prop(node, "interrupts")? else {
        return Ok(None);
    };
    let mut parent = None;
    for n in chain.iter().rev() {
        if let Some(p) = u32_prop(n, "interrupt-parent")? {
            parent = Some(p);
            break;
        }
    }
    Ok(Some(RawTimer { interrupts, parent }))
}

fn intid(spec: &[u8]) -> Result<u32, DtError> {
    let cell = |i: usize| {
        let b = spec.get(i * 4..i * 4 + 4).ok_or(DtError::Malformed)?;
        Ok::<u32, DtError>(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    match (cell(0)?, cell(1)?) {
        (PPI, n) if n < 16 => Ok(16 + n),
        (EPPI, n) if n < 64 => Ok(1056 + n),
        _ => Err(DtError::Malformed),
    }
}

/// INTIDs of the first four specifiers (secure, non-secure, virtual, hypervisor physical;
/// a fifth, the EL2 virtual timer, is not used). `None` when the timer's interrupts go to
/// some controller other than `gic`, since then they are not GIC INTIDs.
pub(super) fn decode(raw: &RawTimer<'_>, gic: &FoundGic) -> Result<Option<Timer>, DtError> {
    if raw.parent.is_some() && raw.parent != gic.phandle {
        return Ok(None);
    }
    // The GIC bindings define 3 cells, or 4 with GICv3 PPI partitions.
    let Some(cells) = gic.interrupt_cells.filter(|c| (3..=4).contains(c)) else {
        return Ok(None);
    };
    let spec_len = cells as usize * 4;
    if !raw.interrupts.len().is_multiple_of(spec_len) {
        return Err(DtError::Malformed);
    }
    let mut specs = raw.interrupts.chunks_exact(spec_len);
    let mut next = || intid(specs.next().ok_or(DtError::Malformed)?);
    Ok(Some(Timer {
        secure_phys: next()?,
        nonsecure_phys: next()?,
        virt: next()?,
        hyp_phys: next()?,
    }))
}
