//! Stage-2 TLB maintenance, as the arch-free core asks for it. arch/aarch64 implements
//! [`S2Maintenance`] with the real instructions; unit tests use [`fake::RecordingTlb`], which
//! records every call so a test can check that a change invalidated the right VMID.

use crate::addr::Ipa;
use crate::mm::pgtable::TlbSync;

/// A VMID that fits the width in use (8 or 16 bits); made only by [`VmidAlloc`](crate::mm::vmid::VmidAlloc) or
/// [`Vmid::HOST`], so a value that would spill into VTTBR_EL2's reserved bits cannot exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Vmid(pub(in crate::mm) u16);

impl Vmid {
    /// The host VM's VMID, never handed to a guest.
    pub const HOST: Vmid = Vmid(0);

    pub const fn raw(self) -> u16 {
        self.0
    }

    /// Any VMID, for unit tests of code that takes one.
    #[cfg(test)]
    pub(crate) const fn for_test(raw: u16) -> Vmid {
        Vmid(raw)
    }
}

/// What changing a live stage-2 table needs from the CPU. Where the core writes a new entry
/// over a valid one (Protect, a block split) it goes, per entry: write invalid;
/// `dsb_ishst()`; `invalidate_ipa(..)`; write the new entry. An unmap, which writes nothing
/// back, writes all its entries invalid and then once `dsb_ishst()` and `invalidate_vmid(..)`
/// (`invalidate_ipa(..)` if it broke a single entry) before it returns (pgtable/owed.rs). It
/// never frees a table page before an invalidation issued after the page was detached.
///
/// The real implementation (arch/aarch64), as the Arm ARM's break-before-make rules ask:
/// - `dsb_ishst`: `dsb ishst`.
/// - `invalidate_ipa`: the same as `invalidate_vmid`, a superset of what it must drop. By
///   IPA it would take `tlbi ipas2e1is, ipa >> 12` (the stage-2 entry and the walk-cache
///   entries on the way to it) AND `tlbi vmalle1is`, because combined stage-1+2 entries are
///   tagged by VA and cannot be found by IPA; `vmalle1is` already drops every stage-1 entry
///   of the VMID, so one `vmalls12e1is` (stage 1 and stage 2) costs one broadcast TLBI
///   instead of two. Under QEMU TCG every broadcast TLBI waits for all vCPU threads, which
///   made two per page the cost of a 4-CPU host (docs/HOST-PAYLOAD.md). `level` is the
///   level of the entry that was broken (a TTL hint with FEAT_TTL; may be ignored).
/// - `invalidate_vmid`: with `vmid` in VTTBR_EL2: `tlbi vmalls12e1is; dsb ish; isb`.
///
/// TLBI by IPA and VMALL* act on the VMID in VTTBR_EL2, not on an operand. If `vmid` is not
/// the one loaded (the host changing a guest's table, or a VM being destroyed), the real
/// implementation must load VTTBR_EL2 with that VMID (and a valid root, e.g. that VM's) and
/// `isb` before the TLBI, then restore VTTBR_EL2 and `isb` after. Stage-1 EL2 TLBIs
/// (`vae2is`, `alle2is`) do NOT reach stage-2 entries.
pub trait S2Maintenance {
    /// Make table writes so far visible to every CPU's table walker.
    fn dsb_ishst(&mut self);
    /// Drop every cached translation through the (now invalid) entry for `ipa` at `level`
    /// in `vmid`'s stage 2, on all CPUs, and wait for it.
    fn invalidate_ipa(&mut self, vmid: Vmid, ipa: Ipa, level: u8);
    /// Drop every cached translation of `vmid`, on all CPUs, and wait for it.
    fn invalidate_vmid(&mut self, vmid: Vmid);
}

/// Binds maintenance to one VM, which is what the VMID-agnostic table engine talks to.
pub(crate) struct ForVm<'a, M: S2Maintenance> {
    pub tlb: &'a mut M,
    pub vmid: Vmid,
}

impl<M: S2Maintenance> TlbSync for ForVm<'_, M> {
    fn publish(&mut self) {
        self.tlb.dsb_ishst();
    }
    fn invalidate(&mut self, ia: u64, level: u8) {
        self.tlb.invalidate_ipa(self.vmid, Ipa(ia), level);
    }
    fn invalidate_all(&mut self) {
        self.tlb.invalidate_vmid(self.vmid);
    }
}

#[cfg(test)]
pub(crate) mod fake {
    use super::*;
    use crate::mm::pgtable::level_size;
    use std::boxed::Box;
    use std::vec::Vec;

    /// What a walk of an IPA found when its invalidation was asked for.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Seen {
        /// It still translated: the entry had not been broken first.
        Mapped,
        /// The walk met an invalid entry at this level, so everything that entry covers
        /// was unmapped at that moment (break-before-make wants a level <= the one named).
        HoleAt(u8),
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Call {
        DsbIshst,
        /// `seen`: what the probe saw at that moment (`None` without a probe).
        InvalidateIpa {
            vmid: Vmid,
            ipa: Ipa,
            level: u8,
            seen: Option<Seen>,
        },
        InvalidateVmid(Vmid),
    }

    /// Records maintenance in call order. With a probe (a read-only view of the table
    /// being edited) it also records what a walk of each invalidated IPA found, so a test
    /// can tell whether the entry really was broken before the invalidation; and with a
    /// watched range, what walks of that range found at each whole-VMID invalidation.
    #[derive(Default)]
    pub struct RecordingTlb {
        pub calls: Vec<Call>,
        probe: Option<Box<dyn Fn(Ipa) -> Seen>>,
        watched: Option<(u64, u64)>,
        /// One entry per `invalidate_vmid` made with a probe and a watched range: the range
        /// cut where the walks' answers change, as (first IPA, what its walk found); a hole
        /// at level `h` stands for the rest of that level-`h` entry's span.
        pub flushes: Vec<Vec<(Ipa, Seen)>>,
    }

    impl RecordingTlb {
        pub fn new() -> Self {
            Self::default()
        }

        pub fn with_probe(probe: impl Fn(Ipa) -> Seen + 'static) -> Self {
            RecordingTlb {
                probe: Some(Box::new(probe)),
                ..Self::default()
            }
        }

        /// Walk `[ipa, ipa + size)` at each later `invalidate_vmid` (see `flushes`).
        pub fn watch(&mut self, ipa: Ipa, size: u64) {
            self.watched = Some((ipa.0, ipa.0 + size));
        }

        /// What walks of the watched range found at one moment, hole by hole.
        fn scan(&self) -> Option<Vec<(Ipa, Seen)>> {
            let (probe, (start, end)) = (self.probe.as_ref()?, self.watched?);
            let mut out = Vec::new();
            let mut at = start;
            while at < end {
                let seen = probe(Ipa(at));
                let span = match seen {
                    Seen::HoleAt(h) => level_size(h.min(3)),
                    Seen::Mapped => level_size(3),
                };
                out.push((Ipa(at), seen));
                at = (at | (span - 1)) + 1;
            }
            Some(out)
        }

        /// The calls so far, leaving the record empty.
        pub fn take(&mut self) -> Vec<Call> {
            core::mem::take(&mut self.calls)
        }
    }

    impl S2Maintenance for RecordingTlb {
        fn dsb_ishst(&mut self) {
            self.calls.push(Call::DsbIshst);
        }
        fn invalidate_ipa(&mut self, vmid: Vmid, ipa: Ipa, level: u8) {
            let seen = self.probe.as_ref().map(|p| p(ipa));
            self.calls.push(Call::InvalidateIpa {
                vmid,
                ipa,
                level,
                seen,
            });
        }
        fn invalidate_vmid(&mut self, vmid: Vmid) {
            if let Some(scan) = self.scan() {
                self.flushes.push(scan);
            }
            self.calls.push(Call::InvalidateVmid(vmid));
        }
    }

    #[test]
    fn a_watched_range_is_walked_at_each_whole_vmid_invalidation() {
        // The first 2 MiB unmapped at level 2; in the next, one page mapped.
        let mut t = RecordingTlb::with_probe(|ipa| match ipa.0 {
            0..0x20_0000 => Seen::HoleAt(2),
            0x20_1000..0x20_2000 => Seen::Mapped,
            _ => Seen::HoleAt(3),
        });
        t.watch(Ipa(0), 0x20_3000);
        t.invalidate_ipa(Vmid::for_test(1), Ipa(0x1000), 3);
        assert!(t.flushes.is_empty());
        t.invalidate_vmid(Vmid::for_test(1));
        assert_eq!(
            t.flushes,
            [std::vec![
                (Ipa(0), Seen::HoleAt(2)),
                (Ipa(0x20_0000), Seen::HoleAt(3)),
                (Ipa(0x20_1000), Seen::Mapped),
                (Ipa(0x20_2000), Seen::HoleAt(3))
            ]]
        );
        assert_eq!(RecordingTlb::new().scan(), None);
    }

    #[test]
    fn the_fake_records_calls_in_order() {
        let mut t = RecordingTlb::new();
        let v = Vmid::for_test(3);
        t.dsb_ishst();
        t.invalidate_ipa(v, Ipa(0x1000), 3);
        t.invalidate_vmid(v);
        assert_eq!(
            t.take(),
            [
                Call::DsbIshst,
                Call::InvalidateIpa {
                    vmid: v,
                    ipa: Ipa(0x1000),
                    level: 3,
                    seen: None
                },
                Call::InvalidateVmid(v)
            ]
        );
        assert!(t.calls.is_empty());
    }

    #[test]
    fn the_binding_passes_the_vms_vmid() {
        let mut t = RecordingTlb::with_probe(|ipa| {
            if ipa.0 == 0x2000 {
                Seen::HoleAt(1)
            } else {
                Seen::Mapped
            }
        });
        let v = Vmid::for_test(9);
        let mut s = ForVm {
            tlb: &mut t,
            vmid: v,
        };
        s.publish();
        s.invalidate(0x2000, 2);
        s.invalidate_all();
        assert_eq!(
            t.calls,
            [
                Call::DsbIshst,
                Call::InvalidateIpa {
                    vmid: v,
                    ipa: Ipa(0x2000),
                    level: 2,
                    seen: Some(Seen::HoleAt(1))
                },
                Call::InvalidateVmid(v)
            ]
        );
    }
}
