//! Raspberry Pi 3 Model B/B+ (BCM2837): the VideoCore firmware has no PSCI, CPUs start by spin-table (see docs/BOARDS.md). Only what the DT cannot say: no fixed console (the DT's
//! stdout-path, or earlycon=, names it), and the PSCI conduit for a DTB Stile cannot read.
use stile_hyp::board::Board;
#[allow(unused_imports)]
use stile_hyp::dt::Conduit;

pub static BOARD: Board = Board {
    name: "rpi3",
    default_console: None,
    default_psci_conduit: None,
    regions: crate::REGIONS,
};
