//! AArch64-specific code: system registers, cache and TLB maintenance, the EL2 MMU, PSCI
//! calls and the exception vectors. Small and thin: decisions live in the arch-free core.

pub mod cache;
pub mod exceptions;
pub mod mmu;
pub mod psci;
pub mod sysreg;
