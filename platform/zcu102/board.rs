//! Xilinx ZynqMP ZCU102: TF-A gives PSCI over SMC (see docs/BOARDS.md). Only what the DT cannot say: no fixed console (the DT's
//! stdout-path, or earlycon=, names it), and the PSCI conduit for a DTB Stile cannot read.
use stile_hyp::board::Board;
#[allow(unused_imports)]
use stile_hyp::dt::Conduit;

pub static BOARD: Board = Board {
    name: "zcu102",
    default_console: None,
    default_psci_conduit: Some(Conduit::Smc),
    regions: crate::REGIONS,
};
