//! EL2's configuration while the host VM runs, and the first entry into it.

use crate::arch::el2_world::{host_hcr, host_traps, El2World, CNTHCTL_EL1_PHYS, CPTR_EL2_NO_TRAPS};
use crate::arch::world::{self, Context, SPSR_EL1H_MASKED};
use core::arch::asm;

/// SCTLR_EL1 with only its RES1 bits: MMU, caches and alignment checks off.
const SCTLR_EL1_RESET: u64 = 0x30d0_0800;

/// What the host VM runs with on a CPU.
#[derive(Debug, Clone, Copy)]
pub struct HostSetup {
    pub vttbr: u64,
    pub vtcr: u64,
    /// Where the host starts at EL1 on this CPU.
    pub entry: u64,
    /// Its x0 there: the DTB on the boot CPU, the PSCI context id on the others.
    pub x0: u64,
    pub gic_v3: bool,
    /// GICv2 with virtualization: the GICH frame (EL2's; never in the host's stage 2).
    pub gich: Option<u64>,
    /// HCR_EL2.FWB: stage 2 may force the memory type (only on CPUs with FEAT_S2FWB).
    pub fwb: bool,
}

/// This CPU's real MPIDR (what the host sees).
pub fn host_mpidr() -> u64 {
    let v: u64;
    // SAFETY: reading MPIDR_EL1 has no side effects.
    unsafe { asm!("mrs {}, mpidr_el1", out(reg) v, options(nomem, nostack)) };
    v
}

fn has_pointer_auth() -> bool {
    let (isar1, isar2): (u64, u64);
    // SAFETY: reading ID registers has no side effects.
    unsafe {
        asm!("mrs {}, id_aa64isar1_el1", out(reg) isar1, options(nomem, nostack));
        asm!("mrs {}, id_aa64isar2_el1", out(reg) isar2, options(nomem, nostack));
    }
    // APA [7:4], API [11:8], GPA [27:24], GPI [31:28]; APA3 [15:12] in ISAR2.
    isar1 & 0xf000_0ff0 != 0 || isar2 & 0xf000 != 0
}

/// Program EL2 for the host and enter it at EL1h (MMU off, DAIF masked, x0 = DTB). Never
/// returns: from here EL2 only runs when the host traps.
///
/// # Safety
/// `setup.vttbr` must hold a complete stage 2 that never maps EL2's own memory; `ctx` must
/// be valid, unaliased and live forever; `stack_top` is this CPU's EL2 stack top (the
/// caller's frames are abandoned).
pub unsafe fn enter_host(setup: &HostSetup, ctx: *mut Context, stack_top: u64) -> ! {
    let hcr = host_hcr(setup.fwb, has_pointer_auth());
    let (midr, mpidr, pmcr): (u64, u64, u64);
    // SAFETY: ID and PMU control reads have no side effects.
    unsafe {
        asm!("mrs {}, midr_el1", out(reg) midr, options(nomem, nostack));
        asm!("mrs {}, mpidr_el1", out(reg) mpidr, options(nomem, nostack));
        asm!("mrs {}, pmcr_el0", out(reg) pmcr, options(nomem, nostack));
    }
    // MDCR_EL2.HPMN = PMCR_EL0.N: every event counter belongs to EL1; nothing traps.
    let mdcr = (pmcr >> 11) & 0x1f;
    // SAFETY: these registers configure the EL1&0 regime that is about to start; the stage 2
    // in VTTBR is complete (caller's contract); the TLBI drops anything cached for EL1&0
    // from before (boot firmware), and the ISB makes it all take effect before the ERET.
    unsafe {
        asm!(
            "msr vtcr_el2, {vtcr}",
            "msr vttbr_el2, {vttbr}",
            "msr hcr_el2, {hcr}",
            "msr cptr_el2, {cptr}",
            "msr cnthctl_el2, {cnthctl}",
            "msr cntvoff_el2, xzr",
            "msr mdcr_el2, {mdcr}",
            "msr vpidr_el2, {midr}",
            "msr vmpidr_el2, {mpidr}",
            "msr sctlr_el1, {sctlr}",
            "isb",
            "dsb ishst",
            "tlbi alle1is",
            "dsb ish",
            "isb",
            vtcr = in(reg) setup.vtcr,
            vttbr = in(reg) setup.vttbr,
            hcr = in(reg) hcr,
            cptr = in(reg) CPTR_EL2_NO_TRAPS,
            cnthctl = in(reg) CNTHCTL_EL1_PHYS,
            mdcr = in(reg) mdcr,
            midr = in(reg) midr,
            mpidr = in(reg) mpidr,
            sctlr = in(reg) SCTLR_EL1_RESET,
            options(nostack),
        );
    }
    // ICC_SRE_EL2 for the host's GICv3, and this CPU's virtual interface emptied.
    let gic = crate::arch::gic::probe(setup.gic_v3, setup.gich);
    crate::arch::cpu_features_el2::expose_to_host();
    // The host cannot change these: the world switch puts them back after every guest.
    let tick = crate::arch::host_tick::locate_for(mpidr);
    // The kick reuses the redistributor the tick guard found (GICv3 only).
    let kick = tick
        .filter(|_| setup.gic_v3 && gic.is_some())
        .map(|t| crate::vgic::kick::Kick::for_cpu(mpidr, t));
    crate::arch::switch::set_host_world(
        &El2World {
            hcr,
            vttbr: setup.vttbr,
            vtcr: setup.vtcr,
            vmpidr: mpidr,
        },
        &host_traps(mdcr),
        gic,
        tick,
        kick,
    );
    let mut first = Context::ZERO;
    first.x[0] = setup.x0;
    first.elr = setup.entry;
    first.spsr = SPSR_EL1H_MASKED;
    // SAFETY: per this function's contract, `ctx` is ours for good.
    unsafe {
        ctx.write(first);
        world::enter(ctx, stack_top)
    }
}
