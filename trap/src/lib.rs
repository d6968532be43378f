//! The entry vectors.S calls for every exception from a lower EL. It is its own crate so
//! that the hot trap paths, which stile-hyp marks `#[inline]` from `arch::traps::handle`
//! down, are compiled here at opt-level 3 while the rest of EL2 stays optimised for size
//! (Cargo.toml's profile; docs/PERFORMANCE.md, "Optimisation level").
#![cfg_attr(not(test), no_std)]

#[cfg(target_arch = "aarch64")]
use stile_hyp::arch::world::Context;

/// `ctx`: the per-CPU current world (world.rs); returns the world to resume.
#[cfg(target_arch = "aarch64")]
#[no_mangle]
extern "C" fn stile_lower_el_trap(ctx: *mut Context, kind: u64) -> *mut Context {
    // SAFETY: vectors.S passes the per-CPU current Context, which is what `handle` needs.
    unsafe { stile_hyp::arch::traps::handle(ctx, kind) }
}
