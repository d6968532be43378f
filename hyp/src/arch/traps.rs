//! Routing a lower-EL trap: from the host (hypercalls, SMCs, stage-2 aborts) or from the
//! running guest (everything goes to `vm::run`), and switching worlds when VCPU_RUN starts
//! a guest or a guest exits. Decisions are made by the arch-free `vm` modules; this file
//! moves registers.

use crate::arch::at::par_attr;
use crate::arch::machine::ArchMachine;
use crate::arch::psci;
use crate::arch::smp;
use crate::arch::switch::{self, this_cpu, CpuState, GuestStage2, Running};
use crate::arch::sysregs_el1::{trap_syndrome, vbar_el1, write_el1_exception};
use crate::arch::world::{cpu_index, Context};
use crate::esr::{ec, Esr, ExceptionClass};
use crate::logger::{self, Source};
use crate::vm::hvc::{self, status_of, Dispatch, Refused};
use crate::vm::hyp::{Calls, Hyp};
use crate::vm::inject;
use crate::vm::psci_policy::{self, PsciAction};
use crate::vm::run::{self, GuestTrap, Handled, TrapKind};
use crate::vm::sysreg::{self, Local};
use core::arch::asm;
use core::fmt;
use log::{info, Level};
use spin::Mutex;
use stile_abi::{Reason, Status};

/// Everything EL2 keeps about VMs, set once at boot before the host first runs.
/// Boxed: a `None` of the box is all zeroes, so the static lives in BSS, not in the image.
pub static HYP: Mutex<Option<alloc::boxed::Box<Hyp>>> = Mutex::new(None);

const KIND_SYNC: u64 = 8;
const KIND_IRQ: u64 = 9;
/// vectors.S's kind for the host's VCPU_RUN (an HVC64 with W0 = VCPU_RUN from VMID 0).
const KIND_HOST_VCPU_RUN: u64 = 16;

#[inline]
fn machine(hyp: &Hyp) -> ArchMachine {
    ArchMachine {
        dcache_line: hyp.cpu.dcache_line as usize,
    }
}

/// Handle exception `kind` (the vector index, 8..=11 for a lower AArch64 EL) from the world
/// whose registers are `ctx`; returns the world to resume.
///
/// # Safety
/// `ctx` must be the per-CPU current world's Context (what vectors.S passes), valid and not
/// referenced elsewhere while that world is stopped in EL2.
///
/// The hot paths (VCPU_RUN, and every guest trap) are `#[inline]` all the way down, so they
/// are compiled into the crate that calls this, stile-trap, at opt-level 3; everything else
/// stays in this crate, optimised for size (docs/PERFORMANCE.md, "Optimisation level").
#[inline(always)]
pub unsafe fn handle(ctx: *mut Context, kind: u64) -> *mut Context {
    // SAFETY: the one call of this trap; `cpu` is dropped when it returns.
    let cpu = unsafe { this_cpu() };
    if kind == KIND_HOST_VCPU_RUN {
        // vectors.S saw VMID 0 (the host: no guest runs) and an HVC with W0 = VCPU_RUN.
        // SAFETY: the host's Context (world.rs contract), not referenced elsewhere now.
        let host = unsafe { &mut *ctx };
        return host_vcpu_run(cpu, host).unwrap_or(ctx);
    }
    if let Some(run) = cpu.running {
        return guest(cpu, ctx, kind, run);
    }
    // SAFETY: as above: no guest runs, so `ctx` is the host's.
    let host = unsafe { &mut *ctx };
    host_trap(host, kind).unwrap_or(ctx)
}

/// The host's VCPU_RUN: the guest's Context to resume, or None (refused: x0/x1 say why).
#[inline]
fn host_vcpu_run(cpu: &mut CpuState, host: &mut Context) -> Option<*mut Context> {
    let mut guard = HYP.lock();
    let Some(hyp) = guard.as_mut() else {
        host.x[0] = Status::NotSupported.as_u64();
        return None;
    };
    let mut m = machine(hyp);
    match vcpu_run(cpu, hyp, host, &mut m) {
        Ok(guest) => Some(guest),
        Err(r) => {
            reply_refused(host, r);
            None
        }
    }
}

#[inline(never)]
fn host_trap(ctx: &mut Context, kind: u64) -> Option<*mut Context> {
    match kind {
        KIND_SYNC => return sync(ctx),
        // With HCR_EL2.IMO/FMO clear, interrupts go straight to the host.
        KIND_IRQ => refusal(
            Source::Host,
            Level::Warn,
            format_args!("host: unexpected IRQ taken to EL2"),
        ),
        _ => refusal(
            Source::Host,
            Level::Warn,
            format_args!("host: unexpected FIQ/SError taken to EL2 (vector {kind})"),
        ),
    }
    None
}

fn sync(ctx: &mut Context) -> Option<*mut Context> {
    let (esr, far, hpfar) = trap_syndrome();
    let esr = Esr(esr);
    if esr.ec_raw() == ec::HVC64 {
        if psci_policy::is_psci_or_arch(ctx.x[0]) {
            psci(ctx);
            return None;
        }
        return host_hvc(ctx);
    }
    match esr.ec() {
        ExceptionClass::Smc64 => {
            // A trapped SMC returns to itself: step over it.
            ctx.elr = ctx.elr.wrapping_add(4);
            psci(ctx);
        }
        ExceptionClass::DataAbortLower | ExceptionClass::InstAbortLower => {
            let ipa = (hpfar & !0xf) << 8 | (far & 0xfff);
            let translation_fault = (0x04..=0x07).contains(&esr.fsc());
            let verdict = HYP.lock().as_ref().map_or(Err(Reason::NoMapping), |h| {
                h.host.abort(ipa, translation_fault)
            });
            let reason = match verdict {
                // Mapped again by the time we hold the lock: run the access again.
                Ok(()) => return None,
                Err(reason) => reason,
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
            let e = inject::external_abort(esr, far, ctx.elr, ctx.spsr, vbar_el1());
            deliver(ctx, &e);
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
            let e = inject::undefined(ctx.elr, ctx.spsr, vbar_el1());
            deliver(ctx, &e);
        }
    }
    None
}

fn deliver(ctx: &mut Context, e: &inject::El1Exception) {
    write_el1_exception(e);
    ctx.elr = e.elr_el2;
    ctx.spsr = e.spsr_el2;
}

/// The host's PSCI or SMCCC architecture call, over SMC or HVC: relayed, or handled here
/// where an entry point is involved (vm/psci_policy.rs decides, arch/smp.rs acts).
fn psci(ctx: &mut Context) {
    let args = [ctx.x[0], ctx.x[1], ctx.x[2], ctx.x[3]];
    let status = |s: i64| [s as u64, 0, 0, 0];
    let out = match psci_policy::decide(args, &smp::firmware_calls()) {
        PsciAction::Relay => psci::relay(args, None),
        PsciAction::RelayFinal(what) => {
            info!("psci: host asked for {what}; relaying it");
            psci::relay(args, Some(what))
        }
        PsciAction::CpuOn {
            target,
            entry,
            context,
        } => {
            let s = smp::cpu_on(target, entry, context);
            if s == 0 {
                info!("psci: host CPU_ON MPIDR {target:#x} at {entry:#x}: relayed");
            } else {
                refusal(
                    Source::Host,
                    Level::Warn,
                    format_args!("psci: host CPU_ON MPIDR {target:#x} at {entry:#x}: status {s}"),
                );
            }
            status(s)
        }
        PsciAction::CpuOff => {
            info!("psci: cpu {}: host CPU_OFF; relaying it", cpu_index());
            status(smp::cpu_off())
        }
        PsciAction::CpuSuspend {
            power_state,
            entry,
            context,
        } => status(smp::cpu_suspend(cpu_index(), power_state, entry, context)),
        PsciAction::Refuse { status: s, why } => {
            refusal(
                Source::Host,
                Level::Warn,
                format_args!("psci: host call {:#x} refused ({why})", args[0]),
            );
            status(s)
        }
        PsciAction::Answer(s) => status(s),
        PsciAction::Park(what) => psci::relay(args, Some(what)),
    };
    ctx.x[..4].copy_from_slice(&out);
}

fn host_hvc(ctx: &mut Context) -> Option<*mut Context> {
    let mut guard = HYP.lock();
    let Some(hyp) = guard.as_mut() else {
        ctx.x[0] = Status::NotSupported.as_u64();
        return None;
    };
    let mut m = machine(hyp);
    let args = [
        ctx.x[0], ctx.x[1], ctx.x[2], ctx.x[3], ctx.x[4], ctx.x[5], ctx.x[6],
    ];
    match hvc::dispatch(&args, &mut Calls { hyp, m: &mut m }) {
        Dispatch::Reply(out) => {
            log_refusal(args[0], &out);
            ctx.x[..4].copy_from_slice(&out);
        }
        // `handle` takes VCPU_RUN before it gets here.
        Dispatch::Run { .. } => reply_refused(ctx, Reason::BadArgument),
    }
    None
}

/// VCPU_RUN(x1 = vm, x2 = vcpu): finish the last exit as the host asked, then switch to
/// the guest. Returns the guest's Context.
#[inline]
fn vcpu_run(
    cpu: &mut CpuState,
    hyp: &mut Hyp,
    host: &mut Context,
    m: &mut ArchMachine,
) -> Result<*mut Context, Refused> {
    let (vm, vcpu) = (host.x[1], host.x[2]);
    let v = hyp.vm_mut(vm)?;
    let s2 = GuestStage2 {
        vttbr: v.stage2.vttbr(),
        vtcr: v.stage2.vtcr().vtcr,
        fwb: v.stage2.fwb(),
    };
    let vc = run::prepare(v, vcpu, m)?;
    let run = Running {
        vm,
        vcpu,
        host_ctx: host,
    };
    Ok(switch::to_guest(cpu, vc, &s2, run))
}

#[cold]
fn reply_refused(ctx: &mut Context, r: Reason) {
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

/// A trap while a guest runs: resolve and resume it, or switch back to the host.
#[inline]
fn guest(cpu: &mut CpuState, ctx: *mut Context, kind: u64, run: Running) -> *mut Context {
    let Running { vm, vcpu, .. } = run;
    let (esr, far, hpfar) = trap_syndrome();
    let esr = Esr(esr);
    let kind = match kind {
        KIND_SYNC => TrapKind::Sync,
        KIND_IRQ => TrapKind::Irq,
        _ => TrapKind::Other,
    };
    if kind == TrapKind::Sync && sysreg::is_local(esr.ec_raw()) {
        return guest_local(cpu, ctx, run, esr);
    }
    let mut guard = HYP.lock();
    let Some(hyp) = guard.as_mut() else {
        return ctx;
    };
    let trap = GuestTrap {
        kind,
        esr,
        far,
        hpfar,
        // ESR_EL2 describes only synchronous exceptions.
        ipa: match kind {
            TrapKind::Sync => fault_ipa(esr, far, hpfar),
            _ => 0,
        },
    };
    let mut m = machine(hyp);
    // Only exits inject aborts (run::handle_trap), so a resumed guest needs nothing more.
    let (reason, vc) = match run::handle_trap(hyp, vm, vcpu, &trap, &mut m) {
        Handled::Resume => return ctx,
        Handled::Exit(reason, vc) => (reason, vc),
    };
    let host_ctx = switch::to_host(cpu, vc);
    // SAFETY: the host's Context, saved when it called VCPU_RUN; it is not running.
    let host = unsafe { &mut *host_ctx };
    host.x[0] = Status::Success.as_u64();
    host.x[1] = reason as u64;
    host_ctx
}

/// A guest trap EL2 resolves without an exit (vm::sysreg decides which): lazy FP or key
/// switch, an emulated register, or an injected UNDEFINED. Returns the guest's Context.
#[inline(never)]
fn guest_local(cpu: &mut CpuState, ctx: *mut Context, run: Running, esr: Esr) -> *mut Context {
    let Some(l) = sysreg::local(esr.ec_raw(), esr, &cpu.guest_cpu()) else {
        return ctx;
    };
    match l {
        Local::TakeFp | Local::TakeKeys => {
            let mut guard = HYP.lock();
            let vc = guard
                .as_mut()
                .and_then(|h| h.vm_mut(run.vm).ok())
                .and_then(|v| v.vcpus.get(run.vcpu as usize));
            if let Some(vc) = vc {
                match l {
                    Local::TakeFp => switch::take_fp(cpu, vc),
                    _ => switch::take_keys(cpu, vc),
                }
            }
        }
        // SAFETY: `ctx` is the running guest's Context (handle's contract), not referenced
        // elsewhere while it is stopped in EL2.
        other => emulate(unsafe { &mut *ctx }, run, esr, other),
    }
    ctx
}

/// An emulated register access, or an UNDEFINED injected at the guest's own EL1 vector
/// (its EL1 registers are live).
#[inline(never)]
fn emulate(ctx: &mut Context, run: Running, esr: Esr, l: Local) {
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
            let e = inject::undefined(ctx.elr, ctx.spsr, vbar_el1());
            deliver(ctx, &e);
        }
        Local::TakeFp | Local::TakeKeys => {}
    }
}

/// The IPA of a stage-2 abort. HPFAR_EL2 holds it for translation, access-flag and
/// address-size faults and for faults on a stage-1 walk; for other permission faults the
/// guest's own stage 1 translates FAR (its registers are live). 0 for anything but an
/// abort.
#[inline]
fn fault_ipa(esr: Esr, far: u64, hpfar: u64) -> u64 {
    if !esr.is_abort() {
        return 0;
    }
    let from_hpfar = (hpfar & !0xf) << 8 | (far & 0xfff);
    if !(0x0c..=0x0f).contains(&esr.fsc()) || esr.s1ptw() {
        return from_hpfar;
    }
    let par: u64;
    // SAFETY: AT only writes PAR_EL1, which is the guest's and restored right after.
    unsafe {
        let saved: u64;
        asm!(
            "mrs {saved}, par_el1",
            "at s1e1r, {va}",
            "isb",
            "mrs {par}, par_el1",
            "msr par_el1, {saved}",
            va = in(reg) far,
            saved = out(reg) saved,
            par = out(reg) par,
            options(nostack),
        );
        let _ = saved;
    }
    match par_attr(par) {
        Some(_) => (par & 0x0000_ffff_ffff_f000) | (far & 0xfff),
        None => from_hpfar,
    }
}
