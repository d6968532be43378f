//! Writing a table: the fault path's single-leaf map, ranged maps, and the edit walk
//! (unmap, protect) with break-before-make and block splits.

use super::descriptor::*;
use super::owed::Editor;
use super::{MapError, MapStats, PageTable, TableAlloc, TlbSync, LEAF_ATTR_MASK, PAGE_SIZE};
use crate::addr::PhysAddr;

/// Most tables [`PageTable::map_leaf`] may need to add: one per level below the root.
pub(super) const MAX_NEW_TABLES: usize = 3;

/// What a walk towards one leaf found in its way.
pub(super) enum Reach {
    /// The invalid entry at `at`: the leaf goes here if `at` is its level, else the
    /// tables for the levels between are missing. `up` links the entry's table (see
    /// [`count_entry`]).
    Hole {
        entry: *mut u64,
        at: u8,
        up: *mut u64,
    },
    /// A leaf (this size or a larger block) already covers the address.
    Covered,
    /// A table sits where the leaf would go: smaller leaves are mapped inside its range.
    Table,
}

/// What an edit walk does to the leaves in its range.
#[derive(Debug, Clone, Copy)]
pub(super) enum Edit {
    Unmap,
    /// Give every leaf these attribute bits (addresses stay).
    Protect(u64),
}

impl PageTable {
    /// [`PageTable::map`] for a live table, all or nothing: on any error nothing in the range
    /// is mapped and every table page the attempt took is given back. Mapping over invalid
    /// entries needs no invalidation; `sync` publishes the result and cleans up a failure.
    #[allow(clippy::too_many_arguments)]
    pub fn map_atomic(
        &mut self,
        alloc: &mut impl TableAlloc,
        sync: &mut impl TlbSync,
        va: u64,
        pa: PhysAddr,
        size: u64,
        attrs: u64,
        blocks: bool,
    ) -> Result<MapStats, MapError> {
        let end = self.check_free(va, pa, size)?;
        let mut stats = MapStats::default();
        match self.fill(
            alloc,
            va,
            pa,
            end,
            attrs & LEAF_ATTR_MASK,
            blocks,
            &mut stats,
        ) {
            Ok(()) => {
                sync.publish();
                Ok(stats)
            }
            Err(e) => {
                // Nothing was mapped in [va, end) before, so unmapping all of it restores the
                // old state and frees the tables the attempt linked (including an empty one
                // left by the failing step). Only whole leaves are in there, so no split is
                // needed and this cannot fail.
                let _ =
                    self.edit_range(alloc, sync, va, end, Edit::Unmap, &mut MapStats::default());
                Err(e)
            }
        }
    }

    /// Map the one leaf at `level` (a 4 KiB page at 3, a 2 MiB block at 2, 1 GiB at 1) for
    /// `va` -> `pa` in a live table: the stage-2 fault path. One walk from the root, adding
    /// the tables that are missing. A leaf that already covers `va` (an earlier fault, or
    /// another CPU, got there first) is success and is left as it is; a table where the
    /// leaf should go (smaller leaves inside it) is `AlreadyMapped`. All or nothing:
    /// without table pages nothing is written. Writing over an invalid entry needs no
    /// invalidation, only `sync.publish()`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn map_leaf<A: TableAlloc>(
        &mut self,
        alloc: &mut A,
        sync: &mut impl TlbSync,
        va: u64,
        pa: PhysAddr,
        level: u8,
        attrs: u64,
    ) -> Result<(), MapError> {
        self.check_leaf_args(va, pa, level)?;
        let leaf = leaf_desc(pa.0, attrs & LEAF_ATTR_MASK, level);
        let mut root_up = 0; // the root's link: see `count_entry`
        let (entry, up, link) = match self.reach(va, level, &mut root_up) {
            Reach::Covered => return Ok(()),
            Reach::Table => return Err(MapError::AlreadyMapped),
            Reach::Hole { entry, at, up } if at == level => (entry, up, leaf),
            Reach::Hole { .. } if !A::CAN_ALLOC => return Err(MapError::OutOfTables),
            Reach::Hole { entry, at, up } => {
                let link = self.new_branch(alloc, va, at + 1, level, leaf)?;
                // The branch's contents reach every walker before the link that makes it
                // live.
                sync.publish();
                (entry, up, link)
            }
        };
        // SAFETY: `reach` found the entry in a table of ours, invalid, so no walker holds
        // it: no break-before-make. `up` is the live link of that table.
        unsafe {
            entry.write_volatile(link);
            count_entry(up, true);
        }
        sync.publish();
        Ok(())
    }

    /// Walk towards the leaf at `level` for `va` (inside the input range; `level` at or
    /// below the start level) and say what is in the way; `root_up` stands for the root's
    /// link. The fault path's walk: one read per level, nothing else.
    #[inline(always)]
    pub(super) fn reach(&self, va: u64, level: u8, root_up: *mut u64) -> Reach {
        // Levels above the leaf's still to go through; `check_leaf_args` keeps it 0..=3.
        let mut above = (level - self.geo.start_level) as u32;
        let mut shift = self.geo.root_shift as u32;
        let mut up = root_up;
        // `va` is inside the input range, so its root index needs no mask.
        // SAFETY: see `map_one`.
        let mut entry = unsafe { entry_ptr(self.geo.root, (va >> shift) as usize) };
        loop {
            // SAFETY: only the root and tables linked by this PageTable are walked, all from
            // a TableAlloc, which promises addressable pages; the index is inside the table.
            let desc = unsafe { entry.read_volatile() };
            if desc & DESC_VALID == 0 {
                let at = level - above as u8;
                return Reach::Hole { entry, at, up };
            }
            if above == 0 {
                return if is_leaf(desc, level) {
                    Reach::Covered
                } else {
                    Reach::Table
                };
            }
            // Above the leaf's level, so above level 3: a block or a table.
            if desc & DESC_TABLE_OR_PAGE == 0 {
                return Reach::Covered;
            }
            up = entry;
            above -= 1;
            shift -= 9;
            let index = (va >> shift) & (ENTRIES as u64 - 1);
            // SAFETY: as above.
            entry = unsafe { entry_ptr(PhysAddr(desc & OA_MASK), index as usize) };
        }
    }

    /// `va` and `pa` aligned to a leaf at `level`, which this table can hold, and the leaf
    /// inside both address ranges.
    pub(super) fn check_leaf_args(&self, va: u64, pa: PhysAddr, level: u8) -> Result<(), MapError> {
        if !(1..=3).contains(&level) || level < self.geo.start_level {
            return Err(MapError::BadGeometry);
        }
        let size = 1u64 << level_shift(level);
        if (va | pa.0) & (size - 1) != 0 {
            return Err(MapError::Misaligned);
        }
        // Aligned starts below a power-of-two limit end at or below it (for an aligned
        // `pa`, at most OA_MASK is below OA_MASK + PAGE_SIZE).
        if va >= 1u64 << self.geo.ia_bits || pa.0 >= OA_MASK + PAGE_SIZE {
            return Err(MapError::OutOfRange);
        }
        Ok(())
    }

    /// Tables for levels `first..=level`, not yet linked: each links the next at `va`'s
    /// index and the last holds `leaf`. Returns the descriptor that links the first. With
    /// too few table pages, gives back the ones it got. Rare (a first touch per 2 MiB or
    /// 1 GiB), so kept out of the fault path's code.
    #[cold]
    #[inline(never)]
    pub(super) fn new_branch(
        &mut self,
        alloc: &mut impl TableAlloc,
        va: u64,
        first: u8,
        level: u8,
        leaf: u64,
    ) -> Result<u64, MapError> {
        let mut pages = [PhysAddr(0); MAX_NEW_TABLES];
        let pages = pages
            .get_mut(..(level + 1).saturating_sub(first) as usize)
            .ok_or(MapError::BadGeometry)?;
        for got in 0..pages.len() {
            let Some(page) = alloc.alloc_table() else {
                pages[..got].iter().for_each(|&p| alloc.free_table(p));
                return Err(MapError::OutOfTables);
            };
            pages[got] = page;
        }
        let mut desc = leaf;
        for (page, at) in pages.iter().zip(first..=level).rev() {
            // SAFETY: a zeroed page fresh from the allocator, reachable by no walker yet;
            // the index is inside it.
            unsafe { entry_ptr(*page, self.geo.index(va, at)).write_volatile(desc) };
            desc = table_desc(*page, 1);
        }
        self.tables += pages.len() as u64;
        Ok(desc)
    }

    pub(super) fn edit_range(
        &mut self,
        alloc: &mut impl TableAlloc,
        sync: &mut impl TlbSync,
        va: u64,
        end: u64,
        op: Edit,
        stats: &mut MapStats,
    ) -> Result<(), MapError> {
        let mut ed = Editor::new(alloc, sync, stats);
        let (root, level) = (self.geo.root, self.geo.start_level);
        let mut root_up = 0; // the root's link: see `count_entry`
        let r = self.edit(&mut ed, root, &mut root_up, level, va, end, op);
        // What an unmap broke is invalidated (and what it detached freed) before we return,
        // after an error too; tables linked by splits must be visible before the guest runs
        // again.
        if !ed.flush() {
            ed.sync.publish();
        }
        r
    }

    /// Map `[va, end)` leaf by leaf (the range is known to be free of leaves).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fill(
        &mut self,
        alloc: &mut impl TableAlloc,
        va: u64,
        pa: PhysAddr,
        end: u64,
        attrs: u64,
        blocks: bool,
        stats: &mut MapStats,
    ) -> Result<(), MapError> {
        let mut cur = va;
        while cur < end {
            let pa_here = pa.0 + (cur - va);
            cur += self.map_one(alloc, cur, pa_here, end - cur, attrs, blocks, stats)?;
        }
        Ok(())
    }

    /// Place the largest leaf that fits at `va`; returns the bytes it covers.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn map_one(
        &mut self,
        alloc: &mut impl TableAlloc,
        va: u64,
        pa: u64,
        remaining: u64,
        attrs: u64,
        blocks: bool,
        stats: &mut MapStats,
    ) -> Result<u64, MapError> {
        let mut table = self.geo.root;
        let mut root_up = 0; // the root's link: see `count_entry`
        let mut up: *mut u64 = &mut root_up;
        let mut level = self.geo.start_level;
        loop {
            let shift = level_shift(level);
            let block = 1u64 << shift;
            let idx = self.geo.index(va, level);
            // SAFETY: `table` is the root or a table this PageTable installed, both obtained from
            // a TableAlloc, which promises addressable, exclusively owned pages; `idx` is within
            // the table (the root may span several concatenated pages).
            let entry = unsafe { entry_ptr(table, idx) };
            // SAFETY: as above.
            let desc = unsafe { entry.read_volatile() };
            let leaf_ok = level == 3
                || (blocks && level >= 1 && (va | pa) & (block - 1) == 0 && remaining >= block);
            if desc & DESC_VALID == 0 && leaf_ok {
                // SAFETY: as above. The entry is invalid, so no walker holds it: no BBM.
                // `up` is the live link of `table`.
                unsafe {
                    entry.write_volatile(leaf_desc(pa, attrs, level));
                    count_entry(up, true);
                }
                match level {
                    1 => stats.blocks_1g += 1,
                    2 => stats.blocks_2m += 1,
                    _ => stats.pages_4k += 1,
                }
                return Ok(block);
            }
            if desc & DESC_VALID != 0 && is_leaf(desc, level) {
                return Err(MapError::AlreadyMapped);
            }
            if desc & DESC_VALID == 0 {
                let next = alloc.alloc_table().ok_or(MapError::OutOfTables)?;
                self.tables += 1;
                stats.tables += 1;
                // SAFETY: as above. The new table is zeroed (all invalid), so a walker that
                // sees the link early finds nothing rather than garbage.
                unsafe {
                    entry.write_volatile(table_desc(next, 0));
                    count_entry(up, true);
                }
                table = next;
            } else {
                table = PhysAddr(desc & OA_MASK);
            }
            up = entry;
            level += 1;
        }
    }

    /// Whether any leaf lies (even partly) in `[start, end)` below `table` at `level`.
    pub(super) fn any_leaf(&self, table: PhysAddr, level: u8, start: u64, end: u64) -> bool {
        self.geo.entries(level, start, end).any(|(idx, _, s, e)| {
            // SAFETY: see `map_one`.
            let desc = unsafe { entry_ptr(table, idx).read_volatile() };
            if desc & DESC_VALID == 0 {
                return false;
            }
            is_leaf(desc, level) || self.any_leaf(PhysAddr(desc & OA_MASK), level + 1, s, e)
        })
    }

    /// Apply `op` to every leaf in `[start, end)` below `table` (at `level`, linked by `up`,
    /// see [`count_entry`]), recursing into tables and splitting blocks the range covers
    /// only in part.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn edit<A: TableAlloc, S: TlbSync>(
        &mut self,
        ed: &mut Editor<A, S>,
        table: PhysAddr,
        up: *mut u64,
        level: u8,
        start: u64,
        end: u64,
        op: Edit,
    ) -> Result<(), MapError> {
        let size = 1u64 << level_shift(level);
        for (idx, eva, s, e) in self.geo.entries(level, start, end) {
            // SAFETY: see `map_one`.
            let entry = unsafe { entry_ptr(table, idx) };
            // SAFETY: as above.
            let desc = unsafe { entry.read_volatile() };
            if desc & DESC_VALID == 0 {
                continue;
            }
            if is_leaf(desc, level) {
                let whole = s == eva && e == eva + size;
                match op {
                    Edit::Protect(attrs) if desc & LEAF_ATTR_MASK == attrs => continue,
                    Edit::Unmap if whole => {
                        // Nothing is written back here: the invalidation is owed, paid
                        // once for the whole edit (owed.rs).
                        // SAFETY: `entry` is a live entry of ours (see above), `up` the
                        // live link of its table.
                        unsafe {
                            entry.write_volatile(0);
                            count_entry(up, false);
                        }
                        ed.owe(eva, level);
                        ed.stats.unmapped += 1;
                        continue;
                    }
                    Edit::Protect(attrs) if whole => {
                        // SAFETY: as above.
                        unsafe {
                            break_entry(entry, eva, level, ed.sync);
                            entry.write_volatile(desc & !LEAF_ATTR_MASK | attrs);
                        }
                        ed.stats.changed += 1;
                        continue;
                    }
                    // SAFETY: as above.
                    _ => unsafe { self.split(ed, entry, desc, eva, level)? },
                }
            }
            // SAFETY: as above; the entry is now a table (maybe just made by the split).
            let child = PhysAddr(unsafe { entry.read_volatile() } & OA_MASK);
            let result = self.edit(ed, child, entry, level + 1, s, e, op);
            // Even after an error below, a table the walk emptied is detached (and freed
            // after the flush that covers the detachment), so an empty table never stays
            // linked. Its link says how many entries it kept.
            // SAFETY: as above.
            let emptied = live_entries(unsafe { entry.read_volatile() }) == 0;
            if matches!(op, Edit::Unmap) && emptied {
                // SAFETY: as above.
                unsafe {
                    entry.write_volatile(0);
                    count_entry(up, false);
                }
                ed.owe(eva, level);
                ed.hold(child);
                self.tables = self.tables.saturating_sub(1);
                ed.stats.tables_freed += 1;
            }
            result?;
        }
        Ok(())
    }

    /// Replace the block `desc` at `entry` (input address `va`, `level`) by a table of the
    /// next level's leaves with the same attributes, covering the same addresses.
    ///
    /// # Safety
    /// `entry` must be a live block entry of this table holding `desc`.
    pub(super) unsafe fn split<A: TableAlloc, S: TlbSync>(
        &mut self,
        ed: &mut Editor<A, S>,
        entry: *mut u64,
        desc: u64,
        va: u64,
        level: u8,
    ) -> Result<(), MapError> {
        if level >= 3 {
            // A page cannot be split; 4 KiB-aligned ranges never ask for it.
            return Err(MapError::BadGeometry);
        }
        let table = ed.alloc.alloc_table().ok_or(MapError::OutOfTables)?;
        self.tables += 1;
        ed.stats.tables += 1;
        ed.stats.splits += 1;
        let child_level = level + 1;
        let child_size = 1u64 << level_shift(child_level);
        let base = desc & OA_MASK & !((1u64 << level_shift(level)) - 1);
        let kind = if child_level == 3 {
            DESC_TABLE_OR_PAGE
        } else {
            0
        };
        let bits = (desc & LEAF_ATTR_MASK) | kind | DESC_VALID;
        for i in 0..ENTRIES {
            // SAFETY: `table` is a fresh page from the allocator; `i` is inside it.
            unsafe { entry_ptr(table, i).write_volatile((base + i as u64 * child_size) | bits) };
        }
        // Changing a block's size needs break-before-make; the publish inside also makes
        // the new table's contents visible before the link to it.
        // SAFETY: the caller promises `entry` is a live entry of ours.
        unsafe {
            break_entry(entry, va, level, ed.sync);
            entry.write_volatile(table_desc(table, ENTRIES as u64));
        }
        Ok(())
    }
}

/// The break of break-before-make: invalid, published, invalidated.
///
/// # Safety
/// `entry` must point at an entry of a table page from a `TableAlloc`.
pub(super) unsafe fn break_entry(entry: *mut u64, va: u64, level: u8, sync: &mut impl TlbSync) {
    // SAFETY: the caller's promise.
    unsafe { entry.write_volatile(0) };
    sync.publish();
    sync.invalidate(va, level);
}

/// # Safety
/// `table` must be a table page from a `TableAlloc`.
#[cfg(test)]
pub(super) unsafe fn table_is_empty(table: PhysAddr) -> bool {
    // SAFETY: the caller's promise; every index is inside the page.
    (0..ENTRIES).all(|i| unsafe { entry_ptr(table, i).read_volatile() } == 0)
}

/// Zero the `entries` entries of `table` at `level` and free every table below it.
///
/// # Safety
/// `table` must be a table (or root) from `alloc` holding `entries` entries, reachable by
/// no walker.
pub(super) unsafe fn free_subtree(
    alloc: &mut impl TableAlloc,
    table: PhysAddr,
    level: u8,
    entries: usize,
) {
    for idx in 0..entries {
        // SAFETY: the caller's promise; `idx` is inside the table.
        let entry = unsafe { entry_ptr(table, idx) };
        // SAFETY: as above.
        let desc = unsafe { entry.read_volatile() };
        if desc & DESC_VALID != 0 && !is_leaf(desc, level) {
            let child = PhysAddr(desc & OA_MASK);
            // SAFETY: a linked child table is ours too.
            unsafe { free_subtree(alloc, child, level + 1, ENTRIES) };
            alloc.free_table(child);
        }
        if desc != 0 {
            // SAFETY: as above.
            unsafe { entry.write_volatile(0) };
        }
    }
}
