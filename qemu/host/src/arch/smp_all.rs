//! Every CPU of the DT online at once (docs/HOST-PAYLOAD.md, "SMP checks"): each other CPU
//! is started with PSCI CPU_ON and its own stack, reports its MPIDR, and stays in the
//! payload until every one has come; AFFINITY_INFO then says each is on, and each goes off
//! again with CPU_OFF. On the Raspberry Pis these are spin-table CPUs Stile holds.

use super::smp::{start_cpu, wait, wait_off, Start, JOB_ONLINE};
use super::{cache, smccc, sysreg};
use crate::fail::Fail;
use crate::psci::{self, ret32};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};

/// CPUs besides the first this check can start (one stack and start block each).
const MAX_OTHERS: usize = 7;
const STACK: usize = 8 * 1024;

#[repr(C, align(16))]
struct Stacks([[u8; STACK]; MAX_OTHERS]);

static mut STACKS: Stacks = Stacks([[0; STACK]; MAX_OTHERS]);
static mut STARTS: [Start; MAX_OTHERS] = [const { Start::EMPTY }; MAX_OTHERS];
/// What each started CPU saw as its MPIDR (u64::MAX: not yet).
static ONLINE: [AtomicU64; MAX_OTHERS] = [const { AtomicU64::new(u64::MAX) }; MAX_OTHERS];
static GO_OFF: AtomicBool = AtomicBool::new(false);

/// Start every CPU in `others` and hold them all online; returns how many were online at
/// once (the first CPU included).
pub fn all_online(others: &[u64], line: usize) -> Result<usize, Fail> {
    if others.len() > MAX_OTHERS {
        return Err(Fail::Setup(
            "more CPUs in the DT than the check has stacks for",
        ));
    }
    GO_OFF.store(false, Release);
    let mmu = sysreg::el1_mmu_regs();
    let result = (|| {
        for (i, &target) in others.iter().enumerate() {
            ONLINE[i].store(u64::MAX, Release);
            // SAFETY: slot i's stack and start block belong to CPU `target` alone, which is
            // off (checked below by the CPU_ON's status); only the address is taken.
            let start = unsafe {
                let top = (&raw mut STACKS.0[i]) as u64 + STACK as u64;
                STARTS[i] = Start::new(top, mmu, i as u64);
                let at = &raw const STARTS[i];
                cache::clean_dcache_range(at as usize, core::mem::size_of::<Start>(), line);
                at as u64
            };
            start_cpu(target, JOB_ONLINE, start, false)?;
        }
        for (i, &target) in others.iter().enumerate() {
            if !wait(|| ONLINE[i].load(Acquire) != u64::MAX) {
                return Err(Fail::Setup("a started CPU never reached the payload"));
            }
            let got = ONLINE[i].load(Acquire) & 0xff_00ff_ffff;
            if got != target {
                return Err(Fail::Value {
                    what: "MPIDR of a started CPU",
                    got,
                    want: target,
                });
            }
            let state = ret32(smccc::smc([psci::AFFINITY_INFO, target, 0, 0])[0]);
            if state != psci::AFFINITY_ON {
                return Err(Fail::PsciError {
                    what: "AFFINITY_INFO of a CPU that is on (want ON)",
                    ret: state,
                });
            }
        }
        Ok(others.len() + 1)
    })();
    // Whatever happened, the CPUs that came go off again.
    GO_OFF.store(true, Release);
    for &target in others {
        wait_off(target)?;
    }
    result
}

/// A CPU started by [`all_online`] (`slot` of its start block): says who it is, waits for
/// the others, goes off.
pub fn online(slot: usize) -> ! {
    if let Some(seen) = ONLINE.get(slot) {
        seen.store(sysreg::mpidr_el1(), Release);
    }
    while !GO_OFF.load(Acquire) {
        core::hint::spin_loop();
    }
    smccc::smc([psci::CPU_OFF, 0, 0, 0]);
    loop {
        core::hint::spin_loop();
    }
}
