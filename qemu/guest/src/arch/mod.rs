//! AArch64 at EL1 with the MMU off: entry, vectors, the fixed access instructions and HVC.
//! Thin: the scenarios and every judgement are in the arch-free modules.

pub mod boot;
mod cpu;
pub use cpu::marked_hvc;
pub mod exceptions;
pub mod fatal;
pub mod regclass;
mod sysreg;
mod vbench;
pub mod vgic;
