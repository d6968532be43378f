//! The PSCI calls Stile answers itself: those about the CPUs it **holds**.
//!
//! A board whose firmware parks its secondaries in a spin-table loop (the Raspberry Pis)
//! has no PSCI to relay to, and a CPU the host released from a spin table would enter the
//! host's entry point at EL2, outside its stage 2. So Stile releases those CPUs itself at
//! boot (arch/spin_table.rs): each comes up at EL2 and waits there. The host is told they
//! are PSCI CPUs (the host DTB gains `/psci`, method `hvc`, when the DT has none), and
//! Stile keeps their power record: CPU_ON starts a waiting CPU at the host's entry point,
//! CPU_OFF sends it back to wait at EL2, AFFINITY_INFO reads the record. This is the one
//! exception to "relay, never emulate": there is nothing to relay to.
//!
//! Pure decisions; arch/smp.rs keeps the record and acts.

use super::psci_policy::{
    PsciAction, PSCI_ALREADY_ON, PSCI_DENIED, PSCI_INVALID_PARAMETERS, PSCI_NOT_SUPPORTED,
    PSCI_ON_PENDING,
};
use core::sync::atomic::{AtomicU8, Ordering};
use smccc::psci as p;
use smccc::psci::{AffinityState, MigrateType};

/// What Stile emulates when there is no PSCI firmware: PSCI 1.0.
pub const EMULATED_VERSION: p::Version = p::Version { major: 1, minor: 0 };

/// The CPUs Stile holds, as one PSCI call sees them.
#[derive(Clone, Copy)]
pub struct Held<'a> {
    /// There is no PSCI firmware and Stile holds CPUs: it answers the host's PSCI itself,
    /// as PSCI [`EMULATED_VERSION`]. Never set when the DT names PSCI firmware.
    pub emulate: bool,
    /// The calling CPU is one Stile holds.
    pub caller: bool,
    /// What the host has been told about a CPU Stile holds, by MPIDR; `None` for any CPU
    /// it does not hold (or that does not exist).
    pub power: &'a dyn Fn(u64) -> Option<AffinityState>,
}

fn held_by_nobody(_: u64) -> Option<AffinityState> {
    None
}

impl Held<'static> {
    /// No CPU is held: every call is the firmware's (machines with PSCI CPUs only).
    pub const NONE: Held<'static> = Held {
        emulate: false,
        caller: false,
        power: &held_by_nobody,
    };
}

/// The answer for a call about a held CPU (or any call, when emulating); `None` leaves the
/// call to the relay rules. `arg(i)` is argument i as the call's width reads it.
pub fn decide(fid: u32, arg: impl Fn(usize) -> u64, held: &Held<'_>) -> Option<PsciAction> {
    let refuse = |status, why| Some(PsciAction::Refuse { status, why });
    match fid {
        p::PSCI_CPU_ON_32 | p::PSCI_CPU_ON_64 => {
            let target = arg(1);
            match (held.power)(target) {
                Some(AffinityState::Off) => Some(PsciAction::HeldOn {
                    target,
                    entry: arg(2),
                    context: arg(3),
                }),
                Some(AffinityState::On) => refuse(PSCI_ALREADY_ON, "the CPU is on"),
                Some(AffinityState::OnPending) => refuse(PSCI_ON_PENDING, "the CPU is starting"),
                None if held.emulate => refuse(PSCI_INVALID_PARAMETERS, "no such CPU"),
                None => None,
            }
        }
        p::PSCI_CPU_OFF if held.caller => Some(PsciAction::HeldOff),
        p::PSCI_CPU_OFF if held.emulate => {
            refuse(PSCI_DENIED, "this CPU is not one Stile can park")
        }
        // A power-down request may end as a standby one that is already over (PSCI lets a
        // suspend return at once with SUCCESS); the held CPU has no firmware to power it.
        p::PSCI_CPU_SUSPEND_32 | p::PSCI_CPU_SUSPEND_64 if held.caller => {
            Some(PsciAction::Answer(0))
        }
        p::PSCI_AFFINITY_INFO_32 | p::PSCI_AFFINITY_INFO_64 => {
            match ((held.power)(arg(1)), arg(2)) {
                (Some(state), 0) => Some(PsciAction::Answer(state as i64)),
                // Levels above 0 are optional in PSCI; Stile keeps no clusters.
                (Some(_), _) => refuse(PSCI_INVALID_PARAMETERS, "affinity level above 0"),
                (None, _) if held.emulate => refuse(PSCI_INVALID_PARAMETERS, "no such CPU"),
                (None, _) => None,
            }
        }
        _ if !held.emulate => None,
        p::PSCI_VERSION => Some(PsciAction::Answer(u32::from(EMULATED_VERSION).into())),
        p::PSCI_FEATURES => Some(PsciAction::Answer(features(arg(1) as u32))),
        p::PSCI_MIGRATE_INFO_TYPE => {
            Some(PsciAction::Answer(MigrateType::MigrationNotRequired as i64))
        }
        p::PSCI_CPU_SUSPEND_32 | p::PSCI_CPU_SUSPEND_64 => {
            refuse(PSCI_DENIED, "this CPU is not one Stile holds")
        }
        // SYSTEM_OFF and the resets park (psci_policy); the rest has nobody to answer it.
        _ => None,
    }
}

/// PSCI_FEATURES of the emulated PSCI: 0 for a call it answers (for CPU_SUSPEND: the
/// original power-state format, platform-coordinated only), else NOT_SUPPORTED.
pub fn features(fid: u32) -> i64 {
    match fid {
        p::PSCI_VERSION
        | p::PSCI_CPU_ON_32
        | p::PSCI_CPU_ON_64
        | p::PSCI_CPU_OFF
        | p::PSCI_CPU_SUSPEND_32
        | p::PSCI_CPU_SUSPEND_64
        | p::PSCI_AFFINITY_INFO_32
        | p::PSCI_AFFINITY_INFO_64
        | p::PSCI_MIGRATE_INFO_TYPE
        | p::PSCI_SYSTEM_OFF
        | p::PSCI_SYSTEM_RESET
        | p::PSCI_FEATURES => 0,
        _ => PSCI_NOT_SUPPORTED,
    }
}

/// A held CPU's power as the host has been told it, shared between that CPU (which turns
/// it on when it enters the host and off on CPU_OFF) and the others' CPU_ON and
/// AFFINITY_INFO. Starts off.
pub struct PowerRecord(AtomicU8);

impl Default for PowerRecord {
    fn default() -> Self {
        Self::new()
    }
}

impl PowerRecord {
    pub const fn new() -> PowerRecord {
        PowerRecord(AtomicU8::new(AffinityState::Off as u8))
    }

    pub fn get(&self) -> AffinityState {
        match self.0.load(Ordering::Acquire) {
            0 => AffinityState::On,
            2 => AffinityState::OnPending,
            _ => AffinityState::Off,
        }
    }

    pub fn set(&self, state: AffinityState) {
        self.0.store(state as u8, Ordering::Release);
    }

    /// CPU_ON's claim: off -> on-pending, for exactly one caller; the others get the PSCI
    /// status for what they found (ALREADY_ON, ON_PENDING).
    pub fn begin_on(&self) -> Result<(), i64> {
        let (off, pending) = (AffinityState::Off as u8, AffinityState::OnPending as u8);
        match self
            .0
            .compare_exchange(off, pending, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(()),
            Err(v) if v == AffinityState::On as u8 => Err(PSCI_ALREADY_ON),
            Err(_) => Err(PSCI_ON_PENDING),
        }
    }
}

#[cfg(test)]
mod tests;
