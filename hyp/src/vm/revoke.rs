//! Taking a board region away from the guests behind their VMMs' backs (REGION_REVOKE: a
//! device reset, the region handed back) and giving it back (REGION_RESTORE).
//!
//! Revoking unmaps the region from every guest stage 2 that maps it (break-before-make and
//! TLB invalidation per entry, through the stage-2 engine) and marks the slots over it
//! *changed*: a guest's next access faults, and the fault path reports SLOT_CHANGED with
//! the whole syndrome instead of mapping it again. The mark stays until the VMM registers
//! the slot again (MEMSLOT_SET), which is refused with REVOKED until the region is
//! restored. So a VMM always learns that the mapping changed, even when the region is back
//! before the guest touches it again. The host's own access to the region is not changed:
//! the host is the one resetting the device.

use crate::addr::PhysRange;
use crate::mm::tlb::S2Maintenance;
use crate::vm::hyp::Hyp;
use core::sync::atomic::{AtomicU8, Ordering};
use log::info;
use stile_abi::Reason;

/// Which of [`Hyp::assignable`] are revoked: bit `i` for region `i`. Changed only under the
/// VM-table lock (REGION_REVOKE and REGION_RESTORE take it), read without it: MEMSLOT_SET
/// reads it under its VM's lock, which REGION_REVOKE takes after setting the bit.
#[derive(Debug, Default)]
pub struct RevokedRegions(AtomicU8);

// One bit per assignable region.
const _: () = assert!(crate::vm::hyp::MAX_ASSIGNABLE <= u8::BITS as usize);

impl RevokedRegions {
    fn bits(&self) -> u8 {
        self.0.load(Ordering::Acquire)
    }

    fn has(&self, i: usize) -> bool {
        self.bits() >> i & 1 != 0
    }
}

/// What REGION_REVOKE did: slots marked changed (x1) and the VMs they belong to (x2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revoked {
    pub slots: u64,
    pub vms: u64,
}

/// The assignable region whose base is `base`. A region is named by its base, the address
/// the boot log and the board config give; any other address is no region.
fn region_at(hyp: &Hyp, base: u64) -> Result<(usize, PhysRange), Reason> {
    hyp.assignable
        .iter()
        .position(|a| a.range.base.0 == base)
        .map(|i| (i, hyp.assignable[i].range))
        .ok_or(Reason::NotOwned)
}

/// Whether backing `pa` lies (partly) in a revoked region: MEMSLOT_SET's last check.
pub fn is_revoked(hyp: &Hyp, pa: &PhysRange) -> bool {
    let revoked = hyp.revoked.bits();
    // Nothing revoked, the usual case: no search.
    revoked != 0
        && hyp
            .assignable
            .iter()
            .enumerate()
            .any(|(i, a)| revoked >> i & 1 != 0 && a.range.overlaps(pa))
}

/// REGION_REVOKE: unmap region `base` from every guest and mark the slots over it changed.
/// Refused with `NOT_OWNED` for an address that is no assignable region's base, and with
/// `REVOKED` when it is revoked already (nothing changes).
///
/// Under the VM-table lock (no VM comes or goes, and no other revoke or restore runs), the
/// bit is set first and then each VM is locked in turn: a MEMSLOT_SET either saw the bit
/// or finished before its VM is swept here.
pub fn revoke(hyp: &Hyp, tlb: &mut impl S2Maintenance, base: u64) -> Result<Revoked, Reason> {
    let (index, range) = region_at(hyp, base)?;
    let _table = hyp.table.lock();
    if hyp.revoked.has(index) {
        return Err(Reason::Revoked);
    }
    hyp.revoked.0.fetch_or(1 << index, Ordering::AcqRel);
    let mut done = Revoked { slots: 0, vms: 0 };
    for id in 1..=hyp.vms.len() as u64 {
        let Ok(mut vm) = hyp.lock_vm(id) else {
            continue;
        };
        let mut frames = hyp.frames.hold();
        let mut hit = false;
        for i in 0..vm.slots.len() {
            if !vm.slots[i].is_some_and(|s| s.backed_by(&range)) {
                continue;
            }
            vm.slots.mark_changed(i);
            vm.unmap_slot(i, &mut frames, tlb);
            done.slots += 1;
            hit = true;
            info!("vm {id}: slot {i}: its region at {range} was revoked");
        }
        done.vms += u64::from(hit);
    }
    info!(
        "region at {range}: revoked; {} slots in {} VMs unmapped",
        done.slots, done.vms
    );
    Ok(done)
}

/// REGION_RESTORE: region `base` may back slots again (slots marked changed stay so until
/// their VMM registers them again). Restoring a region that is not revoked changes
/// nothing and succeeds; an address that is no region's base is `NOT_OWNED`.
pub fn restore(hyp: &Hyp, base: u64) -> Result<(), Reason> {
    let (index, range) = region_at(hyp, base)?;
    let _table = hyp.table.lock();
    if hyp.revoked.has(index) {
        hyp.revoked.0.fetch_and(!(1 << index), Ordering::AcqRel);
        info!("region at {range}: restored");
    }
    Ok(())
}

#[cfg(test)]
#[path = "revoke_tests.rs"]
mod tests;
