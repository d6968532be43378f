//! The in-QEMU host payload (docs/HOST-PAYLOAD.md): an EL1 program Stile runs as its host VM.
//! It maps itself, then asks Stile what stage 2 does to each memory region, pokes at memory
//! it must not own, and prints one `check <name>: ok|FAIL <why>` line per rule.
//!
//! Everything outside `arch` is arch-free and unit-tested on the build machine: the test
//! oracle (`oracle`, `expect`, `memattr`), the EL1 map (`el1_map`), the checks themselves
//! (`checks`, run against a fake Stile in tests through the `Machine` trait).
#![cfg_attr(not(test), no_std)]

pub mod bench;
pub mod checks;
pub mod compare;
pub mod dt_facts;
pub mod el1_attrs;
pub mod el1_map;
pub mod expect;
pub mod facts;
pub mod fail;
pub mod hostile;
pub mod machine;
pub mod memattr;
pub mod oracle;
pub mod oracle_boards;
pub mod psci;
pub mod report;
pub mod smp;
pub mod translate;
pub mod vmm;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod arch;
