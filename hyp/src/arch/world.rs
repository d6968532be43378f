//! Worlds below EL2 (the host, later guests): their saved registers, this CPU's per-CPU
//! block, and the first entry. The trap path itself is in vectors.S.

use core::mem::{offset_of, size_of};

/// A lower-EL world's general registers and return state, as vectors.S saves them.
#[repr(C)]
#[derive(Clone, Default)]
pub struct Context {
    pub x: [u64; 31],
    pub elr: u64,
    pub spsr: u64,
    _pad: u64,
}

const _: () = assert!(offset_of!(Context, elr) == 248 && offset_of!(Context, spsr) == 256);

impl Context {
    pub const ZERO: Context = Context {
        x: [0; 31],
        elr: 0,
        spsr: 0,
        _pad: 0,
    };
}

/// The per-CPU block TPIDR_EL2 points at (on top of the CPU's emergency stack).
#[repr(C)]
pub struct PerCpu {
    /// The world that runs (or last ran) below EL2 on this CPU.
    pub current: *mut Context,
    /// Top of this CPU's EL2 stack: every trap starts from here.
    pub stack_top: u64,
    _reserved: [u64; 6],
}

/// entry.S reserves this much (PERCPU_BLOCK_SIZE) below the emergency stack top.
pub const PERCPU_BLOCK_SIZE: usize = 64;
const _: () = assert!(size_of::<PerCpu>() == PERCPU_BLOCK_SIZE);
const _: () = assert!(offset_of!(PerCpu, current) == 0 && offset_of!(PerCpu, stack_top) == 8);

/// SPSR for entering EL1h with all of DAIF masked (what a kernel expects at entry).
pub const SPSR_EL1H_MASKED: u64 = 0x3c5;

extern "C" {
    fn world_enter(ctx: *mut Context, stack_top: u64) -> !;
}

/// This CPU's per-CPU block.
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

/// Called by vectors.S for every exception from a lower EL: handle it and say which world
/// to resume (today always the one that trapped).
#[no_mangle]
extern "C" fn stile_lower_el_trap(ctx: *mut Context, kind: u64) -> *mut Context {
    // SAFETY: vectors.S passes the per-CPU current Context, valid per `enter`'s contract and
    // not referenced elsewhere while this world is stopped in EL2.
    let c = unsafe { &mut *ctx };
    crate::arch::traps::handle(c, kind);
    ctx
}
