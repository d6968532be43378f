//! Two host CPUs at once (docs/HOST-PAYLOAD.md, "SMP checks"): the payload starts a second
//! CPU with PSCI CPU_ON (Stile relays it), each CPU runs its own guest at the same time, a
//! vCPU running on one CPU is BUSY for the other, and the second CPU goes off and comes back
//! (the second time over the HVC conduit). The guests are a few instructions below.

use super::vmm::{call7, succeeded};
use super::{cache, smccc, sysreg};
use crate::facts::Facts;
use crate::fail::Fail;
use crate::psci::{self, ret32};
use crate::report::Report;
use crate::smp::{one_ran_one_busy, ran_at_once, Outcome};
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use stile_abi::slot::{self, SlotKind};
use stile_abi::{ExitReason, Function, Reason, Status};
use stile_hyp::addr::PhysRange;

core::arch::global_asm!(
    r#"
.section .text.smp, "ax"
.balign 4
// Guest A and B: exit to the host forever.
.global host_smp_guest_hvc
host_smp_guest_hvc:
1:  hvc     #0
    b       1b
// Guest C: count down from 2^24 (long enough for the other CPU to try it), then exit.
.global host_smp_guest_spin
host_smp_guest_spin:
1:  movz    x1, #0x100, lsl #16
2:  subs    x1, x1, #1
    b.ne    2b
    hvc     #0
    b       1b
.global host_smp_guest_end
host_smp_guest_end:

// Another CPU, started by PSCI CPU_ON: x0 = its Start block (MMU off). It takes the first
// CPU's EL1 map (same tables), its own stack, and goes on in Rust at `main` with x0
// unchanged.
.global host_secondary_entry
host_secondary_entry:
    ldp     x1, x2, [x0]                // stack top, MAIR
    ldp     x3, x4, [x0, #16]           // TCR, TTBR0
    ldp     x5, x6, [x0, #32]           // SCTLR, VBAR
    ldr     x7, [x0, #48]               // main
    mov     sp, x1
    msr     vbar_el1, x6
    msr     mair_el1, x2
    msr     tcr_el1, x3
    msr     ttbr0_el1, x4
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    msr     sctlr_el1, x5
    isb
    ic      iallu
    dsb     nsh
    isb
    blr     x7
3:  wfe
    b       3b
"#
);

extern "C" {
    static host_smp_guest_hvc: u8;
    static host_smp_guest_spin: u8;
    static host_smp_guest_end: u8;
    static host_secondary_entry: u8;
}

/// What a CPU started by the payload starts with (read with its MMU off: cleaned to PoC
/// before CPU_ON, see [`Start::prepare`]).
#[repr(C, align(64))]
pub(super) struct Start {
    stack_top: u64,
    mmu: [u64; 5],
    /// Where it goes on, with MMU and stack: `extern "C" fn(start: u64) -> !`.
    main: u64,
    /// Which of smp_all.rs's CPUs this is (unused by the second CPU's jobs).
    slot: u64,
}

impl Start {
    pub(super) const EMPTY: Start = Start {
        stack_top: 0,
        mmu: [0; 5],
        main: 0,
        slot: 0,
    };

    /// Fill in this CPU's EL1 map, `stack_top` and `main`, and clean it to PoC.
    pub(super) fn prepare(&mut self, stack_top: u64, main: extern "C" fn(u64) -> !, line: usize) {
        *self = Start {
            stack_top,
            mmu: sysreg::el1_mmu_regs(),
            main: main as usize as u64,
            slot: 0,
        };
        // SAFETY: cleaning our own block to PoC loses nothing.
        unsafe {
            cache::clean_dcache_range(
                (self as *const Start) as usize,
                core::mem::size_of::<Start>(),
                line,
            )
        };
    }

    /// A block for smp_all.rs's CPU `slot`, which goes on in this file's main (the caller
    /// cleans it to PoC).
    pub(super) fn new(stack_top: u64, mmu: [u64; 5], slot: u64) -> Start {
        Start {
            stack_top,
            mmu,
            main: host_secondary_main as extern "C" fn(u64) -> ! as usize as u64,
            slot,
        }
    }
}

/// The entry point a started CPU is given (with its Start block as the context id).
pub(super) fn entry() -> u64 {
    (&raw const host_secondary_entry) as u64
}

#[repr(C, align(4096))]
struct Page([u8; 4096]);
#[repr(C, align(16))]
struct Stack([u8; 32 * 1024]);

static mut START: Start = Start::EMPTY;
static mut SECONDARY_STACK: Stack = Stack([0; 32 * 1024]);
/// One run page per guest (A, B, C).
static mut RUN_PAGES: [Page; 3] = [const { Page([0; 4096]) }; 3];

/// Where each guest's RAM (and entry point) is in its IPA space.
const GUEST_IPA: u64 = 0x4000_0000;
const GUEST_SIZE: u64 = 0x1_0000;
/// Round trips the first CPU makes with guest A while the second runs guest B.
const TRIPS: u64 = 2000;

// What the two CPUs tell each other. Everything is reset before each CPU_ON.
static JOB: AtomicU64 = AtomicU64::new(0);
static SEEN_MPIDR: AtomicU64 = AtomicU64::new(u64::MAX);
static SEEN_START: AtomicU64 = AtomicU64::new(0);
static VMS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];
static B_TRIPS: AtomicU64 = AtomicU64::new(0);
static B_ERROR: AtomicU64 = AtomicU64::new(0);
static A_DONE: AtomicBool = AtomicBool::new(false);
static READY_FOR_C: AtomicBool = AtomicBool::new(false);
static C_GO: AtomicBool = AtomicBool::new(false);
static C_SECONDARY: AtomicU64 = AtomicU64::new(0);
static FINISHED: AtomicBool = AtomicBool::new(false);

const JOB_CONTEST: u64 = 1;
const JOB_BRIEF: u64 = 2;
/// smp_all.rs: stay online until every CPU is.
pub(super) const JOB_ONLINE: u64 = 3;

/// Run the SMP checks if the DT has a second CPU (`cpus`: the DT's MPIDRs).
pub fn run<W: fmt::Write>(
    facts: &Facts,
    cpus: impl Iterator<Item = u64>,
    dcache_line: usize,
    report: &mut Report<W>,
) {
    const AFFINITY: u64 = 0xff_00ff_ffff;
    let me = sysreg::mpidr_el1() & AFFINITY;
    let others: heapless::Vec<u64, 64> = cpus.map(|m| m & AFFINITY).filter(|&m| m != me).collect();
    let Some(&target) = others.first() else {
        report.note(format_args!("smp: one CPU in the DT: SMP checks skipped"));
        return;
    };
    if !facts.psci {
        // A DT with CPUs and no PSCI (Stile gives the host PSCI for the CPUs it holds).
        report.note(format_args!("smp: no PSCI in the DT: SMP checks skipped"));
        return;
    }
    let vms = match make_guests(facts, dcache_line) {
        Ok(v) => v,
        Err(e) => return report.check("smp-guests", Err(e)),
    };
    for (slot, vm) in VMS.iter().zip(vms) {
        slot.store(vm, Release);
    }
    prepare_start(dcache_line);
    let started = start_second(target, JOB_CONTEST, false).and_then(|_| saw_itself(target));
    if started
        == Err(Fail::PsciError {
            what: "CPU_ON",
            ret: psci::INVALID_PARAMETERS,
        })
    {
        // Stile relayed it, and the firmware does not know the CPU the DT names (QEMU's
        // imx8mp-evk): not Stile's to fix, so say it loudly instead of failing.
        report.note(format_args!(
            "smp: the firmware refused CPU_ON of MPIDR {target:#x}, which the DT lists \
             (INVALID_PARAMETERS): SMP checks skipped"
        ));
        return;
    }
    let up = started.is_ok();
    report.check("smp-cpu-on", started);
    if !up {
        return;
    }
    // The second CPU goes through EL2 (whose log shares our UART) until it is off: print
    // these results only then, so no EL2 line lands in the middle of a check line.
    let two = two_at_once(vms[0]);
    let busy = contest(vms[2]);
    let off = wait_off(target);
    report.check("smp-two-guests-at-once", two);
    report.check("smp-vcpu-busy-on-other-cpu", busy);
    report.check("smp-cpu-off", off);
    report.check(
        "smp-cpu-on-again-over-hvc",
        start_second(target, JOB_BRIEF, true)
            .and_then(|_| saw_itself(target))
            .and_then(|_| wait_finished())
            .and_then(|_| wait_off(target)),
    );
    let destroyed = vms.iter().try_for_each(|&vm| {
        let x = call7([Function::VmDestroy as u64, vm, 0, 0, 0, 0, 0]);
        succeeded("VM_DESTROY", x)
    });
    report.check("smp-vms-destroyed", destroyed);
    let online = super::smp_all::all_online(&others, dcache_line);
    if let Ok(n) = online {
        report.note(format_args!("smp: {n} CPUs online at once"));
    }
    report.check("smp-all-cpus-online", online.map(|_| ()));
}

/// Three small guests, A and B exiting with HVC in a loop, C counting down first.
fn make_guests(facts: &Facts, line: usize) -> Result<[u64; 3], Fail> {
    let block =
        crate::vmm::pick_memory(facts, 2 << 20).ok_or(Fail::Setup("no free 2 MiB of host RAM"))?;
    let (hvc, spin, end) = (
        (&raw const host_smp_guest_hvc) as usize,
        (&raw const host_smp_guest_spin) as usize,
        (&raw const host_smp_guest_end) as usize,
    );
    let mut vms = [0; 3];
    for (i, vm) in vms.iter_mut().enumerate() {
        let ram = PhysRange::new(block.base.0 + i as u64 * GUEST_SIZE, GUEST_SIZE);
        let code = if i == 2 { spin..end } else { hvc..spin };
        // SAFETY: `ram` is free host RAM (pick_memory avoided everything in use), mapped
        // Normal-WB in our identity map; the code is our own text.
        unsafe {
            core::ptr::copy_nonoverlapping(
                code.start as *const u8,
                ram.base.0 as *mut u8,
                code.len(),
            );
            cache::clean_dcache_range(ram.base.0 as usize, code.len(), line);
        }
        let x = call7([Function::VmCreate as u64, ram.base.0, ram.size, 0, 0, 0, 0]);
        succeeded("VM_CREATE", x)?;
        *vm = x[1];
        let word = slot::word(
            SlotKind::Ram,
            slot::PERM_READ | slot::PERM_WRITE | slot::PERM_EXEC,
            0,
        );
        let x = call7([
            Function::MemslotSet as u64,
            *vm,
            0,
            GUEST_IPA,
            ram.base.0,
            ram.size,
            word,
        ]);
        succeeded("MEMSLOT_SET", x)?;
        // SAFETY: only the page's address is taken.
        let page = unsafe { (&raw mut RUN_PAGES[i]) as u64 };
        let x = call7([Function::VcpuCreate as u64, *vm, GUEST_IPA, page, 0, 0, 0]);
        succeeded("VCPU_CREATE", x)?;
    }
    Ok(vms)
}

fn prepare_start(line: usize) {
    // SAFETY: only the second CPU reads START, and it is not running yet; the stack is
    // ours to hand over (nothing else uses it).
    unsafe {
        let top = (&raw mut SECONDARY_STACK) as u64 + core::mem::size_of::<Stack>() as u64;
        let start = &raw mut START;
        (*start).prepare(top, host_secondary_main, line);
    }
}

/// CPU_ON for the second CPU with `job`, over HVC or SMC.
fn start_second(target: u64, job: u64, over_hvc: bool) -> Result<(), Fail> {
    SEEN_MPIDR.store(u64::MAX, Release);
    SEEN_START.store(0, Release);
    FINISHED.store(false, Release);
    start_cpu(target, job, (&raw const START) as u64, over_hvc)
}

/// CPU_ON of `target` with `job` and the start block at `start` (the context id).
pub(super) fn start_cpu(target: u64, job: u64, start: u64, over_hvc: bool) -> Result<(), Fail> {
    JOB.store(job, Release);
    let entry = entry();
    let args = [psci::CPU_ON, target, entry, start];
    let x0 = if over_hvc {
        smccc::hvc(args)[0]
    } else {
        smccc::smc(args)[0]
    };
    match ret32(x0) {
        0 => Ok(()),
        ret => Err(Fail::PsciError {
            what: "CPU_ON",
            ret,
        }),
    }
}

/// Wait up to 30 s of the virtual counter for `done`.
pub(super) fn wait(mut done: impl FnMut() -> bool) -> bool {
    let (start, freq) = sysreg::counter();
    while !done() {
        if sysreg::counter().0.wrapping_sub(start) > 30 * freq {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

/// The second CPU said where it is: the CPU we started, with the context id we passed.
fn saw_itself(target: u64) -> Result<(), Fail> {
    if !wait(|| SEEN_MPIDR.load(Acquire) != u64::MAX) {
        return Err(Fail::Setup("the second CPU never reached the payload"));
    }
    let got = SEEN_MPIDR.load(Acquire) & 0xff_00ff_ffff;
    if got != target {
        return Err(Fail::Value {
            what: "MPIDR of the started CPU",
            got,
            want: target,
        });
    }
    let want = (&raw const START) as u64;
    match SEEN_START.load(Acquire) {
        got if got == want => Ok(()),
        got => Err(Fail::Value {
            what: "x0 (context id) of the started CPU",
            got,
            want,
        }),
    }
}

/// One VCPU_RUN of `vm`'s vCPU 0: x0..x3 as returned.
fn vcpu_run(vm: u64) -> [u64; 4] {
    call7([Function::VcpuRun as u64, vm, 0, 0, 0, 0, 0])
}

fn is_hvc_exit(x: [u64; 4]) -> bool {
    x[0] == Status::Success.as_u64() && x[1] == ExitReason::Hvc as u64
}

/// Run guest A while the second CPU runs guest B.
fn two_at_once(a: u64) -> Result<(), Fail> {
    if !wait(|| B_TRIPS.load(Acquire) > 0 || B_ERROR.load(Acquire) != 0) {
        return Err(Fail::Setup("the second CPU's guest never exited"));
    }
    let before = B_TRIPS.load(Acquire);
    let mut ran = 0;
    // At least TRIPS round trips, and on until guest B exits too (up to `wait`'s 30 s): QEMU
    // runs each CPU as a host thread, and on a loaded build machine the second CPU's thread
    // may get no host time during 2,000 quick round trips of ours.
    let (start, freq) = sysreg::counter();
    let b_moved = || B_TRIPS.load(Acquire) != before;
    while (ran < TRIPS || !b_moved()) && is_hvc_exit(vcpu_run(a)) {
        ran += 1;
        if sysreg::counter().0.wrapping_sub(start) > 30 * freq {
            break;
        }
    }
    let after = B_TRIPS.load(Acquire);
    A_DONE.store(true, Release);
    match B_ERROR.load(Acquire) {
        0 => ran_at_once(ran, TRIPS, before, after),
        x0 => Err(Fail::Value {
            what: "VCPU_RUN of guest B on the second CPU: x0",
            got: x0,
            want: 0,
        }),
    }
}

/// Both CPUs go for guest C's vCPU; one runs it, the other must be told BUSY.
fn contest(c: u64) -> Result<(), Fail> {
    if !wait(|| READY_FOR_C.load(Acquire)) {
        return Err(Fail::Setup(
            "the second CPU never got ready for the contest",
        ));
    }
    C_GO.store(true, Release);
    let mine = outcome(vcpu_run(c));
    if !wait(|| FINISHED.load(Acquire)) {
        return Err(Fail::Setup("the second CPU never finished the contest"));
    }
    one_ran_one_busy(mine, decode_outcome(C_SECONDARY.load(Acquire)))
}

fn outcome(x: [u64; 4]) -> Outcome {
    if is_hvc_exit(x) {
        Outcome::Ran
    } else if x[1] == Reason::Busy as u64 && x[0] != Status::Success.as_u64() {
        Outcome::Busy
    } else {
        Outcome::Other(x[0], x[1])
    }
}

/// Outcomes cross CPUs as one word: 0 not tried, 1 ran, 2 busy, else x0 of the failure.
fn encode_outcome(o: Outcome) -> u64 {
    match o {
        Outcome::NotTried => 0,
        Outcome::Ran => 1,
        Outcome::Busy => 2,
        Outcome::Other(x0, _) => x0 | 1 << 63,
    }
}

fn decode_outcome(w: u64) -> Outcome {
    match w {
        0 => Outcome::NotTried,
        1 => Outcome::Ran,
        2 => Outcome::Busy,
        x0 => Outcome::Other(x0 & !(1 << 63), 0),
    }
}

fn wait_finished() -> Result<(), Fail> {
    if wait(|| FINISHED.load(Acquire)) {
        Ok(())
    } else {
        Err(Fail::Setup("the second CPU never finished its guest run"))
    }
}

/// AFFINITY_INFO says the CPU is off (after its CPU_OFF).
pub(super) fn wait_off(target: u64) -> Result<(), Fail> {
    let off = || ret32(smccc::smc([psci::AFFINITY_INFO, target, 0, 0])[0]) == psci::AFFINITY_OFF;
    if wait(off) {
        Ok(())
    } else {
        Err(Fail::Setup("AFFINITY_INFO never said the CPU is off"))
    }
}

/// The second CPU, from `host_secondary_entry` (MMU on, our stack). Records who it is,
/// does its job, turns itself off.
extern "C" fn host_secondary_main(start: u64) -> ! {
    if JOB.load(Acquire) == JOB_ONLINE {
        // SAFETY: smp_all.rs passed one of its start blocks, written before this CPU_ON.
        let slot = unsafe { (*(start as *const Start)).slot };
        super::smp_all::online(slot as usize)
    }
    SEEN_START.store(start, Release);
    SEEN_MPIDR.store(sysreg::mpidr_el1(), Release);
    let b = VMS[1].load(Acquire);
    match JOB.load(Acquire) {
        JOB_CONTEST => {
            // Guest B until the first CPU is done with guest A (and at least one round trip).
            while !A_DONE.load(Acquire) || B_TRIPS.load(Relaxed) == 0 {
                let x = vcpu_run(b);
                if !is_hvc_exit(x) {
                    B_ERROR.store(x[0] | 1 << 63, Release);
                    break;
                }
                B_TRIPS.fetch_add(1, Release);
            }
            READY_FOR_C.store(true, Release);
            let c = VMS[2].load(Acquire);
            // One try, right after the first CPU's: whichever gets there first runs the
            // guest's long count-down, the other must be refused.
            let seen = if wait(|| C_GO.load(Acquire)) {
                outcome(vcpu_run(c))
            } else {
                Outcome::NotTried
            };
            C_SECONDARY.store(encode_outcome(seen), Release);
            FINISHED.store(true, Release);
            smccc::smc([psci::CPU_OFF, 0, 0, 0]);
        }
        _ => {
            for _ in 0..10 {
                if !is_hvc_exit(vcpu_run(b)) {
                    break;
                }
            }
            FINISHED.store(true, Release);
            smccc::hvc([psci::CPU_OFF, 0, 0, 0]);
        }
    }
    // CPU_OFF returned: it was refused. Stay out of the way.
    loop {
        aarch64_wfe();
    }
}

fn aarch64_wfe() {
    // SAFETY: WFE only waits.
    unsafe { core::arch::asm!("wfe", options(nomem, nostack)) };
}
