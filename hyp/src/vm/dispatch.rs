//! The one trap dispatcher: every exception from below EL2, from the host or from the guest
//! running on this CPU, decided by its exception class. It holds the locks a decision needs
//! (a guest trap: its VM's; crate::lock gives the order) while it decides, and none while a
//! guest runs. What it needs from the CPU (the syndrome, world switches, EL1 registers, the
//! firmware) comes through [`TrapCpu`]: arch/traps.rs implements it on the real CPU, the
//! tests on a fake one.

use crate::esr::{Esr, ExceptionClass};
use crate::logger::{self, Source};
use crate::vgic::lr::GicCpuRegs;
use crate::vgic::Vtimer;
use crate::vm::guest::Vm;
use crate::vm::hvc::{self, status_of, Dispatch, Refused};
use crate::vm::hyp::{Calls, Hyp};
use crate::vm::inject::{self, El1Exception};
use crate::vm::interrupts;
use crate::vm::machine::Machine;
use crate::vm::psci_policy::{self, FirmwareCalls};
use crate::vm::run::{self, GuestTrap, Handled, Prepared, TrapKind};
use crate::vm::sysreg::{self, GuestCpu, Local};
use crate::vm::vcpu::{Context, Vcpu};
use core::fmt;
use log::Level;
use smccc::psci::AffinityState;
use stile_abi::{ExitReason, Reason, Status};

mod host_psci;
mod lazy;
#[cfg(test)]
mod tests;

pub use crate::vm::cell::HypCell;
pub use lazy::{entry_classify, lazy_abort, Lazy};

/// The guest running on a CPU.
#[derive(Clone, Copy)]
pub struct Running {
    pub vm: u64,
    pub vcpu: u64,
    /// Where the host's registers wait (its Context, saved when it called VCPU_RUN).
    pub host_ctx: *mut Context,
}

/// A guest's stage 2, as a switch into it needs it.
pub struct GuestStage2 {
    pub vttbr: u64,
    pub vtcr: u64,
    pub fwb: bool,
    /// The VM has a vGIC: its vCPU's GIC registers are switched and WFI traps.
    pub vgic: bool,
}

/// Which exception vector was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// The host's VCPU_RUN, recognised by the vector itself (VMID 0, HVC64, W0).
    HostVcpuRun,
    Trap(TrapKind),
}

/// What the dispatcher needs the CPU to do. Each method is one small arch operation.
pub trait TrapCpu {
    type Machine: Machine;
    /// The machine operations (cache, TLB, run-page access) for `hyp`'s VMs.
    fn machine(&self, hyp: &Hyp) -> Self::Machine;
    /// The guest this CPU runs, if any.
    fn running(&self) -> Option<Running>;
    /// ESR_EL2, FAR_EL2, HPFAR_EL2 of the trap being handled.
    fn syndrome(&self) -> (Esr, u64, u64);
    /// The PA the running guest's own stage 1 gives `va`, if it maps it (its EL1 registers
    /// are live).
    fn guest_stage1(&mut self, va: u64) -> Option<u64>;
    /// VBAR_EL1 of the world below EL2 (live).
    fn vbar_el1(&self) -> u64;
    /// ESR/FAR/ELR/SPSR_EL1 of an exception being injected (live registers).
    fn write_el1_exception(&mut self, e: &El1Exception);
    /// Host -> guest `vc`; returns the Context to resume.
    fn enter_guest(&mut self, vc: &mut Vcpu, s2: &GuestStage2, run: Running) -> *mut Context;
    /// Guest -> host (`vc` None if EL2 lost track of it); returns the host's Context.
    fn leave_guest(&mut self, vc: Option<&mut Vcpu>) -> *mut Context;
    /// What the running guest's trapped register accesses are decided against.
    fn guest_cpu(&self) -> GuestCpu<'_>;
    /// Hand the FP/SIMD registers, or the pointer-authentication keys, to the guest.
    fn take_fp(&mut self, vc: &Vcpu);
    fn take_keys(&mut self, vc: &Vcpu);
    /// This CPU's EL2 index.
    fn index(&self) -> usize;
    /// The PSCI/SMCCC calls the firmware implements (probed at boot).
    fn firmware_calls(&self) -> FirmwareCalls;
    /// Pass x0..x3 to the firmware (`final_call`: the machine goes down; it may not return).
    fn relay(&mut self, args: [u64; 4], final_call: Option<&'static str>) -> [u64; 4];
    /// PSCI status of starting `target` with Stile's entry, then the host's.
    fn cpu_on(&mut self, target: u64, entry: u64, context: u64) -> i64;
    /// Turn this CPU off (returns only on failure).
    fn cpu_off(&mut self) -> i64;
    fn cpu_suspend(&mut self, power_state: u64, entry: u64, context: u64) -> i64;
    /// Whether Stile answers the host's PSCI itself: no PSCI firmware, and it holds CPUs
    /// (vm/psci_held.rs).
    fn psci_emulated(&self) -> bool;
    /// The affinity hook: what the host has been told about CPU `mpidr` if Stile holds it
    /// (a spin-table CPU it released), else `None`.
    fn held_power(&self, mpidr: u64) -> Option<AffinityState>;
    /// Whether this CPU is one Stile holds.
    fn held_caller(&self) -> bool;
    /// PSCI status of starting held CPU `target` at the host's `entry` with `context`.
    fn held_on(&mut self, target: u64, entry: u64, context: u64) -> i64;
    /// Send this held CPU back to wait at EL2 for the host's next CPU_ON of it; it never
    /// returns to the host from here. Called with no lock held.
    fn held_off(&mut self) -> !;
    /// List registers of this CPU's GIC virtual interface (0: none).
    fn gic_lrs(&self) -> usize;
    /// The running guest's VM has a vGIC, and its GIC registers are loaded.
    fn vgic_live(&self) -> bool;
    /// The running vGIC guest's live LRs into `regs.lrs`.
    fn gic_read(&mut self, regs: &mut GicCpuRegs);
    /// `regs`' LRs and ICH_HCR_EL2 into the CPU.
    fn gic_write(&mut self, regs: &GicCpuRegs);
    /// ICH_MISR_EL2: why the maintenance interrupt is asserted (0: it is not).
    fn gic_misr(&self) -> u64;
    /// The ICC_SGI1R_EL1 value that kicks this CPU (vgic/kick.rs); 0: it cannot be kicked.
    fn kick_sgi1r(&self) -> u64;
    /// Whether this CPU was kicked (the kick is cleared).
    fn take_kick(&mut self) -> bool;
    /// The running guest's virtual timer (live CNTV_CTL_EL0, CNTV_CVAL_EL0).
    fn vtimer(&self) -> Vtimer;
    fn set_vtimer_ctl(&mut self, ctl: u64);
}

/// Handle `entry` from the world whose registers are `ctx`; returns the world to resume.
///
/// # Safety
/// `ctx` is this CPU's current world's Context (the running guest's if `cpu.running()`,
/// else the host's), valid and referenced nowhere else while that world is stopped.
///
/// `host_trap` is [`host`] for this `C`, passed in so that the caller decides where the
/// cold host path is compiled (arch/traps.rs keeps it out of the opt-level 3 trap crate).
#[inline(always)]
pub unsafe fn trap<C: TrapCpu>(
    hyp: &HypCell,
    cpu: &mut C,
    ctx: *mut Context,
    entry: Entry,
    host_trap: fn(&HypCell, &mut C, &mut Context, TrapKind),
) -> *mut Context {
    match entry {
        Entry::HostVcpuRun => {
            // SAFETY: the vector saw VMID 0: the host's Context, per the contract.
            let host = unsafe { &mut *ctx };
            host_vcpu_run(hyp, cpu, host).unwrap_or(ctx)
        }
        Entry::Trap(kind) => match cpu.running() {
            Some(run) => guest(hyp, cpu, ctx, kind, run),
            None => {
                // SAFETY: no guest runs, so `ctx` is the host's (contract).
                host_trap(hyp, cpu, unsafe { &mut *ctx }, kind);
                ctx
            }
        },
    }
}

/// The host's VCPU_RUN(x1 = vm, x2 = vcpu): the guest's Context to resume, or None
/// (refused: x0/x1 say why).
#[inline]
fn host_vcpu_run<C: TrapCpu>(
    hyp: &HypCell,
    cpu: &mut C,
    host: &mut Context,
) -> Option<*mut Context> {
    let Some(hyp) = hyp.get() else {
        host.x[0] = Status::NotSupported.as_u64();
        return None;
    };
    let mut m = cpu.machine(hyp);
    let (vm, vcpu) = (host.x[1], host.x[2]);
    // The VM's lock, until the switch into the guest: the vCPU is claimed (`running`), so
    // no other CPU enters it, and the VM is not destroyed while it runs.
    let entered = hyp.lock_vm(vm).and_then(|mut guard| {
        let v: &mut Vm = &mut guard;
        let s2 = GuestStage2 {
            vttbr: v.stage2.vttbr(),
            vtcr: v.stage2.vtcr().vtcr,
            fwb: v.stage2.fwb(),
            vgic: v.vgic.is_some(),
        };
        if s2.vgic {
            interrupts::before_entry(v, vcpu, cpu.gic_lrs(), m.counter());
        }
        let vc = match run::prepare(v, vcpu, &mut m)? {
            Prepared::Enter(vc) => vc,
            Prepared::PoweredOff => return Ok(None),
        };
        if s2.vgic {
            vc.kick = cpu.kick_sgi1r();
        }
        let run = Running {
            vm,
            vcpu,
            host_ctx: host,
        };
        Ok(Some(cpu.enter_guest(vc, &s2, run)))
    });
    match entered {
        Ok(Some(guest)) => Some(guest),
        // Nothing ran: the exit (SYSTEM_EVENT, CPU_OFF) is in the run page already.
        Ok(None) => {
            host.x[0] = Status::Success.as_u64();
            host.x[1] = ExitReason::SystemEvent as u64;
            None
        }
        Err(r) => {
            reply_refused(host, r);
            None
        }
    }
}

/// A trap from the host (no guest runs on this CPU), by class.
#[inline(never)]
pub fn host<C: TrapCpu>(hyp: &HypCell, cpu: &mut C, ctx: &mut Context, kind: TrapKind) {
    if kind != TrapKind::Sync {
        // With HCR_EL2.IMO/FMO clear for the host, its interrupts never come here.
        let what = if kind == TrapKind::Irq {
            "IRQ"
        } else {
            "FIQ/SError"
        };
        refusal(
            Source::Host,
            Level::Warn,
            format_args!("host: unexpected {what} taken to EL2"),
        );
        return;
    }
    let (esr, far, hpfar) = cpu.syndrome();
    match esr.ec() {
        ExceptionClass::Hvc64 if psci_policy::is_psci_or_arch(ctx.x[0]) => {
            host_psci::psci(cpu, ctx)
        }
        ExceptionClass::Hvc64 => host_hvc(hyp, cpu, ctx),
        ExceptionClass::Smc64 => {
            // A trapped SMC returns to itself: step over it.
            ctx.elr = ctx.elr.wrapping_add(4);
            host_psci::psci(cpu, ctx);
        }
        ExceptionClass::DataAbortLower | ExceptionClass::InstAbortLower => {
            host_abort(hyp, cpu, ctx, esr, far, hpfar)
        }
        other => {
            refusal(
                Source::Host,
                Level::Error,
                format_args!(
                    "host: {other} at ELR {:#x} not handled by EL2 ({esr}): undefined \
                     instruction injected",
                    ctx.elr
                ),
            );
            let e = inject::undefined(ctx.elr, ctx.spsr, cpu.vbar_el1());
            deliver(cpu, ctx, &e);
        }
    }
}

/// A stage-2 abort from the host: replayed if another CPU's break-before-make caused it,
/// else refused with an external abort.
fn host_abort<C: TrapCpu>(
    hyp: &HypCell,
    cpu: &mut C,
    ctx: &mut Context,
    esr: Esr,
    far: u64,
    hpfar: u64,
) {
    let ipa = ipa_from_hpfar(far, hpfar);
    let translation_fault = (0x04..=0x07).contains(&esr.fsc());
    let verdict = hyp.get().map_or(Err(Reason::NoMapping), |h| {
        h.host.lock().abort(ipa, translation_fault)
    });
    let Err(reason) = verdict else {
        // Mapped again by the time we held the lock: run the access again.
        return;
    };
    let what = if esr.ec() == ExceptionClass::InstAbortLower {
        "instruction fetch"
    } else if esr.wnr() {
        "write"
    } else {
        "read"
    };
    refusal(
        Source::Host,
        Level::Error,
        format_args!(
            "host: {what} at IPA {ipa:#x} (FAR {far:#x}, ELR {:#x}) refused ({reason}): \
             abort injected",
            ctx.elr
        ),
    );
    let e = inject::external_abort(esr, far, ctx.elr, ctx.spsr, cpu.vbar_el1());
    deliver(cpu, ctx, &e);
}

fn deliver<C: TrapCpu>(cpu: &mut C, ctx: &mut Context, e: &El1Exception) {
    cpu.write_el1_exception(e);
    ctx.elr = e.elr_el2;
    ctx.spsr = e.spsr_el2;
}

/// One of Stile's own calls (vm/hvc.rs decodes it); the answer goes back in x0..x3.
fn host_hvc<C: TrapCpu>(hyp: &HypCell, cpu: &mut C, ctx: &mut Context) {
    let Some(hyp) = hyp.get() else {
        ctx.x[0] = Status::NotSupported.as_u64();
        return;
    };
    let mut m = cpu.machine(hyp);
    let args = [
        ctx.x[0], ctx.x[1], ctx.x[2], ctx.x[3], ctx.x[4], ctx.x[5], ctx.x[6],
    ];
    match hvc::dispatch(&args, &mut Calls { hyp, m: &mut m }) {
        Dispatch::Reply(out) => {
            log_refusal(args[0], &out);
            ctx.x[..4].copy_from_slice(&out);
        }
        // The vector takes VCPU_RUN before it gets here; an HVC32 form would land here.
        Dispatch::Run { .. } => reply_refused(ctx, Reason::BadArgument),
    }
}

#[cold]
fn reply_refused(ctx: &mut Context, r: Refused) {
    let out = [status_of(r).as_u64(), r as u64, 0, 0];
    log_refusal(ctx.x[0], &out);
    ctx.x[..4].copy_from_slice(&out);
}

/// Every refused hypercall is logged with its reason (the host gets the same in x0/x1).
fn log_refusal(fid: u64, out: &[u64; 4]) {
    let Some(status) = Status::from_u64(out[0]).filter(|s| *s != Status::Success) else {
        return;
    };
    let name = stile_abi::Function::from_id(fid as u32).map_or("unknown call", |f| f.name());
    let reason = Reason::from_u64(out[1]).map_or("?", |r| r.name());
    refusal(
        Source::Host,
        Level::Warn,
        format_args!(
            "hvc: host {name} ({fid:#x}) refused: {} ({reason})",
            status.name()
        ),
    );
}

/// A line about something a host or guest got refused, within that source's budget.
#[cold]
fn refusal(source: Source, level: Level, args: fmt::Arguments) {
    logger::refusal(source, level, args);
}

/// A trap while a guest runs, by class: resolved here and the guest resumed, or an exit and
/// back to the host.
#[inline]
fn guest<C: TrapCpu>(
    hyp: &HypCell,
    cpu: &mut C,
    ctx: *mut Context,
    kind: TrapKind,
    run: Running,
) -> *mut Context {
    let (esr, far, hpfar) = cpu.syndrome();
    if kind == TrapKind::Sync && sysreg::is_local(esr.ec_raw()) {
        return guest_local(hyp, cpu, ctx, run, esr);
    }
    let Some(hyp) = hyp.get() else {
        return ctx;
    };
    let trap = GuestTrap {
        kind,
        esr,
        far,
        hpfar,
        // ESR_EL2 describes only synchronous exceptions.
        ipa: match kind {
            TrapKind::Sync => fault_ipa(cpu, esr, far, hpfar),
            _ => 0,
        },
    };
    let mut m = cpu.machine(hyp);
    // The VM's lock until the switch back to the host is done (its VTTBR out of use).
    let mut guard = hyp.lock_vm(run.vm);
    // The in-EL2 device hook (the vGIC), then the fault path. Only exits inject aborts
    // (run::handle_trap), so a resumed guest needs nothing more.
    let handled = match guard.as_deref_mut() {
        Ok(v) => {
            let hooked = match cpu.vgic_live() {
                true => interrupts::guest_trap(v, cpu, run, &trap, &mut m),
                false => None,
            };
            match hooked {
                Some(h) => h,
                None => run::handle_trap(hyp, v, run.vcpu, &trap, &mut m),
            }
        }
        // EL2 lost track of it: back to the host.
        Err(_) => Handled::Exit(ExitReason::Unknown, None),
    };
    let (reason, vc) = match handled {
        Handled::Resume => return ctx,
        Handled::Exit(reason, vc) => (reason, vc),
    };
    let host_ctx = cpu.leave_guest(vc);
    // SAFETY: the host's Context, saved when it called VCPU_RUN; it is not running.
    let host = unsafe { &mut *host_ctx };
    host.x[0] = Status::Success.as_u64();
    host.x[1] = reason as u64;
    host_ctx
}

/// A guest trap EL2 resolves without an exit (vm::sysreg decides which): lazy FP or key
/// switch, an emulated register, or an injected UNDEFINED. Returns the guest's Context.
#[inline(never)]
fn guest_local<C: TrapCpu>(
    hyp: &HypCell,
    cpu: &mut C,
    ctx: *mut Context,
    run: Running,
    esr: Esr,
) -> *mut Context {
    let Some(l) = sysreg::local(esr.ec_raw(), esr, &cpu.guest_cpu()) else {
        return ctx;
    };
    let hyp = hyp.get();
    match l {
        Local::TakeFp | Local::TakeKeys => {
            let v = hyp.and_then(|h| h.lock_vm(run.vm).ok());
            if let Some(vc) = v.as_ref().and_then(|v| v.vcpus.get(run.vcpu as usize)) {
                match l {
                    Local::TakeFp => cpu.take_fp(vc),
                    _ => cpu.take_keys(vc),
                }
            }
        }
        Local::Sgi { rt, group1 } => {
            // SAFETY: `ctx` is the running guest's Context (trap's contract), not
            // referenced elsewhere while it is stopped in EL2.
            let ctx = unsafe { &mut *ctx };
            let value = ctx.x.get(rt as usize).copied().unwrap_or(0);
            let sent = hyp.is_some_and(|h| {
                let mut m = cpu.machine(h);
                let Ok(mut v) = h.lock_vm(run.vm) else {
                    return false;
                };
                match group1 {
                    true => interrupts::guest_sgi(&mut v, cpu, &mut m, run, value),
                    // Group 0 and the alias: nothing to send (every interrupt is Group 1).
                    false => v.vgic.is_some(),
                }
            });
            match sent {
                true => ctx.elr = ctx.elr.wrapping_add(4),
                false => emulate(
                    cpu,
                    ctx,
                    run,
                    esr,
                    Local::Undefined(sysreg::Refused::NoVgic),
                ),
            }
        }
        // SAFETY: `ctx` is the running guest's Context (trap's contract), not referenced
        // elsewhere while it is stopped in EL2.
        other => emulate(cpu, unsafe { &mut *ctx }, run, esr, other),
    }
    ctx
}

/// An emulated register access, or an UNDEFINED injected at the guest's own EL1 vector
/// (its EL1 registers are live).
#[inline(never)]
fn emulate<C: TrapCpu>(cpu: &mut C, ctx: &mut Context, run: Running, esr: Esr, l: Local) {
    match l {
        Local::Read { rt, value } => {
            if let Some(x) = ctx.x.get_mut(rt as usize) {
                *x = value;
            }
            ctx.elr = ctx.elr.wrapping_add(4);
        }
        Local::IgnoreWrite => ctx.elr = ctx.elr.wrapping_add(4),
        Local::Undefined(why) => {
            let what: &dyn fmt::Display = match esr.ec_raw() {
                sysreg::ec::SYSREG => &sysreg::SysregAccess::decode(esr),
                _ => &esr,
            };
            refusal(
                Source::Guest,
                Level::Warn,
                format_args!(
                    "vm {}: guest {what} at ELR {:#x} refused ({}): undefined instruction \
                     injected",
                    run.vm,
                    ctx.elr,
                    why.name()
                ),
            );
            let e = inject::undefined(ctx.elr, ctx.spsr, cpu.vbar_el1());
            deliver(cpu, ctx, &e);
        }
        Local::TakeFp | Local::TakeKeys | Local::Sgi { .. } => {}
    }
}

/// The IPA HPFAR_EL2 and FAR_EL2 give (the page from HPFAR, the offset from FAR).
#[inline]
fn ipa_from_hpfar(far: u64, hpfar: u64) -> u64 {
    (hpfar & !0xf) << 8 | (far & 0xfff)
}

/// The IPA of a guest's stage-2 abort. HPFAR_EL2 holds it for translation, access-flag and
/// address-size faults and for faults on a stage-1 walk; for other permission faults the
/// guest's own stage 1 translates FAR. 0 for anything but an abort.
#[inline]
fn fault_ipa<C: TrapCpu>(cpu: &mut C, esr: Esr, far: u64, hpfar: u64) -> u64 {
    if !esr.is_abort() {
        return 0;
    }
    let from_hpfar = ipa_from_hpfar(far, hpfar);
    if !(0x0c..=0x0f).contains(&esr.fsc()) || esr.s1ptw() {
        return from_hpfar;
    }
    cpu.guest_stage1(far)
        .map_or(from_hpfar, |pa| (pa & !0xfff) | (far & 0xfff))
}
