//! Test-only views of a table: its leaves, and an audit of the counts its links carry.

use super::descriptor::*;
use super::edit::table_is_empty;
use super::{Leaf, PageTable};
use crate::addr::PhysAddr;

impl PageTable {
    /// A read-only view for test fakes (walks the same memory; holds no borrow): the leaf
    /// for an address, or the level at which its walk met an invalid entry.
    pub(crate) fn probe(&self) -> impl Fn(u64) -> Result<Leaf, u8> + 'static {
        let geo = self.geo;
        move |va| geo.walk(va)
    }

    /// A read-only view for test fakes: the non-root table pages linked at that moment.
    pub(crate) fn tables_view(&self) -> impl Fn() -> std::vec::Vec<PhysAddr> + 'static {
        fn walk(table: PhysAddr, level: u8, entries: usize, out: &mut std::vec::Vec<PhysAddr>) {
            for idx in 0..entries {
                // SAFETY: see `map_one`.
                let desc = unsafe { entry_ptr(table, idx).read_volatile() };
                if desc & DESC_VALID != 0 && !is_leaf(desc, level) {
                    out.push(PhysAddr(desc & OA_MASK));
                    walk(PhysAddr(desc & OA_MASK), level + 1, ENTRIES, out);
                }
            }
        }
        let geo = self.geo;
        move || {
            let mut out = std::vec::Vec::new();
            walk(geo.root, geo.start_level, geo.root_entries(), &mut out);
            out
        }
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
        for (idx, eva, s, e) in self.geo.entries(level, start, end) {
            // SAFETY: see `map_one`.
            let desc = unsafe { entry_ptr(table, idx).read_volatile() };
            if desc & DESC_VALID == 0 {
                continue;
            }
            if is_leaf(desc, level) {
                let leaf = self.geo.lookup(eva).unwrap(); // allow-panic: test-only view; a valid leaf was just read
                out.push((eva, leaf));
            } else {
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
