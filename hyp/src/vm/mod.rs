//! Virtual machines: the host VM (identity stage 2), and what EL2 does for a VM's traps.

pub mod host;
pub mod hvc;
pub mod image;
pub mod inject;
pub mod psci_policy;
