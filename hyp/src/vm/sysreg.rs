//! A guest's trapped system-register and feature accesses, decided in EL2 without an exit:
//! which exception class and encoding becomes what (docs/ISOLATION.md has the table and the
//! reasons). Arch-free; arch/traps.rs moves the registers.
//!
//! The host never sees these traps: they are the CPU's business, not the VMM's, and a host
//! that could answer them could tell a guest what its own CPU is.

use crate::esr::Esr;
use crate::vm::id_regs::GuestIdRegs;
use core::fmt;

/// Exception classes of the traps a guest's CPU state raises.
pub mod ec {
    /// FP/SIMD with CPTR_EL2.TFP set (lazy FP switch).
    pub const FP_ACCESS: u8 = 0x07;
    /// A pointer-authentication instruction with HCR_EL2.API clear.
    pub const PAUTH: u8 = 0x09;
    /// MSR/MRS/SYS trapped by HCR_EL2, MDCR_EL2, CNTHCTL_EL2 or CPTR_EL2.
    pub const SYSREG: u8 = 0x18;
    /// SVE with CPTR_EL2.TZ set.
    pub const SVE: u8 = 0x19;
    /// SME with CPTR_EL2.TSM set.
    pub const SME: u8 = 0x1d;
}

/// One trapped MSR/MRS (EC 0x18), decoded from the ISS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysregAccess {
    pub op0: u8,
    pub op1: u8,
    pub crn: u8,
    pub crm: u8,
    pub op2: u8,
    /// The general register (31 = XZR).
    pub rt: u8,
    /// MRS (else MSR).
    pub read: bool,
}

impl SysregAccess {
    pub const fn decode(esr: Esr) -> SysregAccess {
        let iss = esr.0;
        SysregAccess {
            op0: ((iss >> 20) & 3) as u8,
            op2: ((iss >> 17) & 7) as u8,
            op1: ((iss >> 14) & 7) as u8,
            crn: ((iss >> 10) & 0xf) as u8,
            rt: ((iss >> 5) & 0x1f) as u8,
            crm: ((iss >> 1) & 0xf) as u8,
            read: iss & 1 != 0,
        }
    }

    const fn is(&self, op0: u8, op1: u8, crn: u8, crm: u8) -> bool {
        self.op0 == op0 && self.op1 == op1 && self.crn == crn && self.crm == crm
    }
}

impl fmt::Display for SysregAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self;
        let reg = format_args!("S{}_{}_C{}_C{}_{}", s.op0, s.op1, s.crn, s.crm, s.op2);
        match s.read {
            true => write!(f, "MRS x{}, {reg}", s.rt),
            false => write!(f, "MSR {reg}, x{}", s.rt),
        }
    }
}

/// What EL2 does with a guest trap it resolves locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// The guest's first FP/SIMD use this run: move FP state (lazy).
    TakeFp,
    /// The guest's first pointer-authentication use this run: move the keys (lazy), then
    /// re-execute the instruction.
    TakeKeys,
    /// Complete an MRS with `value` in `rt` and step over it.
    Read { rt: u8, value: u64 },
    /// Step over an MSR that has no effect.
    IgnoreWrite,
    /// Inject an undefined-instruction exception: the guest's CPU does not have this.
    Undefined(Refused),
}

/// Why a guest access became UNDEFINED (the log says it, docs/ISOLATION.md explains it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Sve,
    Sme,
    PointerAuth,
    Pmu,
    PhysicalTimer,
    LoRegions,
    Mte,
    ContextNumber,
    ImplementationDefined,
    IdRegisterWrite,
    Unknown,
}

impl Refused {
    pub const fn name(self) -> &'static str {
        match self {
            Refused::Sve => "SVE",
            Refused::Sme => "SME",
            Refused::PointerAuth => "POINTER_AUTH",
            Refused::Pmu => "PMU",
            Refused::PhysicalTimer => "PHYSICAL_TIMER",
            Refused::LoRegions => "LOREGIONS",
            Refused::Mte => "MTE",
            Refused::ContextNumber => "SCXTNUM",
            Refused::ImplementationDefined => "IMPDEF_REGISTER",
            Refused::IdRegisterWrite => "ID_REGISTER_WRITE",
            Refused::Unknown => "NOT_EMULATED",
        }
    }
}

/// What the guest's CPU offers besides its ID registers.
#[derive(Debug, Clone, Copy)]
pub struct GuestCpu<'a> {
    pub id: &'a GuestIdRegs,
    /// Pointer authentication, switched lazily.
    pub pauth: bool,
}

/// The classes [`local`] decides, one bit each: one test on the trap path.
const LOCAL_CLASSES: u64 =
    1 << ec::FP_ACCESS | 1 << ec::PAUTH | 1 << ec::SYSREG | 1 << ec::SVE | 1 << ec::SME;

/// Whether [`local`] decides a synchronous trap of class `class` (else `vm::run` does).
#[inline]
pub const fn is_local(class: u8) -> bool {
    class < 64 && (LOCAL_CLASSES >> class) & 1 != 0
}

/// The local decision for a synchronous guest trap of class `class`, or None when it is not
/// one of these (aborts, HVC, SMC, ...: `vm::run` decides).
#[inline]
pub fn local(class: u8, esr: Esr, cpu: &GuestCpu) -> Option<Local> {
    Some(match class {
        ec::FP_ACCESS => Local::TakeFp,
        ec::PAUTH if cpu.pauth => Local::TakeKeys,
        ec::PAUTH => Local::Undefined(Refused::PointerAuth),
        ec::SYSREG => sysreg(&SysregAccess::decode(esr), cpu),
        ec::SVE => Local::Undefined(Refused::Sve),
        ec::SME => Local::Undefined(Refused::Sme),
        _ => return None,
    })
}

/// RAZ/WI: the register exists for the guest but holds nothing.
fn raz_wi(a: &SysregAccess) -> Local {
    match a.read {
        true => Local::Read { rt: a.rt, value: 0 },
        false => Local::IgnoreWrite,
    }
}

/// A trapped MSR/MRS. Only encodings something traps reach here (HCR_EL2 TID3, TACR, TIDCP,
/// TLOR, TERR, APK and the cleared EnSCXT/ATA; MDCR_EL2 TDA, TDOSA, TDRA, TPM, TPMCR;
/// CNTHCTL_EL2.EL1PCEN; CPTR_EL2 TTA, TAM).
pub fn sysreg(a: &SysregAccess, cpu: &GuestCpu) -> Local {
    use Refused::*;
    match (a.op0, a.op1, a.crn, a.crm, a.op2) {
        // ID registers (TID3): the sanitised view, read-only.
        (3, 0, 0, 1..=7, _) => match (a.read, cpu.id.read(a.crm, a.op2)) {
            (true, Some(value)) => Local::Read { rt: a.rt, value },
            _ => Local::Undefined(IdRegisterWrite),
        },
        // Debug (TDA, TDOSA, TDRA) and trace (TTA) registers: present, inert.
        (2, _, _, _, _) => raz_wi(a),
        // ACTLR_EL1 (TACR): IMPLEMENTATION DEFINED, nothing a guest may set.
        (3, 0, 1, 0, 1) => raz_wi(a),
        // RAS error records (TERR): ERRIDR_EL1 reads 0, so there are none to select.
        (3, 0, 5, 3, 0..=1) | (3, 0, 5, 4, _) | (3, 0, 5, 5, 0..=3) => raz_wi(a),
        // Pointer-authentication keys (APK).
        (3, 0, 2, 1..=3, _) if cpu.pauth => Local::TakeKeys,
        (3, 0, 2, 1..=3, _) => Local::Undefined(PointerAuth),
        // MTE: GCR_EL1, RGSR_EL1, TFSR_EL1, TFSRE0_EL1 (HCR_EL2.ATA = 0).
        (3, 0, 1, 0, 5..=6) | (3, 0, 5, 6, 0..=1) => Local::Undefined(Mte),
        // SCXTNUM_EL1, SCXTNUM_EL0 (HCR_EL2.EnSCXT = 0).
        (3, 0 | 3, 13, 0, 7) => Local::Undefined(ContextNumber),
        // LORegions (TLOR).
        (3, 0, 10, 4, _) => Local::Undefined(LoRegions),
        // The physical timer (CNTHCTL_EL2.EL1PCEN = 0): guests have the virtual one.
        (3, 3, 14, 2, _) => Local::Undefined(PhysicalTimer),
        _ if is_pmu(a) => Local::Undefined(Pmu),
        // IMPLEMENTATION DEFINED space (TIDCP).
        (3, _, 11 | 15, _, _) => Local::Undefined(ImplementationDefined),
        _ => Local::Undefined(Unknown),
    }
}

/// PMU registers (MDCR_EL2.TPM, TPMCR): PMCR..PMOVSSET, PMEVCNTR/PMEVTYPER, PMINTEN*, PMMIR.
fn is_pmu(a: &SysregAccess) -> bool {
    a.is(3, 3, 9, 12)
        || a.is(3, 3, 9, 13)
        || a.is(3, 3, 9, 14)
        || (a.op0 == 3 && a.op1 == 3 && a.crn == 14 && a.crm >= 8)
        || a.is(3, 0, 9, 14)
}

#[cfg(test)]
#[path = "sysreg_edge_tests.rs"]
mod edge_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::id_regs::RawIdSpace;

    /// ESR_EL2 of an MSR/MRS trap: EC 0x18, IL, the ISS fields.
    fn esr(op0: u64, op1: u64, crn: u64, crm: u64, op2: u64, rt: u64, read: bool) -> Esr {
        Esr(0x18 << 26
            | 1 << 25
            | op0 << 20
            | op2 << 17
            | op1 << 14
            | crn << 10
            | rt << 5
            | crm << 1
            | read as u64)
    }

    fn ids() -> GuestIdRegs {
        let mut raw: RawIdSpace = [[0; 8]; 7];
        raw[3][0] = 1 << 32 | 0x11; // ID_AA64PFR0_EL1: SVE, EL0/EL1
        raw[4][0] = 0x508; // ID_AA64DFR0_EL1: PMUVer 5, DebugVer 8
        GuestIdRegs::new(&raw)
    }

    fn decide(esr: Esr, pauth: bool) -> Option<Local> {
        let id = ids();
        local(esr.ec_raw(), esr, &GuestCpu { id: &id, pauth })
    }

    #[test]
    fn the_iss_decodes_into_the_encoding_and_direction() {
        let a = SysregAccess::decode(esr(3, 3, 9, 12, 0, 7, true));
        assert_eq!(
            (a.op0, a.op1, a.crn, a.crm, a.op2, a.rt),
            (3, 3, 9, 12, 0, 7)
        );
        assert!(a.read);
        assert_eq!(a.to_string(), "MRS x7, S3_3_C9_C12_0");
        let w = SysregAccess::decode(esr(2, 0, 0, 2, 2, 31, false));
        assert_eq!(w.to_string(), "MSR S2_0_C0_C2_2, x31");
    }

    #[test]
    fn id_register_reads_get_the_sanitised_view() {
        // MRS x3, ID_AA64PFR0_EL1: SVE hidden.
        assert_eq!(
            decide(esr(3, 0, 0, 4, 0, 3, true), false),
            Some(Local::Read { rt: 3, value: 0x11 })
        );
        // ID_AA64DFR0_EL1: no PMU.
        assert_eq!(
            decide(esr(3, 0, 0, 5, 0, 1, true), false),
            Some(Local::Read { rt: 1, value: 0x8 })
        );
        assert_eq!(
            decide(esr(3, 0, 0, 4, 0, 3, false), false),
            Some(Local::Undefined(Refused::IdRegisterWrite))
        );
    }

    #[test]
    fn debug_registers_read_as_zero_and_ignore_writes() {
        // MDSCR_EL1, DBGBVR0_EL1, OSLAR_EL1, OSLSR_EL1, MDRAR_EL1.
        assert_eq!(
            decide(esr(2, 0, 0, 2, 2, 4, true), false),
            Some(Local::Read { rt: 4, value: 0 })
        );
        for (crn, crm, op2) in [(0, 0, 4), (1, 0, 4), (1, 1, 4), (1, 0, 0)] {
            assert_eq!(
                decide(esr(2, 0, crn, crm, op2, 4, false), false),
                Some(Local::IgnoreWrite)
            );
        }
        // ACTLR_EL1 and the RAS error records alike.
        assert_eq!(
            decide(esr(3, 0, 1, 0, 1, 0, false), false),
            Some(Local::IgnoreWrite)
        );
        assert_eq!(
            decide(esr(3, 0, 5, 3, 1, 2, true), false),
            Some(Local::Read { rt: 2, value: 0 })
        );
    }

    #[test]
    fn pmu_and_physical_timer_are_undefined() {
        let undef = |e| decide(e, false);
        for (op1, crn, crm, op2) in [
            (3, 9, 12, 0),  // PMCR_EL0
            (3, 9, 12, 5),  // PMSELR_EL0
            (3, 9, 13, 0),  // PMCCNTR_EL0
            (3, 9, 14, 0),  // PMUSERENR_EL0
            (0, 9, 14, 1),  // PMINTENSET_EL1
            (3, 14, 8, 0),  // PMEVCNTR0_EL0
            (3, 14, 15, 7), // PMCCFILTR_EL0
        ] {
            assert_eq!(
                undef(esr(3, op1, crn, crm, op2, 0, true)),
                Some(Local::Undefined(Refused::Pmu)),
                "{op1} {crn} {crm} {op2}"
            );
        }
        for op2 in 0..3 {
            assert_eq!(
                undef(esr(3, 3, 14, 2, op2, 0, false)),
                Some(Local::Undefined(Refused::PhysicalTimer))
            );
        }
    }

    #[test]
    fn pointer_auth_moves_the_keys_only_where_the_cpu_has_it() {
        // MRS x0, APIAKeyLo_EL1; PACIA (EC 0x09).
        let key = esr(3, 0, 2, 1, 0, 0, true);
        let pac = Esr(0x09 << 26 | 1 << 25);
        assert_eq!(decide(key, true), Some(Local::TakeKeys));
        assert_eq!(decide(pac, true), Some(Local::TakeKeys));
        assert_eq!(
            decide(key, false),
            Some(Local::Undefined(Refused::PointerAuth))
        );
        assert_eq!(
            decide(pac, false),
            Some(Local::Undefined(Refused::PointerAuth))
        );
        // APGAKeyHi_EL1 too.
        assert_eq!(
            decide(esr(3, 0, 2, 3, 1, 5, false), true),
            Some(Local::TakeKeys)
        );
    }

    #[test]
    fn refused_features_and_unknown_encodings_are_undefined() {
        let u = |e| match decide(e, false) {
            Some(Local::Undefined(r)) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(u(Esr(0x19 << 26)), Refused::Sve);
        assert_eq!(u(Esr(0x1d << 26)), Refused::Sme);
        assert_eq!(u(esr(3, 0, 10, 4, 0, 0, true)), Refused::LoRegions);
        assert_eq!(u(esr(3, 0, 1, 0, 6, 0, true)), Refused::Mte);
        assert_eq!(u(esr(3, 3, 13, 0, 7, 0, true)), Refused::ContextNumber);
        assert_eq!(
            u(esr(3, 0, 15, 2, 0, 0, true)),
            Refused::ImplementationDefined
        );
        assert_eq!(u(esr(3, 4, 1, 1, 0, 0, true)), Refused::Unknown);
    }

    #[test]
    fn fp_is_lazy_and_other_classes_are_not_local() {
        assert_eq!(decide(Esr(0x07 << 26), false), Some(Local::TakeFp));
        for class in [0x16u64, 0x17, 0x24, 0x20, 0x01, 0x00] {
            assert_eq!(decide(Esr(class << 26), true), None, "{class:#x}");
        }
    }

    #[test]
    fn is_local_says_exactly_which_classes_local_decides() {
        for class in 0..=255u8 {
            let decided = decide(Esr(u64::from(class & 0x3f) << 26), true).is_some();
            assert_eq!(is_local(class), class < 64 && decided, "{class:#x}");
        }
    }
}
