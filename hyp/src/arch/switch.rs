//! The world switch between the host and a guest vCPU on this CPU: the EL1 registers, the
//! EL2 registers that differ between the worlds, and lazy FP/SIMD ownership.
//!
//! No ISB before the ERET that follows a switch: SCTLR_EL2.EOS (set at boot, mmu.rs) makes
//! exception return context-synchronizing, and nothing in EL2 uses the EL1&0 regime in
//! between. The one exception is CPTR_EL2.TFP, which also traps EL2's own FP accesses:
//! [`take_fp`] and [`to_host`] clear it with an ISB before touching FP registers.

use crate::arch::el1_state::{restore_fp, save_fp, switch_el1};
use crate::arch::host_entry::{guest_hcr, trap_fp, El2World, CPTR_EL2_NO_TRAPS, CPTR_EL2_TFP};
use crate::arch::smp::MAX_CPUS;
use crate::arch::world::{bind_state, cpu_index, state_ptr, Context};
use crate::vm::vcpu::{El1Regs, FpRegs, Vcpu};
use core::arch::asm;
use core::cell::UnsafeCell;

/// The guest running on this CPU.
#[derive(Clone, Copy)]
pub struct Running {
    pub vm: u64,
    pub vcpu: u64,
    /// Where the host's registers wait (its Context, saved when it called VCPU_RUN).
    pub host_ctx: *mut Context,
}

/// This CPU's world-switch state.
pub struct CpuState {
    pub running: Option<Running>,
    /// The host's EL1 registers while a guest runs.
    host_el1: El1Regs,
    /// The host's EL2 view (constant: the host cannot change EL2 registers), set before
    /// the host first runs (`set_host_world`).
    host_el2: El2World,
    /// Guest HCR_EL2 without and with FWB, derived from the host's at the same time.
    guest_hcr: [u64; 2],
    /// The host's FP/SIMD registers while the guest owns them.
    host_fp: FpRegs,
    /// Whether the FP/SIMD registers hold the running guest's state (else the host's). FP
    /// state moves lazily: a guest that never touches FP costs no FP save/restore.
    guest_owns_fp: bool,
}

/// One per physical CPU, found through the per-CPU block's index.
struct CpuCell(UnsafeCell<CpuState>);

// SAFETY: each CPU reaches only its own cell (by its per-CPU index), only through
// `this_cpu`, whose contract rules out overlapping references on that CPU.
unsafe impl Sync for CpuCell {}

static CPUS: [CpuCell; MAX_CPUS] = [const { CpuCell(UnsafeCell::new(CpuState::IDLE)) }; MAX_CPUS];

impl CpuState {
    /// No guest, nothing recorded yet.
    const IDLE: CpuState = CpuState {
        running: None,
        host_el1: El1Regs::ZERO,
        host_el2: El2World {
            hcr: 0,
            vttbr: 0,
            vtcr: 0,
            vmpidr: 0,
        },
        guest_hcr: [0; 2],
        host_fp: FpRegs::ZERO,
        guest_owns_fp: false,
    };
}

/// This CPU's state, without a lock: no other CPU touches it.
///
/// # Safety
/// Call once per trap, from the trap path (exceptions masked, never re-entered), or at boot
/// before the host runs, and drop the reference before returning. Only after
/// [`set_host_world`] bound this CPU's state (it runs before the host first runs here).
#[inline]
pub unsafe fn this_cpu() -> &'static mut CpuState {
    // SAFETY: per the contract, the pointer was bound to this CPU's own cell (no other CPU
    // uses it) and this is the only live reference to it.
    unsafe { &mut *state_ptr().cast::<CpuState>() }
}

/// Record the host's EL2 view (it cannot change it) before the host first runs on this CPU.
pub fn set_host_world(w: &El2World) {
    let i = cpu_index().min(MAX_CPUS - 1);
    bind_state(CPUS[i].0.get().cast());
    // SAFETY: called before the host runs on this CPU, so no trap holds this CPU's state;
    // it was just bound.
    let cpu = unsafe { this_cpu() };
    // A CPU that comes back through the warm entry (CPU_ON after CPU_OFF) runs no guest.
    cpu.running = None;
    cpu.guest_owns_fp = false;
    cpu.host_el2 = *w;
    cpu.guest_hcr = [guest_hcr(w.hcr, false), guest_hcr(w.hcr, true)];
}

/// Switch EL2's view to `w` and set CPTR_EL2 (`trap_fp`: FP/SIMD use below EL2 traps).
#[inline]
fn write_world(w: &El2World, trap_fp: bool) {
    let cptr = CPTR_EL2_NO_TRAPS | if trap_fp { CPTR_EL2_TFP } else { 0 };
    // SAFETY: EL1&0 configuration, live only after the caller's ERET (module comment);
    // VMIDs keep TLB entries apart; EL2 touches no FP before that ERET.
    unsafe {
        asm!(
            "msr hcr_el2, {hcr}",
            "msr vtcr_el2, {vtcr}",
            "msr vttbr_el2, {vttbr}",
            "msr vmpidr_el2, {vmpidr}",
            "msr cptr_el2, {cptr}",
            hcr = in(reg) w.hcr,
            vtcr = in(reg) w.vtcr,
            vttbr = in(reg) w.vttbr,
            vmpidr = in(reg) w.vmpidr,
            cptr = in(reg) cptr,
            options(nomem, nostack, preserves_flags),
        );
    }
}

/// A guest's stage 2, as [`to_guest`] needs it.
pub struct GuestStage2 {
    pub vttbr: u64,
    pub vtcr: u64,
    pub fwb: bool,
}

/// Host -> guest: the host's EL1 and EL2 state into hiding, `vc`'s in. FP stays the host's
/// until the guest first uses it (see [`take_fp`]). Returns the Context to resume.
#[inline]
pub fn to_guest(cpu: &mut CpuState, vc: &mut Vcpu, s2: &GuestStage2, run: Running) -> *mut Context {
    switch_el1(&mut cpu.host_el1, &vc.el1);
    vc.el1_injected = false;
    write_world(
        &El2World {
            hcr: cpu.guest_hcr[s2.fwb as usize],
            vttbr: s2.vttbr,
            vtcr: s2.vtcr,
            vmpidr: vc.vmpidr,
        },
        true,
    );
    cpu.running = Some(run);
    &mut vc.ctx
}

/// The running guest's first FP/SIMD use since VCPU_RUN: the host's FP state out, the
/// guest's in, and FP no longer traps.
#[inline]
pub fn take_fp(cpu: &mut CpuState, vc: &Vcpu) {
    trap_fp(false);
    save_fp(&mut cpu.host_fp);
    restore_fp(&vc.fp);
    cpu.guest_owns_fp = true;
}

/// Guest -> host: `vc`'s state saved (EL1 registers; FP if it took them), the host's back.
/// ESR/FAR/ELR/SPSR_EL1 that an abort injection already wrote into `vc.el1` while deciding
/// this exit (`el1_injected`) are kept over the live values. Returns the host's Context.
#[inline]
pub fn to_host(cpu: &mut CpuState, vc: Option<&mut Vcpu>) -> *mut Context {
    let host_ctx = cpu
        .running
        .take()
        .map_or(core::ptr::null_mut(), |r| r.host_ctx);
    // FP registers are touched only when the guest owns them, and then CPTR_EL2 already
    // lets EL2 at them (take_fp). Read once: the calls below could change it, as far as the
    // compiler knows.
    let guest_fp = core::mem::replace(&mut cpu.guest_owns_fp, false);
    match vc {
        Some(vc) => {
            let injected = vc.el1_injected.then(|| injected_regs(&vc.el1));
            switch_el1(&mut vc.el1, &cpu.host_el1);
            if let Some([esr, far, elr, spsr]) = injected {
                (vc.el1.esr, vc.el1.far, vc.el1.elr, vc.el1.spsr) = (esr, far, elr, spsr);
            }
            if guest_fp {
                save_fp(&mut vc.fp);
            }
        }
        None => crate::arch::el1_state::restore_el1(&cpu.host_el1),
    }
    if guest_fp {
        restore_fp(&cpu.host_fp);
    }
    write_world(&cpu.host_el2, false);
    host_ctx
}

/// ESR/FAR/ELR/SPSR_EL1 of a saved copy (where an injection put them).
#[inline]
fn injected_regs(el1: &El1Regs) -> [u64; 4] {
    [el1.esr, el1.far, el1.elr, el1.spsr]
}
