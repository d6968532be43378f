use super::*;
use crate::vm::psci_policy::{self, FirmwareCalls};

/// A Raspberry Pi as Stile holds it: no PSCI firmware, four CPUs (MPIDR 0..3); CPU 0 runs
/// the host, CPU 2 is starting, the others wait at EL2.
fn pi_power(mpidr: u64) -> Option<AffinityState> {
    match mpidr {
        0 => Some(AffinityState::On),
        2 => Some(AffinityState::OnPending),
        1 | 3 => Some(AffinityState::Off),
        _ => None,
    }
}

fn pi(caller: bool) -> Held<'static> {
    Held {
        emulate: true,
        caller,
        power: &pi_power,
    }
}

/// The whole decision, as the dispatcher makes it, with no PSCI firmware.
fn on_pi(x: [u64; 4]) -> PsciAction {
    psci_policy::decide(x, &FirmwareCalls::default(), &pi(true))
}

fn status(a: PsciAction) -> i64 {
    match a {
        PsciAction::Refuse { status, .. } | PsciAction::Answer(status) => status,
        other => panic!("not an answer: {other:?}"),
    }
}

#[test]
fn cpu_on_starts_a_waiting_cpu_with_the_hosts_entry_and_context() {
    assert_eq!(
        on_pi([0xC400_0003, 1, 0x8_0000, 0x1234]),
        PsciAction::HeldOn {
            target: 1,
            entry: 0x8_0000,
            context: 0x1234
        }
    );
    // SMC32: 32-bit arguments.
    assert_eq!(
        on_pi([0x8400_0003, 1 << 32 | 3, 0xffff_0000_0008_0000, 7]),
        PsciAction::HeldOn {
            target: 3,
            entry: 0x8_0000,
            context: 7
        }
    );
}

#[test]
fn cpu_on_of_a_cpu_that_is_on_starting_or_unknown_is_refused_with_psci_codes() {
    assert_eq!(
        status(on_pi([0xC400_0003, 0, 0x8_0000, 0])),
        PSCI_ALREADY_ON
    );
    assert_eq!(
        status(on_pi([0xC400_0003, 2, 0x8_0000, 0])),
        PSCI_ON_PENDING
    );
    assert_eq!(
        status(on_pi([0xC400_0003, 0xff00, 0x8_0000, 0])),
        PSCI_INVALID_PARAMETERS
    );
}

#[test]
fn cpu_off_parks_a_held_caller_and_suspend_returns_at_once() {
    assert_eq!(on_pi([0x8400_0002, 0, 0, 0]), PsciAction::HeldOff);
    let fw = FirmwareCalls::default();
    let not_held = pi(false);
    assert_eq!(
        status(psci_policy::decide([0x8400_0002, 0, 0, 0], &fw, &not_held)),
        PSCI_DENIED
    );
    // Standby and power-down requests alike: SUCCESS, nothing relayed.
    for power_state in [0, 1 << 16] {
        assert_eq!(
            on_pi([0xC400_0001, power_state, 0x8_0000, 0]),
            PsciAction::Answer(0)
        );
    }
    assert_eq!(
        status(psci_policy::decide(
            [0xC400_0001, 0, 0x8_0000, 0],
            &fw,
            &not_held
        )),
        PSCI_DENIED
    );
}

#[test]
fn affinity_info_answers_from_the_record_at_level_0_only() {
    assert_eq!(on_pi([0xC400_0004, 0, 0, 0]), PsciAction::Answer(0));
    assert_eq!(on_pi([0xC400_0004, 1, 0, 0]), PsciAction::Answer(1));
    assert_eq!(on_pi([0x8400_0004, 2, 0, 0]), PsciAction::Answer(2));
    assert_eq!(
        status(on_pi([0xC400_0004, 1, 1, 0])),
        PSCI_INVALID_PARAMETERS
    );
    assert_eq!(
        status(on_pi([0xC400_0004, 0x100, 0, 0])),
        PSCI_INVALID_PARAMETERS
    );
}

#[test]
fn version_features_and_migrate_info_describe_psci_1_0() {
    assert_eq!(on_pi([0x8400_0000, 0, 0, 0]), PsciAction::Answer(0x1_0000));
    assert_eq!(on_pi([0x8400_0006, 0, 0, 0]), PsciAction::Answer(2));
    for fid in [
        0x8400_0000u64,
        0xC400_0003,
        0x8400_0002,
        0xC400_0004,
        0xC400_0001,
        0x8400_0008,
        0x8400_0009,
        0x8400_000A,
    ] {
        assert_eq!(
            on_pi([0x8400_000A, fid, 0, 0]),
            PsciAction::Answer(0),
            "{fid:#x}"
        );
    }
    // Nothing Stile would refuse is promised: SYSTEM_RESET2, SYSTEM_SUSPEND, SMCCC.
    for fid in [0xC400_0012u64, 0xC400_000E, 0x8000_0000, 0xC400_0005] {
        assert_eq!(
            on_pi([0x8400_000A, fid, 0, 0]),
            PsciAction::Answer(PSCI_NOT_SUPPORTED),
            "{fid:#x}"
        );
    }
}

#[test]
fn every_feature_promised_is_answered_without_a_refusal() {
    for &fid in psci_policy::RELAYABLE.iter() {
        if features(fid) != 0 {
            continue;
        }
        let a = on_pi([u64::from(fid), 1, 0x8_0000, 0]);
        assert!(
            !matches!(
                a,
                PsciAction::Refuse {
                    status: PSCI_NOT_SUPPORTED,
                    ..
                } | PsciAction::Relay
                    | PsciAction::RelayFinal(_)
            ),
            "{fid:#x}: {a:?}"
        );
    }
}

#[test]
fn going_down_still_parks_and_smccc_is_not_supported() {
    assert_eq!(
        on_pi([0x8400_0008, 0, 0, 0]),
        PsciAction::Park("SYSTEM_OFF")
    );
    assert_eq!(
        on_pi([0x8400_0009, 0, 0, 0]),
        PsciAction::Park("SYSTEM_RESET")
    );
    assert_eq!(status(on_pi([0x8000_0000, 0, 0, 0])), PSCI_NOT_SUPPORTED);
}

/// Firmware with PSCI and one spin-table CPU (MPIDR 3) that Stile holds: calls about CPU 3
/// are Stile's, everything else is relayed as before.
#[test]
fn with_firmware_only_the_held_cpus_calls_are_answered_by_stile() {
    let fw = FirmwareCalls::probe(|| 0x1_0001, |_| 0, |_| 0);
    let power = |m: u64| (m == 3).then_some(AffinityState::Off);
    let held = Held {
        emulate: false,
        caller: false,
        power: &power,
    };
    let d = |x| psci_policy::decide(x, &fw, &held);
    assert!(matches!(
        d([0xC400_0003, 3, 0x8_0000, 0]),
        PsciAction::HeldOn { target: 3, .. }
    ));
    assert!(matches!(
        d([0xC400_0003, 1, 0x8_0000, 0]),
        PsciAction::CpuOn { target: 1, .. }
    ));
    assert_eq!(d([0xC400_0004, 3, 0, 0]), PsciAction::Answer(1));
    assert_eq!(d([0xC400_0004, 1, 0, 0]), PsciAction::Relay);
    assert_eq!(d([0x8400_0000, 0, 0, 0]), PsciAction::Relay);
    assert_eq!(d([0x8400_0002, 0, 0, 0]), PsciAction::CpuOff);
    let caller_held = Held {
        caller: true,
        ..held
    };
    assert_eq!(
        psci_policy::decide([0x8400_0002, 0, 0, 0], &fw, &caller_held),
        PsciAction::HeldOff
    );
}

#[test]
fn nothing_held_changes_nothing() {
    let fw = FirmwareCalls::default();
    assert!(decide(0xC400_0003, |_| 1, &Held::NONE).is_none());
    assert!(matches!(
        psci_policy::decide([0xC400_0003, 1, 0, 0], &fw, &Held::NONE),
        PsciAction::Refuse {
            status: PSCI_NOT_SUPPORTED,
            ..
        }
    ));
}

#[test]
fn the_power_record_moves_off_pending_on_off() {
    let r = PowerRecord::new();
    assert_eq!(r.get(), AffinityState::Off);
    assert_eq!(r.begin_on(), Ok(()));
    assert_eq!(r.get(), AffinityState::OnPending);
    assert_eq!(r.begin_on(), Err(PSCI_ON_PENDING));
    r.set(AffinityState::On);
    assert_eq!(r.begin_on(), Err(PSCI_ALREADY_ON));
    r.set(AffinityState::Off);
    assert_eq!(r.begin_on(), Ok(()));
}

#[test]
fn of_cpu_ons_racing_for_one_cpu_exactly_one_wins() {
    for _ in 0..50 {
        let r = std::sync::Arc::new(PowerRecord::new());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let r = r.clone();
                std::thread::spawn(move || r.begin_on())
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        assert!(results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(PSCI_ON_PENDING))));
    }
}
