//! The EL2 control registers each world runs with: HCR_EL2, and CPTR_EL2, MDCR_EL2 and
//! CNTHCTL_EL2 (its traps), for the host and for guests (docs/ISOLATION.md says why each
//! trap is there). Bit values come from aarch64-cpu's register definitions. arch/ writes
//! them at the first entry into the host (host_entry.rs) and at every world switch.

use crate::vm::id_regs::IsolationFeatures;
use aarch64_cpu::registers::{CNTHCTL_EL2, CPTR_EL2, HCR_EL2, MDCR_EL2};

/// Stage 2 on; set/way invalidation upgraded to clean+invalidate.
const HCR_VM_SWIO: u64 = HCR_EL2::VM::Enable.value | HCR_EL2::SWIO::SET.value;
/// Force broadcast of the host's TLB and cache maintenance (it is one VM on many CPUs), and
/// barriers from EL1 at least inner shareable.
const HCR_FB_BSU_IS: u64 = HCR_EL2::FB::SET.value | HCR_EL2::BSU::InnerShareable.value;
/// SMC from EL1 traps to EL2 (PSCI is relayed by policy).
const HCR_TSC: u64 = HCR_EL2::TSC::EnableTrapEl1SmcToEl2.value;
/// EL1 is AArch64.
const HCR_RW: u64 = HCR_EL2::RW::EL1IsAarch64.value;
/// Physical FIQ, IRQ and SError go to EL2 (guests only).
const HCR_FMO_IMO_AMO: u64 = HCR_EL2::FMO::EnableVirtualFIQ.value
    | HCR_EL2::IMO::EnableVirtualIRQ.value
    | HCR_EL2::AMO::SET.value;
const HCR_FWB: u64 = HCR_EL2::FWB::Enabled.value;
/// Pointer-authentication keys and instructions do not trap (only when implemented). The
/// host has them always; a guest from its first use in a run (lazy key switch).
pub const HCR_APK_API: u64 = HCR_EL2::APK::SET.value | HCR_EL2::API::SET.value;
/// Guests: ID group 3 reads (vm/id_regs.rs: what a guest sees), IMPLEMENTATION DEFINED
/// registers (CRn 11 and 15) and ACTLR_EL1 trap.
const HCR_GUEST_TRAPS: u64 =
    HCR_EL2::TID3::SET.value | HCR_EL2::TIDCP::SET.value | HCR_EL2::TACR::SET.value;
/// Guests with a vGIC: WFI traps, so that EL2 can tell the host the vCPU waits.
pub const HCR_TWI: u64 = HCR_EL2::TWI::SET.value;
/// Guests: LORegion registers trap (only with FEAT_LOR).
const HCR_TLOR: u64 = HCR_EL2::TLOR::SET.value;
/// Guests: RAS error-record registers trap (only with FEAT_RAS).
const HCR_TERR: u64 = HCR_EL2::TERR::SET.value;

/// CPTR_EL2 (non-VHE): RES1 bits, nothing trapped (FP/SIMD and SVE stay with the VM; EL2
/// itself never touches FP). Bit 12 (TSM, SME) is among the RES1 bits, so SME traps for
/// every world.
pub const CPTR_EL2_NO_TRAPS: u64 = 0x32ff;
// aarch64-cpu models only TAM of CPTR_EL2; the others by bit number (Arm ARM, CPTR_EL2).
/// FP/SIMD use below EL2 traps (EC 0x07), for switching FP state lazily.
pub const CPTR_EL2_TFP: u64 = 1 << 10;
/// SVE (and ZCR_EL1) trap (EC 0x19).
const CPTR_EL2_TZ: u64 = 1 << 8;
/// Trace registers trap.
const CPTR_EL2_TTA: u64 = 1 << 20;
/// Activity monitors trap (only with FEAT_AMUv1).
const CPTR_EL2_TAM: u64 = CPTR_EL2::TAM::SET.value;

/// CNTHCTL_EL2 (non-VHE) for the host: EL1 may use the physical counter and timer.
pub const CNTHCTL_EL1_PHYS: u64 =
    CNTHCTL_EL2::EL1PCEN::SET.value | CNTHCTL_EL2::EL1PCTEN::SET.value;
/// For guests: the physical counter but not the physical timer (CNTP_* trap). The timer
/// belongs to the host; guests have the virtual one.
const CNTHCTL_GUEST: u64 = CNTHCTL_EL2::EL1PCTEN::SET.value;

/// MDCR_EL2 traps for guests: PMCR, the whole PMU, debug registers, the OS lock registers,
/// the debug ROM address.
const MDCR_GUEST_TRAPS: u64 = MDCR_EL2::TPMCR::SET.value
    | MDCR_EL2::TPM::SET.value
    | MDCR_EL2::TDA::SET.value
    | MDCR_EL2::TDOSA::SET.value
    | MDCR_EL2::TDRA::SET.value;
/// Statistical-profiling registers trap (only with FEAT_SPE).
const MDCR_TPMS: u64 = MDCR_EL2::TPMS::SET.value;
/// Trace-filter registers trap (only with FEAT_TRF).
const MDCR_TTRF: u64 = MDCR_EL2::TTRF::SET.value;

/// HCR_EL2 for the host: it gets physical interrupts and SErrors directly (guests take
/// them to EL2: [`guest_hcr`]).
pub fn host_hcr(fwb: bool, pointer_auth: bool) -> u64 {
    let mut hcr = HCR_VM_SWIO | HCR_FB_BSU_IS | HCR_TSC | HCR_RW;
    if pointer_auth {
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
    let hcr = (host_hcr & !(HCR_FWB | HCR_APK_API)) | HCR_FMO_IMO_AMO | HCR_GUEST_TRAPS;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The values written here, bit by bit from the Arm ARM's register descriptions (not
    /// from aarch64-cpu), so a wrong field name shows.
    #[test]
    fn the_worlds_bits_are_the_architected_ones() {
        let host = 1 << 0 | 1 << 1 | 1 << 9 | 1 << 10 | 1 << 19 | 1 << 31;
        assert_eq!(host_hcr(false, false), host);
        assert_eq!(host_hcr(true, true), host | 1 << 46 | 1 << 40 | 1 << 41);
        let guest = host | 1 << 3 | 1 << 4 | 1 << 5 | 1 << 18 | 1 << 20 | 1 << 21;
        assert_eq!(guest_hcr(host_hcr(true, true), false), guest);
        assert_eq!(guest_hcr(host_hcr(false, true), true), guest | 1 << 46);
        assert_eq!(CPTR_EL2_TFP, 1 << 10);
        assert_eq!(CNTHCTL_EL1_PHYS, 0b11);
        let f = IsolationFeatures {
            pauth: true,
            sve: true,
            sme: true,
            ras: true,
            lor: true,
            amu: true,
            spe: true,
            trace_filter: true,
        };
        let t = guest_traps(&host_traps(0x4), &f);
        assert_eq!(
            t.mdcr,
            0x4 | 1 << 5 | 1 << 6 | 1 << 9 | 1 << 10 | 1 << 11 | 1 << 14 | 1 << 19
        );
        assert_eq!(t.cptr, 0x32ff | 1 << 8 | 1 << 20 | 1 << 30);
        assert_eq!(t.cnthctl, 0b01);
        assert_eq!(guest_feature_traps(&f), 1 << 35 | 1 << 36);
    }
}
