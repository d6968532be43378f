//! The lazy map's own way in. A guest's stage-2 abort that only needs stage 2 filled from a
//! RAM or device-memory slot is the commonest trap there is, and the guest resumes right
//! after it: vectors.S offers it here first, having saved only the registers a call
//! clobbers, and takes the full trap path ([`super::trap`]) only when this declines. So
//! this must do exactly what the full path would for the aborts it takes, and nothing at
//! all for the others: `lazy_tests` drives random aborts through both and compares.
//!
//! Why the full path's other steps are not needed for a map:
//! - the vGIC hook claims only aborts inside the vGIC's frames, and no slot overlaps them
//!   (MEMSLOT_SET refuses such a slot, and a vGIC is refused over existing slots);
//! - only translation and access-flag faults map (`classify`), and HPFAR_EL2 holds their
//!   IPA: the guest's stage 1 is never needed.

use super::{ipa_from_hpfar, HypCell, TrapCpu};
use crate::mm::stage2::Ipa;
use crate::vm::fault::{classify_lazily, Abort, Outcome};
use crate::vm::run::lazy_map;

/// What became of a guest abort offered to [`lazy_abort`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lazy {
    /// Mapped: resume the guest at the same instruction.
    Mapped,
    /// Its page is not mapped in EL2 (MMIO, no slot, a refused access...): the full path
    /// decides, now and, as far as the caller remembers it, next time.
    NotRam,
    /// Anything else the full path decides (not a translation or access-flag abort, no
    /// guest, out of table pages).
    Declined,
}

/// The running guest's abort (the syndrome `cpu` holds), lazily mapped if `classify` says
/// so. Nothing changes unless it returns [`Lazy::Mapped`].
#[inline(always)]
pub fn lazy_abort<C: TrapCpu>(hyp: &HypCell, cpu: &mut C) -> Lazy {
    let Some(run) = cpu.running() else {
        return Lazy::Declined;
    };
    let (esr, far, hpfar) = cpu.syndrome();
    if !esr.is_abort() {
        return Lazy::Declined;
    }
    let Some(hyp) = hyp.get() else {
        return Lazy::Declined;
    };
    let Ok(mut guard) = hyp.lock_vm(run.vm) else {
        return Lazy::Declined;
    };
    let v = &mut *guard;
    let abort = Abort {
        esr,
        far,
        ipa: ipa_from_hpfar(far, hpfar),
    };
    // HPFAR_EL2 holds the IPA of every abort `classify` may map (translation and access
    // flag faults); for the others it returns something else whatever the IPA.
    let world = || hyp.slot_world(v.donated);
    let Outcome::Map {
        ipa,
        size,
        pa,
        kind,
        perm_bits,
        ..
    } = classify_lazily(&abort, &v.slots, world)
    else {
        return Lazy::NotRam;
    };
    // The full path stops a vCPU EL2 lost track of before it maps anything.
    if v.vcpus.get(run.vcpu as usize).is_none() {
        return Lazy::Declined;
    }
    let mut m = cpu.machine(hyp);
    match lazy_map(v, Ipa(ipa), pa, size, kind, perm_bits, &hyp.frames, &mut m) {
        true => Lazy::Mapped,
        false => Lazy::Declined,
    }
}
