//! The engine's rules, case by case, against the recording fakes.

use super::*;

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
    // The split invalidates the block before linking its table; the two pages are
    // invalidated together at the end.
    assert_eq!(
        s.events(),
        [
            SyncEv::Publish,
            SyncEv::Invalidate {
                ia: 2 * MIB,
                level: 2,
                hole: Some(2)
            },
            SyncEv::Publish,
            SyncEv::InvalidateAll
        ]
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
    // The page and the three links: four entries, one invalidation.
    assert_eq!(s.events(), [SyncEv::Publish, SyncEv::InvalidateAll]);
    s.assert_break_before_make();
    // The tables go back only after it, and were all detached by then.
    assert_eq!(s.snaps.len(), 1);
    assert!(s.snaps[0].linked.is_empty());
    assert_eq!(a.freed.len(), 3);
    for (k, &(freed_at, _)) in a.freed.iter().enumerate() {
        assert!(freed_at > s.snaps[0].tick, "table {k} freed too early");
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
