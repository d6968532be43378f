//! A VM's interrupts in EL2 (docs/VGIC.md): the vGIC's hypercalls (VGIC_CONFIG, IRQ_LINE,
//! VCPU_PENDING), its part of a vCPU's entry, and the in-EL2 device hook on the guest
//! trap path: GICD/GICR accesses, ICC_SGI1R_EL1 writes, the guest's virtual timer firing,
//! the maintenance interrupt and WFI. VMs without a vGIC never get past one test.

use crate::addr::PhysAddr;
use crate::esr::ec;
use crate::mm::kind::{MemoryKind, Perms};
use crate::mm::stage2::Ipa;
use crate::mm::tlb::S2Maintenance;
use crate::vgic::lr::GicCpuRegs;
use crate::vgic::mmio::Access;
use crate::vgic::{Vgic, Vtimer, CNTV_ENABLE, CNTV_IMASK, CNTV_ISTATUS, GICD_SIZE, VTIMER_PPI};
use crate::vm::dispatch::{Running, TrapCpu};
use crate::vm::guest::Vm;
use crate::vm::hvc::Refused;
use crate::vm::hyp::Hyp;
use crate::vm::machine::Machine;
use crate::vm::mmio::MmioAccess;
use crate::vm::run::{self, GuestTrap, Handled, TrapKind};
use crate::vm::vcpu::{Vcpu, VcpuState};
use alloc::boxed::Box;
use log::info;
use stile_abi::Reason;

/// Exception class of a trapped WFI/WFE (HCR_EL2.TWI: only WFI traps).
const EC_WFX: u8 = 0x01;
/// VCPU_PENDING's INTID when nothing is pending.
const NO_INTID: u64 = 1023;

/// VGIC_CONFIG: give VM `vm` a vGIC with its GICD frame at `gicd` and, on a GICv3, its
/// GICR region at `cpu` (on a GICv2, its GICC frame, where the hardware's GICV is mapped)
/// (checks in docs/ABI.md's order).
pub fn vgic_config(
    h: &Hyp,
    v: &mut Vm,
    tlb: &mut impl S2Maintenance,
    vm: u64,
    gicd: u64,
    cpu: u64,
) -> Result<(), Refused> {
    let (lrs, ipa_limit, gicv) = (h.gic_lrs, h.guest_vtcr.ipa_limit(), h.gicv);
    let frames = &mut h.frames.hold();
    if lrs == 0 {
        return Err(Reason::NoVgic);
    }
    if (gicd | cpu) & (GICD_SIZE - 1) != 0 {
        return Err(Reason::Misaligned);
    }
    let g = match gicv {
        Some(_) => Vgic::new_v2(gicd, cpu),
        None => Vgic::new(gicd, cpu),
    };
    let fits = |base: u64, size: u64| base.checked_add(size).is_some_and(|e| e <= ipa_limit);
    let cpu_size = g.cpu_frames_size();
    if !fits(gicd, GICD_SIZE) || !fits(cpu, cpu_size) {
        return Err(Reason::OutOfRange);
    }
    let frames_overlap = gicd < cpu + cpu_size && cpu < gicd + GICD_SIZE;
    if frames_overlap || v.slots.iter().flatten().any(|s| g.overlaps(s.ipa, s.size)) {
        return Err(Reason::Overlap);
    }
    if v.vgic.is_some() || v.vcpus.iter().any(|c| c.running) {
        return Err(Reason::Busy);
    }
    if let Some(pages) = gicv {
        // The guest's GICC accesses go straight to this CPU's virtual CPU interface.
        for (n, pa) in pages.into_iter().enumerate() {
            let ipa = Ipa(cpu + 0x1000 * n as u64);
            let (kind, rw) = (MemoryKind::Device, Perms::RW);
            let mapped = v
                .stage2
                .map(frames, tlb, ipa, PhysAddr(pa), 0x1000, kind, rw);
            if mapped.is_err() {
                let _ = v.stage2.unmap(frames, tlb, Ipa(cpu), 0x2000);
                return Err(Reason::NoMemory);
            }
        }
        info!(
            "vm {vm}: vGICv2: GICD at {gicd:#x}, GICC at {cpu:#x} (GICV {:#x})",
            pages[0]
        );
    } else {
        info!("vm {vm}: vGICv3: GICD at {gicd:#x}, GICR at {cpu:#x}");
    }
    v.vgic = Some(Box::new(g));
    Ok(())
}

/// IRQ_LINE: the host drives SPI `intid` of VM `v` to `level`.
/// A target vCPU running (on another CPU: the host calls from this one) is kicked.
pub fn irq_line(v: &mut Vm, m: &mut impl Machine, intid: u64, level: u64) -> Result<(), Refused> {
    let Vm { vgic, vcpus, .. } = v;
    let g = vgic.as_deref_mut().ok_or(Reason::NoVgic)?;
    let intid = u32::try_from(intid).map_err(|_| Reason::OutOfRange)?;
    if !(crate::vgic::SPI_BASE..crate::vgic::NR_IRQS).contains(&intid) {
        return Err(Reason::OutOfRange);
    }
    if level > 1 {
        return Err(Reason::BadArgument);
    }
    let target = g
        .set_line(intid, level == 1)
        .map_err(|_| Reason::OutOfRange)?;
    if let Some(vc) = target.and_then(|t| vcpus.get(t)) {
        if level == 1 {
            kick(m, vc);
        }
    }
    Ok(())
}

/// If `vc` runs and its CPU can be kicked, kick it (vgic/kick.rs): it takes what was just
/// made pending at once instead of at its next trap.
fn kick(m: &mut impl Machine, vc: &Vcpu) {
    if vc.running && vc.kick != 0 {
        m.kick(vc.kick);
    }
}

/// VCPU_PENDING at counter value `now`: [pending, INTID, virtual timer deadline].
pub fn vcpu_pending(v: &mut Vm, vcpu: u64, now: u64) -> Result<[u64; 3], Refused> {
    let Vm { vgic, vcpus, .. } = v;
    let vc = vcpus.get_mut(vcpu as usize).ok_or(Reason::NoSuchVcpu)?;
    let g = vgic.as_deref_mut().ok_or(Reason::NoVgic)?;
    let i = vcpu as usize;
    let timer = Vtimer {
        ctl: vc.el1.cntv_ctl,
        cval: vc.el1.cntv_cval,
    };
    if !vc.running {
        // What its LRs held at its exit counts too.
        g.fold(i, &mut vc.gic);
    }
    let deadline = timer.deadline().unwrap_or(u64::MAX);
    let timer_due = timer.fired(now) && g.irq(i, VTIMER_PPI).is_some_and(|t| t.enabled);
    Ok(match g.highest_pending(i) {
        Some((intid, _)) => [1, intid as u64, deadline],
        None if timer_due => [1, VTIMER_PPI as u64, deadline],
        None => [0, NO_INTID, deadline],
    })
}

/// The vGIC's part of VCPU_RUN, before the switch: a virtual timer that fired while the
/// vCPU was out becomes its PPI (and is masked, as on a real exit), and the LRs are filled.
pub fn before_entry(v: &mut Vm, vcpu: u64, nr_lrs: usize, now: u64) {
    let Vm { vgic, vcpus, .. } = v;
    let (Some(g), Some(vc)) = (vgic.as_deref_mut(), vcpus.get_mut(vcpu as usize)) else {
        return;
    };
    if vc.running || vc.state != VcpuState::Runnable {
        return;
    }
    let i = vcpu as usize;
    let timer = Vtimer {
        ctl: vc.el1.cntv_ctl,
        cval: vc.el1.cntv_cval,
    };
    if timer.fired(now) {
        vc.el1.cntv_ctl |= CNTV_IMASK;
        g.raise_private(i, VTIMER_PPI);
    }
    g.fold(i, &mut vc.gic);
    g.flush(i, &mut vc.gic, nr_lrs);
}

/// The running vCPU's LRs, back from the CPU into the model.
fn sync_in<C: TrapCpu>(cpu: &mut C, g: &mut Vgic, i: usize, regs: &mut GicCpuRegs) {
    cpu.gic_read(regs);
    g.fold(i, regs);
}

/// The model, into the running vCPU's LRs.
fn sync_out<C: TrapCpu>(cpu: &mut C, g: &mut Vgic, i: usize, regs: &mut GicCpuRegs) {
    g.flush(i, regs, cpu.gic_lrs());
    cpu.gic_write(regs);
}

/// The in-EL2 device hook: a guest trap the vGIC handles, or None (not a vGIC VM, or not
/// the vGIC's trap: the fault path goes on).
#[cold]
#[inline(never)]
pub fn guest_trap<'h, C: TrapCpu>(
    v: &'h mut Vm,
    cpu: &mut C,
    run: Running,
    trap: &GuestTrap,
    m: &mut impl Machine,
) -> Option<Handled<'h>> {
    vgic_trap(v, cpu, run, trap, m)
}

#[inline(never)]
fn vgic_trap<'h, C: TrapCpu>(
    v: &'h mut Vm,
    cpu: &mut C,
    run: Running,
    trap: &GuestTrap,
    m: &mut impl Machine,
) -> Option<Handled<'h>> {
    let nr = v.vcpus.len();
    let i = run.vcpu as usize;
    let Vm {
        vgic, vcpus, stats, ..
    } = v;
    let g = vgic.as_deref_mut()?;
    let vc: &mut Vcpu = vcpus.get_mut(i)?;
    match (trap.kind, trap.esr.ec_raw()) {
        (TrapKind::Sync, ec::DATA_ABORT_LOWER) if g.overlaps(trap.ipa, 1) => {
            // Without a syndrome (a load pair...) it is not emulated: the fault path
            // reports the IPA (no slot covers it).
            let a = MmioAccess::from_esr(trap.esr)?;
            let reg = vc.ctx.x.get(a.srt as usize).copied().unwrap_or(0);
            let write = a.write.then(|| a.write_data(reg));
            // A write may change what is deliverable; a read of pending or active state
            // must see the LRs. Other reads (IDs, enables, priorities...) need neither.
            let sync = a.write || g.read_needs_lrs(trap.ipa);
            if sync {
                sync_in(cpu, g, i, &mut vc.gic);
            }
            let access = Access {
                size: a.size,
                write,
            };
            let value = g.mmio(i, nr, trap.ipa, access);
            if sync {
                sync_out(cpu, g, i, &mut vc.gic);
            }
            if let (Some(value), false) = (value, a.write) {
                if let Some(x) = vc.ctx.x.get_mut(a.srt as usize) {
                    *x = a.load_value(value);
                }
            }
            vc.ctx.elr = vc.ctx.elr.wrapping_add(4);
            Some(Handled::Resume)
        }
        (TrapKind::Irq, _) => {
            // The guest's virtual timer, our maintenance interrupt, or a kick from another
            // CPU: handled here (the kick made something pending for this vCPU in the
            // model); any other IRQ is the host's.
            let timer = take_timer(cpu);
            let kicked = cpu.take_kick();
            if !timer && !kicked && cpu.gic_misr() == 0 {
                return None;
            }
            sync_in(cpu, g, i, &mut vc.gic);
            if timer {
                g.raise_private(i, VTIMER_PPI);
            }
            sync_out(cpu, g, i, &mut vc.gic);
            Some(Handled::Resume)
        }
        (TrapKind::Sync, EC_WFX) => {
            sync_in(cpu, g, i, &mut vc.gic);
            if take_timer(cpu) {
                g.raise_private(i, VTIMER_PPI);
            }
            let pending = g.highest_pending(i).is_some();
            sync_out(cpu, g, i, &mut vc.gic);
            if pending {
                vc.ctx.elr = vc.ctx.elr.wrapping_add(4);
                return Some(Handled::Resume);
            }
            let deadline = cpu.vtimer().deadline().unwrap_or(u64::MAX);
            Some(run::wfi_exit(vc, stats, trap, deadline, m))
        }
        _ => None,
    }
}

/// The running guest's virtual timer has fired (and is not masked): mask it, as the
/// virtual interrupt now stands for it. (Its handler reprograms and unmasks it.)
fn take_timer<C: TrapCpu>(cpu: &mut C) -> bool {
    let t = cpu.vtimer();
    let on = CNTV_ENABLE | CNTV_ISTATUS;
    if t.ctl & (on | CNTV_IMASK) != on {
        return false;
    }
    cpu.set_vtimer_ctl(t.ctl | CNTV_IMASK);
    true
}

/// A guest's write of `value` to ICC_SGI1R_EL1: SGIs to its vCPUs. False if the VM has no
/// vGIC (the write is then UNDEFINED). A target running on another CPU is kicked; one that
/// is not running sees its SGI at its next entry.
pub fn guest_sgi<C: TrapCpu>(
    v: &mut Vm,
    cpu: &mut C,
    m: &mut impl Machine,
    run: Running,
    value: u64,
) -> bool {
    let nr = v.vcpus.len();
    let i = run.vcpu as usize;
    let Vm { vgic, vcpus, .. } = v;
    let Some(g) = vgic.as_deref_mut() else {
        return false;
    };
    let targets = g.sgi1r(i, nr, value);
    for (t, vc) in vcpus.iter().enumerate() {
        if t != i && targets & (1 << t) != 0 {
            kick(m, vc);
        }
    }
    let Some(vc) = vcpus.get_mut(i) else {
        return false;
    };
    if targets & (1 << i) != 0 {
        sync_in(cpu, g, i, &mut vc.gic);
        sync_out(cpu, g, i, &mut vc.gic);
    }
    true
}
