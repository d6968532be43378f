//! stile-vmm: a userspace VMM for a Linux host running under Stile, through `/dev/stile`
//! (linux/driver, docs/LINUX-DRIVER.md). Everything that decides something lives in this
//! library and is tested on the build machine; [`dev`] is the thin ioctl layer and
//! `main.rs` the command line around it.

pub mod args;
pub mod bench;
pub mod checks;
pub mod exits;
pub mod image;
pub mod linux_boot;
pub mod numbers;
pub mod pl011;
pub mod revoke;
pub mod slots;
pub mod uapi;

#[cfg(target_os = "linux")]
pub mod dev;
