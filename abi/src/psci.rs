//! PSCI and SMCCC architecture function IDs a host or guest uses under Stile (numbers from
//! Arm's PSCI specification, DEN0022, and SMC Calling Convention, DEN0028), so that a C host
//! need not define them itself. Which ones Stile answers, relays or refuses is in
//! docs/ABI.md ("What a guest can call", "PSCI and SMCCC calls from the host").

pub const PSCI_VERSION: u32 = 0x8400_0000;
pub const PSCI_CPU_SUSPEND_64: u32 = 0xC400_0001;
pub const PSCI_CPU_OFF: u32 = 0x8400_0002;
pub const PSCI_CPU_ON_64: u32 = 0xC400_0003;
pub const PSCI_AFFINITY_INFO_64: u32 = 0xC400_0004;
pub const PSCI_MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
pub const PSCI_SYSTEM_OFF: u32 = 0x8400_0008;
pub const PSCI_SYSTEM_RESET: u32 = 0x8400_0009;
pub const PSCI_FEATURES: u32 = 0x8400_000A;
pub const PSCI_SYSTEM_RESET2_64: u32 = 0xC400_0012;
pub const SMCCC_VERSION: u32 = 0x8000_0000;
pub const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;

/// Every ID with its name (as the PSCI and SMCCC specifications spell it).
pub const ALL: [(u32, &str); 12] = [
    (PSCI_VERSION, "PSCI_VERSION"),
    (PSCI_CPU_SUSPEND_64, "CPU_SUSPEND"),
    (PSCI_CPU_OFF, "CPU_OFF"),
    (PSCI_CPU_ON_64, "CPU_ON"),
    (PSCI_AFFINITY_INFO_64, "AFFINITY_INFO"),
    (PSCI_MIGRATE_INFO_TYPE, "MIGRATE_INFO_TYPE"),
    (PSCI_SYSTEM_OFF, "SYSTEM_OFF"),
    (PSCI_SYSTEM_RESET, "SYSTEM_RESET"),
    (PSCI_FEATURES, "PSCI_FEATURES"),
    (PSCI_SYSTEM_RESET2_64, "SYSTEM_RESET2"),
    (SMCCC_VERSION, "SMCCC_VERSION"),
    (SMCCC_ARCH_FEATURES, "SMCCC_ARCH_FEATURES"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fast_calls_of_their_owner_and_width() {
        for (id, name) in ALL {
            assert_eq!(id >> 31, 1, "{name}: fast call");
            let owner = (id >> 24) & 0x3f;
            let smc64 = (id >> 30) & 1 == 1;
            assert_eq!(
                owner,
                if name.starts_with("SMCCC") { 0 } else { 4 },
                "{name}"
            );
            assert_eq!(
                smc64,
                [
                    PSCI_CPU_SUSPEND_64,
                    PSCI_CPU_ON_64,
                    PSCI_AFFINITY_INFO_64,
                    PSCI_SYSTEM_RESET2_64
                ]
                .contains(&id),
                "{name}"
            );
        }
    }
}
