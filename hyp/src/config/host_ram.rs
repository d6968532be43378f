//! The host's RAM: a host `ram` region is a ceiling, not a promise. What the host gets is the
//! declared range, clipped to the RAM the DT describes and the CPU can address, with a hole
//! for every byte someone else claims (the hypervisor, the DTB, DT reserved memory, other
//! regions), in whole pages.

use crate::addr::PhysRange;
use crate::mm::pgtable::PAGE_SIZE;
use crate::mm::ranges::RangeSet;

pub(super) struct HostRam {
    pub ranges: RangeSet,
    /// Punching a hole needed more than `MAX_RANGES` pieces, so the pieces around that hole
    /// were left out whole: the host gets less RAM, never memory that is not its own.
    pub pieces_dropped: bool,
}

/// `declared` ∩ `dt_ram` ∩ [0, `pa_limit`), minus every range in `holes`, page-aligned inward.
pub(super) fn clip(
    declared: PhysRange,
    dt_ram: &RangeSet,
    pa_limit: u64,
    holes: impl Iterator<Item = PhysRange>,
) -> HostRam {
    let addressable = PhysRange::new(0, pa_limit);
    let mut ranges = RangeSet::new();
    for ram in dt_ram.iter() {
        if let Some(piece) = intersect(declared, *ram).and_then(|p| intersect(p, addressable)) {
            // Cannot fail: the pieces are disjoint and there are no more of them than
            // `dt_ram` holds, itself a RangeSet.
            let _ = ranges.add(piece);
        }
    }
    let mut pieces_dropped = false;
    for hole in holes {
        if ranges.remove(hole).is_err() {
            // `remove` left the set as it was: the hole is still host memory. Drop every
            // piece it touches instead, which never needs room.
            ranges = without_touched(&ranges, hole);
            pieces_dropped = true;
        }
    }
    // A hole for an 8-byte-aligned DTB leaves ragged edges; stage 2 maps whole pages.
    ranges.align_inward(PAGE_SIZE);
    HostRam {
        ranges,
        pieces_dropped,
    }
}

/// The overlap of two ranges, if they share a byte.
pub(super) fn intersect(a: PhysRange, b: PhysRange) -> Option<PhysRange> {
    let start = a.base.0.max(b.base.0);
    let end = a.end().min(b.end());
    (end > start).then(|| PhysRange::new(start, end - start))
}

pub(super) fn without_touched(ranges: &RangeSet, hole: PhysRange) -> RangeSet {
    let mut kept = RangeSet::new();
    for r in ranges.iter().filter(|r| !r.overlaps(&hole)) {
        // Cannot fail: a subset of a set that fit.
        let _ = kept.add(*r);
    }
    kept
}
