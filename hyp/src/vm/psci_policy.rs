//! Which of a VM's SMCs (PSCI and SMCCC architecture calls) EL2 relays to the firmware and
//! which it refuses. Anything that would make the firmware start a CPU at an address the VM
//! chose must never be relayed: firmware would enter it at EL2, outside the VM's stage 2.

/// What to do with one SMC from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmcAction {
    /// Pass x0..x3 to the firmware unchanged and return its x0..x3.
    Relay,
    /// Relay, and the machine goes down (log it first).
    RelayFinal(&'static str),
    /// Answer `status` (a negative PSCI/SMCCC code) without calling the firmware.
    Refuse { status: i64, why: &'static str },
}

pub const PSCI_NOT_SUPPORTED: i64 = -1;
pub const PSCI_DENIED: i64 = -3;

/// Decide for function ID `fid` (x0 of the SMC; SMC32 and SMC64 IDs alike).
pub fn decide(fid: u64) -> SmcAction {
    let fid = fid as u32;
    // SMCCC 32/64 variants differ only in bit 30.
    match fid & !(1 << 30) {
        // VERSION, MIGRATE_INFO_TYPE, PSCI_FEATURES, AFFINITY_INFO: questions.
        0x8400_0000 | 0x8400_0006 | 0x8400_000a | 0x8400_0004 => SmcAction::Relay,
        // CPU_OFF: this CPU stops; no entry point involved.
        0x8400_0002 => SmcAction::Relay,
        0x8400_0008 => SmcAction::RelayFinal("SYSTEM_OFF"),
        0x8400_0009 => SmcAction::RelayFinal("SYSTEM_RESET"),
        // CPU_ON, CPU_SUSPEND, SYSTEM_SUSPEND carry an entry point the firmware would jump
        // to at EL2.
        0x8400_0003 => SmcAction::Refuse {
            status: PSCI_DENIED,
            why: "CPU_ON: no SMP support yet",
        },
        0x8400_0001 => SmcAction::Refuse {
            status: PSCI_DENIED,
            why: "CPU_SUSPEND: entry point would run at EL2",
        },
        0x8400_000e => SmcAction::Refuse {
            status: PSCI_DENIED,
            why: "SYSTEM_SUSPEND: entry point would run at EL2",
        },
        // SMCCC architecture calls (VERSION, ARCH_FEATURES, workarounds) are safe to pass on.
        0x8000_0000..=0x8000_ffff => SmcAction::Relay,
        _ => SmcAction::Refuse {
            status: PSCI_NOT_SUPPORTED,
            why: "not a PSCI or SMCCC architecture call",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_state_changes_with_an_entry_point_are_refused() {
        for fid in [0xC400_0003u64, 0x8400_0003, 0xC400_0001, 0xC400_000E] {
            assert!(
                matches!(
                    decide(fid),
                    SmcAction::Refuse {
                        status: PSCI_DENIED,
                        ..
                    }
                ),
                "{fid:#x}"
            );
        }
    }

    #[test]
    fn system_off_and_reset_are_relayed_as_final() {
        assert_eq!(decide(0x8400_0008), SmcAction::RelayFinal("SYSTEM_OFF"));
        assert_eq!(decide(0x8400_0009), SmcAction::RelayFinal("SYSTEM_RESET"));
    }

    #[test]
    fn questions_and_smccc_arch_calls_are_relayed() {
        for fid in [
            0x8400_0000u64,
            0x8400_000a,
            0xC400_0004,
            0x8000_0000,
            0x8000_8000,
        ] {
            assert_eq!(decide(fid), SmcAction::Relay, "{fid:#x}");
        }
    }

    #[test]
    fn anything_else_is_not_supported() {
        for fid in [0u64, 0xC600_0001, 0x8200_0000, u64::MAX] {
            assert!(
                matches!(
                    decide(fid),
                    SmcAction::Refuse {
                        status: PSCI_NOT_SUPPORTED,
                        ..
                    }
                ),
                "{fid:#x}"
            );
        }
    }
}
