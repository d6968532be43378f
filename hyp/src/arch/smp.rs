//! The host's CPUs: which physical CPU has which EL2 index, and the PSCI calls that start,
//! stop and suspend them, relayed to the firmware with Stile's own warm entry in place of
//! the host's (the decisions are vm/psci_policy.rs).
//!
//! Index 0 is the boot CPU (entry.S gives it stack 0 and per-CPU block 0); the others follow
//! in DT order. A CPU the firmware starts for us enters `stile_warm_entry` (boot/entry.S)
//! with its index in x0, sets up its own EL2 (stack, vectors, per-CPU block, EL2 MMU) and
//! then enters the host at the entry point the host asked for, with the host's context id.

use crate::arch::firmware;
use crate::arch::host_entry::HostSetup;
use crate::vm::psci_held::PowerRecord;
use crate::vm::psci_policy::{
    FirmwareCalls, PSCI_DENIED, PSCI_INVALID_PARAMETERS, PSCI_ON_PENDING,
};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use smccc::psci as p;
use smccc::psci::AffinityState;

/// Physical CPUs EL2 can run on (stacks and per-CPU blocks are laid out for this many).
pub const MAX_CPUS: usize = 8;

/// MPIDR_EL1's affinity fields (Aff3, Aff2..Aff0).
pub const MPIDR_AFFINITY: u64 = 0xff_00ff_ffff;

const NO_CPU: u64 = u64::MAX;
/// No start request waits for this CPU.
const FREE: u8 = 0;
/// A start request is being written, or waits for the CPU to enter EL2.
const BUSY: u8 = 1;

/// One CPU: its MPIDR and where it enters the host next.
struct CpuSlot {
    mpidr: AtomicU64,
    request: AtomicU8,
    entry: AtomicU64,
    context: AtomicU64,
    /// Stile holds this CPU (vm/psci_held.rs): its power is `power`, not the firmware's.
    held: AtomicBool,
    /// What the host has been told, for a held CPU.
    power: PowerRecord,
    /// A held CPU has reached EL2 once (from the spin table).
    arrived: AtomicBool,
}

static CPUS: [CpuSlot; MAX_CPUS] = [const {
    CpuSlot {
        mpidr: AtomicU64::new(NO_CPU),
        request: AtomicU8::new(FREE),
        entry: AtomicU64::new(0),
        context: AtomicU64::new(0),
        held: AtomicBool::new(false),
        power: PowerRecord::new(),
        arrived: AtomicBool::new(false),
    }
}; MAX_CPUS];

/// No PSCI firmware, and Stile holds CPUs: it answers the host's PSCI itself.
static EMULATE: AtomicBool = AtomicBool::new(false);

static FIRMWARE: spin::Once<FirmwareCalls> = spin::Once::new();
static HOST_SETUP: spin::Once<HostSetup> = spin::Once::new();

extern "C" {
    /// boot/src/entry.S: where the firmware starts a CPU for us (x0 = its index).
    static stile_warm_entry: u8;
    /// boot/src/secondary.rs: a CPU in EL2, on its own stack, going into the host once
    /// asked (x0 = its index).
    fn stile_secondary_main(index: usize) -> !;
}

/// Number the CPUs: the boot CPU (`boot_mpidr`) is 0, the DT's others follow. CPUs past
/// [`MAX_CPUS`] are left out (and said so by the caller). Returns how many were numbered.
pub fn init_cpus(dt_mpidrs: impl Iterator<Item = u64>, boot_mpidr: u64) -> usize {
    let boot = boot_mpidr & MPIDR_AFFINITY;
    CPUS[0].mpidr.store(boot, Ordering::Relaxed);
    let mut n = 1;
    for m in dt_mpidrs.map(|m| m & MPIDR_AFFINITY).filter(|&m| m != boot) {
        if n == MAX_CPUS {
            break;
        }
        CPUS[n].mpidr.store(m, Ordering::Relaxed);
        n += 1;
    }
    n
}

/// Ask the firmware once which calls it implements (before the host runs).
pub fn probe_firmware() -> FirmwareCalls {
    *FIRMWARE.call_once(|| {
        let call = |fid: u32, arg: u64| firmware::smc([u64::from(fid), arg, 0, 0])[0] as i64;
        FirmwareCalls::probe(
            || call(p::PSCI_VERSION, 0),
            |fid| call(p::PSCI_FEATURES, u64::from(fid)),
            |fid| call(smccc::arch::SMCCC_ARCH_FEATURES, u64::from(fid)),
        )
    })
}

/// What the firmware implements (nothing before `probe_firmware`).
pub fn firmware_calls() -> FirmwareCalls {
    FIRMWARE.get().copied().unwrap_or_default()
}

/// Remember how the host runs, for CPUs that enter it later.
pub fn set_host_setup(setup: &HostSetup) {
    HOST_SETUP.call_once(|| *setup);
}

pub fn host_setup() -> Option<&'static HostSetup> {
    HOST_SETUP.get()
}

/// The index of the CPU with affinity `mpidr`, if it was numbered.
pub fn index_of(mpidr: u64) -> Option<usize> {
    let m = mpidr & MPIDR_AFFINITY;
    // Bits outside the affinity fields must be zero (PSCI: target_cpu is an MPIDR value).
    if mpidr != m {
        return None;
    }
    CPUS.iter()
        .position(|c| c.mpidr.load(Ordering::Relaxed) == m)
}

/// The MPIDR of CPU `index`, if it exists.
pub fn mpidr_of(index: usize) -> Option<u64> {
    let m = CPUS.get(index)?.mpidr.load(Ordering::Relaxed);
    (m != NO_CPU).then_some(m)
}

fn warm_entry() -> u64 {
    // Identity map: the symbol's address is its physical address.
    (&raw const stile_warm_entry) as u64
}

/// Claim CPU `i`'s start request and fill it in; false if one is already pending.
fn claim(i: usize, entry: u64, context: u64) -> bool {
    let slot = &CPUS[i];
    if slot
        .request
        .compare_exchange(FREE, BUSY, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return false;
    }
    slot.entry.store(entry, Ordering::Relaxed);
    slot.context.store(context, Ordering::Release);
    true
}

fn release(i: usize) {
    CPUS[i].request.store(FREE, Ordering::Release);
}

/// PSCI CPU_ON for the host: start `target` at Stile's warm entry, which enters the
/// host's `entry` with `context`. Returns the PSCI status.
pub fn cpu_on(target: u64, entry: u64, context: u64) -> i64 {
    let Some(i) = index_of(target) else {
        return PSCI_INVALID_PARAMETERS;
    };
    if !claim(i, entry, context) {
        return PSCI_ON_PENDING;
    }
    let status =
        firmware::smc([u64::from(p::PSCI_CPU_ON_64), target, warm_entry(), i as u64])[0] as i64;
    if status != 0 {
        release(i);
    }
    status
}

/// PSCI CPU_SUSPEND for the calling CPU `index`: if the firmware powers it down, it comes
/// back through the warm entry into the host's `entry`; if the call returns (a standby
/// state, or an error), the host goes on from here with the firmware's status.
pub fn cpu_suspend(index: usize, power_state: u64, entry: u64, context: u64) -> i64 {
    if index >= MAX_CPUS || !claim(index, entry, context) {
        return PSCI_DENIED;
    }
    let status = firmware::smc([
        u64::from(p::PSCI_CPU_SUSPEND_64),
        power_state,
        warm_entry(),
        index as u64,
    ])[0] as i64;
    release(index);
    status
}

/// PSCI CPU_OFF for the calling CPU: returns only if the firmware refused.
pub fn cpu_off() -> i64 {
    firmware::smc([u64::from(p::PSCI_CPU_OFF), 0, 0, 0])[0] as i64
}

/// On a CPU that just came in through the warm entry: where to enter the host, and the
/// request slot freed for the next CPU_ON. None if nothing asked for this CPU (the
/// firmware started it on its own): then it must stay parked.
pub fn take_start_request(index: usize) -> Option<(u64, u64)> {
    let slot = CPUS.get(index)?;
    if slot.request.load(Ordering::Acquire) != BUSY {
        return None;
    }
    let start = (
        slot.entry.load(Ordering::Relaxed),
        slot.context.load(Ordering::Relaxed),
    );
    release(index);
    Some(start)
}

/// Hold CPU `index` (before the host runs): Stile keeps its power record, starting as
/// `power`.
pub fn hold(index: usize, power: AffinityState) {
    if let Some(slot) = CPUS.get(index) {
        slot.power.set(power);
        slot.held.store(true, Ordering::Release);
    }
}

/// There is no PSCI firmware and Stile holds CPUs: it answers the host's PSCI itself, and
/// holds the boot CPU (which runs the host) too, so the host may turn it off and on like
/// the others. Called before the host runs.
pub fn set_psci_emulated() {
    hold(0, AffinityState::On);
    EMULATE.store(true, Ordering::Release);
}

pub fn psci_emulated() -> bool {
    EMULATE.load(Ordering::Acquire)
}

/// Whether Stile holds CPU `index`.
pub fn is_held(index: usize) -> bool {
    CPUS.get(index)
        .is_some_and(|s| s.held.load(Ordering::Acquire))
}

/// What the host has been told about CPU `mpidr`, if Stile holds it.
pub fn held_power(mpidr: u64) -> Option<AffinityState> {
    let i = index_of(mpidr)?;
    is_held(i).then(|| CPUS[i].power.get())
}

/// PSCI CPU_ON of held CPU `target`: it leaves its wait at EL2 for the host's `entry`.
pub fn held_on(target: u64, entry: u64, context: u64) -> i64 {
    let Some(i) = index_of(target).filter(|&i| is_held(i)) else {
        return PSCI_INVALID_PARAMETERS;
    };
    if let Err(status) = CPUS[i].power.begin_on() {
        return status;
    }
    if !claim(i, entry, context) {
        // A start request without the record saying so: the CPU is on its way in.
        return PSCI_ON_PENDING;
    }
    // The request is visible before the event that wakes the waiting CPU.
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::ISH);
    aarch64_cpu::asm::sev();
    0
}

/// Whether held CPU `index` has waited at EL2 before (false the first time, from the spin
/// table).
pub fn arrived(index: usize) -> bool {
    CPUS.get(index)
        .is_some_and(|s| s.arrived.load(Ordering::Acquire))
}

/// On held CPU `index`, in EL2: wait for the host's CPU_ON and return where to enter it.
pub fn wait_for_start(index: usize) -> (u64, u64) {
    if let Some(slot) = CPUS.get(index) {
        slot.arrived.store(true, Ordering::Release);
    }
    loop {
        if let Some(start) = take_start_request(index) {
            if let Some(slot) = CPUS.get(index) {
                slot.power.set(AffinityState::On);
            }
            return start;
        }
        aarch64_cpu::asm::wfe();
    }
}

/// How many held CPUs have reached EL2.
pub fn held_arrived() -> usize {
    CPUS.iter()
        .filter(|s| s.arrived.load(Ordering::Acquire))
        .count()
}

/// PSCI CPU_OFF of held CPU `index` (the caller): from here it waits at EL2 for the next
/// CPU_ON; the host's frames on this stack are abandoned when it enters the host again.
pub fn held_off(index: usize) -> ! {
    if let Some(slot) = CPUS.get(index) {
        slot.power.set(AffinityState::Off);
    }
    // SAFETY: boot/src/secondary.rs's entry for a CPU in EL2 with its per-CPU block set
    // up, which this one is (it ran the host); it never returns.
    unsafe { stile_secondary_main(index) }
}
