//! The static per-board config (docs/CONFIG.md): the regions a board declares in
//! platform/<board>/regions.toml, checked twice by the code here.
//!
//! - At build time, platform/build.rs runs [`validate`] on the parsed file (the build fails on
//!   a bad config, naming the file and the region).
//! - At boot, [`check_regions`] holds the config against the machine (DT RAM, reserved memory,
//!   the hypervisor's own memory, the CPU's features): each region is accepted or refused
//!   with an `abi::Reason`; a refusal never stops the boot.
//!
//! Arch-free and allocation-free: build.rs (on the build machine) and EL2 share it.

mod boot_check;
mod held_back;
mod host_ram;
mod region;
mod static_check;
mod table;

pub use boot_check::{
    check_regions, Accepted, Refused, RegionCheck, DEVICE_OVERLAPS_RAM, DT_DEVICES, HOST_RAM,
    MAX_CHECKED,
};
pub use held_back::{held_back, HeldBack, TooManyHeldBack, MAX_HELD_BACK};
pub use region::{Owner, Region, MAX_REGIONS};
pub use static_check::{static_errors, validate, ConfigError, RegionError};
pub use table::{region_table, RegionLine, RegionTable};

#[cfg(test)]
pub(crate) mod tests;
