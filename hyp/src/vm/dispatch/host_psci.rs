//! The host's PSCI and SMCCC architecture calls (vm/psci_policy.rs decides what each one
//! is; the CPU relays, starts, stops or answers it), with their logging.

use super::{refusal, TrapCpu};
use crate::logger::Source;
use crate::vm::psci_held::Held;
use crate::vm::psci_policy::{self, PsciAction};
use crate::vm::vcpu::Context;
use log::{info, Level};

/// The host's PSCI or SMCCC architecture call, over SMC or HVC: vm/psci_policy.rs decides,
/// the CPU acts.
pub(super) fn psci<C: TrapCpu>(cpu: &mut C, ctx: &mut Context) {
    let args = [ctx.x[0], ctx.x[1], ctx.x[2], ctx.x[3]];
    let status = |s: i64| [s as u64, 0, 0, 0];
    let power = |mpidr| cpu.held_power(mpidr);
    let held = Held {
        emulate: cpu.psci_emulated(),
        caller: cpu.held_caller(),
        power: &power,
    };
    let action = psci_policy::decide(args, &cpu.firmware_calls(), &held);
    let out = match action {
        PsciAction::Relay => cpu.relay(args, None),
        PsciAction::RelayFinal(what) => {
            info!("psci: host asked for {what}; relaying it");
            cpu.relay(args, Some(what))
        }
        PsciAction::CpuOn {
            target,
            entry,
            context,
        } => cpu_on_logged(cpu.cpu_on(target, entry, context), target, entry, "relayed"),
        PsciAction::CpuOff => {
            info!("psci: cpu {}: host CPU_OFF; relaying it", cpu.index());
            status(cpu.cpu_off())
        }
        PsciAction::CpuSuspend {
            power_state,
            entry,
            context,
        } => status(cpu.cpu_suspend(power_state, entry, context)),
        PsciAction::HeldOn {
            target,
            entry,
            context,
        } => cpu_on_logged(
            cpu.held_on(target, entry, context),
            target,
            entry,
            "started by Stile",
        ),
        PsciAction::HeldOff => {
            info!("psci: cpu {}: host CPU_OFF; waiting at EL2", cpu.index());
            cpu.held_off()
        }
        PsciAction::Refuse { status: s, why } => {
            refusal(
                Source::Host,
                Level::Warn,
                format_args!("psci: host call {:#x} refused ({why})", args[0]),
            );
            status(s)
        }
        PsciAction::Answer(s) => status(s),
        PsciAction::Park(what) => cpu.relay(args, Some(what)),
    };
    ctx.x[..4].copy_from_slice(&out);
}

/// The reply to the host's CPU_ON of `target` with PSCI status `s` (`how`: who started it),
/// logged: a start as information, a refusal as a rate-limited warning.
fn cpu_on_logged(s: i64, target: u64, entry: u64, how: &str) -> [u64; 4] {
    if s == 0 {
        info!("psci: host CPU_ON MPIDR {target:#x} at {entry:#x}: {how}");
    } else {
        refusal(
            Source::Host,
            Level::Warn,
            format_args!("psci: host CPU_ON MPIDR {target:#x} at {entry:#x}: status {s}"),
        );
    }
    [s as u64, 0, 0, 0]
}
