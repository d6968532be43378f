//! Routing a lower-EL trap: from the host (hypercalls, SMCs, stage-2 aborts) or from the
//! running guest (everything goes to `vm::run`), and switching worlds when VCPU_RUN starts
//! a guest or a guest exits. Decisions are made by the arch-free `vm` modules; this file
//! moves registers.

use crate::arch::at::par_attr;
use crate::arch::el1_state::{restore_el1, restore_fp, save_el1, save_fp};
use crate::arch::firmware;
use crate::arch::host_entry::{hcr_for, host_mpidr, load_world, trap_fp, El2World};
use crate::arch::machine::ArchMachine;
use crate::arch::sysregs_el1::{trap_syndrome, vbar_el1, write_el1_exception};
use crate::arch::world::Context;
use crate::esr::{Esr, ExceptionClass};
use crate::vm::hvc::{self, status_of, Dispatch};
use crate::vm::hyp::{Calls, Hyp};
use crate::vm::inject;
use crate::vm::psci_policy::{self, SmcAction};
use crate::vm::run::{self, Decision, GuestTrap, TrapKind};
use crate::vm::vcpu::{El1Regs, FpRegs};
use core::arch::asm;
use log::{error, info, warn};
use spin::Mutex;
use stile_abi::{Reason, Status};

/// Everything EL2 keeps about VMs, set once at boot before the host first runs.
/// Boxed: a `None` of the box is all zeroes, so the static lives in BSS, not in the image.
pub static HYP: Mutex<Option<alloc::boxed::Box<Hyp>>> = Mutex::new(None);

/// The guest running on this CPU (one CPU today), and where the host's state waits.
struct Running {
    vm: u64,
    vcpu: u64,
    host_ctx: *mut Context,
}

// SAFETY: only touched by the CPU that runs the trap path, under the HYP lock's discipline.
unsafe impl Send for Running {}

/// This CPU's world-switch state (one CPU today: a per-CPU array when SMP lands).
struct CpuState {
    running: Option<Running>,
    /// The host's EL1 registers while a guest runs.
    host_el1: El1Regs,
    /// The host's FP/SIMD registers while the guest owns them.
    host_fp: FpRegs,
    /// Whether the FP/SIMD registers hold the running guest's state (else the host's). FP
    /// state moves lazily: a guest that never touches FP costs no FP save/restore.
    guest_owns_fp: bool,
}

static CPU: Mutex<CpuState> = Mutex::new(CpuState {
    running: None,
    host_el1: El1Regs::ZERO,
    host_fp: FpRegs::ZERO,
    guest_owns_fp: false,
});

const EC_FP_ACCESS: u8 = 0x07;

const KIND_SYNC: u64 = 8;
const KIND_IRQ: u64 = 9;

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
pub unsafe fn handle(ctx: *mut Context, kind: u64) -> *mut Context {
    let running = CPU
        .lock()
        .running
        .as_ref()
        .map(|r| (r.vm, r.vcpu, r.host_ctx));
    match running {
        Some((vm, vcpu, host_ctx)) => guest(ctx, kind, vm, vcpu, host_ctx),
        None => {
            // SAFETY: the host's Context (world.rs contract), not referenced elsewhere now.
            let host = unsafe { &mut *ctx };
            host_trap(host, kind).unwrap_or(ctx)
        }
    }
}

fn host_trap(ctx: &mut Context, kind: u64) -> Option<*mut Context> {
    match kind {
        KIND_SYNC => return sync(ctx),
        // With HCR_EL2.IMO/FMO clear, interrupts go straight to the host.
        KIND_IRQ => warn!("host: unexpected IRQ taken to EL2"),
        _ => warn!("host: unexpected FIQ/SError taken to EL2 (vector {kind})"),
    }
    None
}

fn sync(ctx: &mut Context) -> Option<*mut Context> {
    let (esr, far, hpfar) = trap_syndrome();
    let esr = Esr(esr);
    match esr.ec() {
        ExceptionClass::Hvc64 => return host_hvc(ctx),
        ExceptionClass::Smc64 => {
            // A trapped SMC returns to itself: step over it.
            ctx.elr = ctx.elr.wrapping_add(4);
            smc(ctx);
        }
        ExceptionClass::DataAbortLower | ExceptionClass::InstAbortLower => {
            let ipa = (hpfar & !0xf) << 8 | (far & 0xfff);
            let reason = HYP
                .lock()
                .as_ref()
                .map_or(Reason::NoMapping, |h| h.host.why_unmapped(ipa));
            let what = if esr.ec() == ExceptionClass::InstAbortLower {
                "instruction fetch"
            } else if esr.wnr() {
                "write"
            } else {
                "read"
            };
            error!("host: {what} at IPA {ipa:#x} (FAR {far:#x}, ELR {:#x}) refused ({reason}): abort injected", ctx.elr);
            let e = inject::external_abort(esr, far, ctx.elr, ctx.spsr, vbar_el1());
            deliver(ctx, &e);
        }
        other => {
            error!("host: {other} at ELR {:#x} not handled by EL2 ({esr}): undefined instruction injected", ctx.elr);
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

fn smc(ctx: &mut Context) {
    let args = [ctx.x[0], ctx.x[1], ctx.x[2], ctx.x[3]];
    let out = match psci_policy::decide(args[0]) {
        SmcAction::Relay => firmware::smc(args),
        SmcAction::RelayFinal(what) => {
            info!("psci: host asked for {what}; relaying it");
            firmware::smc(args)
        }
        SmcAction::Refuse { status, why } => {
            warn!("psci: host call {:#x} refused ({why})", args[0]);
            [status as u64, 0, 0, 0]
        }
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
    let dispatch = hvc::dispatch(&args, &mut Calls { hyp, m: &mut m });
    let (vm, vcpu) = match dispatch {
        Dispatch::Reply(out) => {
            log_refusal(args[0], &out);
            ctx.x[..4].copy_from_slice(&out);
            return None;
        }
        Dispatch::Run { vm, vcpu } => (vm, vcpu),
    };
    if let Err(r) = run::prepare(hyp, vm, vcpu, &mut m) {
        let out = [status_of(r).as_u64(), r as u64, 0, 0];
        log_refusal(args[0], &out);
        ctx.x[..4].copy_from_slice(&out);
        return None;
    }
    let Ok(v) = hyp.vm_mut(vm) else { return None };
    let world = El2World {
        hcr: hcr_for(true, v.stage2.fwb()),
        vttbr: v.stage2.vttbr(),
        vtcr: v.stage2.vtcr().vtcr,
        vmpidr: 0,
    };
    let vc = v.vcpus.get_mut(vcpu as usize)?;
    let mut cpu = CPU.lock();
    save_el1(&mut cpu.host_el1);
    restore_el1(&vc.el1);
    // The host's FP state stays in the registers until the guest uses FP (see `guest`).
    trap_fp(true);
    load_world(&El2World {
        vmpidr: vc.vmpidr,
        ..world
    });
    cpu.running = Some(Running {
        vm,
        vcpu,
        host_ctx: ctx,
    });
    Some(&mut vc.ctx)
}

/// Every refused hypercall is logged with its reason (the host gets the same in x0/x1).
fn log_refusal(fid: u64, out: &[u64; 4]) {
    let Some(status) = Status::from_u64(out[0]).filter(|s| *s != Status::Success) else {
        return;
    };
    let name = stile_abi::Function::from_id(fid as u32).map_or("unknown call", |f| f.name());
    let reason = Reason::from_u64(out[1]).map_or("?", |r| r.name());
    warn!(
        "hvc: host {name} ({fid:#x}) refused: {} ({reason})",
        status.name()
    );
}

/// A trap while a guest runs: resolve and resume it, or switch back to the host.
fn guest(ctx: *mut Context, kind: u64, vm: u64, vcpu: u64, host_ctx: *mut Context) -> *mut Context {
    let (esr, far, hpfar) = trap_syndrome();
    let esr = Esr(esr);
    let trap = GuestTrap {
        kind: match kind {
            KIND_SYNC => TrapKind::Sync,
            KIND_IRQ => TrapKind::Irq,
            _ => TrapKind::Other,
        },
        esr,
        far,
        hpfar,
        ipa: fault_ipa(esr, far, hpfar),
    };
    let mut guard = HYP.lock();
    let Some(hyp) = guard.as_mut() else {
        return ctx;
    };
    if trap.kind == TrapKind::Sync && esr.ec_raw() == EC_FP_ACCESS {
        // First FP use since VCPU_RUN: the host's FP state out, the guest's in.
        if let Some(vc) = hyp.vm_mut(vm).ok().and_then(|v| v.vcpus.get(vcpu as usize)) {
            let mut cpu = CPU.lock();
            trap_fp(false);
            save_fp(&mut cpu.host_fp);
            restore_fp(&vc.fp);
            cpu.guest_owns_fp = true;
        }
        return ctx;
    }
    let mut m = machine(hyp);
    let injected_before = hyp.vm(vm).map_or(0, |v| v.stats.injected);
    // Only exits inject aborts (run::guest_trap), so a resumed guest needs nothing more.
    let reason = match run::guest_trap(hyp, vm, vcpu, &trap, &mut m) {
        Decision::Resume => return ctx,
        Decision::Exit(reason) => reason,
    };
    let injected_now = hyp.vm(vm).map_or(0, |v| v.stats.injected) != injected_before;
    // Back to the host: the guest's state into its vCPU, the host's out of hiding.
    // CPTR_EL2.TFP traps EL2's own FP accesses too: clear it before touching FP state.
    trap_fp(false);
    let mut cpu = CPU.lock();
    if let Some(vc) = hyp
        .vm_mut(vm)
        .ok()
        .and_then(|v| v.vcpus.get_mut(vcpu as usize))
    {
        let injected = injected_now.then(|| inject_regs(&vc.el1));
        save_el1(&mut vc.el1);
        // An abort injected while deciding this exit lives in the saved copy: keep it.
        if let Some(r) = injected {
            restore_inject_regs(&mut vc.el1, r);
        }
        if cpu.guest_owns_fp {
            save_fp(&mut vc.fp);
        }
    }
    if cpu.guest_owns_fp {
        restore_fp(&cpu.host_fp);
        cpu.guest_owns_fp = false;
    }
    restore_el1(&cpu.host_el1);
    load_world(&El2World {
        hcr: hcr_for(false, hyp.host.stage2.fwb()),
        vttbr: hyp.host.stage2.vttbr(),
        vtcr: hyp.host.stage2.vtcr().vtcr,
        vmpidr: host_mpidr(),
    });
    cpu.running = None;
    drop(cpu);
    // SAFETY: the host's Context, saved when it called VCPU_RUN; it is not running.
    let host = unsafe { &mut *host_ctx };
    host.x[0] = Status::Success.as_u64();
    host.x[1] = reason as u64;
    host_ctx
}

/// ESR/FAR/ELR/SPSR_EL1 of a saved copy (where an injection put them).
fn inject_regs(el1: &El1Regs) -> [u64; 4] {
    [el1.esr, el1.far, el1.elr, el1.spsr]
}

fn restore_inject_regs(el1: &mut El1Regs, r: [u64; 4]) {
    [el1.esr, el1.far, el1.elr, el1.spsr] = r;
}

/// The IPA of a stage-2 abort. HPFAR_EL2 holds it for translation, access-flag and
/// address-size faults and for faults on a stage-1 walk; for other permission faults the
/// guest's own stage 1 translates FAR (its registers are live).
fn fault_ipa(esr: Esr, far: u64, hpfar: u64) -> u64 {
    let from_hpfar = (hpfar & !0xf) << 8 | (far & 0xfff);
    if !esr.is_abort() || !(0x0c..=0x0f).contains(&esr.fsc()) || esr.s1ptw() {
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
