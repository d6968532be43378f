//! Stile's hypervisor core.
//!
//! Everything outside `arch` is arch-free and unit-tested on the build machine with `cargo test`.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod addr;
pub mod board;
pub mod bootargs;
pub mod bundle;
pub mod config;
pub mod console;
pub mod cpu_features;
pub mod dt;
pub mod esr;
pub mod lock;
pub mod logger;
pub mod mm;
#[cfg(test)]
mod test_rng;
pub mod vgic;
pub mod vm;

#[cfg(all(target_arch = "aarch64", feature = "el2"))]
pub mod arch;
