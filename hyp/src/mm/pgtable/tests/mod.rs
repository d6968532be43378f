//! Recording fakes for the engine's tests (also used by stage 2's): a table allocator that
//! hands out host memory, and a TLB side that logs what it was asked, in order.

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

/// What the table held when an invalidation was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snap {
    pub tick: u64,
    /// The first address of every leaf still mapped in the watched range.
    pub mapped: Vec<u64>,
    /// The non-root table pages linked.
    pub linked: Vec<PhysAddr>,
}

/// Records TLB-side calls with the tick they happened at; `watching` a table, also what
/// the table held at each invalidation (by address or whole).
#[derive(Default)]
pub struct TestSync {
    pub log: Vec<(u64, SyncEv)>,
    probe: Option<Probe>,
    tables: Option<Box<dyn Fn() -> Vec<PhysAddr>>>,
    watched: (u64, u64),
    pub snaps: Vec<Snap>,
}

impl TestSync {
    pub fn watching(t: &PageTable) -> Self {
        TestSync {
            probe: Some(Box::new(t.probe())),
            tables: Some(Box::new(t.tables_view())),
            ..Self::default()
        }
    }

    /// Which leaves the snapshots list: those in `[start, end)`.
    pub fn watch(&mut self, start: u64, end: u64) {
        self.watched = (start, end);
    }

    fn snap(&mut self, tick: u64) {
        let (Some(probe), Some(tables)) = (&self.probe, &self.tables) else {
            return;
        };
        // Each snapshot may list every leaf of the range: a test that watches a range
        // expects few invalidations, and fails here rather than run out of memory.
        let (mut at, end) = self.watched;
        assert!(
            at == end || self.snaps.len() < 256,
            "over 256 invalidations while watching [{at:#x}, {end:#x})"
        );
        let mut mapped = Vec::new();
        while at < end {
            let level = match probe(at) {
                Ok(leaf) => {
                    mapped.push(at & !(level_size(leaf.level) - 1));
                    leaf.level
                }
                Err(hole) => hole,
            };
            at = (at | (level_size(level) - 1)) + 1;
        }
        self.snaps.push(Snap {
            tick,
            mapped,
            linked: tables(),
        });
    }

    /// The invalidations, whole or by address, in order.
    pub fn flushes(&self) -> usize {
        self.events()
            .iter()
            .filter(|e| matches!(e, SyncEv::Invalidate { .. } | SyncEv::InvalidateAll))
            .count()
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
            if *e == SyncEv::InvalidateAll {
                assert!(
                    i > 0 && ev[i - 1] == SyncEv::Publish,
                    "whole invalidation without a publish first"
                );
            }
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
        let now = tick();
        self.snap(now);
        self.log.push((now, SyncEv::Invalidate { ia, level, hole }));
    }
    fn invalidate_all(&mut self) {
        let now = tick();
        self.snap(now);
        self.log.push((now, SyncEv::InvalidateAll));
    }
}

mod cases;
mod deferred;
