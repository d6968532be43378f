//! A guest VM: its stage 2 (FWB on where the CPU has it), the RAM the host donated, its
//! memslots and vCPUs, and what happened to it (STATS).

use crate::addr::{PhysAddr, PhysRange};
use crate::mm::kind::{MemoryKind, Perms};
use crate::mm::pgtable::TableAlloc;
use crate::mm::stage2::{Ipa, S2Error, Stage2};
use crate::mm::tlb::S2Maintenance;
use crate::vm::memslot::{Slot, Slots};
use crate::vm::vcpu::Vcpu;
use alloc::boxed::Box;
use alloc::vec::Vec;

pub const MAX_VMS: usize = 8;
pub const MAX_VCPUS: usize = 4;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VmStats {
    /// Stage-2 faults resolved inside EL2 (lazy maps).
    pub resolved_in_hyp: u64,
    /// Exits delivered to the host.
    pub exits: u64,
    /// Aborts injected into the guest.
    pub injected: u64,
}

pub struct Vm {
    pub stage2: Stage2,
    pub donated: PhysRange,
    pub slots: Slots,
    /// Boxed: a running vCPU's registers are reached through a raw pointer by the trap path.
    pub vcpus: Vec<Box<Vcpu>>,
    pub stats: VmStats,
}

impl Vm {
    pub fn new(stage2: Stage2, donated: PhysRange) -> Vm {
        Vm {
            stage2,
            donated,
            slots: Slots::new(),
            vcpus: Vec::new(),
            stats: VmStats::default(),
        }
    }

    /// Every slot but `except`.
    pub fn other_slots(&self, except: usize) -> impl Iterator<Item = Slot> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i != except)
            .filter_map(|(_, s)| *s)
    }

    /// Map `[ipa, ipa + size)` of slot `index` (all of it is inside the slot). One page or
    /// block (a fault) takes the one-walk path, where a leaf already there is success; a
    /// longer range (an eager slot) is mapped all or nothing, and none of it may be mapped
    /// yet.
    pub fn map_slot_part(
        &mut self,
        index: usize,
        ipa: u64,
        size: u64,
        alloc: &mut impl TableAlloc,
        tlb: &mut impl S2Maintenance,
    ) -> Result<(), S2Error> {
        let Some(slot) = self.slots.get(index).and_then(Option::as_ref) else {
            return Ok(());
        };
        let Some(kind) = slot.memory_kind() else {
            return Ok(());
        };
        let (ipa, pa, perms) = (Ipa(ipa), slot.pa_of(ipa), slot.perms());
        match self.stage2.leaf_level(ipa, pa, size) {
            Some(level) => self
                .stage2
                .map_leaf(alloc, tlb, ipa, pa, level, kind, perms),
            None => map_range(&mut self.stage2, alloc, tlb, ipa, pa, size, kind, perms),
        }
    }

    /// Unmap whatever stage 2 has for slot `index`'s range.
    pub fn unmap_slot(
        &mut self,
        index: usize,
        alloc: &mut impl TableAlloc,
        tlb: &mut impl S2Maintenance,
    ) {
        if let Some(slot) = self.slots.get(index).copied().flatten() {
            // Unmapping an unmapped range is not an error; a failure here (out of tables to
            // split a block) leaves pages mapped that the slot no longer describes, so
            // drop the whole VM's translations for this range page by page instead.
            if self
                .stage2
                .unmap(alloc, tlb, Ipa(slot.ipa), slot.size)
                .is_err()
            {
                let mut page = slot.ipa;
                while page < slot.ipa + slot.size {
                    let _ = self.stage2.unmap(alloc, tlb, Ipa(page), 4096);
                    page += 4096;
                }
            }
        }
    }

    /// The backing PA of `ipa` in a RAM/device slot, if any.
    pub fn backing(&self, ipa: u64) -> Option<PhysAddr> {
        self.slots
            .iter()
            .flatten()
            .find(|s| s.contains(ipa) && s.memory_kind().is_some())
            .map(|s| s.pa_of(ipa))
    }
}

/// [`Stage2::map`] without its counts, out of line: the fault path that shares
/// `map_slot_part` with it stays small.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn map_range(
    stage2: &mut Stage2,
    alloc: &mut impl TableAlloc,
    tlb: &mut impl S2Maintenance,
    ipa: Ipa,
    pa: PhysAddr,
    size: u64,
    kind: MemoryKind,
    perms: Perms,
) -> Result<(), S2Error> {
    stage2.map(alloc, tlb, ipa, pa, size, kind, perms).map(drop)
}
