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

use crate::addr::PhysAddr;

pub const PAGE_SIZE: u64 = 4096;
const ENTRIES: usize = 512;
const DESC_VALID: u64 = 1 << 0;
/// At levels 0-2: "table" (vs block); at level 3 it must be set for a page.
const DESC_TABLE_OR_PAGE: u64 = 1 << 1;
const OA_MASK: u64 = 0x0000_ffff_ffff_f000;
/// Attribute bits a leaf may carry: lower [11:2] and upper [63:50].
pub const LEAF_ATTR_MASK: u64 = 0xfffc_0000_0000_0ffc;

/// Source of zeroed, page-aligned table pages addressable at their physical address.
pub trait TableAlloc {
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

/// Where the table is and what it translates; everything a read-only walk needs.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    root: PhysAddr,
    start_level: u8,
    ia_bits: u8,
    /// `level_shift(start_level)`: where an address's root index starts.
    root_shift: u8,
}

pub struct PageTable {
    geo: Geometry,
    /// Non-root table pages currently linked.
    tables: u64,
}

#[inline(always)]
const fn level_shift(level: u8) -> u32 {
    12 + 9 * (3 - level as u32)
}

const fn is_leaf(desc: u64, level: u8) -> bool {
    level == 3 || desc & DESC_TABLE_OR_PAGE == 0
}

/// A leaf descriptor at `level`: a page at level 3, a block above.
const fn leaf_desc(pa: u64, attrs: u64, level: u8) -> u64 {
    let kind = if level == 3 { DESC_TABLE_OR_PAGE } else { 0 };
    (pa & OA_MASK) | attrs | kind | DESC_VALID
}

/// Bits [11:2] of a table descriptor are IGNORED by the walker (as long as neither
/// FEAT_HAFT nor the LPA2 format is turned on, and this engine turns on neither): there
/// the engine keeps how many valid entries the linked table holds (0..=512), so an unmap
/// sees that it emptied a table from its link alone. The root's entries are not counted.
const LIVE_SHIFT: u32 = 2;
const LIVE_MASK: u64 = 0x3ff << LIVE_SHIFT;

/// A descriptor linking the table page at `table`, which holds `live` valid entries.
const fn table_desc(table: PhysAddr, live: u64) -> u64 {
    (table.0 & OA_MASK) | (live << LIVE_SHIFT & LIVE_MASK) | DESC_TABLE_OR_PAGE | DESC_VALID
}

/// Valid entries in the table that the table descriptor `desc` links.
const fn live_entries(desc: u64) -> u64 {
    (desc & LIVE_MASK) >> LIVE_SHIFT
}

/// The table linked by `up` gained one valid entry (`gained`) or lost one. Only the
/// ignored bits change, so the live link needs no break-before-make. The count wraps
/// inside its field rather than spill into the address (it cannot leave 0..=512 while
/// every entry write goes through here; tests audit it). The root is linked by nothing:
/// its `up` is a scratch word nobody reads, which spares every walk a "root?" test.
///
/// # Safety
/// `up` must point at a valid table descriptor of a table page from a `TableAlloc`, or at
/// a scratch word.
#[inline(always)]
unsafe fn count_entry(up: *mut u64, gained: bool) {
    const ONE: u64 = 1 << LIVE_SHIFT;
    // SAFETY: the caller's promise.
    let desc = unsafe { up.read_volatile() };
    let counted = match gained {
        true => desc.wrapping_add(ONE),
        false => desc.wrapping_sub(ONE),
    };
    // SAFETY: as above.
    unsafe { up.write_volatile(desc & !LIVE_MASK | counted & LIVE_MASK) };
}

/// Most tables [`PageTable::map_leaf`] may need to add: one per level below the root.
const MAX_NEW_TABLES: usize = 3;

/// What a walk towards one leaf found in its way.
enum Reach {
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
enum Edit {
    Unmap,
    /// Give every leaf these attribute bits (addresses stay).
    Protect(u64),
}

/// The per-call context of an edit walk.
struct Editor<'a, A: TableAlloc, S: TlbSync> {
    alloc: &'a mut A,
    sync: &'a mut S,
    stats: &'a mut MapStats,
}

impl Geometry {
    fn root_entries(&self) -> usize {
        1 << (self.ia_bits as u32 - level_shift(self.start_level))
    }

    fn root_pages(&self) -> u64 {
        (self.root_entries() as u64).div_ceil(ENTRIES as u64)
    }

    #[inline(always)]
    fn index(&self, va: u64, level: u8) -> usize {
        let shift = level_shift(level);
        let bits = if level == self.start_level {
            self.ia_bits as u32 - shift
        } else {
            9
        };
        ((va >> shift) & ((1u64 << bits) - 1)) as usize
    }

    fn lookup(&self, va: u64) -> Option<Leaf> {
        self.walk(va).ok()
    }

    /// Walk to the leaf for `va`, or to the level of the invalid entry the walk met (the
    /// start level for an address beyond the input size).
    fn walk(&self, va: u64) -> Result<Leaf, u8> {
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
        let end = self.check_map_args(va, pa, size)?;
        if self.any_leaf(self.geo.root, self.geo.start_level, va, end) {
            return Err(MapError::AlreadyMapped);
        }
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
        let end = self.check_map_args(va, pa, size)?;
        if self.any_leaf(self.geo.root, self.geo.start_level, va, end) {
            return Err(MapError::AlreadyMapped);
        }
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
                let mut ed = Editor {
                    alloc,
                    sync,
                    stats: &mut MapStats::default(),
                };
                let mut root_up = 0; // the root's link: see `count_entry`
                let _ = self.edit(
                    &mut ed,
                    self.geo.root,
                    &mut root_up,
                    self.geo.start_level,
                    va,
                    end,
                    Edit::Unmap,
                );
                ed.sync.publish();
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
    pub fn map_leaf(
        &mut self,
        alloc: &mut impl TableAlloc,
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
    fn reach(&self, va: u64, level: u8, root_up: *mut u64) -> Reach {
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
    fn check_leaf_args(&self, va: u64, pa: PhysAddr, level: u8) -> Result<(), MapError> {
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
    fn new_branch(
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

    fn edit_range(
        &mut self,
        alloc: &mut impl TableAlloc,
        sync: &mut impl TlbSync,
        va: u64,
        end: u64,
        op: Edit,
        stats: &mut MapStats,
    ) -> Result<(), MapError> {
        let mut ed = Editor { alloc, sync, stats };
        let (root, level) = (self.geo.root, self.geo.start_level);
        let mut root_up = 0; // the root's link: see `count_entry`
        let r = self.edit(&mut ed, root, &mut root_up, level, va, end, op);
        // Tables linked by splits must be visible before the guest runs again.
        ed.sync.publish();
        r
    }

    /// Map `[va, end)` leaf by leaf (the range is known to be free of leaves).
    #[allow(clippy::too_many_arguments)]
    fn fill(
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
    fn map_one(
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
    fn any_leaf(&self, table: PhysAddr, level: u8, start: u64, end: u64) -> bool {
        let shift = level_shift(level);
        let size = 1u64 << shift;
        let first = self.geo.index(start, level);
        let last = self.geo.index(end - 1, level);
        let first_va = start & !(size - 1);
        (first..=last).enumerate().any(|(n, idx)| {
            // SAFETY: see `map_one`.
            let desc = unsafe { entry_ptr(table, idx).read_volatile() };
            if desc & DESC_VALID == 0 {
                return false;
            }
            if is_leaf(desc, level) {
                return true;
            }
            let eva = first_va + ((n as u64) << shift);
            self.any_leaf(
                PhysAddr(desc & OA_MASK),
                level + 1,
                start.max(eva),
                end.min(eva + size),
            )
        })
    }

    /// Apply `op` to every leaf in `[start, end)` below `table` (at `level`, linked by `up`,
    /// see [`count_entry`]), recursing into tables and splitting blocks the range covers
    /// only in part.
    #[allow(clippy::too_many_arguments)]
    fn edit<A: TableAlloc, S: TlbSync>(
        &mut self,
        ed: &mut Editor<A, S>,
        table: PhysAddr,
        up: *mut u64,
        level: u8,
        start: u64,
        end: u64,
        op: Edit,
    ) -> Result<(), MapError> {
        let shift = level_shift(level);
        let size = 1u64 << shift;
        let first = self.geo.index(start, level);
        let last = self.geo.index(end - 1, level);
        let first_va = start & !(size - 1);
        for (n, idx) in (first..=last).enumerate() {
            let eva = first_va + ((n as u64) << shift);
            let (s, e) = (start.max(eva), end.min(eva + size));
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
                        // SAFETY: `entry` is a live entry of ours (see above), `up` the
                        // live link of its table.
                        unsafe {
                            break_entry(entry, eva, level, ed.sync);
                            count_entry(up, false);
                        }
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
            // Even after an error below, a table the walk emptied is detached and freed, so
            // an empty table never stays linked. Its link says how many entries it kept.
            // SAFETY: as above.
            let emptied = live_entries(unsafe { entry.read_volatile() }) == 0;
            if matches!(op, Edit::Unmap) && emptied {
                // SAFETY: as above.
                unsafe {
                    break_entry(entry, eva, level, ed.sync);
                    count_entry(up, false);
                }
                ed.alloc.free_table(child);
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
    unsafe fn split<A: TableAlloc, S: TlbSync>(
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
unsafe fn break_entry(entry: *mut u64, va: u64, level: u8, sync: &mut impl TlbSync) {
    // SAFETY: the caller's promise.
    unsafe { entry.write_volatile(0) };
    sync.publish();
    sync.invalidate(va, level);
}

/// # Safety
/// `table` must be a table page from a `TableAlloc`.
#[cfg(test)]
unsafe fn table_is_empty(table: PhysAddr) -> bool {
    // SAFETY: the caller's promise; every index is inside the page.
    (0..ENTRIES).all(|i| unsafe { entry_ptr(table, i).read_volatile() } == 0)
}

/// Zero the `entries` entries of `table` at `level` and free every table below it.
///
/// # Safety
/// `table` must be a table (or root) from `alloc` holding `entries` entries, reachable by
/// no walker.
unsafe fn free_subtree(alloc: &mut impl TableAlloc, table: PhysAddr, level: u8, entries: usize) {
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

/// # Safety
/// `table` must be a table page (or concatenated root) from a `TableAlloc` and `idx` inside it.
unsafe fn entry_ptr(table: PhysAddr, idx: usize) -> *mut u64 {
    (table.0 as usize as *mut u64).wrapping_add(idx)
}

#[cfg(test)]
impl PageTable {
    /// A read-only view for test fakes (walks the same memory; holds no borrow): the leaf
    /// for an address, or the level at which its walk met an invalid entry.
    pub(crate) fn probe(&self) -> impl Fn(u64) -> Result<Leaf, u8> + 'static {
        let geo = self.geo;
        move |va| geo.walk(va)
    }

    /// Every leaf that lies (even partly) in `[start, end)`, as (its first address, leaf).
    pub(crate) fn leaves(&self, start: u64, end: u64) -> std::vec::Vec<(u64, Leaf)> {
        let mut out = std::vec::Vec::new();
        self.collect_leaves(
            self.geo.root,
            self.geo.start_level,
            start,
            end.min(1 << self.geo.ia_bits),
            &mut out,
        );
        out
    }

    fn collect_leaves(
        &self,
        table: PhysAddr,
        level: u8,
        start: u64,
        end: u64,
        out: &mut std::vec::Vec<(u64, Leaf)>,
    ) {
        if start >= end {
            return;
        }
        let shift = level_shift(level);
        let size = 1u64 << shift;
        let first = self.geo.index(start, level);
        let last = self.geo.index(end - 1, level);
        let first_va = start & !(size - 1);
        for (n, idx) in (first..=last).enumerate() {
            let eva = first_va + ((n as u64) << shift);
            // SAFETY: see `map_one`.
            let desc = unsafe { entry_ptr(table, idx).read_volatile() };
            if desc & DESC_VALID == 0 {
                continue;
            }
            if is_leaf(desc, level) {
                // allow-panic: test-only view (cfg(test) impl); a valid leaf was just read.
                out.push((eva, self.geo.lookup(eva).unwrap()));
            } else {
                let (s, e) = (start.max(eva), end.min(eva + size));
                self.collect_leaves(PhysAddr(desc & OA_MASK), level + 1, s, e, out);
            }
        }
    }

    /// (linked non-root tables, of which empty), by walking the whole table. Panics if a
    /// link's count of valid entries is not what its table holds.
    pub(crate) fn audit_tables(&self) -> (u64, u64) {
        fn walk(table: PhysAddr, level: u8, entries: usize, acc: &mut (u64, u64)) {
            for idx in 0..entries {
                // SAFETY: see `map_one`.
                let desc = unsafe { entry_ptr(table, idx).read_volatile() };
                if desc & DESC_VALID != 0 && !is_leaf(desc, level) {
                    let child = PhysAddr(desc & OA_MASK);
                    acc.0 += 1;
                    let live = (0..ENTRIES)
                        // SAFETY: as above.
                        .filter(
                            |&i| unsafe { entry_ptr(child, i).read_volatile() } & DESC_VALID != 0,
                        )
                        .count() as u64;
                    assert_eq!(
                        live_entries(desc),
                        live,
                        "table {child:?} (level {}) is linked with a stale count",
                        level + 1
                    );
                    // SAFETY: as above.
                    if unsafe { table_is_empty(child) } {
                        acc.1 += 1;
                    }
                    walk(child, level + 1, ENTRIES, acc);
                }
            }
        }
        let mut acc = (0, 0);
        walk(
            self.geo.root,
            self.geo.start_level,
            self.geo.root_entries(),
            &mut acc,
        );
        acc
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::boxed::Box;
    use std::cell::Cell;
    use std::vec::Vec;

    std::thread_local! {
        static CLOCK: Cell<u64> = const { Cell::new(0) };
    }

    /// A per-test-thread clock, so events recorded by different fakes can be ordered.
    pub fn tick() -> u64 {
        CLOCK.with(|c| {
            c.set(c.get() + 1);
            c.get()
        })
    }

    /// Host memory standing in for physical table pages.
    #[repr(C, align(4096))]
    pub struct Page(pub [u64; ENTRIES]);

    /// Table pages from a fixed pool: lowest free page first, roots aligned to their size,
    /// frees checked (a freed page must be all zero and ours), an optional failure budget.
    pub struct TestAlloc {
        pages: Vec<Page>,
        /// Index of the first pool page (64 KiB aligned, so any root can be).
        base: usize,
        in_use: Vec<bool>,
        /// Free page numbers, lowest on top.
        free: Vec<usize>,
        live: usize,
        budget: Option<usize>,
        /// (tick, page) of every free, in order.
        pub freed: Vec<(u64, PhysAddr)>,
    }

    impl TestAlloc {
        pub fn new(capacity: usize) -> Self {
            let mut pages = Vec::with_capacity(capacity + 15);
            for _ in 0..capacity + 15 {
                pages.push(Page([0; ENTRIES]));
            }
            let first = pages.as_ptr() as usize;
            let base = (first.next_multiple_of(16 * 4096) - first) / 4096;
            TestAlloc {
                pages,
                base,
                in_use: std::vec![false; capacity],
                free: (0..capacity).rev().collect(),
                live: 0,
                budget: None,
                freed: Vec::new(),
            }
        }

        /// Table pages handed out and not given back.
        pub fn used(&self) -> usize {
            self.live
        }

        /// Let only `n` more allocations succeed (`None`: no limit).
        pub fn fail_after(&mut self, n: Option<usize>) {
            self.budget = n;
        }

        fn spend(&mut self) -> bool {
            match &mut self.budget {
                Some(0) => false,
                Some(n) => {
                    *n -= 1;
                    true
                }
                None => true,
            }
        }

        fn page(&mut self, i: usize) -> &mut Page {
            &mut self.pages[self.base + i]
        }

        fn addr(&mut self, i: usize) -> PhysAddr {
            PhysAddr(self.page(i) as *mut Page as u64)
        }

        fn number(&mut self, pa: PhysAddr) -> usize {
            let first = self.addr(0).0;
            assert!(
                pa.0 >= first && (pa.0 - first).is_multiple_of(4096),
                "{pa:?} not ours"
            );
            let i = ((pa.0 - first) / 4096) as usize;
            assert!(i < self.in_use.len(), "{pa:?} not ours");
            i
        }

        fn take(&mut self, i: usize) -> PhysAddr {
            self.in_use[i] = true;
            self.live += 1;
            self.page(i).0 = [0; ENTRIES];
            self.addr(i)
        }
    }

    impl TableAlloc for TestAlloc {
        fn alloc_table(&mut self) -> Option<PhysAddr> {
            if !self.spend() {
                return None;
            }
            let i = self.free.pop()?;
            Some(self.take(i))
        }

        fn free_table(&mut self, pa: PhysAddr) {
            let i = self.number(pa);
            assert!(self.in_use[i], "double free of {pa:?}");
            assert!(
                self.page(i).0.iter().all(|&e| e == 0),
                "{pa:?} freed while not empty"
            );
            self.in_use[i] = false;
            self.live -= 1;
            self.free.push(i);
            self.freed.push((tick(), pa));
        }

        fn alloc_root(&mut self, pages: usize) -> Option<PhysAddr> {
            if !self.spend() {
                return None;
            }
            let n = self.in_use.len();
            let first = (0..n.saturating_sub(pages - 1))
                .step_by(pages)
                .find(|&i| (i..i + pages).all(|j| !self.in_use[j]))?;
            self.free.retain(|&j| !(first..first + pages).contains(&j));
            let root = self.take(first);
            for j in first + 1..first + pages {
                self.take(j);
            }
            Some(root)
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum SyncEv {
        Publish,
        /// `hole`: the level at which a walk of `ia` met an invalid entry when the
        /// invalidation was asked for (`None`: it still translated, or no probe).
        Invalidate {
            ia: u64,
            level: u8,
            hole: Option<u8>,
        },
        InvalidateAll,
    }

    /// A read-only walk: the leaf, or the level of the invalid entry the walk met.
    type Probe = Box<dyn Fn(u64) -> Result<Leaf, u8>>;

    /// Records TLB-side calls with the tick they happened at.
    #[derive(Default)]
    pub struct TestSync {
        pub log: Vec<(u64, SyncEv)>,
        probe: Option<Probe>,
    }

    impl TestSync {
        pub fn watching(t: &PageTable) -> Self {
            TestSync {
                log: Vec::new(),
                probe: Some(Box::new(t.probe())),
            }
        }
        pub fn events(&self) -> Vec<SyncEv> {
            self.log.iter().map(|&(_, e)| e).collect()
        }
        pub fn invalidations(&self) -> Vec<(u64, u8)> {
            self.events()
                .into_iter()
                .filter_map(|e| match e {
                    SyncEv::Invalidate { ia, level, .. } => Some((ia, level)),
                    _ => None,
                })
                .collect()
        }
        /// Every invalidation came right after a publish, with the entry it names (or one
        /// above it) already broken.
        pub fn assert_break_before_make(&self) {
            let ev = self.events();
            for (i, e) in ev.iter().enumerate() {
                if let SyncEv::Invalidate { ia, level, hole } = e {
                    assert!(
                        hole.is_some_and(|h| h <= *level),
                        "{ia:#x} level {level}: walk found {hole:?} when invalidated"
                    );
                    assert!(
                        i > 0 && ev[i - 1] == SyncEv::Publish,
                        "invalidation of {ia:#x} without a publish first"
                    );
                }
            }
        }
    }

    impl TlbSync for TestSync {
        fn publish(&mut self) {
            self.log.push((tick(), SyncEv::Publish));
        }
        fn invalidate(&mut self, ia: u64, level: u8) {
            let hole = self.probe.as_ref().and_then(|p| p(ia).err());
            self.log
                .push((tick(), SyncEv::Invalidate { ia, level, hole }));
        }
        fn invalidate_all(&mut self) {
            self.log.push((tick(), SyncEv::InvalidateAll));
        }
    }

    const ATTRS: u64 = 0x3 << 8 | 1 << 10;
    const OTHER: u64 = 0x3 << 8 | 1 << 10 | 1 << 54;
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    #[test]
    fn aligned_gigabyte_uses_one_1g_block() {
        let mut a = TestAlloc::new(8);
        let mut t = PageTable::new(&mut a, 0, 48).unwrap();
        let s = t
            .map(
                &mut a,
                0x4000_0000,
                PhysAddr(0x4000_0000),
                1 << 30,
                ATTRS,
                true,
            )
            .unwrap();
        assert_eq!(
            s,
            MapStats {
                blocks_1g: 1,
                tables: 1,
                ..Default::default()
            }
        );
        let leaf = t.lookup(0x4123_4567).unwrap();
        assert_eq!(
            (leaf.pa, leaf.level, leaf.attrs),
            (PhysAddr(0x4123_4567), 1, ATTRS)
        );
    }

    #[test]
    fn unaligned_range_mixes_pages_and_2m_blocks() {
        let mut a = TestAlloc::new(16);
        let mut t = PageTable::new(&mut a, 0, 48).unwrap();
        let s = t
            .map(
                &mut a,
                0x401f_f000,
                PhysAddr(0x801f_f000),
                0x40_2000,
                ATTRS,
                true,
            )
            .unwrap();
        assert_eq!((s.pages_4k, s.blocks_2m), (2, 2));
        assert_eq!(t.lookup(0x4020_0000).unwrap().level, 2);
        assert_eq!(t.lookup(0x401f_f000).unwrap().pa, PhysAddr(0x801f_f000));
        assert_eq!(t.lookup(0x4060_0fff).unwrap().pa, PhysAddr(0x8060_0fff));
        assert_eq!(t.lookup(0x4060_1000), None);
    }

    #[test]
    fn blocks_off_means_pages_only() {
        let mut a = TestAlloc::new(16);
        let mut t = PageTable::new(&mut a, 0, 48).unwrap();
        let s = t
            .map(
                &mut a,
                0x20_0000,
                PhysAddr(0x20_0000),
                0x20_0000,
                ATTRS,
                false,
            )
            .unwrap();
        assert_eq!((s.pages_4k, s.blocks_2m), (512, 0));
    }

    #[test]
    fn overlapping_map_is_refused() {
        let mut a = TestAlloc::new(16);
        let mut t = PageTable::new(&mut a, 0, 48).unwrap();
        t.map(
            &mut a,
            0x20_0000,
            PhysAddr(0x20_0000),
            0x20_0000,
            ATTRS,
            true,
        )
        .unwrap();
        assert_eq!(
            t.map(&mut a, 0x30_0000, PhysAddr(0), 0x1000, ATTRS, true),
            Err(MapError::AlreadyMapped)
        );
    }

    #[test]
    fn a_refused_overlapping_map_changes_nothing() {
        let mut a = TestAlloc::new(16);
        let mut t = PageTable::new(&mut a, 0, 48).unwrap();
        t.map(&mut a, 0x40_0000, PhysAddr(0), 0x1000, ATTRS, true)
            .unwrap();
        let before = a.used();
        // Starts in free space, runs into the mapped page.
        assert_eq!(
            t.map(&mut a, 0x3f_f000, PhysAddr(0), 0x2000, ATTRS, true),
            Err(MapError::AlreadyMapped)
        );
        assert_eq!(t.lookup(0x3f_f000), None);
        assert_eq!(a.used(), before);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let mut a = TestAlloc::new(4);
        let mut t = PageTable::new(&mut a, 0, 48).unwrap();
        assert_eq!(
            t.map(&mut a, 0x800, PhysAddr(0), 0x1000, 0, true),
            Err(MapError::Misaligned)
        );
        assert_eq!(
            t.map(&mut a, 0, PhysAddr(0), 0, 0, true),
            Err(MapError::Misaligned)
        );
        assert_eq!(
            t.map(&mut a, 1 << 48, PhysAddr(0), 0x1000, 0, true),
            Err(MapError::OutOfRange)
        );
        assert_eq!(
            t.map(&mut a, !0xfff, PhysAddr(0), 0x2000, 0, true),
            Err(MapError::OutOfRange)
        );
        let mut s = TestSync::default();
        assert_eq!(t.unmap(&mut a, &mut s, 0, 0x800), Err(MapError::Misaligned));
        assert_eq!(
            t.protect(&mut a, &mut s, !0xfff, 0x2000, ATTRS),
            Err(MapError::OutOfRange)
        );
        assert_eq!(
            t.remap(&mut a, &mut s, 0, PhysAddr(1 << 48), 0x1000, ATTRS, true),
            Err(MapError::OutOfRange)
        );
        assert!(s.log.is_empty(), "refused calls touch nothing");
        assert!(PageTable::new(&mut a, 3, 48).is_err());
    }

    #[test]
    fn running_out_of_tables_is_an_error() {
        let mut a = TestAlloc::new(2);
        let mut t = PageTable::new(&mut a, 0, 48).unwrap();
        assert_eq!(
            t.map(&mut a, 0x1000, PhysAddr(0x1000), 0x1000, ATTRS, true),
            Err(MapError::OutOfTables)
        );
    }

    #[test]
    fn concatenated_root_spans_several_pages() {
        // 40-bit input from level 1: 1024 root entries = 2 concatenated pages.
        let mut a = TestAlloc::new(8);
        let mut t = PageTable::new(&mut a, 1, 40).unwrap();
        assert_eq!(a.used(), 2);
        assert_eq!(t.table_pages(), 2);
        assert!(t.root().is_aligned(2 * PAGE_SIZE));
        t.map(
            &mut a,
            0xff_c000_0000,
            PhysAddr(0x1_0000_0000),
            1 << 30,
            ATTRS,
            true,
        )
        .unwrap();
        assert_eq!(
            t.lookup(0xff_c000_1000).unwrap().pa,
            PhysAddr(0x1_0000_1000)
        );
    }

    /// An allocator that only has unaligned pages (the default `alloc_root` must refuse
    /// them for a concatenated root and give them back).
    struct Unaligned(TestAlloc);
    impl TableAlloc for Unaligned {
        fn alloc_table(&mut self) -> Option<PhysAddr> {
            self.0.alloc_table()
        }
        fn free_table(&mut self, t: PhysAddr) {
            self.0.free_table(t)
        }
    }

    #[test]
    fn default_root_allocation_refuses_a_misaligned_concatenated_root() {
        let mut inner = TestAlloc::new(8);
        inner.alloc_table().unwrap(); // page 0: now the next free page is odd
        let mut a = Unaligned(inner);
        assert_eq!(
            PageTable::new(&mut a, 1, 40).err(),
            Some(MapError::OutOfTables)
        );
        assert_eq!(a.0.used(), 1, "pages of the refused root went back");
        let mut b = Unaligned(TestAlloc::new(8));
        assert!(PageTable::new(&mut b, 1, 40).is_ok());
    }

    #[test]
    fn partial_unmap_splits_a_2m_block_and_keeps_the_rest() {
        let mut a = TestAlloc::new(8);
        let mut t = PageTable::new(&mut a, 1, 40).unwrap();
        t.map(&mut a, 2 * MIB, PhysAddr(6 * MIB), 2 * MIB, ATTRS, true)
            .unwrap();
        let mut s = TestSync::watching(&t);
        let st = t.unmap(&mut a, &mut s, 2 * MIB + 0x5000, 0x2000).unwrap();
        assert_eq!((st.splits, st.unmapped, st.tables), (1, 2, 1));
        assert_eq!(t.lookup(2 * MIB + 0x5000), None);
        assert_eq!(t.lookup(2 * MIB + 0x6fff), None);
        for off in [0, 0x4000, 0x7000, 2 * MIB - 0x1000] {
            let l = t.lookup(2 * MIB + off).unwrap();
            assert_eq!(
                (l.pa, l.attrs, l.level),
                (PhysAddr(6 * MIB + off), ATTRS, 3)
            );
        }
        s.assert_break_before_make();
        assert_eq!(
            s.invalidations(),
            [(2 * MIB, 2), (2 * MIB + 0x5000, 3), (2 * MIB + 0x6000, 3)]
        );
        assert_eq!(
            t.audit_tables(),
            (2, 0),
            "the split table counts 510 entries"
        );
    }

    #[test]
    fn partial_unmap_of_a_1g_block_splits_only_the_2m_piece_it_cuts() {
        let mut a = TestAlloc::new(8);
        let mut t = PageTable::new(&mut a, 1, 40).unwrap();
        t.map(&mut a, GIB, PhysAddr(GIB), GIB, ATTRS, true).unwrap();
        let mut s = TestSync::watching(&t);
        t.unmap(&mut a, &mut s, GIB + 2 * MIB + 0x1000, 0x1000)
            .unwrap();
        assert_eq!(t.lookup(GIB).unwrap().level, 2);
        assert_eq!(t.lookup(GIB + 2 * MIB).unwrap().level, 3);
        assert_eq!(t.lookup(GIB + 2 * MIB + 0x1000), None);
        assert_eq!(t.lookup(GIB + 4 * MIB).unwrap().level, 2);
        assert_eq!(t.lookup(2 * GIB - 1).unwrap().pa, PhysAddr(2 * GIB - 1));
        assert_eq!(t.table_pages(), 2 + 2);
        s.assert_break_before_make();
    }

    #[test]
    fn unmapping_the_last_leaf_frees_each_emptied_table_after_invalidating_it() {
        let mut a = TestAlloc::new(8);
        let mut t = PageTable::new(&mut a, 0, 48).unwrap();
        t.map(&mut a, 0x1000, PhysAddr(0x1000), 0x1000, ATTRS, true)
            .unwrap();
        assert_eq!(t.table_pages(), 4);
        let mut s = TestSync::watching(&t);
        let st = t.unmap(&mut a, &mut s, 0, 2 * MIB).unwrap();
        assert_eq!((st.unmapped, st.tables_freed), (1, 3));
        assert_eq!((t.table_pages(), a.used()), (1, 1));
        assert_eq!(s.invalidations(), [(0x1000, 3), (0, 2), (0, 1), (0, 0)]);
        s.assert_break_before_make();
        // Each table goes back only after the entry that linked it was invalidated.
        let inv_ticks: Vec<u64> = s
            .log
            .iter()
            .filter(|(_, e)| matches!(e, SyncEv::Invalidate { .. }))
            .map(|&(t, _)| t)
            .collect();
        assert_eq!(a.freed.len(), 3);
        for (k, &(freed_at, _)) in a.freed.iter().enumerate() {
            assert!(freed_at > inv_ticks[k + 1], "table {k} freed too early");
        }
    }

    #[test]
    fn table_links_count_valid_entries_in_bits_the_walker_ignores() {
        let mut a = TestAlloc::new(8);
        let mut t = PageTable::new(&mut a, 1, 40).unwrap();
        let mut s = TestSync::default();
        t.map(&mut a, 0x1000, PhysAddr(0x1000), 0x3000, ATTRS, true)
            .unwrap();
        // SAFETY: the root and the tables linked from it are this table's own pages.
        let link = |table: PhysAddr, idx| unsafe { entry_ptr(table, idx).read_volatile() };
        let l2 = link(t.root(), 0);
        let l3 = link(PhysAddr(l2 & OA_MASK), 0);
        assert_eq!((live_entries(l2), live_entries(l3)), (1, 3));
        for desc in [l2, l3] {
            assert_eq!(desc & !LIVE_MASK, table_desc(PhysAddr(desc & OA_MASK), 0));
        }
        t.unmap(&mut a, &mut s, 0x2000, 0x1000).unwrap();
        assert_eq!(live_entries(link(PhysAddr(l2 & OA_MASK), 0)), 2);
        t.unmap(&mut a, &mut s, 0, 2 * MIB).unwrap();
        assert_eq!(link(t.root(), 0), 0, "emptied and freed");
        assert_eq!(a.used(), 2);
    }

    #[test]
    fn protect_changes_leaves_with_break_before_make() {
        let mut a = TestAlloc::new(8);
        let mut t = PageTable::new(&mut a, 1, 40).unwrap();
        t.map(&mut a, 0, PhysAddr(0x1000_0000), 4 * MIB, ATTRS, true)
            .unwrap();
        let mut s = TestSync::watching(&t);
        let st = t.protect(&mut a, &mut s, 0, 4 * MIB, OTHER).unwrap();
        assert_eq!((st.changed, st.splits), (2, 0));
        let l = t.lookup(3 * MIB).unwrap();
        assert_eq!((l.pa, l.attrs, l.level), (PhysAddr(0x1030_0000), OTHER, 2));
        s.assert_break_before_make();
        assert_eq!(s.invalidations(), [(0, 2), (2 * MIB, 2)]);
    }

    #[test]
    fn protect_with_the_same_attrs_touches_nothing() {
        let mut a = TestAlloc::new(8);
        let mut t = PageTable::new(&mut a, 1, 40).unwrap();
        t.map(&mut a, 0, PhysAddr(0), 2 * MIB, ATTRS, true).unwrap();
        let mut s = TestSync::watching(&t);
        let st = t.protect(&mut a, &mut s, 0x1000, 0x1000, ATTRS).unwrap();
        assert_eq!(st, MapStats::default());
        assert!(s.invalidations().is_empty());
        assert_eq!(t.lookup(0x1000).unwrap().level, 2, "no needless split");
    }

    #[test]
    fn protect_leaves_holes_unmapped() {
        let mut a = TestAlloc::new(8);
        let mut t = PageTable::new(&mut a, 1, 40).unwrap();
        t.map(&mut a, 0x2000, PhysAddr(0x2000), 0x1000, ATTRS, true)
            .unwrap();
        let mut s = TestSync::watching(&t);
        let st = t.protect(&mut a, &mut s, 0, 0x4000, OTHER).unwrap();
        assert_eq!(st.changed, 1);
        assert_eq!(t.lookup(0x1000), None);
        assert_eq!(t.lookup(0x3000), None);
        assert_eq!(t.lookup(0x2000).unwrap().attrs, OTHER);
    }

    #[test]
    fn partial_protect_splits_and_changes_only_the_range() {
        let mut a = TestAlloc::new(8);
        let mut t = PageTable::new(&mut a, 1, 40).unwrap();
        t.map(&mut a, 0, PhysAddr(0), 2 * MIB, ATTRS, true).unwrap();
        let mut s = TestSync::watching(&t);
        let st = t.protect(&mut a, &mut s, 0x3000, 0x1000, OTHER).unwrap();
        assert_eq!((st.splits, st.changed), (1, 1));
        assert_eq!(t.lookup(0x3000).unwrap().attrs, OTHER);
        assert_eq!(t.lookup(0x2000).unwrap().attrs, ATTRS);
        assert_eq!(t.lookup(0x4000).unwrap().attrs, ATTRS);
        s.assert_break_before_make();
    }

    #[test]
    fn remap_replaces_a_live_mapping_with_break_before_make() {
        let mut a = TestAlloc::new(8);
        let mut t = PageTable::new(&mut a, 1, 40).unwrap();
        t.map(&mut a, 0, PhysAddr(0), 2 * MIB, ATTRS, true).unwrap();
        let mut s = TestSync::watching(&t);
        t.remap(
            &mut a,
            &mut s,
            0x1000,
            PhysAddr(0x9000_0000),
            0x1000,
            OTHER,
            true,
        )
        .unwrap();
        let l = t.lookup(0x1000).unwrap();
        assert_eq!((l.pa, l.attrs), (PhysAddr(0x9000_0000), OTHER));
        assert_eq!(t.lookup(0x2000).unwrap().pa, PhysAddr(0x2000));
        s.assert_break_before_make();
        assert_eq!(s.invalidations(), [(0, 2), (0x1000, 3)]);
    }

    #[test]
    fn map_over_an_existing_identical_mapping_is_already_mapped() {
        let mut a = TestAlloc::new(8);
        let mut t = PageTable::new(&mut a, 1, 40).unwrap();
        let mut s = TestSync::default();
        t.map_atomic(&mut a, &mut s, 0, PhysAddr(0), 0x1000, ATTRS, true)
            .unwrap();
        assert_eq!(
            t.map_atomic(&mut a, &mut s, 0, PhysAddr(0), 0x1000, ATTRS, true),
            Err(MapError::AlreadyMapped)
        );
    }

    #[test]
    fn a_map_that_runs_out_of_tables_leaves_nothing_behind() {
        let mut a = TestAlloc::new(16);
        let mut t = PageTable::new(&mut a, 1, 40).unwrap();
        // 2 MiB block at 0, then pages from 2 MiB + 4 KiB: the second part needs a table.
        a.fail_after(Some(0));
        let mut s = TestSync::watching(&t);
        assert_eq!(
            t.map_atomic(
                &mut a,
                &mut s,
                0,
                PhysAddr(0),
                4 * MIB - 0x1000,
                ATTRS,
                true
            ),
            Err(MapError::OutOfTables)
        );
        assert_eq!(t.lookup(0), None, "the block mapped first was taken back");
        assert_eq!((t.table_pages(), a.used()), (2, 2));
        s.assert_break_before_make();
        // Deeper: level-2 table granted, level-3 table refused.
        a.fail_after(Some(1));
        assert_eq!(
            t.map_atomic(
                &mut a,
                &mut s,
                GIB + 0x1000,
                PhysAddr(0),
                0x1000,
                ATTRS,
                true
            ),
            Err(MapError::OutOfTables)
        );
        assert_eq!((t.table_pages(), a.used()), (2, 2), "empty table freed");
        assert_eq!(t.audit_tables(), (0, 0));
    }

    #[test]
    fn unmap_that_needs_a_split_without_tables_fails_and_keeps_the_block() {
        let mut a = TestAlloc::new(8);
        let mut t = PageTable::new(&mut a, 1, 40).unwrap();
        t.map(&mut a, 0, PhysAddr(0), 2 * MIB, ATTRS, true).unwrap();
        a.fail_after(Some(0));
        let mut s = TestSync::watching(&t);
        assert_eq!(
            t.unmap(&mut a, &mut s, 0x1000, 0x1000),
            Err(MapError::OutOfTables)
        );
        assert_eq!(t.lookup(0x1000).unwrap().level, 2);
        assert!(s.invalidations().is_empty());
    }

    #[test]
    fn unmapping_a_hole_is_a_no_op() {
        let mut a = TestAlloc::new(8);
        let mut t = PageTable::new(&mut a, 1, 40).unwrap();
        let mut s = TestSync::default();
        let st = t.unmap(&mut a, &mut s, 0, 1 << 40).unwrap();
        assert_eq!(st, MapStats::default());
        assert!(s.invalidations().is_empty());
    }

    #[test]
    fn teardown_gives_every_page_back_after_invalidating_all() {
        let mut a = TestAlloc::new(32);
        let mut t = PageTable::new(&mut a, 1, 40).unwrap();
        t.map(&mut a, 0x1000, PhysAddr(0), 5 * MIB, ATTRS, true)
            .unwrap();
        t.map(&mut a, 300 * GIB, PhysAddr(0), 0x1000, ATTRS, true)
            .unwrap();
        assert!(a.used() > 2);
        let mut s = TestSync::default();
        t.teardown(&mut a, &mut s);
        assert_eq!(a.used(), 0);
        assert_eq!(s.events(), [SyncEv::Publish, SyncEv::InvalidateAll]);
        let all_at = s.log[1].0;
        assert!(a.freed.iter().all(|&(at, _)| at > all_at));
    }
}

#[cfg(test)]
#[path = "tests/map_leaf.rs"]
mod map_leaf_tests;
