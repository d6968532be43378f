//! Range arithmetic over physical memory: "RAM minus what is taken", page-aligned.
//!
//! Used before the MMU is on (no allocation): fixed capacity, overflow is an error value.

use crate::addr::PhysRange;
use heapless::Vec;

pub const MAX_RANGES: usize = 64;

/// A sorted, non-overlapping set of non-empty ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeSet {
    ranges: Vec<PhysRange, MAX_RANGES>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyRanges;

impl RangeSet {
    pub const fn new() -> Self {
        RangeSet { ranges: Vec::new() }
    }

    pub fn iter(&self) -> impl Iterator<Item = &PhysRange> {
        self.ranges.iter()
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn total_bytes(&self) -> u64 {
        self.ranges.iter().map(|r| r.size).sum()
    }

    /// Add a range, merging with neighbours it overlaps or touches.
    pub fn add(&mut self, range: PhysRange) -> Result<(), TooManyRanges> {
        if range.size == 0 {
            return Ok(());
        }
        let mut start = range.base.0;
        let mut end = range.end();
        let mut merged: Vec<PhysRange, MAX_RANGES> = Vec::new();
        let mut placed = false;
        for r in self.ranges.iter() {
            if r.end() < start {
                merged.push(*r).map_err(|_| TooManyRanges)?;
            } else if r.base.0 > end {
                if !placed {
                    merged
                        .push(PhysRange::new(start, end - start))
                        .map_err(|_| TooManyRanges)?;
                    placed = true;
                }
                merged.push(*r).map_err(|_| TooManyRanges)?;
            } else {
                start = start.min(r.base.0);
                end = end.max(r.end());
            }
        }
        if !placed {
            merged
                .push(PhysRange::new(start, end - start))
                .map_err(|_| TooManyRanges)?;
        }
        self.ranges = merged;
        Ok(())
    }

    /// Remove every byte of `hole` from the set (splitting a range when the hole is inside it).
    pub fn remove(&mut self, hole: PhysRange) -> Result<(), TooManyRanges> {
        if hole.size == 0 {
            return Ok(());
        }
        let mut kept: Vec<PhysRange, MAX_RANGES> = Vec::new();
        for r in self.ranges.iter() {
            if !r.overlaps(&hole) {
                kept.push(*r).map_err(|_| TooManyRanges)?;
                continue;
            }
            if r.base.0 < hole.base.0 {
                kept.push(PhysRange::new(r.base.0, hole.base.0 - r.base.0))
                    .map_err(|_| TooManyRanges)?;
            }
            if r.end() > hole.end() {
                kept.push(PhysRange::new(hole.end(), r.end() - hole.end()))
                    .map_err(|_| TooManyRanges)?;
            }
        }
        self.ranges = kept;
        Ok(())
    }

    /// Shrink every range inward to `align` boundaries, dropping those that vanish.
    pub fn align_inward(&mut self, align: u64) {
        debug_assert!(align.is_power_of_two());
        let mut kept: Vec<PhysRange, MAX_RANGES> = Vec::new();
        for r in self.ranges.iter() {
            let start = r.base.0.saturating_add(align - 1) & !(align - 1);
            let end = r.end() & !(align - 1);
            if end > start {
                // Cannot overflow: we only ever drop or shrink entries.
                let _ = kept.push(PhysRange::new(start, end - start));
            }
        }
        self.ranges = kept;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ranges: &[(u64, u64)]) -> RangeSet {
        let mut s = RangeSet::new();
        for &(b, sz) in ranges {
            s.add(PhysRange::new(b, sz)).unwrap();
        }
        s
    }

    fn pairs(s: &RangeSet) -> std::vec::Vec<(u64, u64)> {
        s.iter().map(|r| (r.base.0, r.size)).collect()
    }

    #[test]
    fn adjacent_and_overlapping_ranges_merge() {
        let s = set(&[
            (0x1000, 0x1000),
            (0x2000, 0x1000),
            (0x2800, 0x2000),
            (0x9000, 0x1000),
        ]);
        assert_eq!(pairs(&s), vec![(0x1000, 0x3800), (0x9000, 0x1000)]);
    }

    #[test]
    fn unsorted_input_comes_out_sorted() {
        let s = set(&[(0x9000, 0x1000), (0x1000, 0x1000), (0x5000, 0x1000)]);
        assert_eq!(
            pairs(&s),
            vec![(0x1000, 0x1000), (0x5000, 0x1000), (0x9000, 0x1000)]
        );
    }

    #[test]
    fn hole_in_the_middle_splits_a_range() {
        let mut s = set(&[(0x4000_0000, 0x4000_0000)]);
        s.remove(PhysRange::new(0x4000_0000 + 0x20_0000, 0x10_0000))
            .unwrap();
        assert_eq!(
            pairs(&s),
            vec![
                (0x4000_0000, 0x20_0000),
                (0x4030_0000, 0x4000_0000 - 0x30_0000)
            ]
        );
    }

    #[test]
    fn hole_spanning_two_ranges_trims_both() {
        let mut s = set(&[(0x1000, 0x2000), (0x5000, 0x2000)]);
        s.remove(PhysRange::new(0x2000, 0x4000)).unwrap();
        assert_eq!(pairs(&s), vec![(0x1000, 0x1000), (0x6000, 0x1000)]);
    }

    #[test]
    fn hole_outside_ram_changes_nothing() {
        let mut s = set(&[(0x1000, 0x1000)]);
        s.remove(PhysRange::new(0x8000, 0x1000)).unwrap();
        s.remove(PhysRange::new(0, 0)).unwrap();
        assert_eq!(pairs(&s), vec![(0x1000, 0x1000)]);
    }

    #[test]
    fn hole_covering_everything_empties_the_set() {
        let mut s = set(&[(0x1000, 0x1000), (0x3000, 0x1000)]);
        s.remove(PhysRange::new(0, u64::MAX)).unwrap();
        assert!(s.is_empty());
    }

    #[test]
    fn align_inward_drops_slivers() {
        let mut s = set(&[(0x1800, 0x2000), (0x8100, 0x100)]);
        s.align_inward(0x1000);
        assert_eq!(pairs(&s), vec![(0x2000, 0x1000)]);
    }

    #[test]
    fn range_at_top_of_address_space_does_not_overflow() {
        let mut s = set(&[(u64::MAX - 0xfff, 0x1000)]);
        s.remove(PhysRange::new(u64::MAX - 0x7ff, 0x800)).unwrap();
        assert_eq!(pairs(&s), vec![(u64::MAX - 0xfff, 0x800)]);
        s.align_inward(0x1000);
        assert!(s.is_empty());
    }

    #[test]
    fn too_many_ranges_is_an_error_not_a_panic() {
        let mut s = RangeSet::new();
        for i in 0..MAX_RANGES as u64 {
            s.add(PhysRange::new(i * 0x2000, 0x1000)).unwrap();
        }
        assert_eq!(
            s.add(PhysRange::new(u64::MAX / 2, 0x1000)),
            Err(TooManyRanges)
        );
        // Splitting a range also needs room.
        assert_eq!(s.remove(PhysRange::new(0x400, 0x100)), Err(TooManyRanges));
    }

    #[test]
    fn total_counts_every_range() {
        let s = set(&[(0x1000, 0x1000), (0x3000, 0x2000)]);
        assert_eq!(s.total_bytes(), 0x3000);
    }
}
