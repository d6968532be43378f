//! Routing a lower-EL trap by exception class: hypercalls, SMCs (PSCI relay), stage-2
//! aborts. Decisions are made by the arch-free `vm` modules; this file only moves registers.

use crate::arch::at::at_s12e1r;
use crate::arch::firmware;
use crate::arch::sysregs_el1::{trap_syndrome, vbar_el1, write_el1_exception};
use crate::arch::world::Context;
use crate::esr::{Esr, ExceptionClass};
use crate::vm::host::HostVm;
use crate::vm::hvc::{self, HvcBackend, Translation};
use crate::vm::inject;
use crate::vm::psci_policy::{self, SmcAction};
use log::{error, info, warn};
use spin::Mutex;

/// The host VM, set once at boot before the host first runs.
pub static HOST: Mutex<Option<HostVm>> = Mutex::new(None);

const KIND_SYNC: u64 = 8;
const KIND_IRQ: u64 = 9;

/// Handle exception `kind` (the vector index, 8..=11 for a lower AArch64 EL) from the world
/// whose registers are `ctx`.
pub fn handle(ctx: &mut Context, kind: u64) {
    match kind {
        KIND_SYNC => sync(ctx),
        // With HCR_EL2.IMO/FMO clear, interrupts go straight to the host; should one reach
        // EL2 anyway, returning is harmless.
        KIND_IRQ => warn!("host: unexpected IRQ taken to EL2"),
        _ => warn!("host: unexpected FIQ/SError taken to EL2 (vector {kind})"),
    }
}

fn sync(ctx: &mut Context) {
    let (esr, far, hpfar) = trap_syndrome();
    let esr = Esr(esr);
    match esr.ec() {
        ExceptionClass::Hvc64 => {
            let args = [ctx.x[0], ctx.x[1], ctx.x[2], ctx.x[3]];
            let out = hvc::dispatch(args, &mut HostCalls);
            ctx.x[..4].copy_from_slice(&out);
        }
        ExceptionClass::Smc64 => {
            // A trapped SMC returns to itself: step over it.
            ctx.elr = ctx.elr.wrapping_add(4);
            smc(ctx);
        }
        ExceptionClass::DataAbortLower | ExceptionClass::InstAbortLower => {
            let ipa = (hpfar & !0xf) << 8 | (far & 0xfff);
            let reason = HOST
                .lock()
                .as_ref()
                .map_or(stile_abi::Reason::NoMapping, |h| h.why_unmapped(ipa));
            error!(
                "host: {} at IPA {ipa:#x} (FAR {far:#x}, ELR {:#x}) refused ({reason}): abort injected",
                if esr.ec() == ExceptionClass::InstAbortLower { "instruction fetch" } else if esr.wnr() { "write" } else { "read" },
                ctx.elr
            );
            let e = inject::external_abort(esr, far, ctx.elr, ctx.spsr, vbar_el1());
            deliver(ctx, &e);
        }
        other => {
            error!("host: {other} at ELR {:#x} not handled by EL2 ({esr}): undefined instruction injected", ctx.elr);
            let e = inject::undefined(ctx.elr, ctx.spsr, vbar_el1());
            deliver(ctx, &e);
        }
    }
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

/// The host's view of hypercalls.
struct HostCalls;

impl HvcBackend for HostCalls {
    fn translate(&mut self, vm: u64, addr: u64) -> Translation {
        match HOST.lock().as_ref() {
            Some(host) => host.translate(vm, addr, at_s12e1r),
            None => Translation::Invalid(stile_abi::Reason::NoSuchVm),
        }
    }
}
