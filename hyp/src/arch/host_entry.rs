//! EL2's configuration while the host VM runs, and the first entry into it.

use crate::arch::world::{self, Context, SPSR_EL1H_MASKED};
use crate::vm::id_regs::IsolationFeatures;
use core::arch::asm;

const HCR_VM: u64 = 1 << 0;
const HCR_SWIO: u64 = 1 << 1;
/// Force broadcast of the host's TLB and cache maintenance (it is one VM on many CPUs).
const HCR_FB: u64 = 1 << 9;
/// Barriers from EL1 are at least inner shareable.
const HCR_BSU_IS: u64 = 1 << 10;
/// SMC from EL1 traps to EL2 (PSCI is relayed by policy).
const HCR_TSC: u64 = 1 << 19;
/// EL1 is AArch64.
const HCR_RW: u64 = 1 << 31;
const HCR_FMO: u64 = 1 << 3;
const HCR_IMO: u64 = 1 << 4;
const HCR_AMO: u64 = 1 << 5;
const HCR_FWB: u64 = 1 << 46;
/// Pointer-authentication keys and instructions do not trap (only when implemented). The
/// host has them always; a guest from its first use in a run (lazy key switch).
pub const HCR_APK_API: u64 = 1 << 40 | 1 << 41;
/// Guests: ID group 3 reads trap (vm/id_regs.rs: what a guest sees).
const HCR_TID3: u64 = 1 << 18;
/// Guests: IMPLEMENTATION DEFINED registers (CRn 11 and 15) trap.
const HCR_TIDCP: u64 = 1 << 20;
/// Guests: ACTLR_EL1 traps.
const HCR_TACR: u64 = 1 << 21;
/// Guests: LORegion registers trap (only with FEAT_LOR).
const HCR_TLOR: u64 = 1 << 35;
/// Guests: RAS error-record registers trap (only with FEAT_RAS).
const HCR_TERR: u64 = 1 << 36;

/// CPTR_EL2 (non-VHE): RES1 bits, nothing trapped (FP/SIMD and SVE stay with the VM; EL2
/// itself never touches FP).
pub const CPTR_EL2_NO_TRAPS: u64 = 0x32ff;
/// CPTR_EL2.TFP: FP/SIMD use below EL2 traps (EC 0x07), for switching FP state lazily.
pub const CPTR_EL2_TFP: u64 = 1 << 10;
/// CPTR_EL2.TZ: SVE (and ZCR_EL1) traps (EC 0x19). TSM (bit 12, SME) is among the RES1 bits
/// of CPTR_EL2_NO_TRAPS, so SME traps for every world.
const CPTR_EL2_TZ: u64 = 1 << 8;
/// CPTR_EL2.TTA: trace registers trap.
const CPTR_EL2_TTA: u64 = 1 << 20;
/// CPTR_EL2.TAM: activity monitors trap (only with FEAT_AMUv1).
const CPTR_EL2_TAM: u64 = 1 << 30;

/// Trap the running world's FP/SIMD use (`trap`), or let it through; `base` is the world's
/// CPTR_EL2 without TFP.
#[inline]
pub fn trap_fp(base: u64, trap: bool) {
    let v = if trap { base | CPTR_EL2_TFP } else { base };
    // SAFETY: CPTR_EL2 only decides which lower-EL instructions trap; the ISB makes the
    // change apply before the next ERET.
    unsafe { asm!("msr cptr_el2, {}", "isb", in(reg) v, options(nostack)) };
}
/// CNTHCTL_EL2 (non-VHE) for the host: EL1 may use the physical counter and timer.
const CNTHCTL_EL1_PHYS: u64 = 0b11;
/// CNTHCTL_EL2 for guests: the physical counter (EL1PCTEN) but not the physical timer
/// (EL1PCEN clear: CNTP_* trap). The timer belongs to the host; guests have the virtual one.
const CNTHCTL_GUEST: u64 = 0b01;
/// MDCR_EL2 traps for guests: PMCR (TPMCR, bit 5), the whole PMU (TPM, 6), debug registers
/// (TDA, 9), the OS lock registers (TDOSA, 10), the debug ROM address (TDRA, 11).
const MDCR_GUEST_TRAPS: u64 = 1 << 5 | 1 << 6 | 1 << 9 | 1 << 10 | 1 << 11;
/// MDCR_EL2.TPMS: statistical-profiling registers trap (only with FEAT_SPE).
const MDCR_TPMS: u64 = 1 << 14;
/// MDCR_EL2.TTRF: trace-filter registers trap (only with FEAT_TRF).
const MDCR_TTRF: u64 = 1 << 19;
/// SCTLR_EL1 with only its RES1 bits: MMU, caches and alignment checks off.
const SCTLR_EL1_RESET: u64 = 0x30d0_0800;
/// ICC_SRE_EL2: system-register GIC interface, and EL1 may use it too.
const ICC_SRE_EL2_SRE_ENABLE: u64 = 1 << 0 | 1 << 3;

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
    /// HCR_EL2.FWB: stage 2 may force the memory type (only on CPUs with FEAT_S2FWB).
    pub fwb: bool,
}

/// HCR_EL2 for the host: it gets physical interrupts and SErrors directly (guests take
/// them to EL2: [`guest_hcr`]).
pub fn host_hcr(fwb: bool) -> u64 {
    let mut hcr = HCR_VM | HCR_SWIO | HCR_FB | HCR_BSU_IS | HCR_TSC | HCR_RW;
    if has_pointer_auth() {
        hcr |= HCR_APK_API;
    }
    if fwb {
        hcr |= HCR_FWB;
    }
    hcr
}

/// A guest's HCR_EL2, from the host's (which the host cannot change): the same traps, plus
/// physical interrupts and SErrors to EL2, ID and IMPLEMENTATION DEFINED registers and
/// ACTLR_EL1 trapped, pointer authentication trapped until the guest's first use, and FWB as
/// the guest's stage 2 was built. [`guest_feature_traps`] adds what depends on the CPU.
#[inline]
pub fn guest_hcr(host_hcr: u64, fwb: bool) -> u64 {
    let hcr = (host_hcr & !(HCR_FWB | HCR_APK_API))
        | HCR_FMO
        | HCR_IMO
        | HCR_AMO
        | HCR_TID3
        | HCR_TIDCP
        | HCR_TACR;
    if fwb {
        hcr | HCR_FWB
    } else {
        hcr
    }
}

/// The EL2 trap registers of a world beyond HCR_EL2: CPTR_EL2 (without the lazy TFP),
/// MDCR_EL2 and CNTHCTL_EL2.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traps {
    pub cptr: u64,
    pub mdcr: u64,
    pub cnthctl: u64,
}

/// The host's: nothing trapped but what its HCR_EL2 says; every PMU counter is EL1's.
pub fn host_traps(mdcr: u64) -> Traps {
    Traps {
        cptr: CPTR_EL2_NO_TRAPS,
        mdcr,
        cnthctl: CNTHCTL_EL1_PHYS,
    }
}

/// A guest's, from the host's and the CPU's features (docs/ISOLATION.md).
pub fn guest_traps(host: &Traps, f: &IsolationFeatures) -> Traps {
    let mut mdcr = host.mdcr | MDCR_GUEST_TRAPS;
    if f.spe {
        mdcr |= MDCR_TPMS;
    }
    if f.trace_filter {
        mdcr |= MDCR_TTRF;
    }
    let mut cptr = CPTR_EL2_NO_TRAPS | CPTR_EL2_TZ | CPTR_EL2_TTA;
    if f.amu {
        cptr |= CPTR_EL2_TAM;
    }
    Traps {
        cptr,
        mdcr,
        cnthctl: CNTHCTL_GUEST,
    }
}

/// The HCR_EL2 trap bits for guests that exist only with a CPU feature.
pub fn guest_feature_traps(f: &IsolationFeatures) -> u64 {
    let mut hcr = 0;
    if f.lor {
        hcr |= HCR_TLOR;
    }
    if f.ras {
        hcr |= HCR_TERR;
    }
    hcr
}

/// The EL2 registers that differ between worlds.
#[derive(Debug, Clone, Copy)]
pub struct El2World {
    pub hcr: u64,
    pub vttbr: u64,
    pub vtcr: u64,
    pub vmpidr: u64,
}

/// Switch EL2's view to `w` (stage 2, traps, MPIDR the world reads).
pub fn load_world(w: &El2World) {
    // SAFETY: these only configure the EL1&0 regime, which runs after the caller's ERET;
    // VMIDs keep the worlds' TLB entries apart, so no invalidation is needed.
    unsafe {
        asm!(
            "msr hcr_el2, {hcr}",
            "msr vtcr_el2, {vtcr}",
            "msr vttbr_el2, {vttbr}",
            "msr vmpidr_el2, {vmpidr}",
            "isb",
            hcr = in(reg) w.hcr,
            vtcr = in(reg) w.vtcr,
            vttbr = in(reg) w.vttbr,
            vmpidr = in(reg) w.vmpidr,
            options(nostack),
        );
    }
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
    let hcr = host_hcr(setup.fwb);
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
        if setup.gic_v3 {
            asm!("msr icc_sre_el2, {}", "isb", in(reg) ICC_SRE_EL2_SRE_ENABLE, options(nostack));
        }
    }
    crate::arch::cpu_features_el2::expose_to_host();
    // The host cannot change these: the world switch puts them back after every guest.
    crate::arch::switch::set_host_world(
        &El2World {
            hcr,
            vttbr: setup.vttbr,
            vtcr: setup.vtcr,
            vmpidr: mpidr,
        },
        &host_traps(mdcr),
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
