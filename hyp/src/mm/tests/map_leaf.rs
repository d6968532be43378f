//! `PageTable::map_leaf`, the stage-2 fault path: one walk, one leaf, the same result as a
//! range map of the same page or block.

use super::tests::{SyncEv, TestAlloc, TestSync};
use super::*;
use std::boxed::Box;
use std::vec::Vec;

const ATTRS: u64 = 0x3 << 8 | 1 << 10;
const OTHER: u64 = 0x3 << 8 | 1 << 10 | 1 << 54;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// A 40-bit table from level 1 (two concatenated root pages), as a guest's stage 2.
fn table() -> (PageTable, TestAlloc) {
    let mut a = TestAlloc::new(32);
    let t = PageTable::new(&mut a, 1, 40).unwrap();
    (t, a)
}

fn size_of(level: u8) -> u64 {
    1 << level_shift(level)
}

#[test]
fn one_leaf_is_what_a_range_map_of_it_writes() {
    // A page, a 2 MiB and a 1 GiB block; low in the IPA space and in the second root page.
    let cases = [
        (0x4000_3000, 0x8_0000_5000, 3),
        (0x4020_0000, 0x8_0060_0000, 2),
        (GIB, 5 * GIB, 1),
        (0xff_c000_1000, 0x1_0000_2000, 3),
        (0xff_c020_0000, 0x1_0020_0000, 2),
        (0xff_c000_0000, 0x1_4000_0000, 1),
    ];
    for (va, pa, level) in cases {
        let (mut fast, mut a) = table();
        let (mut range, mut b) = table();
        let mut s = TestSync::default();
        fast.map_leaf(&mut a, &mut s, va, PhysAddr(pa), level, ATTRS)
            .unwrap();
        range
            .map(&mut b, va, PhysAddr(pa), size_of(level), ATTRS, true)
            .unwrap();
        let end = va + size_of(level);
        assert_eq!(fast.leaves(0, 1 << 40), range.leaves(0, 1 << 40), "{va:#x}");
        assert_eq!(fast.leaves(va, end).len(), 1, "{va:#x}: one leaf");
        let leaf = fast.lookup(end - 1).unwrap();
        assert_eq!(
            (leaf.pa, leaf.attrs, leaf.level),
            (PhysAddr(pa + size_of(level) - 1), ATTRS, level)
        );
        assert_eq!(fast.table_pages(), range.table_pages(), "{va:#x}");
        assert_eq!(a.used(), b.used(), "{va:#x}");
        assert_eq!(fast.audit_tables(), range.audit_tables(), "{va:#x}");
    }
}

/// Records what a walk of one address finds at each publish.
struct SeenAtPublish {
    probe: Box<dyn Fn(u64) -> Result<Leaf, u8>>,
    va: u64,
    seen: Vec<Result<Leaf, u8>>,
}

impl TlbSync for SeenAtPublish {
    fn publish(&mut self) {
        self.seen.push((self.probe)(self.va));
    }
    fn invalidate(&mut self, _: u64, _: u8) {
        panic!("mapping over invalid entries needs no invalidation");
    }
    fn invalidate_all(&mut self) {
        panic!("mapping over invalid entries needs no invalidation");
    }
}

#[test]
fn missing_tables_are_added_and_published_before_they_are_linked() {
    let (mut t, mut a) = table();
    let va = 0x4000_1000;
    let mut s = SeenAtPublish {
        probe: Box::new(t.probe()),
        va,
        seen: Vec::new(),
    };
    t.map_leaf(&mut a, &mut s, va, PhysAddr(0x1000), 3, ATTRS)
        .unwrap();
    assert_eq!(t.table_pages(), 2 + 2, "a level-2 and a level-3 table");
    assert_eq!(a.used(), 4);
    // The new branch (level-2 and level-3 tables, the leaf) is published while the root
    // entry is still invalid; then the link, and that is published too.
    let leaf = t.lookup(va).unwrap();
    assert_eq!(s.seen, [Err(1), Ok(leaf)]);

    // The next page in the same 2 MiB walks to the level-3 table and adds nothing.
    let mut s = TestSync::watching(&t);
    t.map_leaf(&mut a, &mut s, 0x4000_2000, PhysAddr(0x2000), 3, ATTRS)
        .unwrap();
    assert_eq!(t.table_pages(), 4);
    assert_eq!(s.events(), [SyncEv::Publish]);
    assert_eq!(t.lookup(0x4000_2fff).unwrap().pa, PhysAddr(0x2fff));

    // A block in the same GiB needs only its leaf.
    t.map_leaf(&mut a, &mut s, 0x4060_0000, PhysAddr(0x60_0000), 2, ATTRS)
        .unwrap();
    assert_eq!(t.table_pages(), 4);
    assert_eq!(t.lookup(0x4060_0000).unwrap().level, 2);
}

#[test]
fn a_leaf_already_there_is_success_and_stays_as_it_was() {
    let (mut t, mut a) = table();
    let mut s = TestSync::default();
    t.map_leaf(&mut a, &mut s, 0x1000, PhysAddr(0x9000), 3, ATTRS)
        .unwrap();
    let before = t.lookup(0x1000);
    let mut s = TestSync::default();
    // Another vCPU's fault on the same page got there first (even with other bits).
    assert_eq!(
        t.map_leaf(&mut a, &mut s, 0x1000, PhysAddr(0x5000), 3, OTHER),
        Ok(())
    );
    assert_eq!(t.lookup(0x1000), before);
    assert!(s.log.is_empty(), "nothing written, nothing to publish");
}

#[test]
fn a_block_covering_the_page_is_success_and_is_not_split() {
    let (mut t, mut a) = table();
    t.map(&mut a, 2 * MIB, PhysAddr(8 * MIB), 2 * MIB, ATTRS, true)
        .unwrap();
    t.map(&mut a, 2 * GIB, PhysAddr(2 * GIB), GIB, ATTRS, true)
        .unwrap();
    let pages = a.used();
    let mut s = TestSync::default();
    for (va, level) in [(2 * MIB + 0x5000, 3), (2 * GIB + 0x5000, 3), (2 * GIB, 2)] {
        assert_eq!(
            t.map_leaf(&mut a, &mut s, va, PhysAddr(0), level, OTHER),
            Ok(())
        );
    }
    assert_eq!(t.lookup(2 * MIB + 0x5000).unwrap().level, 2);
    assert_eq!(t.lookup(2 * GIB + 0x5000).unwrap().level, 1);
    assert_eq!(t.lookup(2 * GIB).unwrap().attrs, ATTRS);
    assert_eq!(a.used(), pages);
    assert!(s.log.is_empty());
}

#[test]
fn a_block_where_smaller_leaves_are_mapped_is_already_mapped() {
    let (mut t, mut a) = table();
    t.map(
        &mut a,
        2 * MIB + 0x1000,
        PhysAddr(0x1000),
        0x1000,
        ATTRS,
        true,
    )
    .unwrap();
    let mut s = TestSync::default();
    assert_eq!(
        t.map_leaf(&mut a, &mut s, 2 * MIB, PhysAddr(4 * MIB), 2, ATTRS),
        Err(MapError::AlreadyMapped)
    );
    assert_eq!(
        t.lookup(2 * MIB),
        None,
        "the hole next to the page stays a hole"
    );
    assert_eq!(t.lookup(2 * MIB + 0x1000).unwrap().level, 3);
    assert!(s.log.is_empty());
}

#[test]
fn without_table_pages_nothing_is_written_and_every_page_goes_back() {
    let (mut t, mut a) = table();
    for budget in [0, 1] {
        a.fail_after(Some(budget));
        let mut s = TestSync::default();
        assert_eq!(
            t.map_leaf(&mut a, &mut s, GIB + 0x1000, PhysAddr(0), 3, ATTRS),
            Err(MapError::OutOfTables),
            "budget {budget}"
        );
        assert_eq!((t.table_pages(), a.used()), (2, 2), "budget {budget}");
        assert_eq!(t.audit_tables(), (0, 0));
        assert_eq!(t.lookup(GIB + 0x1000), None);
        assert!(s.log.is_empty(), "budget {budget}: nothing was linked");
    }
    // With the level-2 table there, only the level-3 one is missing.
    a.fail_after(None);
    let mut s = TestSync::default();
    t.map_leaf(&mut a, &mut s, GIB + 4 * MIB, PhysAddr(0), 2, ATTRS)
        .unwrap();
    a.fail_after(Some(0));
    assert_eq!(
        t.map_leaf(&mut a, &mut s, GIB + 0x1000, PhysAddr(0), 3, ATTRS),
        Err(MapError::OutOfTables)
    );
    assert_eq!(t.table_pages(), 3);
    assert_eq!(t.audit_tables(), (1, 0));
}

#[test]
fn leaves_the_table_cannot_hold_or_reach_are_errors() {
    let (mut t, mut a) = table();
    let mut s = TestSync::default();
    let mut leaf =
        |va: u64, pa: u64, level: u8| t.map_leaf(&mut a, &mut s, va, PhysAddr(pa), level, ATTRS);
    assert_eq!(
        leaf(0, 0, 0),
        Err(MapError::BadGeometry),
        "no level-0 blocks"
    );
    assert_eq!(leaf(0, 0, 4), Err(MapError::BadGeometry));
    assert_eq!(leaf(0x800, 0, 3), Err(MapError::Misaligned));
    assert_eq!(leaf(0, 0x800, 3), Err(MapError::Misaligned));
    assert_eq!(leaf(0x1000, 0, 2), Err(MapError::Misaligned));
    assert_eq!(leaf(2 * MIB, 0x1000, 2), Err(MapError::Misaligned));
    assert_eq!(leaf(2 * MIB, 0, 1), Err(MapError::Misaligned));
    assert_eq!(leaf(1 << 40, 0, 3), Err(MapError::OutOfRange));
    assert_eq!(leaf(!0xfff, 0, 3), Err(MapError::OutOfRange));
    assert_eq!(leaf(0, 1 << 48, 3), Err(MapError::OutOfRange));
    assert_eq!(leaf(0, !0xfff, 3), Err(MapError::OutOfRange));
    assert_eq!(a.used(), 2);
    assert!(s.log.is_empty());
    // A 32-bit table starts at level 2: it has no 1 GiB leaves.
    let mut b = TestAlloc::new(8);
    let mut small = PageTable::new(&mut b, 2, 32).unwrap();
    let mut s = TestSync::default();
    assert_eq!(
        small.map_leaf(&mut b, &mut s, GIB, PhysAddr(GIB), 1, ATTRS),
        Err(MapError::BadGeometry)
    );
    small
        .map_leaf(&mut b, &mut s, 3 * GIB + 0x1000, PhysAddr(0), 3, ATTRS)
        .unwrap();
    assert_eq!(small.lookup(3 * GIB + 0x1000).unwrap().level, 3);
}
