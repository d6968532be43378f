//! Every device range the DT describes, as CPU physical ranges: each available node's `reg`
//! translated through the buses' `ranges`, plus the windows of PCI host bridges (their
//! BARs are found by enumeration, so only the bridge's `ranges` says where they may go).
//! The host's stage 2 maps these as Device.
//!
//! Lenient by design: a node whose `reg` cannot be read or translated is left out (the host
//! then faults on that device, with a log line) rather than refusing a DTB every other
//! check accepted. Ranges are page-rounded outward and merged.

use super::cells::{take, Cells};
use super::node::{base_name, is_available, prop, str_prop, Node};
use super::translate::{each_cpu_reg, to_cpu};
use super::DtError;
use crate::addr::PhysRange;
use crate::mm::pgtable::PAGE_SIZE;
use crate::mm::ranges::RangeSet;

/// Root children whose subtree holds no devices (RAM, CPUs, firmware bookkeeping).
const NOT_DEVICES: &[&str] = &[
    "memory",
    "reserved-memory",
    "cpus",
    "chosen",
    "aliases",
    "__symbols__",
    "__fixups__",
    "__local_fixups__",
];

/// Adds `chain.last()`'s device ranges to `out`.
pub(super) fn add(chain: &[Node<'_>], out: &mut RangeSet) -> Result<(), DtError> {
    if chain.len() < 2 || !wanted(chain)? {
        return Ok(());
    }
    let Some(node) = chain.last() else {
        return Ok(());
    };
    let mut found = |r: PhysRange| add_merging(out, page_round_out(r));
    // Errors from one node's `reg`/`ranges` drop that node only (see the module comment).
    let _ = each_cpu_reg(chain, &mut found);
    if str_prop(node, "device_type").ok().flatten() == Some("pci") {
        let _ = pci_windows(chain, &mut found);
    }
    Ok(())
}

/// Available, outside the non-device subtrees, and not addressed on a PCI bus (a PCI
/// child's `reg` is a config-space address, not a CPU one).
fn wanted(chain: &[Node<'_>]) -> Result<bool, DtError> {
    let top = base_name(&chain[1])?;
    if NOT_DEVICES.contains(&top) || str_prop(&chain[1], "device_type")? == Some("memory") {
        return Ok(false);
    }
    for node in &chain[1..] {
        if !is_available(node)? {
            return Ok(false);
        }
    }
    let parent = &chain[chain.len() - 2];
    Ok(chain.len() == 2 || str_prop(parent, "device_type")? != Some("pci"))
}

/// The CPU side of each `ranges` entry of a PCI host bridge (I/O, 32- and 64-bit memory
/// windows). The child address is PCI's 3 cells (space code, then 64 bits).
fn pci_windows(chain: &[Node<'_>], found: &mut impl FnMut(PhysRange)) -> Result<(), DtError> {
    let bridge = &chain[chain.len() - 1];
    let parent_chain = &chain[..chain.len() - 1];
    let Some(mut ranges) = prop(bridge, "ranges")? else {
        return Ok(());
    };
    let child = Cells::of(bridge)?;
    let parent = Cells::of(&chain[chain.len() - 2])?;
    while !ranges.is_empty() {
        let rest = ranges
            .get(child.addr as usize * 4..)
            .ok_or(DtError::Malformed)?;
        let (parent_addr, rest) = take(rest, parent.addr)?;
        let (size, rest) = take(rest, child.size)?;
        ranges = rest;
        if size == 0 {
            continue;
        }
        if let Some(base) = to_cpu(parent_chain, parent_addr)? {
            if base.checked_add(size).is_some() {
                found(PhysRange::new(base, size));
            }
        }
    }
    Ok(())
}

fn page_round_out(r: PhysRange) -> PhysRange {
    let start = r.base.0 & !(PAGE_SIZE - 1);
    let end = r.end().saturating_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
    PhysRange::new(start, end - start)
}

/// Adds `r`; when the set is full, first merges the two neighbours with the smallest gap
/// between them (the gap is then mapped Device too: on a board with that many scattered
/// devices, a little unused MMIO space beats leaving a device out). The caller removes RAM
/// and Stile's memory afterwards, so a gap never hands those out.
pub(crate) fn add_merging(set: &mut RangeSet, r: PhysRange) {
    while set.add(r).is_err() {
        let ranges: heapless::Vec<PhysRange, { crate::mm::ranges::MAX_RANGES }> =
            set.iter().copied().collect();
        let Some(i) = (0..ranges.len().saturating_sub(1))
            .min_by_key(|&i| ranges[i + 1].base.0 - ranges[i].end())
        else {
            return;
        };
        let merged = PhysRange::new(ranges[i].base.0, ranges[i + 1].end() - ranges[i].base.0);
        let mut next = RangeSet::new();
        for (j, x) in ranges.iter().enumerate() {
            if j != i && j != i + 1 {
                // Cannot fail: one range fewer than a set that fit.
                let _ = next.add(*x);
            }
        }
        let _ = next.add(merged);
        *set = next;
    }
}
