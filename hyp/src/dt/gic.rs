//! The GIC: which version, and its register frames.

use super::node::{is_available, is_compatible, phandle, u32_prop, Node};
use super::translate::reg_ranges;
use super::{DtError, Gic, MAX_GICR_RANGES};
use crate::addr::PhysRange;
use heapless::Vec;

const V3: &[&str] = &["arm,gic-v3"];
const V2: &[&str] = &[
    "arm,cortex-a15-gic",
    "arm,gic-400",
    "arm,cortex-a9-gic",
    "arm,cortex-a7-gic",
];
/// GICD + GICRs + the optional GICC, GICH, GICV a GICv3 may list after them.
const MAX_REG: usize = 1 + MAX_GICR_RANGES + 3;

/// A GIC plus what the timer needs to read its interrupt specifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FoundGic {
    pub gic: Gic,
    pub phandle: Option<u32>,
    /// `#interrupt-cells` (3 for GICs, 4 with GICv3 PPI partitions).
    pub interrupt_cells: Option<u32>,
}

/// `None` for a node that is not a (usable) GIC or has no CPU address.
pub(super) fn decode(chain: &[Node<'_>]) -> Result<Option<FoundGic>, DtError> {
    let Some(node) = chain.last() else {
        return Ok(None);
    };
    let v3 = is_compatible(node, V3)?;
    if !v3 && !is_compatible(node, V2)? {
        return Ok(None);
    }
    if !is_available(node)? {
        return Ok(None);
    }
    let Some(reg) = reg_ranges::<MAX_REG>(chain)? else {
        return Ok(None);
    };
    let gic = if v3 {
        v3_frames(node, &reg)?
    } else {
        v2_frames(&reg)?
    };
    Ok(Some(FoundGic {
        gic,
        phandle: phandle(node)?,
        interrupt_cells: u32_prop(node, "#interrupt-cells")?,
    }))
}

/// reg = GICD, GICC, then the virtualization frames GICH and GICV when present.
fn v2_frames(reg: &[PhysRange]) -> Result<Gic, DtError> {
    let (Some(&gicd), Some(&gicc)) = (reg.first(), reg.get(1)) else {
        return Err(DtError::Malformed);
    };
    Ok(Gic::V2 {
        gicd,
        gicc,
        gich: reg.get(2).copied(),
        gicv: reg.get(3).copied(),
    })
}

/// reg = GICD, then `#redistributor-regions` GICR ranges (default 1), then optional
/// GICC/GICH/GICV that are not redistributors and are left out.
fn v3_frames(node: &Node<'_>, reg: &[PhysRange]) -> Result<Gic, DtError> {
    let regions = u32_prop(node, "#redistributor-regions")?.unwrap_or(1) as usize;
    if regions == 0 {
        return Err(DtError::Malformed);
    }
    if regions > MAX_GICR_RANGES {
        return Err(DtError::TooMany);
    }
    let gicd = *reg.first().ok_or(DtError::Malformed)?;
    let gicr = reg.get(1..1 + regions).ok_or(DtError::Malformed)?;
    Ok(Gic::V3 {
        gicd,
        gicr: Vec::from_slice(gicr).map_err(|_| DtError::TooMany)?,
    })
}
