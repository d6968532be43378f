//! What EL2 does with the host's PSCI and SMCCC architecture calls (over SMC or HVC).
//!
//! pKVM's rule: the host's power calls are relayed to the firmware, never emulated — except
//! that no entry point the host names may reach the firmware, which would start a CPU there
//! at EL2, outside the host's stage 2. CPU_ON and a powering-down CPU_SUSPEND are relayed
//! with Stile's own warm entry instead; that CPU sets up EL2 first and then enters the
//! host's entry point at EL1 with the host's context id (arch/smp.rs).
//!
//! The exception: CPUs Stile holds itself (spin-table CPUs it released at boot, with no
//! firmware to relay to) are answered by Stile, vm/psci_held.rs.
//!
//! A call is relayed only if the firmware said it implements it (probed at boot,
//! [`FirmwareCalls`]): an SMC the firmware does not know may be UNDEFINED at EL2 (QEMU's
//! built-in PSCI with no EL3), which would take EL2 down.

use super::psci_held::{self, Held};
use smccc::arch as a;
use smccc::psci as p;

pub const PSCI_NOT_SUPPORTED: i64 = -1;
pub const PSCI_INVALID_PARAMETERS: i64 = -2;
pub const PSCI_DENIED: i64 = -3;
pub const PSCI_ALREADY_ON: i64 = -4;
pub const PSCI_ON_PENDING: i64 = -5;

/// What to do with one call, x0..x3 as the host passed them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsciAction {
    /// Pass x0..x3 to the firmware unchanged and return its x0..x3.
    Relay,
    /// Relay, and the machine goes down (log it first).
    RelayFinal(&'static str),
    /// Start CPU `target` (an MPIDR) at the host's `entry` with `context` in x0.
    CpuOn {
        target: u64,
        entry: u64,
        context: u64,
    },
    /// Turn this CPU off (relayed; returns only on failure).
    CpuOff,
    /// Start CPU `target`, which Stile holds (vm/psci_held.rs), at the host's `entry`.
    HeldOn {
        target: u64,
        entry: u64,
        context: u64,
    },
    /// Send this CPU, which Stile holds, back to wait at EL2 (never returns to the host).
    HeldOff,
    /// Suspend this CPU in `power_state`; if it powers down it resumes at `entry`.
    CpuSuspend {
        power_state: u64,
        entry: u64,
        context: u64,
    },
    /// Answer `status` without calling the firmware: a refusal, logged with `why`.
    Refuse { status: i64, why: &'static str },
    /// Answer `x0` without calling the firmware: not a refusal (a FEATURES query about a
    /// call EL2 does not relay).
    Answer(i64),
    /// The host asked for the machine to go down, and there is no PSCI firmware to do it
    /// (no PSCI in the DT: Raspberry Pi firmware, QEMU's raspi3b): park this CPU, saying so.
    Park(&'static str),
}

/// The calls EL2 may relay, and whether this machine's firmware implements each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FirmwareCalls {
    /// PSCI_VERSION's answer (major << 16 | minor); 0 if there is no PSCI.
    pub version: u32,
    /// Bit i: RELAYABLE[i] is implemented.
    pub implemented: u32,
}

/// Every call the host may reach the firmware with (SMC32/SMC64 forms both listed).
pub const RELAYABLE: [u32; 19] = [
    p::PSCI_VERSION,
    p::PSCI_CPU_SUSPEND_32,
    p::PSCI_CPU_SUSPEND_64,
    p::PSCI_CPU_OFF,
    p::PSCI_CPU_ON_32,
    p::PSCI_CPU_ON_64,
    p::PSCI_AFFINITY_INFO_32,
    p::PSCI_AFFINITY_INFO_64,
    p::PSCI_MIGRATE_INFO_TYPE,
    p::PSCI_SYSTEM_OFF,
    p::PSCI_SYSTEM_RESET,
    p::PSCI_SYSTEM_RESET2_32,
    p::PSCI_SYSTEM_RESET2_64,
    p::PSCI_FEATURES,
    a::SMCCC_VERSION,
    a::SMCCC_ARCH_FEATURES,
    a::SMCCC_ARCH_WORKAROUND_1,
    a::SMCCC_ARCH_WORKAROUND_2,
    a::SMCCC_ARCH_WORKAROUND_3,
];

impl FirmwareCalls {
    /// Ask the firmware which calls it has: `version()` is PSCI_VERSION, `features(fid)`
    /// PSCI_FEATURES (PSCI >= 1.0), `arch_features(fid)` SMCCC_ARCH_FEATURES (only called
    /// once PSCI_FEATURES said SMCCC_VERSION exists). Each returns the firmware's x0.
    pub fn probe(
        version: impl FnOnce() -> i64,
        mut features: impl FnMut(u32) -> i64,
        mut arch_features: impl FnMut(u32) -> i64,
    ) -> FirmwareCalls {
        let v = version();
        if v < 0 || (v as u64) > u64::from(u32::MAX) {
            return FirmwareCalls::default();
        }
        let version = v as u32;
        let has_features = version >> 16 >= 1;
        let smccc_11 = has_features && features(a::SMCCC_VERSION) >= 0;
        let mut implemented = 0;
        for (i, &fid) in RELAYABLE.iter().enumerate() {
            let yes = match fid {
                p::PSCI_VERSION => true,
                p::PSCI_FEATURES => has_features,
                a::SMCCC_VERSION => smccc_11,
                a::SMCCC_ARCH_FEATURES => smccc_11,
                a::SMCCC_ARCH_WORKAROUND_1
                | a::SMCCC_ARCH_WORKAROUND_2
                | a::SMCCC_ARCH_WORKAROUND_3 => smccc_11 && arch_features(fid) >= 0,
                // PSCI 0.2 made these mandatory.
                p::PSCI_CPU_SUSPEND_64
                | p::PSCI_CPU_SUSPEND_32
                | p::PSCI_CPU_OFF
                | p::PSCI_CPU_ON_64
                | p::PSCI_CPU_ON_32
                | p::PSCI_AFFINITY_INFO_64
                | p::PSCI_AFFINITY_INFO_32
                | p::PSCI_MIGRATE_INFO_TYPE
                | p::PSCI_SYSTEM_OFF
                | p::PSCI_SYSTEM_RESET
                    if !has_features =>
                {
                    version >= 2
                }
                _ => has_features && features(fid) >= 0,
            };
            if yes {
                implemented |= 1 << i;
            }
        }
        FirmwareCalls {
            version,
            implemented,
        }
    }

    /// Whether the firmware implements `fid` (and EL2 may relay it).
    pub fn has(&self, fid: u32) -> bool {
        RELAYABLE
            .iter()
            .position(|&f| f == fid)
            .is_some_and(|i| self.implemented & (1 << i) != 0)
    }
}

/// Decide for the call in `x` (x0 = function ID; SMC32 arguments are 32 bits wide).
/// Calls about CPUs Stile holds (`held`) are answered by Stile (vm/psci_held.rs).
pub fn decide(x: [u64; 4], fw: &FirmwareCalls, held: &Held<'_>) -> PsciAction {
    let fid = x[0] as u32;
    if !RELAYABLE.contains(&fid) {
        return PsciAction::Refuse {
            status: PSCI_NOT_SUPPORTED,
            why: "not a PSCI or SMCCC architecture call EL2 relays",
        };
    }
    // SMC32 calls carry 32-bit arguments: the upper halves are not the caller's.
    let arg = |i: usize| {
        if fid & (1 << 30) != 0 {
            x[i]
        } else {
            x[i] & u64::from(u32::MAX)
        }
    };
    if let Some(action) = psci_held::decide(fid, arg, held) {
        return action;
    }
    if fw.version == 0 {
        match fid {
            p::PSCI_SYSTEM_OFF => return PsciAction::Park("SYSTEM_OFF"),
            p::PSCI_SYSTEM_RESET => return PsciAction::Park("SYSTEM_RESET"),
            p::PSCI_SYSTEM_RESET2_32 | p::PSCI_SYSTEM_RESET2_64 => {
                return PsciAction::Park("SYSTEM_RESET2")
            }
            _ => {}
        }
    }
    if !fw.has(fid) {
        return PsciAction::Refuse {
            status: PSCI_NOT_SUPPORTED,
            why: "the firmware does not implement it",
        };
    }
    match fid {
        p::PSCI_CPU_ON_32 | p::PSCI_CPU_ON_64 => PsciAction::CpuOn {
            target: arg(1),
            entry: arg(2),
            context: arg(3),
        },
        p::PSCI_CPU_OFF => PsciAction::CpuOff,
        p::PSCI_CPU_SUSPEND_32 | p::PSCI_CPU_SUSPEND_64 => PsciAction::CpuSuspend {
            power_state: arg(1),
            entry: arg(2),
            context: arg(3),
        },
        p::PSCI_SYSTEM_OFF => PsciAction::RelayFinal("SYSTEM_OFF"),
        p::PSCI_SYSTEM_RESET => PsciAction::RelayFinal("SYSTEM_RESET"),
        p::PSCI_SYSTEM_RESET2_32 | p::PSCI_SYSTEM_RESET2_64 => {
            PsciAction::RelayFinal("SYSTEM_RESET2")
        }
        // The answer must not promise what EL2 would refuse.
        p::PSCI_FEATURES | a::SMCCC_ARCH_FEATURES if !fw.has(arg(1) as u32) => {
            PsciAction::Answer(PSCI_NOT_SUPPORTED)
        }
        _ => PsciAction::Relay,
    }
}

/// Whether a function ID belongs to the calls this module handles (the standard secure
/// service owner, PSCI, or the SMCCC architecture owner): used to route the host's HVCs.
pub fn is_psci_or_arch(fid: u64) -> bool {
    let owner = (fid >> 24) & 0x3f;
    fid >> 32 == 0 && fid & (1 << 31) != 0 && (owner == 0 || owner == 4)
}

#[cfg(test)]
mod tests;
