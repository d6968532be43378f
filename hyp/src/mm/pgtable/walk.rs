//! The read-only side: where a table is and what it translates, and the walk to a leaf.

use super::descriptor::*;
use super::{Leaf, LEAF_ATTR_MASK};
use crate::addr::PhysAddr;

/// Where the table is and what it translates; everything a read-only walk needs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Geometry {
    pub(super) root: PhysAddr,
    pub(super) start_level: u8,
    pub(super) ia_bits: u8,
    /// `level_shift(start_level)`: where an address's root index starts.
    pub(super) root_shift: u8,
}

impl Geometry {
    pub(super) fn root_entries(&self) -> usize {
        1 << (self.ia_bits as u32 - level_shift(self.start_level))
    }

    pub(super) fn root_pages(&self) -> u64 {
        (self.root_entries() as u64).div_ceil(ENTRIES as u64)
    }

    #[inline(always)]
    pub(super) fn index(&self, va: u64, level: u8) -> usize {
        let shift = level_shift(level);
        let bits = if level == self.start_level {
            self.ia_bits as u32 - shift
        } else {
            9
        };
        ((va >> shift) & ((1u64 << bits) - 1)) as usize
    }

    pub(super) fn lookup(&self, va: u64) -> Option<Leaf> {
        self.walk(va).ok()
    }

    /// Walk to the leaf for `va`, or to the level of the invalid entry the walk met (the
    /// start level for an address beyond the input size).
    pub(super) fn walk(&self, va: u64) -> Result<Leaf, u8> {
        if va >= 1u64 << self.ia_bits {
            return Err(self.start_level);
        }
        let mut table = self.root;
        let mut level = self.start_level;
        loop {
            // SAFETY: only the root and tables linked by this PageTable are walked, all from
            // a TableAlloc, which promises addressable pages; the index is inside the table.
            let desc = unsafe { entry_ptr(table, self.index(va, level)).read_volatile() };
            if desc & DESC_VALID == 0 {
                return Err(level);
            }
            if is_leaf(desc, level) {
                let mask = (1u64 << level_shift(level)) - 1;
                return Ok(Leaf {
                    pa: PhysAddr((desc & OA_MASK & !mask) + (va & mask)),
                    attrs: desc & LEAF_ATTR_MASK,
                    level,
                });
            }
            table = PhysAddr(desc & OA_MASK);
            level += 1;
        }
    }

    /// The entries of a table at `level` that `[start, end)` (non-empty, inside the table's
    /// span) touches: (index, the first address that entry covers, the part of the range
    /// inside it).
    pub(super) fn entries(
        &self,
        level: u8,
        start: u64,
        end: u64,
    ) -> impl Iterator<Item = (usize, u64, u64, u64)> {
        let shift = level_shift(level);
        let size = 1u64 << shift;
        let first = self.index(start, level);
        let last = self.index(end - 1, level);
        let first_va = start & !(size - 1);
        (first..=last).enumerate().map(move |(n, idx)| {
            let eva = first_va + ((n as u64) << shift);
            (idx, eva, start.max(eva), end.min(eva + size))
        })
    }
}
