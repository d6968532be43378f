//! The other host CPUs of a hostile campaign on several (docs/HOST-PAYLOAD.md, "Hostile
//! mode"). For each phase the first CPU starts them with PSCI CPU_ON; each makes its share
//! of the phase's calls from its own seeded stream, on the same VMs and vCPUs as the rest
//! (BUSY is an answer), then turns itself off with CPU_OFF. The first CPU checks the
//! invariants only once AFFINITY_INFO says every one of them is off: nothing can be calling.

use super::hostile::{Real, SHARED, TARGETS};
use super::smccc;
use super::smp::{entry, Start};
use super::sysreg;
use crate::facts::Facts;
use crate::fail::Fail;
use crate::hostile::{self, cpu_seed, Crew, Mode, Rng, SpinLock, MAX_CPUS};
use crate::psci::{self, ret32};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};

const OTHERS: usize = MAX_CPUS - 1;
const AFFINITY: u64 = 0xff_00ff_ffff;
/// How long a phase may take on the other CPUs (counter seconds; TCG is slow).
const PHASE_SECS: u64 = 120;

#[repr(C, align(16))]
struct Stack([u8; 16 * 1024]);

static mut STARTS: [Start; OTHERS] = [const { Start::EMPTY }; OTHERS];
static mut STACKS: [Stack; OTHERS] = [const { Stack([0; 16 * 1024]) }; OTHERS];
/// Each other CPU's stream, kept across phases (only that CPU uses it once started).
static RNGS: [SpinLock<Rng>; OTHERS] = [const { SpinLock::new(Rng::new(1)) }; OTHERS];
/// Calls each other CPU makes in this phase.
static SHARE: AtomicU64 = AtomicU64::new(0);
static LINE: AtomicUsize = AtomicUsize::new(64);
/// Phases each other CPU has finished.
static DONE: [AtomicU64; OTHERS] = [const { AtomicU64::new(0) }; OTHERS];

/// The first CPU's handle on the others.
pub(super) struct Others {
    mpidrs: heapless::Vec<u64, OTHERS>,
    /// Phases started.
    phase: u64,
    /// A CPU_ON was refused: that CPU will never be done.
    refused: bool,
}

impl Others {
    /// `mode.cpus - 1` CPUs of the DT's (`cpus`) other than this one, ready to start.
    pub(super) fn start(
        facts: &Facts,
        cpus: impl Iterator<Item = u64>,
        mode: Mode,
        line: usize,
    ) -> Result<Others, Fail> {
        if !facts.psci {
            return Err(Fail::Setup("hostile.cpus above 1 needs PSCI to start CPUs"));
        }
        let me = sysreg::mpidr_el1() & AFFINITY;
        let mpidrs: heapless::Vec<u64, OTHERS> = cpus
            .map(|m| m & AFFINITY)
            .filter(|&m| m != me)
            .take(mode.cpus - 1)
            .collect();
        if mpidrs.len() + 1 < mode.cpus {
            return Err(Fail::Setup(
                "hostile.cpus asks for more CPUs than the DT lists",
            ));
        }
        LINE.store(line, Release);
        for (i, rng) in RNGS.iter().enumerate() {
            *rng.lock() = Rng::new(cpu_seed(mode.seed, i + 1));
            DONE[i].store(0, Release);
            // SAFETY: no other CPU runs yet; each gets its own stack and Start block.
            unsafe {
                let top = (&raw mut STACKS[i]) as u64 + core::mem::size_of::<Stack>() as u64;
                let start = &raw mut STARTS[i];
                (*start).prepare(top, host_hostile_cpu, line);
            }
        }
        Ok(Others {
            mpidrs,
            phase: 0,
            refused: false,
        })
    }
}

impl Crew for Others {
    fn others(&self) -> u64 {
        self.mpidrs.len() as u64
    }

    fn start(&mut self, calls: u64) {
        self.phase += 1;
        SHARE.store(calls, Release);
        for (i, &mpidr) in self.mpidrs.iter().enumerate() {
            // SAFETY: only the block's address is taken.
            let start = unsafe { (&raw const STARTS[i]) as u64 };
            let x0 = smccc::smc([psci::CPU_ON, mpidr, entry(), start])[0];
            self.refused |= ret32(x0) != 0;
        }
    }

    fn wait(&mut self) -> bool {
        if self.refused {
            return false;
        }
        let n = self.mpidrs.len();
        let done = || DONE[..n].iter().all(|d| d.load(Acquire) >= self.phase);
        let off = || {
            self.mpidrs.iter().all(|&m| {
                ret32(smccc::smc([psci::AFFINITY_INFO, m, 0, 0])[0]) == psci::AFFINITY_OFF
            })
        };
        within(PHASE_SECS, done) && within(PHASE_SECS, off)
    }
}

/// Wait up to `secs` of the virtual counter for `ok`.
fn within(secs: u64, mut ok: impl FnMut() -> bool) -> bool {
    let (start, freq) = sysreg::counter();
    while !ok() {
        if sysreg::counter().0.wrapping_sub(start) > secs * freq {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

/// Another CPU, from `host_secondary_entry` (MMU on, its own stack): its share of this
/// phase, then off.
extern "C" fn host_hostile_cpu(start: u64) -> ! {
    let first = (&raw const STARTS) as u64;
    let i = (start.wrapping_sub(first) / core::mem::size_of::<Start>() as u64) as usize;
    let targets = *TARGETS.lock();
    if let (Some(t), Some(rng), Some(done)) = (targets, RNGS.get(i), DONE.get(i)) {
        let mut m = Real::new(LINE.load(Acquire));
        hostile::share(&mut m, &t, &SHARED, &mut rng.lock(), SHARE.load(Acquire));
        done.fetch_add(1, Release);
    }
    smccc::smc([psci::CPU_OFF, 0, 0, 0]);
    // CPU_OFF returned: it was refused. Stay out of the way (the first CPU times out).
    loop {
        // SAFETY: WFE only waits.
        unsafe { core::arch::asm!("wfe", options(nomem, nostack)) };
    }
}
