//! The lazy map's own way in. A guest's first touch of a RAM page is the commonest trap
//! there is, and the guest resumes right after it: vectors.S offers each guest abort here
//! first, having saved only the registers a call clobbers, and takes the full trap path
//! ([`super::trap`]) only when this declines. So this must do exactly what the full path
//! would for the aborts it maps, and nothing at all for the others: `lazy_tests` drives
//! random aborts through both and compares.
//!
//! It maps the common case only, and calls nothing: RAM in the slot the VM's last fault
//! found, where stage 2's tables are there already. Another slot, device memory (whose
//! backing is checked again), a missing table: the full path. With no call on any of its
//! paths, the compiler keeps everything in the registers vectors.S saved.
//!
//! Why the full path's other steps are not needed for a map:
//! - the vGIC hook claims only aborts inside the vGIC's frames, and no slot overlaps them
//!   (MEMSLOT_SET refuses such a slot, and a vGIC is refused over existing slots);
//! - only translation and access-flag faults map (`classify`), and HPFAR_EL2 holds their
//!   IPA: the guest's stage 1 is never needed.

use super::{ipa_from_hpfar, HypCell, Running, TrapCpu};
use crate::esr::ec;
use crate::mm::pgtable::NoTables;
use crate::vm::fault::{classify_with, Abort, Outcome};
use crate::vm::guest::Vm;
use crate::vm::memslot::Slots;
use crate::vm::run::lazy_map;
use stile_abi::slot::SlotKind;
use stile_abi::Reason;

/// What became of a guest abort offered to [`lazy_abort`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lazy {
    /// Mapped: resume the guest at the same instruction.
    Mapped,
    /// A device access, to an MMIO slot or to the vGIC's frames: the full path takes it,
    /// and the page joins the vCPU's `Context::lazy_skip`, so vectors.S sends its next
    /// aborts straight there.
    Device,
    /// Anything else: the full path decides (not a guest's stage-2 abort, no slot or not
    /// the slot found last, device memory, a refused access, a missing table...).
    Declined,
}

/// The running guest's abort (the syndrome `cpu` holds), lazily mapped if it is RAM of the
/// slot found last and `classify` says so. Nothing changes unless it returns
/// [`Lazy::Mapped`], but for [`Lazy::Device`]'s note in the vCPU's `lazy_skip` (a hint that
/// only the vector reads: a page noted wrongly only costs that page the entry's attempt).
#[inline(always)]
pub fn lazy_abort<C: TrapCpu>(hyp: &HypCell, cpu: &mut C) -> Lazy {
    let Some(run) = cpu.running() else {
        return Lazy::Declined;
    };
    let (esr, far, hpfar) = cpu.syndrome();
    // The full path's aborts: data or instruction aborts from below EL2 (0x24, 0x20).
    if esr.ec_raw() | 4 != ec::DATA_ABORT_LOWER {
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
    let outcome = entry_classify(&abort, &v.slots);
    match outcome {
        Outcome::Map { .. } => {}
        // A device the full path answers: an MMIO slot's (an exit to the VMM), or the
        // vGIC's frames, which no slot covers (its hook).
        Outcome::Mmio(_) | Outcome::Nisv => return note_device(v, run, hpfar),
        _ if v.vgic.as_deref().is_some_and(|g| g.overlaps(abort.ipa, 1)) => {
            return note_device(v, run, hpfar)
        }
        _ => return Lazy::Declined,
    }
    // The full path stops a vCPU EL2 lost track of before it maps anything.
    if v.vcpus.get(run.vcpu as usize).is_none() {
        return Lazy::Declined;
    }
    let mut m = cpu.machine(hyp);
    match lazy_map(v, &outcome, &mut NoTables, &mut m) {
        true => Lazy::Mapped,
        false => Lazy::Declined,
    }
}

/// The vCPU's device page `hpfar` joins its `lazy_skip`, the older of the two leaves.
#[inline(always)]
fn note_device(v: &mut Vm, run: Running, hpfar: u64) -> Lazy {
    if let Some(vc) = v.vcpus.get_mut(run.vcpu as usize) {
        let skip = &mut vc.ctx.lazy_skip;
        *skip = [hpfar, skip[0]];
    }
    Lazy::Device
}

/// `classify` as the full path runs it, but only on the slot found last (no search) and
/// only for RAM (whose backing is not checked again there either): anything it maps, the
/// full path's `classify` maps the same way (the fault_classify fuzz target checks it).
#[inline(always)]
pub fn entry_classify(abort: &Abort, slots: &Slots) -> Outcome {
    classify_with(
        abort,
        |ipa| slots.find_last(ipa),
        |_, slot| match slot.kind {
            SlotKind::Ram => Ok(()),
            _ => Err(Reason::BadKind),
        },
    )
}
