//! The CPU side of a lower-EL trap: which vector was taken, and the operations the
//! arch-free dispatcher (vm/dispatch.rs) asks for — the syndrome, the world switch, EL1
//! registers, the firmware. No decisions are made here.

use crate::arch::at::par_attr;
use crate::arch::gic;
use crate::arch::machine::ArchMachine;
use crate::arch::psci;
use crate::arch::smp;
use crate::arch::switch::{self, this_cpu, CpuState};
use crate::arch::sysregs_el1::{trap_syndrome, vbar_el1, write_el1_exception};
use crate::arch::world::{cpu_index, Context};
use crate::esr::Esr;
use crate::vgic::lr::GicCpuRegs;
use crate::vgic::Vtimer;
use crate::vm::dispatch::{self, Entry, GuestStage2, HypCell, Lazy, Running, TrapCpu};
use crate::vm::hyp::Hyp;
use crate::vm::inject::El1Exception;
use crate::vm::psci_policy::FirmwareCalls;
use crate::vm::run::TrapKind;
use crate::vm::sysreg::GuestCpu;
use crate::vm::vcpu::Vcpu;
use core::arch::asm;
use smccc::psci::AffinityState;

/// Everything EL2 keeps about VMs, set once at boot before the host first runs.
/// Boxed: the cell holds a pointer, so the static is small and lives in BSS. Its locks are
/// inside (`Hyp`; crate::lock gives their order).
pub static HYP: HypCell = HypCell::new();

/// vectors.S's kinds: the vector index for a lower AArch64 EL, or its own kind for the
/// host's VCPU_RUN (an HVC64 with W0 = VCPU_RUN from VMID 0).
const KIND_SYNC: u64 = 8;
const KIND_IRQ: u64 = 9;
const KIND_HOST_VCPU_RUN: u64 = 16;

/// Handle exception `kind` from the world whose registers are `ctx`; returns the world to
/// resume.
///
/// # Safety
/// `ctx` must be the per-CPU current world's Context (what vectors.S passes), valid and not
/// referenced elsewhere while that world is stopped in EL2.
///
/// The hot paths (VCPU_RUN, and every guest trap) are `#[inline]` all the way down, so they
/// are compiled into the crate that calls this, stile-trap, at opt-level 3; the host's other
/// traps stay in this crate (`host_trap`), optimised for size (docs/PERFORMANCE.md,
/// "Optimisation level").
#[inline(always)]
pub unsafe fn handle(ctx: *mut Context, kind: u64) -> *mut Context {
    let entry = match kind {
        KIND_HOST_VCPU_RUN => Entry::HostVcpuRun,
        KIND_SYNC => Entry::Trap(TrapKind::Sync),
        KIND_IRQ => Entry::Trap(TrapKind::Irq),
        _ => Entry::Trap(TrapKind::Other),
    };
    // SAFETY: the one call of this trap; `cpu` is dropped when it returns.
    let cpu = unsafe { this_cpu() };
    // SAFETY: `ctx` is the current world's Context (this function's contract), which is
    // the running guest's exactly when `cpu.running` says one runs.
    unsafe { dispatch::trap(&HYP, cpu, ctx, entry, host_trap) }
}

/// vectors.S's first try for a guest's data or instruction abort, with only the registers
/// a call clobbers saved and ELR/SPSR_EL2 still live: true if it was mapped (the guest
/// resumes at the same instruction); false for the full path.
///
/// # Safety
/// Called only by vectors.S, from a guest's synchronous trap on this CPU, before anything
/// else of that trap ran.
#[inline(always)]
pub unsafe fn lazy_abort() -> bool {
    // SAFETY: the one call of this trap; `cpu` is dropped when it returns.
    let cpu = unsafe { this_cpu() };
    dispatch::lazy_abort(&HYP, cpu) == Lazy::Mapped
}

/// The host's traps other than VCPU_RUN, compiled here (not generic at the call site).
#[inline(never)]
fn host_trap(hyp: &HypCell, cpu: &mut CpuState, ctx: &mut Context, kind: TrapKind) {
    dispatch::host(hyp, cpu, ctx, kind);
}

impl TrapCpu for CpuState {
    type Machine = ArchMachine;

    #[inline]
    fn machine(&self, hyp: &Hyp) -> ArchMachine {
        ArchMachine {
            dcache_line: hyp.cpu.dcache_line as usize,
        }
    }

    #[inline]
    fn running(&self) -> Option<Running> {
        self.running
    }

    #[inline]
    fn syndrome(&self) -> (Esr, u64, u64) {
        let (esr, far, hpfar) = trap_syndrome();
        (Esr(esr), far, hpfar)
    }

    fn guest_stage1(&mut self, va: u64) -> Option<u64> {
        let par: u64;
        // SAFETY: AT only writes PAR_EL1, which is the guest's and restored right after.
        unsafe {
            asm!(
                "mrs {saved}, par_el1",
                "at s1e1r, {va}",
                "isb",
                "mrs {par}, par_el1",
                "msr par_el1, {saved}",
                va = in(reg) va,
                saved = out(reg) _,
                par = out(reg) par,
                options(nostack),
            );
        }
        par_attr(par).map(|_| par & 0x0000_ffff_ffff_f000)
    }

    fn vbar_el1(&self) -> u64 {
        vbar_el1()
    }

    fn write_el1_exception(&mut self, e: &El1Exception) {
        write_el1_exception(e);
    }

    #[inline]
    fn enter_guest(&mut self, vc: &mut Vcpu, s2: &GuestStage2, run: Running) -> *mut Context {
        switch::to_guest(self, vc, s2, run)
    }

    #[inline]
    fn leave_guest(&mut self, vc: Option<&mut Vcpu>) -> *mut Context {
        switch::to_host(self, vc)
    }

    #[inline]
    fn guest_cpu(&self) -> GuestCpu<'_> {
        CpuState::guest_cpu(self)
    }

    fn take_fp(&mut self, vc: &Vcpu) {
        switch::take_fp(self, vc);
    }

    fn take_keys(&mut self, vc: &Vcpu) {
        switch::take_keys(self, vc);
    }

    fn index(&self) -> usize {
        cpu_index()
    }

    fn firmware_calls(&self) -> FirmwareCalls {
        smp::firmware_calls()
    }

    fn relay(&mut self, args: [u64; 4], final_call: Option<&'static str>) -> [u64; 4] {
        psci::relay(args, final_call)
    }

    fn cpu_on(&mut self, target: u64, entry: u64, context: u64) -> i64 {
        smp::cpu_on(target, entry, context)
    }

    fn cpu_off(&mut self) -> i64 {
        smp::cpu_off()
    }

    fn cpu_suspend(&mut self, power_state: u64, entry: u64, context: u64) -> i64 {
        smp::cpu_suspend(cpu_index(), power_state, entry, context)
    }

    fn psci_emulated(&self) -> bool {
        smp::psci_emulated()
    }

    fn held_power(&self, mpidr: u64) -> Option<AffinityState> {
        smp::held_power(mpidr)
    }

    fn held_caller(&self) -> bool {
        smp::is_held(cpu_index())
    }

    fn held_on(&mut self, target: u64, entry: u64, context: u64) -> i64 {
        smp::held_on(target, entry, context)
    }

    fn held_off(&mut self) -> ! {
        smp::held_off(cpu_index())
    }

    fn gic_lrs(&self) -> usize {
        self.gic.map_or(0, |g| g.lrs as usize)
    }

    #[inline]
    fn vgic_live(&self) -> bool {
        self.gic_live
    }

    fn gic_read(&mut self, regs: &mut GicCpuRegs) {
        if let Some(hw) = self.gic {
            gic::read_lrs(regs, hw);
        }
    }

    fn gic_write(&mut self, regs: &GicCpuRegs) {
        if let Some(hw) = self.gic {
            gic::write_lrs(regs, hw);
        }
    }

    fn gic_misr(&self) -> u64 {
        self.gic.map_or(0, gic::misr)
    }

    #[inline]
    fn kick_sgi1r(&self) -> u64 {
        self.kick.map_or(0, |k| k.sgi1r)
    }

    fn take_kick(&mut self) -> bool {
        self.kick.as_ref().is_some_and(crate::arch::kick::take)
    }

    fn vtimer(&self) -> Vtimer {
        let (ctl, cval) = gic::vtimer();
        Vtimer { ctl, cval }
    }

    fn set_vtimer_ctl(&mut self, ctl: u64) {
        gic::set_vtimer_ctl(ctl);
    }
}
