//! A 4 KiB-granule translation table, shared by EL2 stage 1 and stage 2.
//!
//! The engine knows table structure only; the caller supplies the attribute bits of leaves
//! (`el2_attrs.rs`, `s2_attrs.rs`) and, for edits of a live table, the TLB side
//! ([`TlbSync`]). Tables are reached at their physical address: EL2 runs identity mapped
//! (and with the MMU off while the boot map is built), and unit tests hand out host memory
//! whose address is its "physical" address.
//!
//! Live edits follow break-before-make: a valid entry is never overwritten by another valid
//! entry. It is written invalid, published (`dsb ishst`), invalidated, and only then
//! replaced. That covers changing a leaf's attributes, splitting a block into a table of
//! smaller leaves (a change of block size), and detaching a table page that an unmap left
//! empty, which goes back to the allocator only after that invalidation. Every entry write
//! is one aligned 64-bit store, so a concurrent walker sees the old or the new descriptor.
//!
//! Splits are never undone (no merging of small leaves back into a block); unmapping a
//! range frees the tables it empties, so a later map there can use blocks again. To know
//! that a table became empty without reading its 512 entries, each table descriptor
//! carries the number of valid entries in the table it links (see [`LIVE_SHIFT`]).

mod descriptor;
mod edit;
mod owed;
#[cfg(test)]
mod test_views;
mod walk;

use crate::addr::PhysAddr;
use descriptor::*;
use edit::{free_subtree, Edit};
use walk::Geometry;

pub const PAGE_SIZE: u64 = 4096;
/// Attribute bits a leaf may carry: lower [11:2] and upper [63:50].
pub const LEAF_ATTR_MASK: u64 = 0xfffc_0000_0000_0ffc;

/// Bytes one entry at `level` (0..=3) covers: 4 KiB at level 3, 2 MiB at 2, 1 GiB at 1.
/// (For the tests' walks; the engine uses `descriptor::level_shift`.)
#[cfg(test)]
pub(crate) const fn level_size(level: u8) -> u64 {
    1 << descriptor::level_shift(level)
}

/// Source of zeroed, page-aligned table pages addressable at their physical address.
pub trait TableAlloc {
    /// False for an allocator that never has a page ([`NoTables`]): a walk that would need
    /// one gives up at once, and its code has no call to build a branch.
    const CAN_ALLOC: bool = true;

    fn alloc_table(&mut self) -> Option<PhysAddr>;

    /// Take back a page from `alloc_table`. The engine hands back only pages whose entries
    /// are all zero and that no walker can reach any more (detached and invalidated).
    /// Default: keep it (a bump allocator cannot reuse pages).
    fn free_table(&mut self, _table: PhysAddr) {}

    /// `pages` contiguous zeroed pages aligned to `pages` pages: a concatenated stage-2
    /// root must be aligned to its whole size. Default: one page at a time, accepted only if
    /// they come out adjacent and the first is aligned (always so for one page); an
    /// allocator with contiguous runs (the buddy frame allocator) should override this.
    fn alloc_root(&mut self, pages: usize) -> Option<PhysAddr> {
        let first = self.alloc_table()?;
        let mut got = 1;
        let mut ok = first.is_aligned(pages as u64 * PAGE_SIZE);
        while ok && got < pages {
            match self.alloc_table() {
                Some(p) => {
                    got += 1;
                    ok = p.0 == first.0 + (got as u64 - 1) * PAGE_SIZE;
                    if !ok {
                        self.free_table(p);
                        got -= 1;
                    }
                }
                None => ok = false,
            }
        }
        if ok {
            return Some(first);
        }
        for i in 0..got {
            self.free_table(PhysAddr(first.0 + i as u64 * PAGE_SIZE));
        }
        None
    }

    /// Take back a root from `alloc_root` (all entries zero). Default: page by page.
    fn free_root(&mut self, root: PhysAddr, pages: usize) {
        for i in 0..pages {
            self.free_table(PhysAddr(root.0 + i as u64 * PAGE_SIZE));
        }
    }
}

/// No table pages: mapping only where the tables are there already (the lazy-map entry,
/// which leaves the rest to the full trap path).
pub struct NoTables;

impl TableAlloc for NoTables {
    const CAN_ALLOC: bool = false;

    fn alloc_table(&mut self) -> Option<PhysAddr> {
        None
    }
}

/// The TLB side of editing a live table. Stage 2 binds it to a VMID (`mm::tlb`); the engine
/// does not know which translation regime it is editing.
pub trait TlbSync {
    /// Make table writes so far visible to every CPU's table walker (`dsb ishst`).
    fn publish(&mut self);
    /// The valid entry for input address `ia` at `level` has just been made invalid and
    /// published: drop every cached translation (TLB and walk cache) through it, on all
    /// CPUs, and wait for that to finish.
    fn invalidate(&mut self, ia: u64, level: u8);
    /// Drop every cached translation made from this table.
    fn invalidate_all(&mut self);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// Address or size not 4 KiB aligned, or size 0.
    Misaligned,
    /// Beyond the input-address size of this table (or the output size).
    OutOfRange,
    /// Part of the range already has a leaf (use `remap` to replace live entries).
    AlreadyMapped,
    /// The table-page source ran dry.
    OutOfTables,
    /// The configuration cannot be expressed (bad start level / input size).
    BadGeometry,
}

/// Counts of what a call did (for the boot report and for tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MapStats {
    /// Leaves written by a map.
    pub blocks_1g: u64,
    pub blocks_2m: u64,
    pub pages_4k: u64,
    /// Table pages allocated (by a map, or by splits).
    pub tables: u64,
    /// Blocks split into tables of smaller leaves.
    pub splits: u64,
    /// Leaves removed (of any size).
    pub unmapped: u64,
    /// Leaves whose attributes were changed in place (break-before-make).
    pub changed: u64,
    /// Table pages emptied, detached and given back.
    pub tables_freed: u64,
}

impl MapStats {
    /// `self` plus `other`, field by field.
    pub fn plus(self, other: MapStats) -> MapStats {
        MapStats {
            blocks_1g: self.blocks_1g + other.blocks_1g,
            blocks_2m: self.blocks_2m + other.blocks_2m,
            pages_4k: self.pages_4k + other.pages_4k,
            tables: self.tables + other.tables,
            splits: self.splits + other.splits,
            unmapped: self.unmapped + other.unmapped,
            changed: self.changed + other.changed,
            tables_freed: self.tables_freed + other.tables_freed,
        }
    }
}

/// A leaf found by [`PageTable::lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf {
    pub pa: PhysAddr,
    pub attrs: u64,
    pub level: u8,
}

pub struct PageTable {
    geo: Geometry,
    /// Non-root table pages currently linked.
    tables: u64,
}

impl PageTable {
    /// A new, empty table translating `ia_bits` of input address starting at `start_level`.
    /// The root may be several concatenated pages (stage 2), which `alloc` must provide
    /// contiguously and aligned to their total size ([`TableAlloc::alloc_root`]).
    pub fn new(
        alloc: &mut impl TableAlloc,
        start_level: u8,
        ia_bits: u8,
    ) -> Result<Self, MapError> {
        if start_level > 2 || !(25..=48).contains(&ia_bits) {
            return Err(MapError::BadGeometry);
        }
        let shift = level_shift(start_level);
        if ia_bits as u32 <= shift || ia_bits as u32 > shift + 9 + 4 {
            return Err(MapError::BadGeometry);
        }
        let mut geo = Geometry {
            root: PhysAddr(0),
            start_level,
            ia_bits,
            root_shift: shift as u8,
        };
        geo.root = alloc
            .alloc_root(geo.root_pages() as usize)
            .ok_or(MapError::OutOfTables)?;
        Ok(PageTable { geo, tables: 0 })
    }

    pub fn root(&self) -> PhysAddr {
        self.geo.root
    }

    pub fn start_level(&self) -> u8 {
        self.geo.start_level
    }

    pub fn ia_bits(&self) -> u8 {
        self.geo.ia_bits
    }

    /// Concatenated pages of the root table.
    pub fn root_pages(&self) -> u64 {
        self.geo.root_pages()
    }

    /// Table pages in use now, root included (what this table costs in memory).
    pub fn table_pages(&self) -> u64 {
        self.geo.root_pages() + self.tables
    }

    /// `[va, va + size)` checked: aligned, non-empty, inside the input range. Returns the end.
    fn check_span(&self, va: u64, size: u64) -> Result<u64, MapError> {
        if size == 0 || (va | size) & (PAGE_SIZE - 1) != 0 {
            return Err(MapError::Misaligned);
        }
        let end = va.checked_add(size).ok_or(MapError::OutOfRange)?;
        if end > 1u64 << self.geo.ia_bits {
            return Err(MapError::OutOfRange);
        }
        Ok(end)
    }

    fn check_map_args(&self, va: u64, pa: PhysAddr, size: u64) -> Result<u64, MapError> {
        if pa.0 & (PAGE_SIZE - 1) != 0 {
            return Err(MapError::Misaligned);
        }
        let end = self.check_span(va, size)?;
        if pa
            .0
            .checked_add(size)
            .is_none_or(|e| e > OA_MASK + PAGE_SIZE)
        {
            return Err(MapError::OutOfRange);
        }
        Ok(end)
    }

    /// [`PageTable::check_map_args`], and nothing mapped in the range yet. Returns the end.
    fn check_free(&self, va: u64, pa: PhysAddr, size: u64) -> Result<u64, MapError> {
        let end = self.check_map_args(va, pa, size)?;
        if self.any_leaf(self.geo.root, self.geo.start_level, va, end) {
            return Err(MapError::AlreadyMapped);
        }
        Ok(end)
    }

    /// Map `[va, va + size)` to `[pa, pa + size)` with `attrs` (leaf attribute bits). Uses
    /// 1 GiB / 2 MiB blocks where both addresses are aligned and `blocks` allows.
    /// Refused with nothing changed if any part is mapped already. For a table nobody walks
    /// yet (EL2's boot map): running out of tables midway leaves the part mapped so far;
    /// live tables use [`PageTable::map_atomic`].
    pub fn map(
        &mut self,
        alloc: &mut impl TableAlloc,
        va: u64,
        pa: PhysAddr,
        size: u64,
        attrs: u64,
        blocks: bool,
    ) -> Result<MapStats, MapError> {
        let end = self.check_free(va, pa, size)?;
        let mut stats = MapStats::default();
        self.fill(
            alloc,
            va,
            pa,
            end,
            attrs & LEAF_ATTR_MASK,
            blocks,
            &mut stats,
        )?;
        Ok(stats)
    }

    /// Remove every leaf in `[va, va + size)`, splitting blocks that straddle either end
    /// (the rest of such a block stays mapped), and free the table pages this empties.
    /// Holes are fine. Only a split can fail (`OutOfTables`); then a prefix of the range
    /// may already be unmapped, and nothing else has changed.
    pub fn unmap(
        &mut self,
        alloc: &mut impl TableAlloc,
        sync: &mut impl TlbSync,
        va: u64,
        size: u64,
    ) -> Result<MapStats, MapError> {
        let mut stats = MapStats::default();
        self.unmap_into(alloc, sync, va, size, &mut stats)?;
        Ok(stats)
    }

    /// [`PageTable::unmap`], adding what it did to `stats`: a caller that keeps no counts
    /// gets a small `Result` back instead of a large one copied through every layer.
    pub fn unmap_into(
        &mut self,
        alloc: &mut impl TableAlloc,
        sync: &mut impl TlbSync,
        va: u64,
        size: u64,
        stats: &mut MapStats,
    ) -> Result<(), MapError> {
        let end = self.check_span(va, size)?;
        self.edit_range(alloc, sync, va, end, Edit::Unmap, stats)
    }

    /// Give every leaf in `[va, va + size)` the attribute bits `attrs` (output addresses
    /// stay), splitting blocks that straddle either end. Holes stay holes; leaves that
    /// already have `attrs` are not touched. On `OutOfTables` a prefix may be changed.
    pub fn protect(
        &mut self,
        alloc: &mut impl TableAlloc,
        sync: &mut impl TlbSync,
        va: u64,
        size: u64,
        attrs: u64,
    ) -> Result<MapStats, MapError> {
        let end = self.check_span(va, size)?;
        let mut stats = MapStats::default();
        let op = Edit::Protect(attrs & LEAF_ATTR_MASK);
        self.edit_range(alloc, sync, va, end, op, &mut stats)?;
        Ok(stats)
    }

    /// Replace whatever is mapped in `[va, va + size)` by `[pa, pa + size)` with `attrs`:
    /// unmap (break-before-make, splits at the ends), then map. On error the range holds
    /// no new leaf: each page is either still the old mapping (the unmap stopped early) or
    /// unmapped.
    #[allow(clippy::too_many_arguments)]
    pub fn remap(
        &mut self,
        alloc: &mut impl TableAlloc,
        sync: &mut impl TlbSync,
        va: u64,
        pa: PhysAddr,
        size: u64,
        attrs: u64,
        blocks: bool,
    ) -> Result<MapStats, MapError> {
        self.check_map_args(va, pa, size)?;
        let removed = self.unmap(alloc, sync, va, size)?;
        let added = self.map_atomic(alloc, sync, va, pa, size, attrs, blocks)?;
        Ok(removed.plus(added))
    }

    /// Free every page of the table, root included. The caller guarantees that no CPU will
    /// walk it again (the VM runs nowhere): it is invalidated as a whole first, then freed.
    pub fn teardown(self, alloc: &mut impl TableAlloc, sync: &mut impl TlbSync) {
        sync.publish();
        sync.invalidate_all();
        // SAFETY: the root and every table linked below it came from `alloc` and are ours.
        unsafe {
            free_subtree(
                alloc,
                self.geo.root,
                self.geo.start_level,
                self.geo.root_entries(),
            )
        };
        alloc.free_root(self.geo.root, self.geo.root_pages() as usize);
    }

    /// Walk to the leaf for `va`, if any.
    pub fn lookup(&self, va: u64) -> Option<Leaf> {
        self.geo.lookup(va)
    }
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
#[path = "../tests/map_leaf.rs"]
mod map_leaf_tests;
