//! Virtual machines: the host VM (identity stage 2), and what EL2 does for a VM's traps.

pub mod cell;
pub mod dispatch;
pub mod fault;
pub mod guest;
pub mod guest_psci;
pub mod host;
pub mod host_tick;
pub mod hvc;
pub mod hyp;
pub mod id_regs;
pub mod image;
pub mod inject;
pub mod interrupts;
pub mod machine;
pub mod memslot;
pub mod mmio;
pub mod psci_held;
pub mod psci_policy;
pub mod revoke;
pub mod run;
pub mod sysreg;
pub mod vcpu;
pub mod world_regs;

#[cfg(test)]
mod abi_slot_tests;
#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod tests_fixture;
#[cfg(test)]
mod vgic_v2_tests;
