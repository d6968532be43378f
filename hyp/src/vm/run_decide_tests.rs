//! `run::decide` and the guest's PSCI calls, class by class: which exit each trap becomes
//! and what the next VCPU_RUN does to the PC (mutation testing, docs/FUZZING.md).

use super::*;
use crate::vm::tests_fixture::{fixture, Fixture, RUN_PAGE};
use smccc::psci::{PSCI_CPU_OFF, PSCI_FEATURES, PSCI_SYSTEM_OFF, PSCI_VERSION};

/// The 64-bit (SMC64/HVC64) form of a PSCI function ID.
const SMC64: u64 = 1 << 30;
const ELR: u64 = 0x4000_0100;

/// A guest at ELR with x0/x1 set, trapped with `kind`/`esr`: the decision, and the guest's
/// ELR and x0 after the next VCPU_RUN with host action `action` (all ones if it is refused).
fn trap_then_run(kind: TrapKind, esr: u64, x: [u64; 2], action: u64) -> (Decision, u64, u64) {
    let mut f: Fixture = fixture(false);
    let vm = f.guest();
    let vc = &mut f.hyp.vm_mut(vm).unwrap().vcpus[0];
    (vc.ctx.elr, vc.ctx.x[0], vc.ctx.x[1]) = (ELR, x[0], x[1]);
    let t = GuestTrap {
        kind,
        esr: Esr(esr),
        far: 0,
        hpfar: 0,
        ipa: 0,
    };
    let mut v = f.hyp.lock_vm(vm).unwrap();
    let got = match handle_trap(&f.hyp, &mut v, 0, &t, &mut f.m) {
        Handled::Resume => Decision::Resume,
        Handled::Exit(r, _) => Decision::Exit(r),
    };
    drop(v);
    let w = f.m.run_page_word(RUN_PAGE, word::ACCESS_ACTION);
    f.m.set_run_page_word(
        RUN_PAGE,
        word::ACCESS_ACTION,
        w | action << word::HOST_ACTION_SHIFT,
    );
    // A vCPU that turned itself off does not run: nothing to read back.
    match prepare(f.hyp.vm_mut(vm).unwrap(), 0, &mut f.m) {
        Ok(Prepared::Enter(vc)) => (got, vc.ctx.elr, vc.ctx.x[0]),
        Ok(Prepared::PoweredOff) | Err(_) => (got, u64::MAX, u64::MAX),
    }
}

fn exit(r: ExitReason) -> Decision {
    Decision::Exit(r)
}

const SKIP: u64 = 1;
const COMPLETE: u64 = 0;

#[test]
fn an_irq_exits_as_irq_and_skip_then_steps_over_nothing() {
    let (d, elr, _) = trap_then_run(TrapKind::Irq, 0, [0; 2], SKIP);
    assert_eq!((d, elr), (exit(ExitReason::Irq), ELR));
}

#[test]
fn an_fiq_or_serror_exits_unknown_and_skip_steps_over_nothing() {
    // Nothing to replay: an asynchronous exception interrupted no instruction.
    let (d, elr, _) = trap_then_run(TrapKind::Other, 0, [0; 2], SKIP);
    assert_eq!((d, elr), (exit(ExitReason::Unknown), ELR));
}

#[test]
fn an_unknown_synchronous_class_exits_unknown_and_skip_steps_over_it() {
    // EC 0 (unknown reason) and WFx are replayed: SKIP moves past the instruction.
    for ec in [0x00u64, 0x01] {
        let (d, elr, _) = trap_then_run(TrapKind::Sync, ec << 26 | 1 << 25, [0; 2], SKIP);
        assert_eq!((d, elr), (exit(ExitReason::Unknown), ELR + 4), "EC {ec:#x}");
        let (_, elr, _) = trap_then_run(TrapKind::Sync, ec << 26 | 1 << 25, [0; 2], COMPLETE);
        assert_eq!(elr, ELR, "COMPLETE replays EC {ec:#x}");
    }
}

#[test]
fn a_guest_smc_exits_as_an_hvc_past_the_smc() {
    // A trapped SMC returns to itself, so EL2 steps over it; an HVC's ELR is already past.
    let smc = (ec::SMC64 as u64) << 26 | 1 << 25;
    let (d, elr, _) = trap_then_run(TrapKind::Sync, smc, [0xC600_0001, 0], SKIP);
    assert_eq!((d, elr), (exit(ExitReason::Hvc), ELR + 4));
    let hvc = (ec::HVC64 as u64) << 26 | 1 << 25;
    let (d, elr, _) = trap_then_run(TrapKind::Sync, hvc, [0xC600_0001, 0], SKIP);
    assert_eq!((d, elr), (exit(ExitReason::Hvc), ELR));
}

/// The answer EL2 gives a guest's PSCI call `x0` (with `x1`) over HVC, and that it resumed.
fn psci(x0: u64, x1: u64) -> u64 {
    let hvc = (ec::HVC64 as u64) << 26 | 1 << 25;
    let (d, _, answer) = trap_then_run(TrapKind::Sync, hvc, [x0, x1], COMPLETE);
    assert_eq!(d, Decision::Resume, "PSCI {x0:#x} is answered in EL2");
    answer
}

#[test]
fn psci_ids_are_the_same_in_their_smc32_and_smc64_forms() {
    let (v, f) = (u64::from(PSCI_VERSION), u64::from(PSCI_FEATURES));
    assert_eq!(psci(v, 0), PSCI_1_0);
    assert_eq!(psci(v | SMC64, 0), PSCI_1_0);
    // CPU_ON of itself (MPIDR 0, the only vCPU): ALREADY_ON, in either form.
    const ALREADY_ON: u64 = -4i64 as u64;
    assert_eq!(psci(0x8400_0003, 0), ALREADY_ON);
    assert_eq!(psci(0x8400_0003 | SMC64, 0), ALREADY_ON);
    // FEATURES, of what EL2 implements (in either form) and of what it does not.
    for asked in [
        PSCI_VERSION,
        PSCI_FEATURES,
        PSCI_SYSTEM_OFF,
        PSCI_CPU_OFF,
        0x8400_0003,
        0x8400_0004,
    ] {
        let asked = u64::from(asked);
        assert_eq!(psci(f, asked), 0, "{asked:#x}");
        assert_eq!(psci(f | SMC64, asked | SMC64), 0, "{asked:#x} (SMC64)");
    }
    assert_eq!(psci(f, 0x8400_0001), PSCI_NOT_SUPPORTED);
    assert_eq!(psci(0x8400_001f, 0), PSCI_NOT_SUPPORTED);
}

#[test]
fn psci_off_in_its_smc64_form_and_ids_past_the_range_go_where_they_belong() {
    let hvc = (ec::HVC64 as u64) << 26 | 1 << 25;
    let (d, elr, _) = trap_then_run(
        TrapKind::Sync,
        hvc,
        [u64::from(PSCI_CPU_OFF) | SMC64, 0],
        COMPLETE,
    );
    assert_eq!((d, elr), (exit(ExitReason::SystemEvent), u64::MAX));
    // One past PSCI's range is the host's call.
    let (d, _, _) = trap_then_run(TrapKind::Sync, hvc, [0x8400_0020, 0], COMPLETE);
    assert_eq!(d, exit(ExitReason::Hvc));
}
