//! A 4 KiB-granule translation table, shared by EL2 stage 1 and (later) stage 2.
//!
//! The engine knows table structure only; the caller supplies the attribute bits of leaves
//! (see `el2_attrs.rs`). Tables are reached at their physical address: EL2 runs identity
//! mapped (and with the MMU off while the boot map is built), and unit tests hand out host
//! memory whose address is its "physical" address.

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// Address or size not 4 KiB aligned, or size 0.
    Misaligned,
    /// Beyond the input-address size of this table.
    OutOfRange,
    /// Part of the range already has a leaf (changing live entries is not this call's job).
    AlreadyMapped,
    /// The table-page source ran dry.
    OutOfTables,
    /// The configuration cannot be expressed (bad start level / input size).
    BadGeometry,
}

/// Counts of what a map call produced (for the boot report).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MapStats {
    pub blocks_1g: u64,
    pub blocks_2m: u64,
    pub pages_4k: u64,
    pub tables: u64,
}

/// A leaf found by [`PageTable::lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf {
    pub pa: PhysAddr,
    pub attrs: u64,
    pub level: u8,
}

pub struct PageTable {
    root: PhysAddr,
    start_level: u8,
    ia_bits: u8,
}

const fn level_shift(level: u8) -> u32 {
    12 + 9 * (3 - level as u32)
}

impl PageTable {
    /// A new, empty table translating `ia_bits` of input address starting at `start_level`.
    /// The root may be several concatenated pages (stage 2), which `alloc` must provide
    /// contiguously: this asks for one page per root table and checks they are adjacent.
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
        let root_entries = 1u64 << (ia_bits as u32 - shift);
        let pages = root_entries.div_ceil(ENTRIES as u64);
        let root = alloc.alloc_table().ok_or(MapError::OutOfTables)?;
        for i in 1..pages {
            let next = alloc.alloc_table().ok_or(MapError::OutOfTables)?;
            if next.0 != root.0 + i * PAGE_SIZE {
                return Err(MapError::OutOfTables);
            }
        }
        Ok(PageTable {
            root,
            start_level,
            ia_bits,
        })
    }

    pub fn root(&self) -> PhysAddr {
        self.root
    }

    pub fn start_level(&self) -> u8 {
        self.start_level
    }

    pub fn ia_bits(&self) -> u8 {
        self.ia_bits
    }

    /// Map `[va, va + size)` to `[pa, pa + size)` with `attrs` (leaf attribute bits). Uses
    /// 1 GiB / 2 MiB blocks where both addresses are aligned and `blocks` allows.
    pub fn map(
        &mut self,
        alloc: &mut impl TableAlloc,
        va: u64,
        pa: PhysAddr,
        size: u64,
        attrs: u64,
        blocks: bool,
    ) -> Result<MapStats, MapError> {
        if size == 0 || (va | pa.0 | size) & (PAGE_SIZE - 1) != 0 {
            return Err(MapError::Misaligned);
        }
        let end = va.checked_add(size).ok_or(MapError::OutOfRange)?;
        if end > 1u64 << self.ia_bits
            || pa
                .0
                .checked_add(size)
                .is_none_or(|e| e > OA_MASK + PAGE_SIZE)
        {
            return Err(MapError::OutOfRange);
        }
        let mut stats = MapStats::default();
        let mut cur = va;
        while cur < end {
            let pa_here = pa.0 + (cur - va);
            let step = self.map_one(
                alloc,
                cur,
                pa_here,
                end - cur,
                attrs & LEAF_ATTR_MASK,
                blocks,
                &mut stats,
            )?;
            cur += step;
        }
        Ok(stats)
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
        let mut table = self.root;
        let mut level = self.start_level;
        loop {
            let shift = level_shift(level);
            let block = 1u64 << shift;
            let idx = self.index(va, level);
            // SAFETY: `table` is the root or a table this PageTable installed, both obtained from
            // a TableAlloc, which promises addressable, exclusively owned pages; `idx` is within
            // the table (the root may span several concatenated pages).
            let entry = unsafe { entry_ptr(table, idx) };
            // SAFETY: as above.
            let desc = unsafe { entry.read_volatile() };
            let leaf_ok = level == 3
                || (blocks && level >= 1 && (va | pa) & (block - 1) == 0 && remaining >= block);
            if desc & DESC_VALID == 0 && leaf_ok {
                let kind = if level == 3 { DESC_TABLE_OR_PAGE } else { 0 };
                // SAFETY: as above.
                unsafe { entry.write_volatile((pa & OA_MASK) | attrs | kind | DESC_VALID) };
                match level {
                    1 => stats.blocks_1g += 1,
                    2 => stats.blocks_2m += 1,
                    _ => stats.pages_4k += 1,
                }
                return Ok(block);
            }
            if desc & DESC_VALID != 0 && (level == 3 || desc & DESC_TABLE_OR_PAGE == 0) {
                return Err(MapError::AlreadyMapped);
            }
            if desc & DESC_VALID == 0 {
                let next = alloc.alloc_table().ok_or(MapError::OutOfTables)?;
                stats.tables += 1;
                // SAFETY: as above.
                unsafe {
                    entry.write_volatile((next.0 & OA_MASK) | DESC_TABLE_OR_PAGE | DESC_VALID)
                };
                table = next;
            } else {
                table = PhysAddr(desc & OA_MASK);
            }
            level += 1;
        }
    }

    /// Walk to the leaf for `va`, if any.
    pub fn lookup(&self, va: u64) -> Option<Leaf> {
        if va >= 1u64 << self.ia_bits {
            return None;
        }
        let mut table = self.root;
        let mut level = self.start_level;
        loop {
            // SAFETY: see `map_one`: only tables from our TableAlloc are ever walked.
            let desc = unsafe { entry_ptr(table, self.index(va, level)).read_volatile() };
            if desc & DESC_VALID == 0 {
                return None;
            }
            if level == 3 || desc & DESC_TABLE_OR_PAGE == 0 {
                let offset = va & ((1u64 << level_shift(level)) - 1);
                return Some(Leaf {
                    pa: PhysAddr((desc & OA_MASK & !((1u64 << level_shift(level)) - 1)) + offset),
                    attrs: desc & LEAF_ATTR_MASK,
                    level,
                });
            }
            table = PhysAddr(desc & OA_MASK);
            level += 1;
        }
    }

    fn index(&self, va: u64, level: u8) -> usize {
        let shift = level_shift(level);
        let bits = if level == self.start_level {
            self.ia_bits as u32 - shift
        } else {
            9
        };
        ((va >> shift) & ((1u64 << bits) - 1)) as usize
    }
}

/// # Safety
/// `table` must be a table page (or concatenated root) from a `TableAlloc` and `idx` inside it.
unsafe fn entry_ptr(table: PhysAddr, idx: usize) -> *mut u64 {
    (table.0 as usize as *mut u64).wrapping_add(idx)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Host memory standing in for physical table pages.
    #[repr(C, align(4096))]
    pub struct Page(pub [u64; ENTRIES]);

    pub struct TestAlloc {
        pages: std::vec::Vec<Page>,
        next: usize,
    }

    impl TestAlloc {
        pub fn new(capacity: usize) -> Self {
            let mut pages = std::vec::Vec::with_capacity(capacity);
            for _ in 0..capacity {
                pages.push(Page([0; ENTRIES]));
            }
            TestAlloc { pages, next: 0 }
        }
        pub fn used(&self) -> usize {
            self.next
        }
    }

    impl TableAlloc for TestAlloc {
        fn alloc_table(&mut self) -> Option<PhysAddr> {
            let page = self.pages.get_mut(self.next)?;
            self.next += 1;
            Some(PhysAddr(page as *mut Page as u64))
        }
    }

    const ATTRS: u64 = 0x3 << 8 | 1 << 10;

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
}
