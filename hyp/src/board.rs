//! The shape of a board's static data (the data itself lives in platform/<board>/).

use crate::addr::PhysRange;
use crate::config::Region;
use crate::dt::{Conduit, UartKind};

pub struct Board {
    pub name: &'static str,
    /// Console to report on when the DTB cannot be read.
    pub default_console: DefaultConsole,
    /// PSCI conduit to power off with when the DTB cannot be read.
    pub default_psci_conduit: Conduit,
    /// The board's static memory regions (platform/<board>/regions.toml, checked at build
    /// time; checked against the DT and CPU at boot).
    pub regions: &'static [Region],
}

pub struct DefaultConsole {
    pub kind: UartKind,
    pub regs: PhysRange,
    pub reg_shift: u8,
    pub reg_io_width: u8,
}
