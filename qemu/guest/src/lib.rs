//! The in-QEMU guest payload (docs/GUEST-PAYLOAD.md): an EL1 program, MMU off, that the host
//! payload runs as a guest under Stile. It talks to its VMM only through what Stile
//! forwards: accesses to an emulated test device (MMIO exits) and HVCs (HVC exits), and it
//! ends with PSCI SYSTEM_OFF.
//!
//! The library is what both sides share, all arch-free and tested on the build machine: the
//! protocol (`protocol`, `device`, `access`, `layout`), the EL1 exception decision
//! (`exception`, the host's too) and the guest's own logic
//! (`scenarios`, `marked`, `bench`, `run`) over the [`cpu::Cpu`] trait. `arch` is the aarch64 image around it.
#![cfg_attr(not(test), no_std)]

pub mod access;
pub mod bench;
pub mod cpu;
pub mod device;
pub mod exception;
pub mod ipa;
pub mod layout;
pub mod marked;
pub mod protocol;
pub mod regclass;
pub mod run;
pub mod scenarios;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod arch;
