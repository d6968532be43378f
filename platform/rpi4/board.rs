//! Raspberry Pi 4 Model B (BCM2711): the VideoCore firmware has no PSCI unless TF-A is added, CPUs start by spin-table (see docs/BOARDS.md). Only what the DT cannot say: no fixed console (the DT's
//! stdout-path, or earlycon=, names it), and the PSCI conduit for a DTB Stile cannot read.
use stile_hyp::board::Board;
#[allow(unused_imports)]
use stile_hyp::dt::Conduit;

pub static BOARD: Board = Board {
    name: "rpi4",
    default_console: None,
    default_psci_conduit: None,
    regions: crate::REGIONS,
};
