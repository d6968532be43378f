//! The stage-2 engine under fuzzed map / remap / unmap / protect / fault-map sequences,
//! against a model kept as runs of IPA (start -> end, PA, attributes). After each
//! operation:
//! - a success is allowed only when no refusal applies, and a refusal only when its own
//!   condition holds (misaligned, out of range, already mapped, no encoding, out of tables
//!   when the pool was cut), and then nothing changed;
//! - lookups agree with the model at every run edge and the operation's edges;
//! - every page whose mapping changed was invalidated for this VM's VMID (or the whole
//!   VMID), after a `dsb ishst`, and no other VMID was touched;
//! - table pages out of the pool = the table's own count.
//!
//! At the end, unmapping everything leaves only the root, and destroying the table gives
//! every page back to the pool.

use crate::bytes::Bytes;
use crate::pool::Pool;
use std::collections::BTreeMap;
use stile_hyp::addr::PhysAddr;
use stile_hyp::mm::kind::{MemoryKind, Perms};
use stile_hyp::mm::pgtable::MapError;
use stile_hyp::mm::s2_attrs::s2_leaf_attrs;
use stile_hyp::mm::stage2::{Ipa, S2Error, Stage2};
use stile_hyp::mm::tlb::S2Maintenance;
use stile_hyp::mm::vmid::{Vmid, VmidAlloc};
use stile_hyp::mm::vtcr::vtcr_for;

const PAGE: u64 = 4096;
const BLOCK_2M: u64 = 2 << 20;
const GIB: u64 = 1 << 30;
const MAX_OPS: usize = 48;
/// (PARange, IPA bits, 16-bit VMID): start levels 0, 1 and 2 of 4 KiB granule stage 2.
const GEOMETRIES: [(u8, u8, bool); 4] =
    [(2, 40, false), (5, 48, true), (1, 36, true), (0, 32, false)];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Map,
    Remap,
    Unmap,
    Protect,
    /// One page or block as a stage-2 fault maps it (`Stage2::map_leaf`).
    Fault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    end: u64,
    pa: u64,
    attrs: u64,
}

/// The expected table: IPA runs that map linearly to PA with one set of attributes.
#[derive(Default)]
struct Model {
    runs: BTreeMap<u64, Run>,
}

impl Model {
    fn get(&self, ipa: u64) -> Option<(u64, u64)> {
        let (&start, run) = self.runs.range(..=ipa).next_back()?;
        (ipa < run.end).then_some((run.pa + (ipa - start), run.attrs))
    }

    fn split_at(&mut self, at: u64) {
        let Some((&start, &run)) = self.runs.range(..at).next_back() else {
            return;
        };
        if run.end > at {
            self.runs.insert(start, Run { end: at, ..run });
            let tail = Run {
                pa: run.pa + (at - start),
                ..run
            };
            self.runs.insert(at, tail);
        }
    }

    /// The runs inside `[start, end)`, cut at its edges.
    fn cut(&mut self, start: u64, end: u64) -> Vec<u64> {
        self.split_at(start);
        self.split_at(end);
        self.runs.range(start..end).map(|(&s, _)| s).collect()
    }

    fn any(&self, start: u64, end: u64) -> bool {
        self.runs
            .range(..end)
            .next_back()
            .is_some_and(|(_, r)| r.end > start)
    }

    fn unmap(&mut self, start: u64, end: u64) {
        for s in self.cut(start, end) {
            self.runs.remove(&s);
        }
    }

    fn map(&mut self, start: u64, end: u64, pa: u64, attrs: u64) {
        self.unmap(start, end);
        self.runs.insert(start, Run { end, pa, attrs });
    }

    fn protect(&mut self, start: u64, end: u64, attrs: u64) {
        for s in self.cut(start, end) {
            if let Some(r) = self.runs.get_mut(&s) {
                r.attrs = attrs;
            }
        }
    }

    /// Addresses worth comparing: each run's first and last page, and the page after it.
    fn edges(&self) -> Vec<u64> {
        self.runs
            .iter()
            .flat_map(|(&s, r)| [s, r.end - PAGE, r.end])
            .collect()
    }
}

/// Bytes one entry at `level` maps (4 KiB granule).
fn level_span(level: u8) -> u64 {
    1 << (12 + 9 * (3 - u32::from(level)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Dsb,
    Ipa(Vmid, u64, u8),
    All(Vmid),
}

#[derive(Default)]
struct Tlb {
    calls: Vec<Call>,
}

impl S2Maintenance for Tlb {
    fn dsb_ishst(&mut self) {
        self.calls.push(Call::Dsb);
    }
    fn invalidate_ipa(&mut self, vmid: Vmid, ipa: Ipa, level: u8) {
        self.calls.push(Call::Ipa(vmid, ipa.0, level));
    }
    fn invalidate_vmid(&mut self, vmid: Vmid) {
        self.calls.push(Call::All(vmid));
    }
}

#[derive(Debug, Clone, Copy)]
struct Op {
    kind: Kind,
    ipa: u64,
    pa: u64,
    size: u64,
    mem: MemoryKind,
    perms: Perms,
}

struct World {
    s2: Stage2,
    pool: Pool,
    tlb: Tlb,
    model: Model,
    vmid: Vmid,
    fwb: bool,
    ipa_limit: u64,
    pa_limit: u64,
}

pub fn run(data: &[u8]) {
    let mut b = Bytes::new(data);
    let (pa_range, ipa_bits, vmid16) = b.pick(&GEOMETRIES);
    let cfg = vtcr_for(pa_range, ipa_bits, vmid16).expect("a geometry vtcr_for makes");
    let fwb = b.bool();
    let mut vmids = VmidAlloc::new(if vmid16 { 16 } else { 8 }).expect("8 or 16 bits");
    let vmid = vmids.alloc().expect("a fresh VMID");
    let mut pool = Pool::new(8 << 20);
    let s2 = Stage2::new(&mut pool, cfg, vmid, fwb).expect("an empty stage 2");
    let mut w = World {
        s2,
        pool,
        tlb: Tlb::default(),
        model: Model::default(),
        vmid,
        fwb,
        ipa_limit: cfg.ipa_limit(),
        pa_limit: cfg.pa_limit(),
    };
    let root_pages = w.s2.table_pages();
    assert_eq!(w.pool.out, root_pages);
    let ipa_bases = [0, GIB, 3 * GIB, w.ipa_limit - GIB, 0x40_0000_0000];
    let pa_bases = [0x4000_0000, 0, 5 * GIB, w.pa_limit - GIB];
    let mut following = true;
    for _ in 0..MAX_OPS {
        if b.is_empty() {
            break;
        }
        let kind = b.pick(&[
            Kind::Map,
            Kind::Map,
            Kind::Remap,
            Kind::Unmap,
            Kind::Protect,
            Kind::Fault,
        ]);
        let size = match b.u8() % 8 {
            0 => GIB,
            1 => PAGE,
            2 => BLOCK_2M,
            _ => b.size(),
        };
        let op = Op {
            kind,
            ipa: b.addr(&ipa_bases),
            pa: b.addr(&pa_bases),
            size,
            mem: b.pick(&MemoryKind::ALL),
            perms: Perms::from_bits(b.u8() & 7),
        };
        // One operation in eight gets only a few table pages.
        let squeeze = b.u8().is_multiple_of(8).then(|| u64::from(b.u8() % 4));
        following = w.step(&op, squeeze);
        if !following {
            break;
        }
    }
    if following {
        w.check_edges(&[], "after the last operation");
    }
    // Everything unmapped: only the root is left; destroyed: the pool is whole again.
    w.pool.budget = None;
    w.s2.unmap(&mut w.pool, &mut w.tlb, Ipa(0), w.ipa_limit)
        .expect("unmap of the whole IPA space");
    assert_eq!(w.s2.table_pages(), root_pages, "empty tables left linked");
    assert_eq!(w.pool.out, root_pages, "table pages leaked");
    let World {
        s2,
        mut pool,
        mut tlb,
        ..
    } = w;
    s2.destroy(&mut pool, &mut tlb);
    assert_eq!(pool.out, 0, "pages kept after destroy");
    assert_eq!(pool.frames.free_bytes(), pool.frames.total_bytes());
}

impl World {
    /// Runs one operation and checks it; `false` once the model can no longer follow (a
    /// partial outcome after running out of table pages).
    fn step(&mut self, op: &Op, squeeze: Option<u64>) -> bool {
        let attrs = s2_leaf_attrs(op.mem, self.fwb, op.perms);
        let level = self.s2.leaf_level(Ipa(op.ipa), PhysAddr(op.pa), op.size);
        if op.kind == Kind::Fault && level.is_none() {
            return true; // not one leaf: a fault never asks for it
        }
        let covered = op.kind == Kind::Fault
            && self
                .s2
                .lookup(Ipa(op.ipa))
                .is_some_and(|l| level.is_some_and(|want| l.level <= want));
        // A range with more 2 MiB pieces than the pool has free pages may need more table
        // pages than there are: then running out is an answer, not a bug.
        let may_run_dry =
            squeeze.is_some() || op.size / BLOCK_2M >= self.pool.frames.free_bytes() / PAGE;
        self.tlb.calls.clear();
        self.pool.budget = squeeze;
        let (a, t) = (&mut self.pool, &mut self.tlb);
        let (ipa, pa) = (Ipa(op.ipa), PhysAddr(op.pa));
        let got = match op.kind {
            Kind::Map => self
                .s2
                .map(a, t, ipa, pa, op.size, op.mem, op.perms)
                .map(drop),
            Kind::Remap => self
                .s2
                .remap(a, t, ipa, pa, op.size, op.mem, op.perms)
                .map(drop),
            Kind::Unmap => self.s2.unmap(a, t, ipa, op.size),
            Kind::Protect => self
                .s2
                .protect(a, t, ipa, op.size, op.mem, op.perms)
                .map(drop),
            Kind::Fault => self
                .s2
                .map_leaf(a, t, ipa, pa, level.unwrap_or(3), op.mem, op.perms),
        };
        self.pool.budget = None;
        let when = format!("{op:x?} -> {got:?}");
        assert_eq!(self.pool.out, self.s2.table_pages(), "{when}: page count");
        let end = op.ipa.wrapping_add(op.size);
        match got {
            Err(S2Error::Table(MapError::OutOfTables)) => {
                assert!(may_run_dry, "{when}: out of tables with pages to spare");
                self.check_partial(op, attrs.ok(), &when);
                return false;
            }
            Err(e) => {
                assert!(
                    self.refusal_holds(e, op, attrs.is_err(), covered),
                    "{when}: no reason"
                );
                assert!(
                    self.tlb.calls.iter().all(|c| *c == Call::Dsb),
                    "{when}: a refusal invalidated"
                );
                self.check_edges(&[op.ipa, end], &when);
                return true;
            }
            Ok(()) => {}
        }
        for e in [
            MapError::Misaligned,
            MapError::OutOfRange,
            MapError::AlreadyMapped,
        ] {
            let e = S2Error::Table(e);
            assert!(
                !self.refusal_holds(e, op, false, covered),
                "{when}: should be {e:?}"
            );
        }
        assert!(
            attrs.is_ok() || op.kind == Kind::Unmap,
            "{when}: no encoding, yet done"
        );
        let before: Vec<(u64, Run)> = {
            let cut: Vec<u64> = self.model.cut(op.ipa, end);
            cut.iter().map(|s| (*s, self.model.runs[s])).collect()
        };
        let attrs = attrs.unwrap_or(0);
        match op.kind {
            Kind::Map | Kind::Remap => self.model.map(op.ipa, end, op.pa, attrs),
            Kind::Fault if covered => {}
            Kind::Fault => self.model.map(op.ipa, end, op.pa, attrs),
            Kind::Unmap => self.model.unmap(op.ipa, end),
            Kind::Protect => self.model.protect(op.ipa, end, attrs),
        }
        self.check_invalidated(&before, &when);
        self.check_edges(&[op.ipa, end - PAGE, end], &when);
        true
    }

    /// Whether refusal `e` of `op` has its reason.
    fn refusal_holds(&self, e: S2Error, op: &Op, no_encoding: bool, covered: bool) -> bool {
        let maps = matches!(op.kind, Kind::Map | Kind::Remap | Kind::Fault);
        let span_bad = op.size == 0 || (op.ipa | op.size) & (PAGE - 1) != 0;
        let ipa_out = op
            .ipa
            .checked_add(op.size)
            .is_none_or(|e| e > self.ipa_limit);
        let pa_out = op.pa.checked_add(op.size).is_none_or(|e| e > self.pa_limit);
        match e {
            S2Error::Attr(_) => no_encoding && op.kind != Kind::Unmap,
            S2Error::Table(MapError::Misaligned) => {
                span_bad || (maps && !op.pa.is_multiple_of(PAGE))
            }
            S2Error::Table(MapError::OutOfRange) => ipa_out || (maps && pa_out),
            S2Error::Table(MapError::AlreadyMapped) => {
                let end = op.ipa.saturating_add(op.size);
                match op.kind {
                    Kind::Map => self.model.any(op.ipa, end),
                    Kind::Fault => !covered && self.model.any(op.ipa, end),
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// The table agrees with the model at every run edge and at `also`.
    fn check_edges(&self, also: &[u64], when: &str) {
        for ipa in self.model.edges().into_iter().chain(also.iter().copied()) {
            let ipa = ipa & !(PAGE - 1);
            if ipa >= self.ipa_limit {
                continue;
            }
            let got = self.s2.lookup(Ipa(ipa)).map(|l| (l.pa.0, l.attrs));
            assert_eq!(got, self.model.get(ipa), "{when}: lookup of IPA {ipa:#x}");
        }
    }

    /// Every page that had a mapping the operation changed was invalidated for this VMID
    /// (each run checked at its first and last page), after a `dsb ishst`.
    fn check_invalidated(&self, before: &[(u64, Run)], when: &str) {
        let calls = &self.tlb.calls;
        for (i, c) in calls.iter().enumerate() {
            match *c {
                Call::Ipa(vmid, ..) | Call::All(vmid) => {
                    assert_eq!(vmid, self.vmid, "{when}: another VMID invalidated");
                    assert!(
                        calls[..i].contains(&Call::Dsb),
                        "{when}: TLBI before any DSB"
                    );
                }
                Call::Dsb => {}
            }
        }
        if before.is_empty() {
            return;
        }
        // Per level, the first IPA of each span invalidated at it, sorted for lookups.
        let mut spans: [Vec<u64>; 4] = Default::default();
        let mut all = false;
        for c in calls {
            match *c {
                Call::All(_) => all = true,
                Call::Ipa(_, at, level) => {
                    let level = level.min(3);
                    spans[usize::from(level)].push(at & !(level_span(level) - 1));
                }
                Call::Dsb => {}
            }
        }
        spans.iter_mut().for_each(|s| s.sort_unstable());
        let invalidated = |ipa: u64| {
            all || (0..=3u8).any(|l| {
                let start = ipa & !(level_span(l) - 1);
                spans[usize::from(l)].binary_search(&start).is_ok()
            })
        };
        for (start, run) in before {
            for ipa in [*start, run.end - PAGE] {
                let old = Some((run.pa + (ipa - start), run.attrs));
                if self.model.get(ipa) != old {
                    assert!(
                        invalidated(ipa),
                        "{when}: IPA {ipa:#x} changed without TLBI"
                    );
                }
            }
        }
    }

    /// After `OutOfTables`, at the operation's edges and every run edge inside it: a map
    /// changed nothing; an unmap or remap left each page old or unmapped; a protect left
    /// each page old or with the new attributes.
    fn check_partial(&self, op: &Op, attrs: Option<u64>, when: &str) {
        let end = op.ipa + op.size;
        let inside = self
            .model
            .edges()
            .into_iter()
            .filter(|a| (op.ipa..end).contains(a));
        for ipa in inside.chain([op.ipa, end - PAGE]) {
            let old = self.model.get(ipa);
            let now = self.s2.lookup(Ipa(ipa)).map(|l| (l.pa.0, l.attrs));
            let ok = match op.kind {
                Kind::Map | Kind::Fault => now == old,
                Kind::Unmap | Kind::Remap => now == old || now.is_none(),
                Kind::Protect => now == old || now == old.map(|(pa, _)| (pa, attrs.unwrap_or(0))),
            };
            assert!(ok, "{when}: IPA {ipa:#x} was {old:x?}, is {now:x?}");
        }
    }
}
