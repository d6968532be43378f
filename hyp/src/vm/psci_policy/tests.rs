use super::*;

/// The decision with no CPU held (every machine with PSCI CPUs only).
fn relayed(x: [u64; 4], fw: &FirmwareCalls) -> PsciAction {
    decide(x, fw, &Held::NONE)
}

/// Each of `fids` is answered NOT_SUPPORTED by EL2, never relayed.
fn refused_not_supported(fw: &FirmwareCalls, fids: &[u64]) {
    for &fid in fids {
        assert!(
            matches!(
                relayed([fid, 0, 0, 0], fw),
                PsciAction::Refuse {
                    status: PSCI_NOT_SUPPORTED,
                    ..
                }
            ),
            "{fid:#x}"
        );
    }
}

/// QEMU virt's built-in PSCI 1.1 as seen from EL2: every PSCI call but SYSTEM_RESET2,
/// no SMCCC_VERSION (PSCI_FEATURES says NOT_SUPPORTED for it).
fn qemu_like() -> FirmwareCalls {
    FirmwareCalls::probe(
        || 0x1_0001,
        |fid| match fid {
            0x8000_0000 | 0x8400_0012 | 0xC400_0012 => -1,
            _ => 0,
        },
        |_| panic!("SMCCC_ARCH_FEATURES must not be asked when SMCCC_VERSION is missing"),
    )
}

/// Firmware with everything: PSCI 1.1, SMCCC 1.1 with the workarounds.
fn everything() -> FirmwareCalls {
    FirmwareCalls::probe(|| 0x1_0001, |_| 0, |_| 0)
}

#[test]
fn cpu_on_keeps_the_host_entry_point_away_from_the_firmware() {
    let a = relayed([0xC400_0003, 0x101, 0x4008_0000, 77], &qemu_like());
    assert_eq!(
        a,
        PsciAction::CpuOn {
            target: 0x101,
            entry: 0x4008_0000,
            context: 77
        }
    );
}

#[test]
fn smc32_arguments_drop_their_upper_halves() {
    let a = relayed(
        [
            0x8400_0003,
            0xdead_0000_0000_0002,
            0xffff_0000_4000_0000,
            1 << 32 | 5,
        ],
        &qemu_like(),
    );
    assert_eq!(
        a,
        PsciAction::CpuOn {
            target: 2,
            entry: 0x4000_0000,
            context: 5
        }
    );
}

#[test]
fn cpu_suspend_and_off_are_handled_by_el2() {
    let fw = qemu_like();
    assert_eq!(relayed([0x8400_0002, 0, 0, 0], &fw), PsciAction::CpuOff);
    assert_eq!(
        relayed([0xC400_0001, 0x1_0000, 0x4000_1000, 9], &fw),
        PsciAction::CpuSuspend {
            power_state: 0x1_0000,
            entry: 0x4000_1000,
            context: 9
        }
    );
}

#[test]
fn system_off_and_resets_are_relayed_as_final() {
    let fw = everything();
    assert_eq!(
        relayed([0x8400_0008, 0, 0, 0], &fw),
        PsciAction::RelayFinal("SYSTEM_OFF")
    );
    assert_eq!(
        relayed([0x8400_0009, 0, 0, 0], &fw),
        PsciAction::RelayFinal("SYSTEM_RESET")
    );
    assert_eq!(
        relayed([0xC400_0012, 0, 0, 0], &fw),
        PsciAction::RelayFinal("SYSTEM_RESET2")
    );
}

#[test]
fn a_call_the_firmware_lacks_is_never_relayed() {
    // QEMU has no SYSTEM_RESET2 and no SMCCC_VERSION: relaying them would be an
    // UNDEFINED SMC at EL2.
    let fw = qemu_like();
    refused_not_supported(
        &fw,
        &[
            0xC400_0012u64,
            0x8400_0012,
            0x8000_0000,
            0x8000_0001,
            0x8000_8000,
        ],
    );
}

#[test]
fn features_never_promise_a_call_el2_refuses() {
    let fw = qemu_like();
    // SYSTEM_SUSPEND: the firmware might have it, EL2 never relays it.
    assert_eq!(
        relayed([0x8400_000A, 0xC400_000E, 0, 0], &fw),
        PsciAction::Answer(PSCI_NOT_SUPPORTED)
    );
    assert_eq!(
        relayed([0x8400_000A, 0x8000_0000, 0, 0], &fw),
        PsciAction::Answer(PSCI_NOT_SUPPORTED)
    );
    assert_eq!(
        relayed([0x8400_000A, 0xC400_0003, 0, 0], &fw),
        PsciAction::Relay
    );
    let all = everything();
    assert_eq!(
        relayed([0x8000_0001, 0x8000_8000, 0, 0], &all),
        PsciAction::Relay
    );
    assert_eq!(
        relayed([0x8000_0001, 0x8000_1234, 0, 0], &all),
        PsciAction::Answer(PSCI_NOT_SUPPORTED)
    );
}

#[test]
fn questions_and_smccc_arch_calls_are_relayed_when_implemented() {
    let fw = everything();
    for fid in [
        0x8400_0000u64,
        0xC400_0004,
        0x8400_0006,
        0x8000_0000,
        0x8000_8000,
    ] {
        assert_eq!(relayed([fid, 0, 0, 0], &fw), PsciAction::Relay, "{fid:#x}");
    }
}

#[test]
fn anything_else_is_not_supported() {
    let fw = everything();
    // SYSTEM_SUSPEND, CPU_FREEZE, MEM_PROTECT, MIGRATE, vendor and garbage.
    refused_not_supported(
        &fw,
        &[
            0xC400_000Eu64,
            0x8400_000B,
            0x8400_0013,
            0xC400_0005,
            0,
            0xC600_0001,
            u64::MAX,
        ],
    );
}

#[test]
fn psci_0_2_without_features_relays_the_mandatory_set_only() {
    let fw = FirmwareCalls::probe(
        || 0x2,
        |_| panic!("no PSCI_FEATURES before 1.0"),
        |_| panic!(),
    );
    assert!(fw.has(0xC400_0003) && fw.has(0x8400_0008) && fw.has(0x8400_0000));
    assert!(!fw.has(0x8400_000A) && !fw.has(0xC400_0012) && !fw.has(0x8000_0000));
}

#[test]
fn no_psci_relays_nothing_and_going_down_parks() {
    let fw = FirmwareCalls::probe(|| -1, |_| panic!(), |_| panic!());
    assert_eq!(fw, FirmwareCalls::default());
    assert_eq!(
        relayed([0x8400_0008, 0, 0, 0], &fw),
        PsciAction::Park("SYSTEM_OFF")
    );
    assert_eq!(
        relayed([0x8400_0009, 0, 0, 0], &fw),
        PsciAction::Park("SYSTEM_RESET")
    );
    assert!(matches!(
        relayed([0xC400_0003, 1, 0, 0], &fw),
        PsciAction::Refuse { .. }
    ));
    assert!(matches!(
        relayed([0x8400_0000, 0, 0, 0], &fw),
        PsciAction::Refuse { .. }
    ));
}

#[test]
fn hvc_routing_takes_psci_and_arch_owners_only() {
    for fid in [0x8400_0000u64, 0xC400_0003, 0x8000_0000, 0xC000_0001] {
        assert!(is_psci_or_arch(fid), "{fid:#x}");
    }
    // Stile's own vendor-hypervisor calls, yielding calls, and wide garbage are not.
    for fid in [0xC600_0001u64, 0x0400_0000, 0x1_8400_0000, 0xC500_0000] {
        assert!(!is_psci_or_arch(fid), "{fid:#x}");
    }
}
