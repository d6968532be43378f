//! The shape of a board's static data (the data itself lives in platform/<board>/).

use crate::addr::PhysRange;
use crate::config::Region;
use crate::dt::{Conduit, UartKind};

pub struct Board {
    pub name: &'static str,
    /// Console to report on when the DTB cannot be read: only a board whose UART sits at
    /// one fixed address on every unit (QEMU's virt). A real board gives `None`: Stile never
    /// writes to a guessed address.
    pub default_console: Option<DefaultConsole>,
    /// PSCI conduit to power off with when the DTB cannot be read; `None` for a board whose
    /// firmware has no PSCI (power-off then parks the CPU).
    pub default_psci_conduit: Option<Conduit>,
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
