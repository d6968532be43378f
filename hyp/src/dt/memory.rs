//! RAM (`/memory` nodes) and firmware-owned RAM (`/reserved-memory` children).

use super::cells::{reg_entries, Cells};
use super::node::{is_available, prop, str_prop, Node};
use super::translate::reg_ranges;
use super::{DtError, Platform, Reserved, ReservedSource, MAX_RAM_RANGES};
use crate::addr::PhysRange;

/// A root child with device_type "memory": every non-empty `reg` entry is RAM.
pub(super) fn add_ram(chain: &[Node<'_>], out: &mut Platform) -> Result<(), DtError> {
    let Some(node) = chain.last() else {
        return Ok(());
    };
    if str_prop(node, "device_type")? != Some("memory") || !is_available(node)? {
        return Ok(());
    }
    let Some(ranges) = reg_ranges::<MAX_RAM_RANGES>(chain)? else {
        return Ok(());
    };
    for range in ranges.iter().filter(|r| r.size != 0) {
        out.ram.push(*range).map_err(|_| DtError::TooMany)?;
    }
    Ok(())
}

/// A `/reserved-memory` child with `reg` (children with only `size` are pools the OS
/// places itself). `reg` is read in the root's address space without translation: the
/// binding requires `/reserved-memory` to map 1:1, and when a tree gets that wrong,
/// reserving the stated addresses is safer than reserving nothing.
pub(super) fn add_reserved(
    reserved_memory: &Node<'_>,
    node: &Node<'_>,
    out: &mut Platform,
) -> Result<(), DtError> {
    if !is_available(node)? {
        return Ok(());
    }
    let Some(reg) = prop(node, "reg")? else {
        return Ok(());
    };
    let no_map = prop(node, "no-map")?.is_some();
    for entry in reg_entries(reg, Cells::of(reserved_memory)?)? {
        let (base, size) = entry?;
        if size == 0 {
            continue;
        }
        if base.checked_add(size).is_none() {
            return Err(DtError::Malformed);
        }
        let entry = Reserved {
            range: PhysRange::new(base, size),
            source: ReservedSource::ReservedMemoryNode,
            no_map,
        };
        out.reserved.push(entry).map_err(|_| DtError::TooMany)?;
    }
    Ok(())
}
