//! AArch64 at EL1: the boot flow, vectors, MMU, SMCCC calls and probe accesses. Thin: every
//! decision (what to map, what to expect, what an exception means) lives in the arch-free
//! modules above.

mod bench;
pub mod boot;
mod cache;
mod cell;
mod console;
mod exceptions;
pub mod fatal;
mod gic;
mod guest_smp;
mod hostile;
mod hostile_smp;
mod layout;
mod mmu;
mod probe;
mod smccc;
mod smp;
mod smp_all;
mod sysreg;
mod vgic_ipi;
mod vmm;
