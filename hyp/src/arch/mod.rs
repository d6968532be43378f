//! AArch64-specific code: system registers, cache and TLB maintenance, the EL2 MMU, PSCI
//! calls, the exception vectors and world switch. Small and thin: decisions live in the
//! arch-free core.

pub mod at;
pub mod bulk_copy;
pub mod cache;
pub mod cpu_features_el2;
pub mod el1_state;
pub mod el2_world;
pub mod exceptions;
pub mod firmware;
pub mod gic;
pub mod gich;
pub mod host_entry;
pub mod host_tick;
pub mod kick;
pub mod machine;
pub mod mmu;
pub mod psci;
pub mod smp;
pub mod spin_table;
pub mod switch;
pub mod sysreg;
pub mod sysregs_el1;
pub mod tlb;
pub mod traps;
pub mod world;
