//! The entry vectors.S calls for every exception from a lower EL. It is its own crate so
//! that the hot trap paths, which stile-hyp marks `#[inline]` from `arch::traps::handle`
//! down, are compiled here at opt-level 3 while the rest of EL2 stays optimised for size
//! (Cargo.toml's profile; docs/PERFORMANCE.md, "Optimisation level").
#![cfg_attr(not(test), no_std)]

#[cfg(target_arch = "aarch64")]
use stile_hyp::arch::world::Context;

#[cfg(target_arch = "aarch64")]
extern "C" {
    /// vectors.S: run the world `ctx` (all its registers come from it; the EL2 stack
    /// starts over).
    fn world_resume(ctx: *mut Context) -> !;
}

/// `ctx`: the per-CPU current world (world.rs); resumes the world `handle` picks. Vectors.S
/// branches here rather than calling: every register of the trapped world is already in
/// `ctx`, so nothing this function's caller had needs keeping, and a function that never
/// returns saves no callee-saved registers.
#[cfg(target_arch = "aarch64")]
#[no_mangle]
extern "C" fn stile_lower_el_trap(ctx: *mut Context, kind: u64) -> ! {
    // SAFETY: vectors.S passes the per-CPU current Context, which is what `handle` needs;
    // the Context it returns is a world's saved registers, ready to resume.
    unsafe { world_resume(stile_hyp::arch::traps::handle(ctx, kind)) }
}

/// vectors.S's first try for a guest's stage-2 abort (arch/traps.rs, `lazy_abort`): true
/// if it was mapped and the guest resumes, false for the full path.
#[cfg(target_arch = "aarch64")]
#[no_mangle]
extern "C" fn stile_guest_lazy_abort() -> bool {
    // SAFETY: only vectors.S calls this, first thing in a guest's synchronous trap.
    unsafe { stile_hyp::arch::traps::lazy_abort() }
}
