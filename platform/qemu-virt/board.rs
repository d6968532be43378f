//! QEMU `virt` (see README.md beside this file).
use stile_hyp::addr::PhysRange;
use stile_hyp::board::{Board, DefaultConsole};
use stile_hyp::dt::{Conduit, UartKind};

pub static BOARD: Board = Board {
    name: "qemu-virt",
    // Used only when there is no usable DTB, to say why before stopping.
    default_console: Some(DefaultConsole {
        kind: UartKind::Pl011,
        regs: PhysRange::new(0x0900_0000, 0x1000),
        reg_shift: 0,
        reg_io_width: 1,
    }),
    default_psci_conduit: Some(Conduit::Smc),
    regions: crate::REGIONS,
};
