//! A guest's PSCI calls that involve its other vCPUs: CPU_ON and AFFINITY_INFO, answered in
//! EL2 from the VM's own vCPU records (docs/ABI.md, "Guest SMP").
//!
//! A vCPU created with `vcpu::START_OFF` (a secondary) or that called CPU_OFF is powered
//! off: VCPU_RUN of it returns at once with a SYSTEM_EVENT exit naming CPU_OFF, and the host
//! runs it again later. CPU_ON from another vCPU of the same VM resets it to the given entry
//! point and context id, MMU off, as PSCI says a CPU comes up; its next VCPU_RUN enters it.
//! EL2 decides this, not the host: a VMM that polled for it could never start a vCPU any
//! earlier, and the guest gets its answer (SUCCESS, ALREADY_ON) without an exit.

use crate::vm::vcpu::{
    Context, El1Regs, Pending, Vcpu, VcpuState, SCTLR_EL1_RESET, SPSR_EL1H_MASKED,
};
use alloc::boxed::Box;
use smccc::psci::{
    error::{ALREADY_ON, DENIED, INVALID_ADDRESS, INVALID_PARAMETERS},
    PSCI_AFFINITY_INFO_32, PSCI_CPU_ON_32,
};

/// AFFINITY_INFO's answers (PSCI 1.1, 5.1.5).
const AFFINITY_ON: u64 = 0;
const AFFINITY_OFF: u64 = 1;

/// The affinity fields of an MPIDR (Aff3, Aff2, Aff1, Aff0).
const AFFINITY: u64 = 0xff_00ff_ffff;

/// PSCI's answer to a CPU_ON or AFFINITY_INFO (`fid` with the SMC64 bit folded off) from
/// vCPU `me` of `vcpus` with arguments `x` (x1..x3), or None if `fid` is neither.
#[inline]
pub fn call(vcpus: &mut [Box<Vcpu>], me: usize, fid: u32, x: [u64; 3]) -> Option<u64> {
    // Every guest HVC comes through here: anything else leaves at once.
    if fid != PSCI_CPU_ON_32 && fid != PSCI_AFFINITY_INFO_32 {
        return None;
    }
    let target = x[0] & AFFINITY;
    let index = vcpus.iter().position(|v| v.vmpidr & AFFINITY == target);
    let answer = match fid {
        PSCI_CPU_ON_32 => match index {
            None => INVALID_PARAMETERS as u64,
            Some(i) if i == me || vcpus[i].state == VcpuState::Runnable => ALREADY_ON as u64,
            // Stopped with the VM (SYSTEM_OFF/RESET): it does not come back.
            Some(i) if vcpus[i].state == VcpuState::Off => DENIED as u64,
            Some(_) if x[1] & 3 != 0 => INVALID_ADDRESS as u64,
            Some(i) => {
                power_on(&mut vcpus[i], x[1], x[2]);
                0
            }
        },
        // Level 0 (one CPU) is all a guest's vCPUs have.
        PSCI_AFFINITY_INFO_32 => match (index, x[1]) {
            (Some(i), 0) => match vcpus[i].state {
                VcpuState::Runnable => AFFINITY_ON,
                VcpuState::PoweredOff | VcpuState::Off => AFFINITY_OFF,
            },
            _ => INVALID_PARAMETERS as u64,
        },
        _ => return None,
    };
    Some(answer)
}

/// PSCI's CPU_ON state: at `entry` in EL1h with DAIF masked, x0 = `context_id`, the other
/// registers 0, EL1's MMU and caches off. Its FP and key registers are what it left (it
/// must not assume anything of them).
fn power_on(v: &mut Vcpu, entry: u64, context_id: u64) {
    let mut ctx = Context::ZERO;
    ctx.x[0] = context_id;
    ctx.elr = entry;
    ctx.spsr = SPSR_EL1H_MASKED;
    v.ctx = ctx;
    v.el1 = El1Regs {
        sctlr: SCTLR_EL1_RESET,
        ..El1Regs::default()
    };
    v.el1_injected = false;
    v.pending = Pending::Nothing;
    v.state = VcpuState::Runnable;
}

#[cfg(test)]
mod tests;
