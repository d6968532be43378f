//! An unmap's one flush (owed.rs): what it covers, when detached tables go back, how many
//! invalidations a large unmap costs, and that an error still pays what it owes.

use super::*;

const ATTRS: u64 = 0x3 << 8 | 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// The rules of an unmap of `[start, end)` on `t` (watched by `s`, `a.freed` cleared and
/// `linked` taken just before it), from what the fakes recorded:
/// - every invalidation follows a publish (by address: with its entry already broken);
/// - at the last invalidation the range held exactly what it holds now: no entry was
///   broken after it, so nothing is left owed;
/// - every table page freed was linked before the unmap, and was already detached at an
///   invalidation that came before its free.
fn check_unmap(s: &TestSync, a: &TestAlloc, t: &PageTable, range: (u64, u64), linked: &[PhysAddr]) {
    s.assert_break_before_make();
    let last = s
        .snaps
        .last()
        .expect("an unmap that broke entries invalidates");
    let now: Vec<u64> = t
        .leaves(range.0, range.1)
        .iter()
        .map(|&(va, _)| va)
        .collect();
    assert_eq!(
        last.mapped, now,
        "entries broken after the last invalidation"
    );
    for &(freed_at, page) in &a.freed {
        assert!(linked.contains(&page), "{page:?} was not a linked table");
        assert!(
            s.snaps
                .iter()
                .any(|snap| snap.tick < freed_at && !snap.linked.contains(&page)),
            "{page:?} freed before an invalidation that followed its detachment"
        );
    }
}

/// A watching `TestSync` for `[start, end)` of `t`, the tables linked now, and `a.freed`
/// cleared.
fn watch(t: &PageTable, a: &mut TestAlloc, start: u64, end: u64) -> (TestSync, Vec<PhysAddr>) {
    let mut s = TestSync::watching(t);
    s.watch(start, end);
    a.freed.clear();
    (s, t.tables_view()())
}

#[test]
fn unmapping_2m_of_pages_invalidates_once_and_then_frees_the_tables() {
    let mut a = TestAlloc::new(8);
    let mut t = PageTable::new(&mut a, 0, 48).unwrap();
    let m = t
        .map(&mut a, 2 * MIB, PhysAddr(2 * MIB), 2 * MIB, ATTRS, false)
        .unwrap();
    assert_eq!((m.pages_4k, m.tables), (512, 3));
    let (mut s, linked) = watch(&t, &mut a, 2 * MIB, 4 * MIB);
    let st = t.unmap(&mut a, &mut s, 2 * MIB, 2 * MIB).unwrap();
    assert_eq!((st.unmapped, st.tables_freed), (512, 3));
    // 512 pages and 3 links broken: one publish, one invalidation (was 515 of each).
    assert_eq!(s.events(), [SyncEv::Publish, SyncEv::InvalidateAll]);
    assert_eq!(s.snaps[0].mapped, []);
    assert_eq!(a.freed.len(), 3);
    check_unmap(&s, &a, &t, (2 * MIB, 4 * MIB), &linked);
    assert_eq!(a.used(), 1);
}

#[test]
fn unmapping_a_gigabyte_of_pages_and_blocks_costs_invalidations_per_tables_not_pages() {
    // [1 GiB, 1.5 GiB) in 4 KiB pages, [1.5 GiB, 2 GiB) in 2 MiB blocks.
    let mut a = TestAlloc::new(300);
    let mut t = PageTable::new(&mut a, 0, 48).unwrap();
    let half = GIB / 2;
    let pages = t
        .map(&mut a, GIB, PhysAddr(GIB), half, ATTRS, false)
        .unwrap();
    let blocks = t
        .map(&mut a, GIB + half, PhysAddr(GIB + half), half, ATTRS, true)
        .unwrap();
    // Independently of the engine: a level-3 table per 2 MiB of pages, one level-2 table
    // for the gigabyte and one level-1 table above it.
    let tables = half / (2 * MIB) + 2;
    assert_eq!(pages.tables + blocks.tables, tables);
    assert_eq!((pages.pages_4k, blocks.blocks_2m), (half >> 12, 256));
    let leaves = pages.pages_4k + blocks.blocks_2m;

    let (mut s, linked) = watch(&t, &mut a, GIB, 2 * GIB);
    let st = t.unmap(&mut a, &mut s, GIB, GIB).unwrap();
    assert_eq!((st.unmapped, st.tables_freed), (leaves, tables));
    // Per entry that would be one invalidation per leaf and table (131,330); the bound
    // allows one per 16 tables freed, plus the last.
    let flushes = s.flushes() as u64;
    assert!(
        (1..=tables / 16 + 1).contains(&flushes),
        "{flushes} invalidations for {tables} tables and {leaves} leaves"
    );
    assert_eq!(a.freed.len() as u64, tables);
    check_unmap(&s, &a, &t, (GIB, 2 * GIB), &linked);
    assert_eq!((t.table_pages(), a.used()), (1, 1));
}

#[test]
fn an_unmap_that_fails_midway_still_invalidates_what_it_broke() {
    let mut a = TestAlloc::new(8);
    let mut t = PageTable::new(&mut a, 1, 40).unwrap();
    t.map(&mut a, 0, PhysAddr(0), 2 * MIB, ATTRS, false)
        .unwrap();
    t.map(&mut a, 2 * MIB, PhysAddr(2 * MIB), 2 * MIB, ATTRS, true)
        .unwrap();
    let (mut s, linked) = watch(&t, &mut a, 0, 4 * MIB);
    // The 512 pages go (and their table), then the block needs a split: no table for it.
    a.fail_after(Some(0));
    assert_eq!(
        t.unmap(&mut a, &mut s, 0, 3 * MIB),
        Err(MapError::OutOfTables)
    );
    a.fail_after(None);
    assert_eq!(t.lookup(0x1000), None);
    assert_eq!(t.lookup(2 * MIB).unwrap().level, 2);
    assert_eq!(s.events(), [SyncEv::Publish, SyncEv::InvalidateAll]);
    assert_eq!(s.snaps[0].mapped, [2 * MIB]);
    assert_eq!(a.freed.len(), 1, "the emptied level-3 table");
    check_unmap(&s, &a, &t, (0, 4 * MIB), &linked);
    assert_eq!(t.audit_tables(), (1, 0));
}

#[test]
fn unmapping_one_page_invalidates_it_by_address() {
    let mut a = TestAlloc::new(8);
    let mut t = PageTable::new(&mut a, 1, 40).unwrap();
    t.map(&mut a, 0x1000, PhysAddr(0x1000), 0x2000, ATTRS, true)
        .unwrap();
    let (mut s, linked) = watch(&t, &mut a, 0, 2 * MIB);
    t.unmap(&mut a, &mut s, 0x1000, 0x1000).unwrap();
    assert_eq!(
        s.events(),
        [
            SyncEv::Publish,
            SyncEv::Invalidate {
                ia: 0x1000,
                level: 3,
                hole: Some(3)
            }
        ]
    );
    assert!(a.freed.is_empty());
    check_unmap(&s, &a, &t, (0, 2 * MIB), &linked);
}
