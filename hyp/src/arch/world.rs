//! Worlds below EL2 (the host, later guests): their saved registers, this CPU's per-CPU
//! block, and the first entry. The trap path itself is in vectors.S.

use core::mem::{offset_of, size_of};

pub use crate::vm::vcpu::{Context, SPSR_EL1H_MASKED};

/// The per-CPU block TPIDR_EL2 points at (on top of the CPU's emergency stack).
#[repr(C)]
pub struct PerCpu {
    /// The world that runs (or last ran) below EL2 on this CPU.
    pub current: *mut Context,
    /// Top of this CPU's EL2 stack: every trap starts from here.
    pub stack_top: u64,
    /// This CPU's index (arch/smp.rs: 0 is the boot CPU), set by entry.S.
    pub index: u64,
    /// This CPU's world-switch state (arch/switch.rs), bound before the host first runs
    /// on this CPU: the trap path finds it in one load.
    pub state: *mut u8,
    _reserved: [u64; 4],
}

/// entry.S reserves this much (PERCPU_BLOCK_SIZE) below the emergency stack top.
pub const PERCPU_BLOCK_SIZE: usize = 64;
const _: () = assert!(size_of::<PerCpu>() == PERCPU_BLOCK_SIZE);
const _: () = assert!(
    offset_of!(PerCpu, current) == 0
        && offset_of!(PerCpu, stack_top) == 8
        && offset_of!(PerCpu, index) == 16
        && offset_of!(PerCpu, state) == 24
);

extern "C" {
    fn world_enter(ctx: *mut Context, stack_top: u64) -> !;
}

/// This CPU's index (arch/smp.rs).
#[inline(always)]
pub fn cpu_index() -> usize {
    // SAFETY: entry.S set TPIDR_EL2 to this CPU's block and its index before any Rust ran.
    unsafe { (*per_cpu()).index as usize }
}

/// This CPU's world-switch state, as bound by [`bind_state`] (null before).
#[inline(always)]
pub fn state_ptr() -> *mut u8 {
    // SAFETY: entry.S set TPIDR_EL2 to this CPU's block before any Rust ran.
    unsafe { (*per_cpu()).state }
}

/// Record where this CPU's world-switch state lives.
pub fn bind_state(state: *mut u8) {
    // SAFETY: the per-CPU block is this CPU's own; nothing else writes it.
    unsafe { (*per_cpu()).state = state }
}

/// This CPU's per-CPU block.
#[inline(always)]
fn per_cpu() -> *mut PerCpu {
    let p: u64;
    // SAFETY: reading TPIDR_EL2 has no side effects; entry.S set it at boot.
    unsafe { core::arch::asm!("mrs {}, tpidr_el2", out(reg) p, options(nomem, nostack)) };
    p as *mut PerCpu
}

/// Start running `ctx` below EL2, on a fresh EL2 stack `stack_top` for its traps. The EL2
/// system registers for that world (HCR_EL2, VTTBR_EL2, ...) must already be set.
///
/// # Safety
/// `ctx` must stay valid (and not be otherwise borrowed) for as long as that world may trap;
/// `stack_top` must be the top of this CPU's EL2 stack, and nothing on that stack may be
/// needed any more (the caller's frames are abandoned).
pub unsafe fn enter(ctx: *mut Context, stack_top: u64) -> ! {
    let pc = per_cpu();
    // SAFETY: the per-CPU block is ours (this CPU) and lies in mapped emergency-stack memory.
    unsafe {
        (*pc).stack_top = stack_top;
        (*pc).current = ctx;
        world_enter(ctx, stack_top)
    }
}
