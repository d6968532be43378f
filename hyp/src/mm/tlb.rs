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

/// What changing a live stage-2 table needs from the CPU. The core calls, for every valid
/// entry it breaks: write invalid; `dsb_ishst()`; `invalidate_ipa(..)`; then (maybe) write
/// the new entry. It never frees a table page before the invalidation that detached it.
///
/// The real implementation (arch/aarch64), as the Arm ARM's break-before-make rules ask:
/// - `dsb_ishst`: `dsb ishst`.
/// - `invalidate_ipa`: with `vmid` in VTTBR_EL2:
///   `tlbi ipas2e1is, ipa >> 12; dsb ish; tlbi vmalle1is; dsb ish; isb`. The first drops the
///   stage-2 entry (and walk-cache entries on the way to it); `vmalle1is` drops combined
///   stage-1+2 entries, which are tagged by VA and so cannot be found by IPA. `level` is the
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
    /// can tell whether the entry really was broken before the invalidation.
    #[derive(Default)]
    pub struct RecordingTlb {
        pub calls: Vec<Call>,
        probe: Option<Box<dyn Fn(Ipa) -> Seen>>,
    }

    impl RecordingTlb {
        pub fn new() -> Self {
            Self::default()
        }

        pub fn with_probe(probe: impl Fn(Ipa) -> Seen + 'static) -> Self {
            RecordingTlb {
                calls: Vec::new(),
                probe: Some(Box::new(probe)),
            }
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
            self.calls.push(Call::InvalidateVmid(vmid));
        }
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
