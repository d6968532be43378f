//! Everything EL2 keeps about its VMs, and the hypercalls that change it. Arch-free: the CPU
//! and physical memory come in through [`Machine`].

use crate::addr::{PhysAddr, PhysRange};
use crate::cpu_features::CpuFeatures;
use crate::mm::frames::Frames;
use crate::mm::kind::{MemoryKind, Perms};
use crate::mm::ranges::RangeSet;
use crate::mm::stage2::{Ipa, Stage2};
use crate::mm::vmid::VmidAlloc;
use crate::mm::vtcr::VtcrConfig;
use crate::vm::guest::{Vm, MAX_VCPUS, MAX_VMS};
use crate::vm::host::HostVm;
use crate::vm::hvc::{HvcBackend, Refused, Translation};
use crate::vm::interrupts;
use crate::vm::machine::{GuestRegime, Machine};
use crate::vm::memslot::{validate, Assignable, SlotRequest, SlotWorld, MAX_SLOTS};
use crate::vm::revoke::{self, Revoked, RevokedRegions};
use crate::vm::vcpu::Vcpu;
use alloc::boxed::Box;
use log::info;
use stile_abi::{caps, Reason};

const PAGE: u64 = 4096;
pub const MAX_ASSIGNABLE: usize = 8;
const MAX_RUN_PAGES: usize = MAX_VMS * MAX_VCPUS;

pub struct Hyp {
    pub host: HostVm,
    /// The host's RAM as the board config gave it (what VM_CREATE may take).
    pub host_ram: RangeSet,
    pub frames: Frames,
    pub vmids: VmidAlloc,
    pub cpu: CpuFeatures,
    /// Stage-2 geometry of every guest.
    pub guest_vtcr: VtcrConfig,
    pub assignable: heapless::Vec<Assignable, MAX_ASSIGNABLE>,
    /// Which of them the host has revoked (REGION_REVOKE).
    pub revoked: RevokedRegions,
    /// vm id - 1 -> VM.
    pub vms: [Option<Box<Vm>>; MAX_VMS],
    /// Host pages shared as run pages (never donated while in use).
    pub run_pages: heapless::Vec<(u64, PhysRange), MAX_RUN_PAGES>,
    /// List registers of the CPUs' virtual interface; 0: no vGIC possible.
    pub gic_lrs: u8,
    /// GICv2: the GICV pages a guest's GICC maps (vgic::gicv_pages); None on a GICv3.
    pub gicv: Option<[u64; 2]>,
}

impl Hyp {
    #[inline]
    pub fn vm(&self, id: u64) -> Result<&Vm, Refused> {
        self.vms
            .get((id as usize).wrapping_sub(1))
            .and_then(|v| v.as_deref())
            .ok_or(Reason::NoSuchVm)
    }

    #[inline]
    pub fn vm_mut(&mut self, id: u64) -> Result<&mut Vm, Refused> {
        self.vms
            .get_mut((id as usize).wrapping_sub(1))
            .and_then(|v| v.as_deref_mut())
            .ok_or(Reason::NoSuchVm)
    }

    /// The world memslot rules are checked against, for VM `donated`.
    pub fn slot_world(&self, donated: PhysRange) -> SlotWorld<'_> {
        SlotWorld {
            donated,
            assignable: &self.assignable,
            fwb: self.cpu.fwb,
            ipa_limit: self.guest_vtcr.ipa_limit(),
        }
    }

    /// GET_CAPS: (bits, reason byte per bit that is off).
    pub fn caps(&self) -> (u64, u64) {
        let f = &self.cpu;
        let exec_reason = if !f.fwb {
            Reason::NeedsFwb
        } else {
            Reason::NoDic
        };
        let table = [
            (caps::CACHEABLE_DEVICE, f.fwb, Reason::NeedsFwb),
            (caps::CACHEABLE_DEVICE_EXEC, f.fwb && f.dic, exec_reason),
            (caps::DEVICE_NC, true, Reason::None),
            (caps::MMIO_EXITS, true, Reason::None),
            (caps::NISV_EXITS, true, Reason::None),
            (caps::LAZY_MAPPING, true, Reason::None),
            (caps::FWB_GUESTS, f.fwb, Reason::NeedsFwb),
            (caps::VGIC, self.gic_lrs != 0, Reason::NoVgic),
        ];
        let mut bits = 0;
        let mut reasons = 0;
        for (bit, on, why) in table {
            if on {
                bits |= bit;
            } else {
                reasons |= (why as u64 & 0xff) << (8 * bit.trailing_zeros());
            }
        }
        (bits, reasons)
    }

    fn in_use_by_run_page(&self, r: &PhysRange) -> bool {
        self.run_pages.iter().any(|(_, p)| p.overlaps(r))
    }

    fn donated_anywhere(&self, r: &PhysRange) -> bool {
        self.vms.iter().flatten().any(|vm| vm.donated.overlaps(r))
    }
}

/// The hypercalls, bound to the machine they act through.
pub struct Calls<'a, M: Machine> {
    pub hyp: &'a mut Hyp,
    pub m: &'a mut M,
}

impl<M: Machine> HvcBackend for Calls<'_, M> {
    fn translate(&mut self, vm: u64, addr: u64) -> Translation {
        if vm == 0 {
            let m = &mut *self.m;
            return self.hyp.host.translate(0, addr, |a| m.at_s12e1r(None, a));
        }
        let Ok(v) = self.hyp.vm(vm) else {
            return Translation::Invalid(Reason::NoSuchVm);
        };
        if addr >= v.stage2.vtcr().ipa_limit() {
            return Translation::Invalid(Reason::OutOfRange);
        }
        let Some(leaf) = v.stage2.lookup(Ipa(addr)) else {
            let why = if v.slots.iter().flatten().any(|s| s.contains(addr)) {
                Reason::NoMapping
            } else {
                Reason::NoSlot
            };
            return Translation::Unmapped(why);
        };
        let Some(vcpu) = v.vcpus.first() else {
            return Translation::Mapped {
                pa: leaf.pa.0,
                par_attr: 0,
                s2_attrs: leaf.attrs,
            };
        };
        let regime = GuestRegime {
            el1: &vcpu.el1,
            vttbr: v.stage2.vttbr(),
            vtcr: v.stage2.vtcr().vtcr,
            fwb: v.stage2.fwb(),
        };
        let par = self.m.at_s12e1r(Some(&regime), addr);
        let par_attr = if par & 1 == 0 { (par >> 56) as u8 } else { 0 };
        Translation::Mapped {
            pa: leaf.pa.0,
            par_attr,
            s2_attrs: leaf.attrs,
        }
    }

    fn caps(&mut self) -> (u64, u64) {
        self.hyp.caps()
    }

    fn stats(&mut self, vm: u64) -> Result<[u64; 3], Refused> {
        if vm == 0 {
            // EL2's own books, so a host can see that what it gave back came back.
            let h = &*self.hyp;
            let vms = h.vms.iter().flatten().count() as u64;
            return Ok([h.frames.free_bytes() / PAGE, h.vmids.in_use().into(), vms]);
        }
        let s = self.hyp.vm(vm)?.stats;
        Ok([s.resolved_in_hyp, s.exits, s.injected])
    }

    fn vm_create(&mut self, pa: u64, size: u64, flags: u64) -> Result<u64, Refused> {
        let h = &mut *self.hyp;
        if flags != 0 {
            return Err(Reason::BadArgument);
        }
        if size == 0 || (pa | size) & (PAGE - 1) != 0 {
            return Err(Reason::Misaligned);
        }
        pa.checked_add(size).ok_or(Reason::OutOfRange)?;
        let ram = PhysRange::new(pa, size);
        if !h
            .host_ram
            .iter()
            .any(|r| r.base.0 <= pa && ram.end() <= r.end())
        {
            return Err(Reason::NotOwned);
        }
        if h.donated_anywhere(&ram) || h.in_use_by_run_page(&ram) {
            return Err(Reason::Busy);
        }
        let slot = h
            .vms
            .iter()
            .position(|v| v.is_none())
            .ok_or(Reason::Limit)?;
        let vmid = h.vmids.alloc().ok_or(Reason::Limit)?;
        let stage2 = match Stage2::new(&mut h.frames, h.guest_vtcr, vmid, h.cpu.fwb) {
            Ok(s) => s,
            Err(_) => {
                let _ = h.vmids.free(vmid, self.m);
                return Err(Reason::NoMemory);
            }
        };
        // Donation: the pages leave the host's stage 2 (break-before-make, host VMID).
        if h.host
            .stage2
            .unmap(&mut h.frames, self.m, Ipa(pa), size)
            .is_err()
        {
            stage2.destroy(&mut h.frames, self.m);
            let _ = h.vmids.free(vmid, self.m);
            return Err(Reason::NoMemory);
        }
        h.host.note_donated(ram);
        // The host wrote the guest's image through its caches; a guest running with its MMU
        // off (and no FWB) reads memory directly.
        self.m.clean(ram);
        h.vms[slot] = Some(Box::new(Vm::new(stage2, ram)));
        let id = slot as u64 + 1;
        info!(
            "vm {id}: created, VMID {}, {} KiB of RAM donated at {ram}",
            vmid.raw(),
            size / 1024
        );
        Ok(id)
    }

    fn vm_destroy(&mut self, id: u64) -> Result<(), Refused> {
        let h = &mut *self.hyp;
        let idx = (id as usize).wrapping_sub(1);
        let slot = h.vms.get_mut(idx).ok_or(Reason::NoSuchVm)?;
        // A vCPU running on another CPU still uses the stage 2 and the memory.
        if slot
            .as_ref()
            .is_some_and(|vm| vm.vcpus.iter().any(|vc| vc.running))
        {
            return Err(Reason::Busy);
        }
        let vm = slot.take().ok_or(Reason::NoSuchVm)?;
        let Vm {
            stage2, donated, ..
        } = *vm;
        let vmid = stage2.vmid();
        stage2.destroy(&mut h.frames, self.m);
        let _ = h.vmids.free(vmid, self.m);
        h.run_pages.retain(|(vm, _)| *vm != id);
        // Scrubbed before the host can see it again.
        self.m.scrub(donated);
        h.host.note_returned(donated);
        let back = h.host.stage2.map(
            &mut h.frames,
            self.m,
            Ipa(donated.base.0),
            PhysAddr(donated.base.0),
            donated.size,
            MemoryKind::Ram,
            Perms::RWX,
        );
        info!(
            "vm {id}: destroyed; {} KiB scrubbed and returned to the host",
            donated.size / 1024
        );
        back.map(|_| ()).map_err(|_| Reason::NoMemory)
    }

    fn vcpu_create(
        &mut self,
        vm: u64,
        pc: u64,
        run_page: u64,
        x0: u64,
        flags: u64,
    ) -> Result<u64, Refused> {
        let page = PhysRange::new(run_page, PAGE);
        if flags & !stile_abi::vcpu::KNOWN_FLAGS != 0 {
            return Err(Reason::BadArgument);
        }
        if run_page & (PAGE - 1) != 0 || pc & 3 != 0 {
            return Err(Reason::Misaligned);
        }
        let h = &mut *self.hyp;
        h.vm(vm)?;
        if !h
            .host_ram
            .iter()
            .any(|r| r.base.0 <= run_page && page.end() <= r.end())
        {
            return Err(Reason::NotOwned);
        }
        if h.donated_anywhere(&page) || h.in_use_by_run_page(&page) {
            return Err(Reason::Busy);
        }
        let v = h.vm_mut(vm)?;
        if v.vcpus.len() >= MAX_VCPUS {
            return Err(Reason::Limit);
        }
        let index = v.vcpus.len() as u64;
        v.vcpus.push(Box::new(Vcpu::new(
            index,
            pc,
            x0,
            PhysAddr(run_page),
            flags & stile_abi::vcpu::START_OFF != 0,
        )));
        h.run_pages.push((vm, page)).map_err(|_| Reason::Limit)?;
        self.m.write_run_page(
            run_page,
            &stile_abi::RunPage {
                version: stile_abi::run_page::RUN_PAGE_VERSION,
                ..Default::default()
            },
        );
        Ok(index)
    }

    fn memslot_set(&mut self, vm: u64, req: &SlotRequest) -> Result<(), Refused> {
        let h = &mut *self.hyp;
        let donated = h.vm(vm)?.donated;
        let index = req.index as usize;
        let slot = {
            let v = h.vm(vm)?;
            let others: heapless::Vec<_, MAX_SLOTS> = v.other_slots(index).collect();
            let slot = validate(req, &others, &h.slot_world(donated))?;
            if v.vgic
                .as_ref()
                .is_some_and(|g| g.overlaps(slot.ipa, slot.size))
            {
                return Err(Reason::Overlap);
            }
            slot
        };
        // Last, so a VMM learns every other rule first: the one that lifts with a restore.
        if slot.memory_kind().is_some()
            && revoke::is_revoked(h, &PhysRange::new(slot.pa, slot.size))
        {
            return Err(Reason::Revoked);
        }
        let v = h.vms[(vm - 1) as usize]
            .as_deref_mut()
            .ok_or(Reason::NoSuchVm)?;
        // Replacing a slot: what it mapped goes first (break-before-make per entry).
        v.unmap_slot(index, &mut h.frames, self.m);
        v.slots.put(index, Some(slot));
        let eager = slot.eager && slot.memory_kind().is_some();
        if eager
            && v.map_slot_part(index, slot.ipa, slot.size, &mut h.frames, self.m)
                .is_err()
        {
            v.unmap_slot(index, &mut h.frames, self.m);
            v.slots.put(index, None);
            return Err(Reason::NoMemory);
        }
        info!(
            "vm {vm}: slot {index}: {} {} -> {:#x} ({} KiB)",
            slot.kind.name(),
            slot.ipa_range(),
            slot.pa,
            slot.size / 1024
        );
        Ok(())
    }

    fn vgic_config(&mut self, vm: u64, gicd: u64, gicr: u64) -> Result<(), Refused> {
        interrupts::vgic_config(self.hyp, self.m, vm, gicd, gicr)
    }

    fn irq_line(&mut self, vm: u64, intid: u64, level: u64) -> Result<(), Refused> {
        interrupts::irq_line(self.hyp, self.m, vm, intid, level)
    }

    fn vcpu_pending(&mut self, vm: u64, vcpu: u64) -> Result<[u64; 3], Refused> {
        let now = self.m.counter();
        interrupts::vcpu_pending(self.hyp, vm, vcpu, now)
    }

    fn memslot_clear(&mut self, vm: u64, index: u64) -> Result<(), Refused> {
        let h = &mut *self.hyp;
        let v = h.vm_mut(vm)?;
        let i = index as usize;
        if v.slots.get(i).copied().flatten().is_none() {
            return Err(if i < MAX_SLOTS {
                Reason::NoSlot
            } else {
                Reason::Limit
            });
        }
        let v = h.vms[(vm - 1) as usize]
            .as_deref_mut()
            .ok_or(Reason::NoSuchVm)?;
        v.unmap_slot(i, &mut h.frames, self.m);
        v.slots.put(i, None);
        Ok(())
    }

    fn region_revoke(&mut self, base: u64) -> Result<Revoked, Refused> {
        revoke::revoke(self.hyp, self.m, base)
    }

    fn region_restore(&mut self, base: u64) -> Result<(), Refused> {
        revoke::restore(self.hyp, base)
    }
}
