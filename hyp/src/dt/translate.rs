//! A device's `reg` as CPU physical ranges: cell counts from the parent, then each bus's
//! `ranges` up to the root.
//!
//! A bus with no `ranges` has no mapping into its parent's space (e.g. an I2C bus), so its
//! children have no CPU address: that is `Ok(None)`, not an error.

use super::cells::{reg_entries, take, Cells, RegIter};
use super::node::{prop, Node};
use super::DtError;
use crate::addr::PhysRange;
use heapless::Vec;

/// `addr` in the address space of `chain.last()`'s children, as seen from the root.
pub(super) fn to_cpu(chain: &[Node<'_>], mut addr: u64) -> Result<Option<u64>, DtError> {
    // Walk the buses from the innermost out; the root's space is the CPU's.
    for i in (1..chain.len()).rev() {
        let bus = &chain[i];
        let Some(mut ranges) = prop(bus, "ranges")? else {
            return Ok(None);
        };
        if ranges.is_empty() {
            continue; // `ranges;` is the identity mapping
        }
        let child = Cells::of(bus)?;
        let parent = Cells::of(&chain[i - 1])?;
        let entry_cells = child.addr + parent.addr + child.size;
        if entry_cells == 0 || !ranges.len().is_multiple_of(entry_cells as usize * 4) {
            return Err(DtError::Malformed);
        }
        let mut mapped = None;
        while !ranges.is_empty() {
            let (child_base, rest) = take(ranges, child.addr)?;
            let (parent_base, rest) = take(rest, parent.addr)?;
            let (len, rest) = take(rest, child.size)?;
            ranges = rest;
            if addr >= child_base && addr - child_base < len {
                let out = parent_base.checked_add(addr - child_base);
                mapped = Some(out.ok_or(DtError::Malformed)?);
                break;
            }
        }
        match mapped {
            Some(a) => addr = a,
            None => return Ok(None),
        }
    }
    Ok(Some(addr))
}

/// `chain.last()`'s `reg` entries with the cell counts of its parent; `None` for the root
/// (which has no `reg` in anyone's space) or a node without `reg`.
fn raw_reg<'a>(chain: &[Node<'a>]) -> Result<Option<RegIter<'a>>, DtError> {
    let (Some(node), Some(parent)) = (chain.last(), chain.len().checked_sub(2)) else {
        return Ok(None);
    };
    match prop(node, "reg")? {
        Some(reg) => Ok(Some(reg_entries(reg, Cells::of(&chain[parent])?)?)),
        None => Ok(None),
    }
}

/// One entry as a CPU range; `None` if not CPU-addressable, `Malformed` if it wraps.
fn cpu_range(chain: &[Node<'_>], addr: u64, size: u64) -> Result<Option<PhysRange>, DtError> {
    let bus = &chain[..chain.len().saturating_sub(1)];
    let Some(base) = to_cpu(bus, addr)? else {
        return Ok(None);
    };
    if base.checked_add(size).is_none() {
        return Err(DtError::Malformed);
    }
    Ok(Some(PhysRange::new(base, size)))
}

/// Every `reg` entry of `chain.last()` as a CPU range, in order. `None` if the node has no
/// `reg` or any entry is not CPU-addressable; more than `N` entries is `TooMany`.
pub(super) fn reg_ranges<const N: usize>(
    chain: &[Node<'_>],
) -> Result<Option<Vec<PhysRange, N>>, DtError> {
    let Some(entries) = raw_reg(chain)? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for entry in entries {
        let (addr, size) = entry?;
        let Some(range) = cpu_range(chain, addr, size)? else {
            return Ok(None);
        };
        out.push(range).map_err(|_| DtError::TooMany)?;
    }
    Ok(Some(out))
}

/// The first `reg` entry only, for devices whose later entries we do not use.
pub(super) fn first_reg(chain: &[Node<'_>]) -> Result<Option<PhysRange>, DtError> {
    match raw_reg(chain)?.and_then(|mut entries| entries.next()) {
        Some(entry) => {
            let (addr, size) = entry?;
            cpu_range(chain, addr, size)
        }
        None => Ok(None),
    }
}

/// Calls `found` with every non-empty `reg` entry of `chain.last()` that has a CPU address
/// (entries behind a bus without `ranges` are skipped); stops at the first malformed one.
pub(super) fn each_cpu_reg(
    chain: &[Node<'_>],
    found: &mut impl FnMut(PhysRange),
) -> Result<(), DtError> {
    let Some(entries) = raw_reg(chain)? else {
        return Ok(());
    };
    for entry in entries {
        let (addr, size) = entry?;
        if size == 0 {
            continue;
        }
        if let Some(range) = cpu_range(chain, addr, size)? {
            found(range);
        }
    }
    Ok(())
}
