//! Every encoding of the op0 = 3 space through [`sysreg`], against the Arm ARM's list of
//! PMU registers: a register is refused as PMU exactly when it is one (mutation testing,
//! docs/FUZZING.md: each of `is`'s four comparisons must hold on its own).

use super::*;
use crate::vm::id_regs::RawIdSpace;

/// The PMU's AArch64 system registers (Arm ARM D24.4): PMCR_EL0..PMSELR/PMCEID/PMCCNTR/
/// PMXEV*/PMUSERENR/PMOVSSET (op1 3, CRn 9, CRm 12..14), PMEVCNTR<n>/PMEVTYPER<n>/
/// PMCCFILTR (op1 3, CRn 14, CRm 8..15), PMINTENSET/CLR_EL1 and PMMIR_EL1 (op1 0, CRn 9,
/// CRm 14).
fn arm_pmu(op1: u8, crn: u8, crm: u8) -> bool {
    matches!(
        (op1, crn, crm),
        (3, 9, 12..=14) | (3, 14, 8..=15) | (0, 9, 14)
    )
}

#[test]
fn exactly_the_pmu_registers_are_refused_as_pmu() {
    let raw: RawIdSpace = [[0; 8]; 7];
    let id = GuestIdRegs::new(&raw);
    let cpu = GuestCpu {
        id: &id,
        pauth: false,
    };
    let mut pmu = 0;
    for op1 in 0..8u8 {
        for crn in 0..16u8 {
            for crm in 0..16u8 {
                for op2 in 0..8u8 {
                    let a = SysregAccess {
                        op0: 3,
                        op1,
                        crn,
                        crm,
                        op2,
                        rt: 1,
                        read: true,
                    };
                    let refused_as_pmu = sysreg(&a, &cpu) == Local::Undefined(Refused::Pmu);
                    assert_eq!(refused_as_pmu, arm_pmu(op1, crn, crm), "{a}");
                    pmu += refused_as_pmu as u32;
                }
            }
        }
    }
    // 3 + 8 + 1 (op1, CRn, CRm) groups of 8 op2 values each.
    assert_eq!(pmu, 12 * 8);
}

#[test]
fn op0_2_is_never_the_pmu_whatever_its_other_fields() {
    let raw: RawIdSpace = [[0; 8]; 7];
    let id = GuestIdRegs::new(&raw);
    let cpu = GuestCpu {
        id: &id,
        pauth: false,
    };
    for (op1, crn, crm) in [(3, 9, 12), (0, 9, 14), (3, 14, 8)] {
        let a = SysregAccess {
            op0: 2,
            op1,
            crn,
            crm,
            op2: 0,
            rt: 2,
            read: true,
        };
        assert_eq!(sysreg(&a, &cpu), Local::Read { rt: 2, value: 0 }, "{a}");
    }
}

#[test]
fn each_refusal_has_its_own_name_for_the_log() {
    use Refused::*;
    let all = [
        (Sve, "SVE"),
        (Sme, "SME"),
        (PointerAuth, "POINTER_AUTH"),
        (Pmu, "PMU"),
        (PhysicalTimer, "PHYSICAL_TIMER"),
        (LoRegions, "LOREGIONS"),
        (Mte, "MTE"),
        (ContextNumber, "SCXTNUM"),
        (ImplementationDefined, "IMPDEF_REGISTER"),
        (IdRegisterWrite, "ID_REGISTER_WRITE"),
        (Unknown, "NOT_EMULATED"),
    ];
    for (r, name) in all {
        assert_eq!(r.name(), name, "{r:?}");
    }
}
