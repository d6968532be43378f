//! What the payload knows about its world when the checks start (read from the DTB and the
//! ID registers by `arch`, made up by the tests).

use crate::dt_facts::HypNode;
use crate::oracle::Region;
use heapless::Vec;
use stile_hyp::addr::PhysRange;
use stile_hyp::mm::ranges::RangeSet;

/// As many reserved ranges as the DT parser keeps.
pub const MAX_RESERVED: usize = stile_hyp::dt::MAX_RESERVED;

#[derive(Debug, Clone)]
pub struct Facts {
    /// The DT's RAM as the payload's stage 1 maps it (`el1_map::ram_set`).
    pub ram: RangeSet,
    /// `/reserved-memory/stile-hyp@...`, if the DTB has it.
    pub stile_hyp: Option<HypNode>,
    /// The payload's own footprint (code, data, BSS, stack).
    pub image: PhysRange,
    /// FEAT_S2FWB.
    pub fwb: bool,
    /// CTR_EL0.DIC.
    pub dic: bool,
    /// A harmless entry point for the CPU_ON that must be refused (a `wfe` loop).
    pub park_entry: u64,
    /// The host DTB as Stile placed it.
    pub dtb: PhysRange,
    /// `/memreserve/` and `/reserved-memory` ranges of the host DTB (Stile's own, the
    /// carve-outs...): memory the VMM must not give a guest.
    pub reserved: Vec<PhysRange, MAX_RESERVED>,
    /// The board the DT's root `compatible` names, and the regions Stile's config should
    /// give the host there (crate::oracle_boards); `None` on a machine the payload does
    /// not know.
    pub machine: Option<(&'static str, &'static [Region])>,
    /// The DT names a PSCI firmware (on a board without, Stile answers NOT_SUPPORTED).
    pub psci: bool,
    /// The host's own GIC (the vGIC checks let the guest's virtual timer reach this CPU
    /// through it).
    pub gic: Option<HostGic>,
    /// The GIC's virtual IRQ reaches the CPUs: false with `vgic.no-virq` on the command line
    /// (QEMU's imx8mp-evk wires only the GIC's IRQ and FIQ outputs to its CPUs, so no
    /// virtual interrupt can be taken there, whatever EL2 does).
    pub virq_wired: bool,
}

/// The host's own GIC's frames, as the DT gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostGic {
    /// GICD and the first GICR.
    V3(u64, u64),
    /// GICD and GICC.
    V2(u64, u64),
}
