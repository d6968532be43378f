//! The stage-2 mapper against a reference model: a flat array of "page -> (PA, attrs)".
//! Seeded random map / remap / unmap / protect sequences, mostly 2 MiB-ish operations in two
//! 64 MiB windows (so blocks form and get split all the time) plus whole-GiB operations
//! (1 GiB blocks, and splits of them), interleaved with the one-leaf maps of stage-2 faults
//! (success over a hole, success without a change where a leaf already covers the address,
//! `AlreadyMapped` where smaller leaves sit inside a block's range). After every operation:
//! - the result is the one the model predicts (including refusals, which change nothing);
//! - lookups agree with the model on sampled pages (every page now and then, and at the end);
//! - break-before-make: every leaf the operation changed or removed was invalidated for this
//!   VM's VMID, after a `dsb ishst`, while the table no longer translated it;
//! - table pages in use = pages the allocator has out, and no empty table stays linked;
//!   every table's link counts its valid entries right (checked every 100 operations).
//!
//! Occasionally the table-page budget is cut to provoke `OutOfTables` midway; then the
//! documented partial outcomes are checked instead (map: nothing; unmap/remap: each page old
//! or unmapped; protect: each page old or new).

use std::vec::Vec;

use crate::addr::PhysAddr;
use crate::mm::kind::{MemoryKind, Perms};
use crate::mm::pgtable::tests::TestAlloc;
use crate::mm::pgtable::{level_size, Leaf, MapError};
use crate::mm::s2_attrs::s2_leaf_attrs;
use crate::mm::stage2::{Ipa, S2Error, Stage2};
use crate::mm::tlb::fake::{Call, RecordingTlb, Seen};
use crate::mm::vmid::Vmid;
use crate::mm::vtcr::vtcr_for;

const PAGE: u64 = 4096;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// The IPA space the model covers: GiB 0 and GiB 1 (the VM has 40 bits; the rest stays
/// empty, which the final full check confirms by the table page count).
const SPACE: u64 = 2 * GIB;
const WINDOW: u64 = 64 * MIB;
const WINDOWS: [u64; 2] = [0, GIB];
/// A 40-bit PA CPU (PARange 2).
const PA_LIMIT: u64 = 1 << 40;
const OPS: usize = 10_000;

use crate::test_rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Map,
    Remap,
    Unmap,
    Protect,
    /// One page or block as a stage-2 fault maps it (`Stage2::map_leaf`).
    Fault,
}

#[derive(Debug, Clone, Copy)]
struct Op {
    kind: OpKind,
    ipa: u64,
    size: u64,
    pa: u64,
    mem: MemoryKind,
    perms: Perms,
}

type Entry = Option<(u64, u64)>;

struct World {
    s2: Stage2,
    alloc: TestAlloc,
    tlb: RecordingTlb,
    model: Vec<Entry>,
    fwb: bool,
    vmid: Vmid,
    root_pages: u64,
    /// For a `Fault`: a leaf at its level or above covered the address before it ran.
    covered: bool,
    /// Faults that mapped a hole, found it covered, met `AlreadyMapped`, failed otherwise.
    faults: [u32; 4],
}

impl World {
    fn new(fwb: bool, vmid: Vmid) -> World {
        let mut alloc = TestAlloc::new(2048);
        let cfg = vtcr_for(2, 40, false).unwrap();
        let s2 = Stage2::new(&mut alloc, cfg, vmid, fwb).unwrap();
        World {
            root_pages: s2.table_pages(),
            tlb: s2.recording_tlb(),
            s2,
            alloc,
            model: std::vec![None; (SPACE / PAGE) as usize],
            fwb,
            vmid,
            covered: false,
            faults: [0; 4],
        }
    }

    fn actual(&self, page: usize) -> Entry {
        self.s2
            .lookup(Ipa(page as u64 * PAGE))
            .map(|l| (l.pa.0, l.attrs))
    }

    fn check_page(&self, page: usize, when: &str) {
        assert_eq!(
            self.actual(page),
            self.model[page],
            "{when}: page at IPA {:#x}",
            page as u64 * PAGE
        );
    }

    fn apply(&mut self, op: &Op) -> Result<(), S2Error> {
        let (a, t) = (&mut self.alloc, &mut self.tlb);
        let (ipa, pa) = (Ipa(op.ipa), PhysAddr(op.pa));
        match op.kind {
            OpKind::Map => self
                .s2
                .map(a, t, ipa, pa, op.size, op.mem, op.perms)
                .map(drop),
            OpKind::Remap => self
                .s2
                .remap(a, t, ipa, pa, op.size, op.mem, op.perms)
                .map(drop),
            OpKind::Unmap => self.s2.unmap(a, t, ipa, op.size).map(drop),
            OpKind::Protect => self
                .s2
                .protect(a, t, ipa, op.size, op.mem, op.perms)
                .map(drop),
            OpKind::Fault => {
                let level = self.s2.leaf_level(ipa, pa, op.size).unwrap();
                self.s2.map_leaf(a, t, ipa, pa, level, op.mem, op.perms)
            }
        }
    }

    /// What the model says the operation returns (ignoring `OutOfTables`).
    fn predict(&self, op: &Op) -> Result<(), S2Error> {
        let attrs = s2_leaf_attrs(op.mem, self.fwb, op.perms);
        let pages = self.pages(op);
        match op.kind {
            OpKind::Unmap => Ok(()),
            OpKind::Protect => attrs.map(drop).map_err(S2Error::Attr),
            OpKind::Map | OpKind::Remap | OpKind::Fault => {
                attrs.map_err(S2Error::Attr)?;
                if op.pa + op.size > PA_LIMIT {
                    return Err(S2Error::Table(MapError::OutOfRange));
                }
                if op.kind == OpKind::Fault && self.covered {
                    return Ok(());
                }
                if op.kind != OpKind::Remap && pages.clone().any(|p| self.model[p].is_some()) {
                    return Err(S2Error::Table(MapError::AlreadyMapped));
                }
                Ok(())
            }
        }
    }

    fn pages(&self, op: &Op) -> core::ops::Range<usize> {
        (op.ipa / PAGE) as usize..((op.ipa + op.size) / PAGE) as usize
    }

    /// What each page of the range becomes if the operation succeeds.
    fn new_entry(&self, op: &Op, page: usize) -> Entry {
        let attrs = s2_leaf_attrs(op.mem, self.fwb, op.perms).ok();
        match op.kind {
            OpKind::Unmap => None,
            OpKind::Protect => self.model[page].map(|(pa, _)| (pa, attrs.unwrap())),
            OpKind::Fault if self.covered => self.model[page],
            OpKind::Map | OpKind::Remap | OpKind::Fault => {
                Some((op.pa + page as u64 * PAGE - op.ipa, attrs.unwrap()))
            }
        }
    }

    fn run(&mut self, op: &Op, step: usize, squeeze: Option<usize>) {
        let when = format!("op {step} {op:?}");
        let end = op.ipa + op.size;
        let before = self.s2.table().leaves(op.ipa, end);
        self.covered = op.kind == OpKind::Fault
            && self.s2.lookup(Ipa(op.ipa)).is_some_and(|l| {
                self.s2
                    .leaf_level(Ipa(op.ipa), PhysAddr(op.pa), op.size)
                    .is_some_and(|level| l.level <= level)
            });
        self.tlb.take();
        self.tlb.flushes.clear();
        self.tlb.watch(Ipa(op.ipa), op.size);
        self.alloc.fail_after(squeeze);
        let got = self.apply(op);
        self.alloc.fail_after(None);
        let want = self.predict(op);
        let calls = self.tlb.take();
        let flushes = core::mem::take(&mut self.tlb.flushes);
        if op.kind == OpKind::Fault {
            let outcome = match got {
                Ok(()) if self.covered => 1,
                Ok(()) => 0,
                Err(S2Error::Table(MapError::AlreadyMapped)) => 2,
                Err(_) => 3,
            };
            self.faults[outcome] += 1;
        }

        match (&got, &want) {
            (Err(S2Error::Table(MapError::OutOfTables)), Ok(())) if squeeze.is_some() => {
                for p in self.pages(op) {
                    let (old, new, now) = (self.model[p], self.new_entry(op, p), self.actual(p));
                    let allowed = match op.kind {
                        OpKind::Map | OpKind::Fault => now == old,
                        OpKind::Unmap | OpKind::Remap => now == old || now.is_none(),
                        OpKind::Protect => now == old || now == new,
                    };
                    assert!(allowed, "{when}: after OutOfTables page {p:#x} is {now:x?}");
                    self.model[p] = now;
                }
            }
            _ => {
                assert_eq!(got, want, "{when}");
                if got.is_ok() {
                    for p in self.pages(op) {
                        self.model[p] = self.new_entry(op, p);
                    }
                } else {
                    assert!(calls.is_empty(), "{when}: a refusal touched the table");
                }
            }
        }

        self.check_maintenance(&calls, &flushes, &before, &when);
        assert_eq!(self.alloc.used() as u64, self.s2.table_pages(), "{when}");
        for p in self.pages(op).step_by(61).chain([self.pages(op).end - 1]) {
            self.check_page(p, &when);
        }
    }

    /// Break-before-make, checked from the recorded calls and the leaves before the op:
    /// every invalidation follows a `dsb ishst`, names this VM, and comes while the walk
    /// of its IPA stops at an invalid entry at (or above) the level it names; and every
    /// leaf the op changed in any way (address, attributes, size) has such an invalidation
    /// inside it, made while the walk stopped at or above the leaf's own level, i.e. while
    /// the whole old leaf was unmapped. A whole-VMID invalidation (an unmap's one flush)
    /// counts for every hole the walks of the op's range met at that moment.
    fn check_maintenance(
        &self,
        calls: &[Call],
        flushes: &[Vec<(Ipa, Seen)>],
        before: &[(u64, Leaf)],
        when: &str,
    ) {
        // (ipa, level of the hole the walk met)
        let mut holes = Vec::new();
        // (first address, level) of entries invalid at a whole-VMID invalidation
        let mut regions = Vec::new();
        let mut flushes = flushes.iter();
        let span = level_size;
        for (i, c) in calls.iter().enumerate() {
            match *c {
                Call::InvalidateIpa {
                    vmid,
                    ipa,
                    level,
                    seen,
                } => {
                    assert_eq!(vmid, self.vmid, "{when}: wrong VMID");
                    let Some(Seen::HoleAt(h)) = seen else {
                        panic!("{when}: {ipa:?} invalidated while it still translated");
                    };
                    assert!(h <= level, "{when}: {ipa:?} level {level} not broken ({h})");
                    assert!(
                        i > 0 && calls[i - 1] == Call::DsbIshst,
                        "{when}: no dsb ishst before invalidating {ipa:?}"
                    );
                    holes.push((ipa.0, h));
                }
                Call::InvalidateVmid(vmid) => {
                    assert_eq!(vmid, self.vmid, "{when}: wrong VMID");
                    assert!(
                        i > 0 && calls[i - 1] == Call::DsbIshst,
                        "{when}: no dsb ishst before the whole-VMID invalidation"
                    );
                    let seen = flushes.next().expect("every flush walked the range");
                    // A hole at level `h`: the whole level-`h` entry around `ipa` was
                    // invalid; kept as (its first address, h).
                    regions.extend(seen.iter().filter_map(|&(ipa, s)| match s {
                        Seen::HoleAt(h) => Some((ipa.0 & !(span(h) - 1), h)),
                        Seen::Mapped => None,
                    }));
                }
                Call::DsbIshst => {}
            }
        }
        holes.sort_unstable();
        regions.sort_unstable();
        for &(va, leaf) in before {
            let size = span(leaf.level);
            if self.s2.lookup(Ipa(va)) == Some(leaf) {
                continue; // untouched (same PA, attributes and size)
            }
            let i = holes.partition_point(|&(ipa, _)| ipa < va);
            let covered = holes[i..]
                .iter()
                .take_while(|&&(ipa, _)| ipa < va + size)
                .any(|&(_, h)| h <= leaf.level)
                || (0..=leaf.level)
                    .any(|h| regions.binary_search(&(va & !(span(h) - 1), h)).is_ok());
            assert!(
                covered,
                "{when}: leaf at {va:#x} (level {}) changed without being broken and invalidated",
                leaf.level
            );
        }
    }

    fn check_all(&self, when: &str) {
        for p in 0..self.model.len() {
            self.check_page(p, when);
        }
        let (linked, empty) = self.s2.table().audit_tables();
        assert_eq!(empty, 0, "{when}: an empty table stayed linked");
        assert_eq!(linked + self.root_pages, self.s2.table_pages(), "{when}");
    }
}

fn random_op(rng: &mut Rng) -> Op {
    let kind = match rng.below(10) {
        0..=3 => OpKind::Map,
        4 => OpKind::Remap,
        5..=7 => OpKind::Unmap,
        _ => OpKind::Protect,
    };
    let (ipa, size) = if rng.chance(3) {
        // A whole GiB: 1 GiB blocks (when the PA is aligned too), or splits of them.
        (rng.below(2) * GIB, GIB)
    } else if rng.chance(5) {
        // Several 2 MiB pieces anywhere in GiB 1: cuts into 1 GiB blocks.
        let start = GIB + rng.below(512) * 2 * MIB;
        (start, ((1 + rng.below(8)) * 2 * MIB).min(2 * GIB - start))
    } else {
        let base = WINDOWS[rng.below(2) as usize];
        let start = if rng.chance(50) {
            rng.below(WINDOW / (2 * MIB)) * 2 * MIB
        } else {
            rng.below(WINDOW / PAGE) * PAGE
        };
        let size = match rng.below(3) {
            0 => (1 + rng.below(4)) * 2 * MIB,
            1 => (1 + rng.below(16)) * PAGE,
            _ => (1 + rng.below(1024)) * PAGE,
        };
        (base + start, size.min(WINDOW - start))
    };
    let pa = match rng.below(20) {
        // Congruent with the IPA modulo 1 GiB: blocks wherever the range allows.
        0..=13 => ipa + (1 + rng.below(64)) * GIB,
        // Off by some pages: 4 KiB leaves only.
        14..=18 => ipa + (1 + rng.below(64)) * GIB + (1 + rng.below(511)) * PAGE,
        // At the top of the PA space: fits exactly, or runs one page over.
        _ => PA_LIMIT - size + rng.below(2) * PAGE,
    };
    let p = rng.below(8);
    Op {
        kind,
        ipa,
        size,
        pa,
        mem: MemoryKind::ALL[rng.below(4) as usize],
        perms: Perms {
            read: p & 1 != 0,
            write: p & 2 != 0,
            exec: p & 4 != 0,
        },
    }
}

/// A stage-2 fault's map: one page, 2 MiB or (rarely) 1 GiB block, IPA and PA aligned to
/// it, mostly in the windows where range ops leave mixed leaves behind.
fn random_fault(rng: &mut Rng) -> Op {
    let size = match rng.below(20) {
        0 => GIB,
        1..=7 => 2 * MIB,
        _ => PAGE,
    };
    let ipa = if size == GIB || rng.chance(10) {
        rng.below(SPACE / size) * size
    } else {
        WINDOWS[rng.below(2) as usize] + rng.below(WINDOW / size) * size
    };
    let pa = if rng.chance(3) {
        PA_LIMIT - size * rng.below(2)
    } else {
        ipa + (1 + rng.below(64)) * GIB
    };
    let p = rng.below(8);
    Op {
        kind: OpKind::Fault,
        ipa,
        size,
        pa,
        mem: MemoryKind::ALL[rng.below(4) as usize],
        perms: Perms {
            read: p & 1 != 0,
            write: p & 2 != 0,
            exec: p & 4 != 0,
        },
    }
}

fn run_model(seed: u64, fwb: bool) {
    let mut rng = Rng(seed);
    let mut w = World::new(fwb, Vmid::for_test(0x42));
    let mut outcomes = [0u32; 5];
    for step in 0..OPS {
        let op = if rng.chance(25) {
            random_fault(&mut rng)
        } else {
            random_op(&mut rng)
        };
        let squeeze = rng.chance(3).then(|| rng.below(3) as usize);
        w.run(&op, step, squeeze);
        outcomes[op.kind as usize] += 1;
        // Sampled pages anywhere in the two windows and the rest of GiB 1.
        for _ in 0..8 {
            let p = if rng.chance(75) {
                ((WINDOWS[rng.below(2) as usize] + rng.below(WINDOW)) / PAGE) as usize
            } else {
                rng.below(SPACE / PAGE) as usize
            };
            w.check_page(p, &format!("sample after op {step}"));
        }
        if step % 2500 == 2499 {
            w.check_all(&format!("full check after op {step}"));
        } else if step % 100 == 99 {
            // Every link's count of valid entries (what unmaps free tables by) is right.
            w.s2.table().audit_tables();
        }
    }
    assert!(outcomes.iter().all(|&n| n > 500), "op mix {outcomes:?}");
    assert!(
        w.faults.iter().all(|&n| n > 20),
        "fault outcomes {:?}",
        w.faults
    );
    w.check_all("the end");

    // Unmapping everything frees every table page but the root.
    w.tlb.take();
    w.s2.unmap(&mut w.alloc, &mut w.tlb, Ipa(0), 1 << 40)
        .unwrap();
    assert_eq!(w.s2.table_pages(), w.root_pages);
    assert_eq!(w.alloc.used() as u64, w.root_pages);
    w.model.iter_mut().for_each(|e| *e = None);
    w.check_all("after unmapping everything");
    w.s2.destroy(&mut w.alloc, &mut w.tlb);
    assert_eq!(w.alloc.used(), 0);
}

/// Counts of what the random sequences exercise, so a regression in the generator (say,
/// no more splits) shows up as a failing test, not as a silently weaker one.
#[test]
fn random_sequences_exercise_blocks_splits_and_frees() {
    let mut rng = Rng(0x5eed_0001);
    let mut w = World::new(true, Vmid::for_test(1));
    let (mut g1, mut splits, mut freed, mut changed) = (0, 0, 0, 0);
    for _ in 0..2000 {
        let op = random_op(&mut rng);
        let (a, t) = (&mut w.alloc, &mut w.tlb);
        let r = match op.kind {
            OpKind::Map => w.s2.map(
                a,
                t,
                Ipa(op.ipa),
                PhysAddr(op.pa),
                op.size,
                op.mem,
                op.perms,
            ),
            OpKind::Remap => w.s2.remap(
                a,
                t,
                Ipa(op.ipa),
                PhysAddr(op.pa),
                op.size,
                op.mem,
                op.perms,
            ),
            OpKind::Unmap => w.s2.unmap_counted(a, t, Ipa(op.ipa), op.size),
            OpKind::Protect => w.s2.protect(a, t, Ipa(op.ipa), op.size, op.mem, op.perms),
            OpKind::Fault => unreachable!("random_op makes no faults"),
        };
        if let Ok(s) = r {
            g1 += s.blocks_1g;
            splits += s.splits;
            freed += s.tables_freed;
            changed += s.changed;
        }
        w.tlb.take();
    }
    assert!(g1 >= 5, "1 GiB blocks: {g1}");
    assert!(splits >= 100, "splits: {splits}");
    assert!(freed >= 100, "tables freed: {freed}");
    assert!(changed >= 100, "leaves changed in place: {changed}");
}

#[test]
fn mapper_agrees_with_the_model_over_10000_random_ops_with_fwb() {
    run_model(0x0123_4567_89ab_cdef, true);
}

#[test]
fn mapper_agrees_with_the_model_over_10000_random_ops_without_fwb() {
    run_model(0xfeed_face_cafe_f00d, false);
}
