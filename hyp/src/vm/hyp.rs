//! Everything EL2 keeps about its VMs, and the hypercalls that change it. Arch-free: the CPU
//! and physical memory come in through [`Machine`].

use crate::addr::{PhysAddr, PhysRange};
use crate::cpu_features::CpuFeatures;
use crate::lock::{rank, Guard, Lock};
use crate::mm::frames::FramePool;
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
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use log::info;
use stile_abi::{caps, Reason};

const PAGE: u64 = 4096;
pub const MAX_ASSIGNABLE: usize = 8;
const MAX_RUN_PAGES: usize = MAX_VMS * MAX_VCPUS;

/// Everything EL2 keeps about VMs. Shared by every CPU: what changes after boot is behind
/// the locks of crate::lock, taken in their rank order: `table`, then one VM of `vms`,
/// then `host`, then `frames` (docs/ARCHITECTURE.md, "Locks"). The trap path takes only
/// the VM it runs (and the frame pool for a table page), so CPUs running different VMs do
/// not wait for each other.
///
/// `repr(C)` with `vms` first: the lock a trap takes is at the `Hyp`'s address plus 16 bytes
/// per VM id, with no offset to add.
#[repr(C)]
pub struct Hyp {
    /// vm id - 1 -> VM, each behind its own lock.
    pub vms: [VmSlot; MAX_VMS],
    /// The host's RAM as the board config gave it (what VM_CREATE may take).
    pub host_ram: RangeSet,
    pub cpu: CpuFeatures,
    /// Stage-2 geometry of every guest.
    pub guest_vtcr: VtcrConfig,
    pub assignable: heapless::Vec<Assignable, MAX_ASSIGNABLE>,
    /// List registers of the CPUs' virtual interface; 0: no vGIC possible.
    pub gic_lrs: u8,
    /// GICv2: the GICV pages a guest's GICC maps (vgic::gicv_pages); None on a GICv3.
    pub gicv: Option<[u64; 2]>,
    /// Which assignable regions the host has revoked (REGION_REVOKE); atomic, read by
    /// MEMSLOT_SET under its VM's lock.
    pub revoked: RevokedRegions,
    /// Which VM ids are taken, and what each took from the host.
    pub table: Lock<VmTable, { rank::TABLE }>,
    pub host: Lock<HostVm, { rank::HOST }>,
    pub frames: FramePool,
}

/// One VM id's place: its VM while it exists.
pub type VmSlot = Lock<Option<Box<Vm>>, { rank::VM }>;

/// What the VM-table lock guards. An id is taken (`donated` is `Some`) from VM_CREATE to
/// VM_DESTROY, both of which hold this lock and then the VM's.
pub struct VmTable {
    pub vmids: VmidAlloc,
    /// vm id - 1 -> the RAM the host donated to it.
    pub donated: [Option<PhysRange>; MAX_VMS],
    /// Host pages shared as run pages (never donated while in use), by VM id.
    pub run_pages: heapless::Vec<(u64, PhysRange), MAX_RUN_PAGES>,
}

impl VmTable {
    pub fn new(vmids: VmidAlloc) -> Self {
        VmTable {
            vmids,
            donated: [None; MAX_VMS],
            run_pages: heapless::Vec::new(),
        }
    }

    /// How many VMs exist.
    pub fn live(&self) -> usize {
        self.donated.iter().flatten().count()
    }

    fn in_use_by_run_page(&self, r: &PhysRange) -> bool {
        self.run_pages.iter().any(|(_, p)| p.overlaps(r))
    }

    fn donated_anywhere(&self, r: &PhysRange) -> bool {
        self.donated.iter().flatten().any(|d| d.overlaps(r))
    }
}

/// A locked VM (`Hyp::lock_vm`): the VM's lock is held until it is dropped.
pub struct VmGuard<'a> {
    _slot: Guard<'a, Option<Box<Vm>>, { rank::VM }>,
    vm: NonNull<Vm>,
}

impl<'a> VmGuard<'a> {
    #[inline]
    fn new(mut slot: Guard<'a, Option<Box<Vm>>, { rank::VM }>) -> Option<Self> {
        let vm = NonNull::from(&mut **slot.as_mut()?);
        Some(VmGuard { _slot: slot, vm })
    }
}

impl Deref for VmGuard<'_> {
    type Target = Vm;
    #[inline]
    fn deref(&self) -> &Vm {
        // SAFETY: `vm` points into the box that the slot `_slot` locks holds; the slot is
        // changed only through a guard, and this one gives no access to it, so the box
        // lives (and nothing else reaches it) as long as `self`.
        unsafe { self.vm.as_ref() }
    }
}

impl DerefMut for VmGuard<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Vm {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference.
        unsafe { self.vm.as_mut() }
    }
}

impl Hyp {
    /// Lock VM `id` (its lock only: a CPU holds no other VM's, nor the host's or the
    /// frame pool's, when it takes it).
    #[inline]
    pub fn lock_vm(&self, id: u64) -> Result<VmGuard<'_>, Refused> {
        let slot = self
            .vms
            .get((id as usize).wrapping_sub(1))
            .ok_or(Reason::NoSuchVm)?;
        VmGuard::new(slot.lock()).ok_or(Reason::NoSuchVm)
    }

    /// VM `id` without locking it: `&mut self` is exclusive access to every lock (a test,
    /// or the fuzzer, which owns its `Hyp`).
    pub fn vm_mut(&mut self, id: u64) -> Result<&mut Vm, Refused> {
        self.vms
            .get_mut((id as usize).wrapping_sub(1))
            .and_then(|v| v.get_mut().as_deref_mut())
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
}

/// The hypercalls, bound to the machine they act through.
pub struct Calls<'a, M: Machine> {
    pub hyp: &'a Hyp,
    pub m: &'a mut M,
}

impl<M: Machine> HvcBackend for Calls<'_, M> {
    fn translate(&mut self, vm: u64, addr: u64) -> Translation {
        if vm == 0 {
            let m = &mut *self.m;
            let host = self.hyp.host.lock();
            return host.translate(0, addr, |a| m.at_s12e1r(None, a));
        }
        let Ok(v) = self.hyp.lock_vm(vm) else {
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
            let h = self.hyp;
            let t = h.table.lock();
            let free = h.frames.free_bytes() / PAGE;
            return Ok([free, t.vmids.in_use().into(), t.live() as u64]);
        }
        let s = self.hyp.lock_vm(vm)?.stats;
        Ok([s.resolved_in_hyp, s.exits, s.injected])
    }

    fn vm_create(&mut self, pa: u64, size: u64, flags: u64) -> Result<u64, Refused> {
        let h = self.hyp;
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
        let mut t = h.table.lock();
        if t.donated_anywhere(&ram) || t.in_use_by_run_page(&ram) {
            return Err(Reason::Busy);
        }
        let slot = t
            .donated
            .iter()
            .position(|v| v.is_none())
            .ok_or(Reason::Limit)?;
        let vmid = t.vmids.alloc().ok_or(Reason::Limit)?;
        let mut host = h.host.lock();
        let mut frames = h.frames.hold();
        let stage2 = match Stage2::new(&mut frames, h.guest_vtcr, vmid, h.cpu.fwb) {
            Ok(s) => s,
            Err(_) => {
                let _ = t.vmids.free(vmid, self.m);
                return Err(Reason::NoMemory);
            }
        };
        // Donation: the pages leave the host's stage 2 (break-before-make, host VMID).
        if host
            .stage2
            .unmap(&mut frames, self.m, Ipa(pa), size)
            .is_err()
        {
            stage2.destroy(&mut frames, self.m);
            let _ = t.vmids.free(vmid, self.m);
            return Err(Reason::NoMemory);
        }
        host.note_donated(ram);
        drop((frames, host));
        // The host wrote the guest's image through its caches; a guest running with its MMU
        // off (and no FWB) reads memory directly.
        self.m.clean(ram);
        if let Some(s) = h.vms.get(slot) {
            *s.lock() = Some(Box::new(Vm::new(stage2, ram)));
        }
        t.donated[slot] = Some(ram);
        let id = slot as u64 + 1;
        info!(
            "vm {id}: created, VMID {}, {} KiB of RAM donated at {ram}",
            vmid.raw(),
            size / 1024
        );
        Ok(id)
    }

    fn vm_destroy(&mut self, id: u64) -> Result<(), Refused> {
        let h = self.hyp;
        let idx = (id as usize).wrapping_sub(1);
        let slot = h.vms.get(idx).ok_or(Reason::NoSuchVm)?;
        let mut t = h.table.lock();
        let vm = {
            let mut slot = slot.lock();
            // A vCPU running on another CPU still uses the stage 2 and the memory; it
            // holds this lock from its VCPU_RUN to its switch into the guest, and again
            // from its exit to its switch back (docs/ARCHITECTURE.md, "Locks").
            if slot
                .as_ref()
                .is_some_and(|vm| vm.vcpus.iter().any(|vc| vc.running))
            {
                return Err(Reason::Busy);
            }
            slot.take().ok_or(Reason::NoSuchVm)?
        };
        let Vm {
            stage2, donated, ..
        } = *vm;
        let vmid = stage2.vmid();
        stage2.destroy(&mut h.frames.hold(), self.m);
        let _ = t.vmids.free(vmid, self.m);
        t.run_pages.retain(|(vm, _)| *vm != id);
        // Scrubbed before the host can see it again.
        self.m.scrub(donated);
        let mut host = h.host.lock();
        host.note_returned(donated);
        let back = host.stage2.map(
            &mut h.frames.hold(),
            self.m,
            Ipa(donated.base.0),
            PhysAddr(donated.base.0),
            donated.size,
            MemoryKind::Ram,
            Perms::RWX,
        );
        drop(host);
        if let Some(d) = t.donated.get_mut(idx) {
            *d = None;
        }
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
        let h = self.hyp;
        let mut t = h.table.lock();
        let mut v = h.lock_vm(vm)?;
        if !h
            .host_ram
            .iter()
            .any(|r| r.base.0 <= run_page && page.end() <= r.end())
        {
            return Err(Reason::NotOwned);
        }
        if t.donated_anywhere(&page) || t.in_use_by_run_page(&page) {
            return Err(Reason::Busy);
        }
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
        t.run_pages.push((vm, page)).map_err(|_| Reason::Limit)?;
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
        let h = self.hyp;
        let mut v = h.lock_vm(vm)?;
        let index = req.index as usize;
        let others: heapless::Vec<_, MAX_SLOTS> = v.other_slots(index).collect();
        let slot = validate(req, &others, &h.slot_world(v.donated))?;
        if v.vgic
            .as_ref()
            .is_some_and(|g| g.overlaps(slot.ipa, slot.size))
        {
            return Err(Reason::Overlap);
        }
        // Last, so a VMM learns every other rule first: the one that lifts with a restore.
        // Read under the VM's lock: a REGION_REVOKE that sets the bit after this read
        // then waits for this lock, and unmaps what this call maps.
        if slot.memory_kind().is_some()
            && revoke::is_revoked(h, &PhysRange::new(slot.pa, slot.size))
        {
            return Err(Reason::Revoked);
        }
        let mut frames = h.frames.hold();
        // Replacing a slot: what it mapped goes first (break-before-make per entry).
        v.unmap_slot(index, &mut frames, self.m);
        v.slots.put(index, Some(slot));
        let eager = slot.eager && slot.memory_kind().is_some();
        if eager
            && v.map_slot_part(index, slot.ipa, slot.size, &mut frames, self.m)
                .is_err()
        {
            v.unmap_slot(index, &mut frames, self.m);
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
        let mut v = self.hyp.lock_vm(vm)?;
        interrupts::vgic_config(self.hyp, &mut v, self.m, vm, gicd, gicr)
    }

    fn irq_line(&mut self, vm: u64, intid: u64, level: u64) -> Result<(), Refused> {
        let mut v = self.hyp.lock_vm(vm)?;
        interrupts::irq_line(&mut v, self.m, intid, level)
    }

    fn vcpu_pending(&mut self, vm: u64, vcpu: u64) -> Result<[u64; 3], Refused> {
        let now = self.m.counter();
        let mut v = self.hyp.lock_vm(vm)?;
        interrupts::vcpu_pending(&mut v, vcpu, now)
    }

    fn memslot_clear(&mut self, vm: u64, index: u64) -> Result<(), Refused> {
        let mut v = self.hyp.lock_vm(vm)?;
        let i = index as usize;
        if v.slots.get(i).copied().flatten().is_none() {
            return Err(if i < MAX_SLOTS {
                Reason::NoSlot
            } else {
                Reason::Limit
            });
        }
        v.unmap_slot(i, &mut self.hyp.frames.hold(), self.m);
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
