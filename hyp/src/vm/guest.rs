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
    /// Its virtual GIC, once VGIC_CONFIG gave it one (vm/interrupts.rs).
    pub vgic: Option<Box<crate::vgic::Vgic>>,
}

impl Vm {
    pub fn new(stage2: Stage2, donated: PhysRange) -> Vm {
        Vm {
            stage2,
            donated,
            slots: Slots::new(),
            vcpus: Vec::new(),
            stats: VmStats::default(),
            vgic: None,
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

    /// Map `[ipa, ipa + size)` of slot `index` (all of it is inside the slot). A page or an
    /// aligned 2 MiB block (what a fault maps) takes the one-walk path, where a leaf already
    /// there is success, each with its own copy of the walk for its level; any other range
    /// (an eager slot) is mapped all or nothing, and none of it may be mapped yet.
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
        let (ipa, pa, perms) = (Ipa(ipa), slot.pa_of(ipa), slot.perm_bits());
        let s2 = &mut self.stage2;
        // Constant levels: each call gets the walk for its level inlined.
        match s2.leaf_level(ipa, pa, size) {
            Some(3) => s2.map_leaf_bits(alloc, tlb, ipa, pa, 3, kind, perms),
            Some(2) => s2.map_leaf_bits(alloc, tlb, ipa, pa, 2, kind, perms),
            _ => map_range(s2, alloc, tlb, ipa, pa, size, kind, Perms::from_bits(perms)),
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

/// [`Vm::map_slot_part`] for anything but a page or an aligned 2 MiB block (an eager slot's
/// range; a fault maps no other size): [`Stage2::map`] without its counts, out of line so
/// the fault path stays small.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::pgtable::tests::TestAlloc;
    use crate::mm::tlb::fake::Call;
    use crate::mm::vmid::Vmid;
    use crate::mm::vtcr::vtcr_for;
    use stile_abi::slot::SlotKind;

    const MIB: u64 = 1 << 20;
    const RAM: u64 = 0x4000_0000;

    fn vm_with(slot: Slot) -> (Vm, TestAlloc) {
        let mut a = TestAlloc::new(64);
        let cfg = vtcr_for(2, 40, false).unwrap();
        let s2 = Stage2::new(&mut a, cfg, Vmid::for_test(3), true).unwrap();
        let mut vm = Vm::new(s2, PhysRange::new(RAM, 64 * MIB));
        vm.slots[1] = Some(slot);
        (vm, a)
    }

    fn ram_slot(ipa: u64, pa: u64, size: u64) -> Slot {
        Slot::new(ipa, pa, size, SlotKind::Ram, Perms::RW, false, false)
    }

    /// (IPA, PA, level) of each leaf in `[ipa, ipa + size)`.
    fn leaves(vm: &Vm, ipa: u64, size: u64) -> Vec<(u64, u64, u8)> {
        let mut out = Vec::new();
        let mut at = ipa;
        while at < ipa + size {
            match vm.stage2.lookup(Ipa(at)) {
                Some(l) => {
                    let step = 1u64 << (12 + 9 * (3 - l.level as u32));
                    out.push((at, l.pa.0, l.level));
                    at += step;
                }
                None => at += 4096,
            }
        }
        out
    }

    #[test]
    fn a_faults_page_and_block_are_one_leaf_each_and_a_second_time_is_success() {
        let (mut vm, mut a) = vm_with(ram_slot(0x8000_0000, RAM, 4 * MIB));
        let mut t = vm.stage2.recording_tlb();
        vm.map_slot_part(1, 0x8000_3000, 4096, &mut a, &mut t)
            .unwrap();
        vm.map_slot_part(1, 0x8020_0000, 2 * MIB, &mut a, &mut t)
            .unwrap();
        vm.map_slot_part(1, 0x8020_0000, 2 * MIB, &mut a, &mut t)
            .unwrap();
        vm.map_slot_part(1, 0x8000_3000, 4096, &mut a, &mut t)
            .unwrap();
        assert_eq!(
            leaves(&vm, 0x8000_0000, 4 * MIB),
            [
                (0x8000_3000, RAM + 0x3000, 3),
                (0x8020_0000, RAM + 2 * MIB, 2)
            ]
        );
        // Only invalid entries were written: publishes, no invalidation.
        assert!(t.take().iter().all(|c| *c == Call::DsbIshst));
    }

    #[test]
    fn a_2m_range_whose_pa_is_not_aligned_is_mapped_with_pages() {
        let (mut vm, mut a) = vm_with(ram_slot(0x8000_0000, RAM + 0x1000, 2 * MIB));
        let mut t = vm.stage2.recording_tlb();
        vm.map_slot_part(1, 0x8000_0000, 2 * MIB, &mut a, &mut t)
            .unwrap();
        let l = leaves(&vm, 0x8000_0000, 2 * MIB);
        assert_eq!(l.len(), 512);
        assert!(l
            .iter()
            .all(|&(ipa, pa, level)| level == 3 && pa == ipa - 0x8000_0000 + RAM + 0x1000));
    }

    #[test]
    fn a_longer_range_is_all_or_nothing_and_refused_over_a_mapping() {
        let (mut vm, mut a) = vm_with(ram_slot(0x8000_0000, RAM, 8 * MIB));
        let mut t = vm.stage2.recording_tlb();
        vm.map_slot_part(1, 0x8000_0000, 4 * MIB + 4096, &mut a, &mut t)
            .unwrap();
        assert_eq!(leaves(&vm, 0x8000_0000, 8 * MIB).len(), 3);
        assert!(vm
            .map_slot_part(1, 0x8040_0000, 4 * MIB, &mut a, &mut t)
            .is_err());
        assert_eq!(leaves(&vm, 0x8000_0000, 8 * MIB).len(), 3);
    }

    #[test]
    fn mmio_and_empty_slots_map_nothing() {
        let mmio = Slot::new(0x900_0000, 0, 4096, SlotKind::Mmio, Perms::RW, false, false);
        let (mut vm, mut a) = vm_with(mmio);
        let mut t = vm.stage2.recording_tlb();
        assert_eq!(
            vm.map_slot_part(1, 0x900_0000, 4096, &mut a, &mut t),
            Ok(())
        );
        assert_eq!(
            vm.map_slot_part(7, 0x900_0000, 4096, &mut a, &mut t),
            Ok(())
        );
        assert_eq!(
            vm.map_slot_part(99, 0x900_0000, 4096, &mut a, &mut t),
            Ok(())
        );
        assert_eq!(vm.stage2.lookup(Ipa(0x900_0000)), None);
    }
}
