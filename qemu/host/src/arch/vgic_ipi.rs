//! IPIs between two vCPUs on two host CPUs at once (docs/VGIC.md, "The kick"): the guest
//! below, a two-vCPU VM with a vGIC, vCPU 0 run by this CPU and vCPU 1 by a second CPU
//! started with PSCI CPU_ON, both at the same time. What each exit means and the verdict
//! are arch-free (vmm/vgic_ipi.rs, vmm/vgic_judge.rs). GICv3 only: GICv2's vGIC has no kick.

use super::smp::{start_cpu, wait, wait_off, Start};
use super::vmm::{call7, succeeded};
use super::{cache, gic, smccc, sysreg};
use crate::facts::{Facts, HostGic};
use crate::fail::Fail;
use crate::psci;
use crate::report::Report;
use crate::vmm::vgic_ipi::{
    self, End, Mode, Side, Step, CALL_FATAL, CALL_REPORT, CALL_SPI, CALL_TRAP, MAX_EXITS,
    MAX_SECONDS, ROUND_TRIPS, SGI, SPI, TRAP_EXIT_EVERY,
};
use core::cell::UnsafeCell;
use core::fmt;
use core::ptr::{addr_of_mut, read_volatile, write_volatile};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use stile_abi::run_page::HostAction;
use stile_abi::slot::{self, SlotKind};
use stile_abi::{caps, Function, RunPage, Status};
use stile_guest::layout::{VGIC_GICD, VGIC_GICR};
use stile_hyp::addr::PhysRange;

// The guest. x19 = mode (its x0), x20 = vCPU index, x21 = SGIs taken, x22 = SPIs taken,
// x23 = other interrupts taken, x24 = round trips, x25 = traps made, x26 = one wait's limit
// in counter ticks, x27 = GICD, x28 = the word the vCPUs share. The IRQ handler uses only
// x16/x17 and counts in x21..x23 directly (ERET restores the flags). No stack, MMU off.
core::arch::global_asm!(
    r#"
.section .text.vgic_ipi, "ax"
.balign 2048
.global host_ipi_guest
host_ipi_guest:
    mov     x19, x0
    mrs     x20, mpidr_el1
    and     x20, x20, #0xff
    adr     x9, host_ipi_vectors
    msr     vbar_el1, x9
    isb
    mov     x21, #0
    mov     x22, #0
    mov     x23, #0
    mov     x24, #0
    mov     x25, #0
    mrs     x26, cntfrq_el0
    lsl     x26, x26, #1                    // two seconds per wait
    movz    x27, #({gicd} >> 16), lsl #16
    adr     x28, host_ipi_guest
    add     x28, x28, #0x8, lsl #12         // the shared word: guest RAM + 0x8000
    // The virtual CPU interface: system registers, every priority, Group 1.
    mrs     x9, icc_sre_el1
    orr     x9, x9, #1
    msr     icc_sre_el1, x9
    isb
    mov     x9, #0xff
    msr     icc_pmr_el1, x9
    mov     x9, #1
    msr     icc_igrpen1_el1, x9
    isb
    mov     w9, #2
    str     w9, [x27]                       // GICD_CTLR.EnableGrp1
    // This vCPU's redistributor awake, the SGI at priority 0x80 and enabled.
    movz    x10, #({gicr} >> 16), lsl #16
    add     x10, x10, x20, lsl #17
    str     wzr, [x10, #0x14]
    add     x10, x10, #0x10, lsl #12
    mov     w9, #0x80808080
    str     w9, [x10, #0x400]
    mov     w9, #(1 << {sgi})
    str     w9, [x10, #0x100]
    msr     daifclr, #2
    cbnz    x20, 20f

    // vCPU 0: wait (8 s) for vCPU 1's word to say it is ready.
    mrs     x11, cntvct_el0
    add     x11, x11, x26, lsl #2
11: ldr     x9, [x28]
    cmp     x9, #1
    b.eq    12f
    mrs     x12, cntvct_el0
    cmp     x12, x11
    b.lo    11b
    b       40f
    // A round trip: the SGI to vCPU 1, then wait for its answer.
12: movz    x9, #({sgi} << 8), lsl #16
    movk    x9, #2
    msr     icc_sgi1r_el1, x9
    isb
    mrs     x11, cntvct_el0
    add     x11, x11, x26
13: cmp     x21, x24
    b.hi    14f
    mrs     x12, cntvct_el0
    cmp     x12, x11
    b.lo    13b
    b       40f
14: add     x24, x24, #1
    cmp     x24, #{trips}
    b.lo    12b
    // vCPU 1 says it waits for the SPI: ask the host to raise it.
    mrs     x11, cntvct_el0
    add     x11, x11, x26
15: ldr     x9, [x28]
    cmp     x9, #2
    b.eq    16f
    mrs     x12, cntvct_el0
    cmp     x12, x11
    b.lo    15b
    b       40f
16: movz    x0, #0xc6ff, lsl #16
    movk    x0, #({call_spi} & 0xffff)
    hvc     #0
    b       40f

    // vCPU 1: the SPI edge-triggered, priority 0x80, routed here, enabled; then ready.
20: mov     w9, #(2 << (2 * ({spi} % 16)))
    str     w9, [x27, #(0xc00 + 4 * ({spi} / 16))]
    mov     w9, #0x80808080
    str     w9, [x27, #(0x400 + ({spi} & ~3))]
    add     x10, x27, #0x6, lsl #12
    mov     x9, #1
    str     x9, [x10, #(8 * {spi})]         // GICD_IROUTER<spi> = vCPU 1
    mov     w9, #(1 << ({spi} % 32))
    str     w9, [x27, #(0x100 + 4 * ({spi} / 32))]
    dsb     sy
    mov     x9, #1
    str     x9, [x28]
    // Answer each SGI from vCPU 0 with one back.
21: mrs     x11, cntvct_el0
    add     x11, x11, x26
22: cmp     x21, x24
    b.hi    23f
    bl      30f
    mrs     x12, cntvct_el0
    cmp     x12, x11
    b.lo    22b
    b       40f
23: add     x24, x24, #1
    movz    x9, #({sgi} << 8), lsl #16
    movk    x9, #1
    msr     icc_sgi1r_el1, x9
    isb
    cmp     x24, #{trips}
    b.lo    21b
    // Then the SPI from the host.
    dsb     sy
    mov     x9, #2
    str     x9, [x28]
    mrs     x11, cntvct_el0
    add     x11, x11, x26
24: cbnz    x22, 40f
    bl      30f
    mrs     x12, cntvct_el0
    cmp     x12, x11
    b.lo    24b
    b       40f

    // In mode 1 (vCPU 1 only): a trap handled in EL2 (GICD_TYPER), and every
    // {every}th an exit to the host.
30: cbz     x19, 31f
    ldr     w9, [x27, #4]
    add     x25, x25, #1
    tst     x25, #({every} - 1)
    b.ne    31f
    movz    x0, #0xc6ff, lsl #16
    movk    x0, #({call_trap} & 0xffff)
    hvc     #0
31: ret

    // The report, for as long as the host asks.
40: msr     daifset, #2
    movz    x0, #0xc6ff, lsl #16
    movk    x0, #({call_report} & 0xffff)
    mov     x1, x20
    mov     x2, x24
    mov     x3, x21
    mov     x4, x22
    mov     x5, x23
    mov     x6, x25
    hvc     #0
    b       40b

host_ipi_irq:
    mrs     x16, icc_iar1_el1
    and     x17, x16, #0xffffff
    cmp     x17, #1020
    b.hs    53f
    cmp     x17, #{sgi}
    b.ne    50f
    add     x21, x21, #1
    b       52f
50: cmp     x17, #{spi}
    b.ne    51f
    add     x22, x22, #1
    b       52f
51: add     x23, x23, #1
52: msr     icc_eoir1_el1, x16
53: eret

host_ipi_fatal:
    movz    x0, #0xc6ff, lsl #16
    movk    x0, #({call_fatal} & 0xffff)
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    mrs     x3, far_el1
    hvc     #0
    b       host_ipi_fatal

// Every vector but "current EL with SP_ELx, IRQ" (the sixth) is fatal.
.balign 2048
host_ipi_vectors:
.rept 5
    b       host_ipi_fatal
.balign 0x80
.endr
    b       host_ipi_irq
.balign 0x80
.rept 10
    b       host_ipi_fatal
.balign 0x80
.endr
.global host_ipi_guest_end
host_ipi_guest_end:
"#,
    gicd = const VGIC_GICD,
    gicr = const VGIC_GICR,
    sgi = const SGI,
    spi = const SPI,
    trips = const ROUND_TRIPS,
    every = const TRAP_EXIT_EVERY,
    call_spi = const CALL_SPI,
    call_trap = const CALL_TRAP,
    call_report = const CALL_REPORT,
    call_fatal = const CALL_FATAL,
);

extern "C" {
    static host_ipi_guest: u8;
    static host_ipi_guest_end: u8;
}

const GUEST_IPA: u64 = 0x4000_0000;
const GUEST_SIZE: u64 = 0x1_0000;
/// The word the vCPUs share (1: vCPU 1 is ready; 2: it waits for the SPI).
const SHARED: u64 = 0x8000;

#[repr(C, align(4096))]
struct Page([u8; 4096]);
#[repr(C, align(16))]
struct Stack([u8; 16 * 1024]);

static mut RUN_PAGES: [Page; 2] = [const { Page([0; 4096]) }; 2];
static mut STACK: Stack = Stack([0; 16 * 1024]);
static mut START: Start = Start::EMPTY;

/// What the second CPU needs (set before its CPU_ON) and what it leaves.
static VM: AtomicU64 = AtomicU64::new(0);
static GICR: AtomicU64 = AtomicU64::new(0);
static STARTED: AtomicBool = AtomicBool::new(false);
static DONE: AtomicBool = AtomicBool::new(false);
static CPU1: Handoff = Handoff(UnsafeCell::new(Side::NOT_RUN));

/// The second CPU's [`Side`], written by it before DONE, read by the first after.
struct Handoff(UnsafeCell<Side>);
// SAFETY: one writer (the second CPU, before it sets DONE with Release) and one reader (the
// first CPU, after it sees DONE with Acquire, or before the second CPU is started).
unsafe impl Sync for Handoff {}

/// Both checks, if this machine can run them (else one line saying why not).
pub fn run<W: fmt::Write>(
    facts: &Facts,
    cpus: impl Iterator<Item = u64>,
    line: usize,
    report: &mut Report<W>,
) {
    const AFFINITY: u64 = 0xff_00ff_ffff;
    let me = sysreg::mpidr_el1() & AFFINITY;
    let others: heapless::Vec<u64, 64> = cpus.map(|m| m & AFFINITY).filter(|&m| m != me).collect();
    let x = call7([Function::GetCaps as u64, 0, 0, 0, 0, 0, 0]);
    let cap = x[0] == Status::Success.as_u64() && x[1] & caps::VGIC != 0;
    let skip = vgic_ipi::skip_reason(facts.gic, cap, facts.virq_wired, others.len(), facts.psci);
    let (Some(HostGic::V3(_, gicr)), None, Some(&target)) = (facts.gic, skip, others.first())
    else {
        report.note(format_args!(
            "vgic-ipi: {} and {} skipped: {}",
            Mode::Plain.check_name(),
            Mode::AtTraps.check_name(),
            skip.unwrap_or("no second CPU")
        ));
        return;
    };
    GICR.store(gicr, Release);
    for mode in Mode::ALL {
        let result = one(facts, mode, target, line).and_then(|(cpu0, cpu1)| {
            note(report, mode, &cpu0, &cpu1);
            vgic_ipi::verdict(mode, &cpu0, &cpu1)
        });
        report.check(mode.check_name(), result);
    }
}

fn note<W: fmt::Write>(report: &mut Report<W>, mode: Mode, cpu0: &Side, cpu1: &Side) {
    struct Shown<'a>(&'a Side);
    impl fmt::Display for Shown<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let s = self.0;
            match s.end {
                End::Reported(r) => write!(
                    f,
                    "vCPU {}: {} round trips, {} SGIs, {} SPIs, {} others, {} traps",
                    r.vcpu, r.round_trips, r.sgis, r.spis, r.others, r.traps
                )?,
                end => write!(f, "{end:?}")?,
            }
            write!(
                f,
                " ({} exits: {} trap, {} IRQ)",
                s.exits, s.trap_exits, s.irq_exits
            )
        }
    }
    report.note(format_args!(
        "vgic-ipi: {}: first CPU {}; second CPU {}",
        mode.check_name(),
        Shown(cpu0),
        Shown(cpu1)
    ));
}

/// One check: the VM, the second CPU running vCPU 1 while this one runs vCPU 0, the VM
/// destroyed; what each CPU saw.
fn one(facts: &Facts, mode: Mode, target: u64, line: usize) -> Result<(Side, Side), Fail> {
    let vm = make_vm(facts, mode, line)?;
    let sides = both(vm, target, line);
    let x = call7([Function::VmDestroy as u64, vm, 0, 0, 0, 0, 0]);
    succeeded("VM_DESTROY", x)?;
    sides
}

fn both(vm: u64, target: u64, line: usize) -> Result<(Side, Side), Fail> {
    if !gic::cpu_interface_on(GICR.load(Acquire)) {
        return Err(Fail::Setup(
            "this CPU's redistributor is not in the DT's GICR",
        ));
    }
    VM.store(vm, Release);
    STARTED.store(false, Release);
    DONE.store(false, Release);
    // SAFETY: the second CPU is off (the previous check waited for it), so nothing else
    // uses its start block, stack or handoff now.
    let start = unsafe {
        *CPU1.0.get() = Side::NOT_RUN;
        let top = addr_of_mut!(STACK) as u64 + core::mem::size_of::<Stack>() as u64;
        let start = &raw mut START;
        (*start).prepare(top, secondary_main, line);
        start as u64
    };
    start_cpu(target, 0, start, false)?;
    if !wait(|| STARTED.load(Acquire)) {
        return Err(Fail::Setup("the second CPU never reached the payload"));
    }
    let cpu0 = drive(vm, 0);
    let done = wait(|| DONE.load(Acquire));
    // The second CPU's EL2 log lines go to our UART too: results are printed once it is off.
    wait_off(target)?;
    if !done {
        return Err(Fail::Setup("the second CPU never finished running vCPU 1"));
    }
    // SAFETY: DONE was seen (Acquire): the second CPU wrote its side and is off now.
    let cpu1 = unsafe { *CPU1.0.get() };
    Ok((cpu0, cpu1))
}

/// The second CPU, from smp.rs's entry (MMU on, our stack): its CPU interface on, vCPU 1
/// until it reports, then CPU_OFF.
extern "C" fn secondary_main(_start: u64) -> ! {
    let side = if gic::cpu_interface_on(GICR.load(Acquire)) {
        STARTED.store(true, Release);
        drive(VM.load(Acquire), 1)
    } else {
        STARTED.store(true, Release);
        Side {
            end: End::NotRun("the second CPU's redistributor is not in the DT's GICR"),
            ..Side::NOT_RUN
        }
    };
    // SAFETY: the first CPU reads it only after DONE (below, Release).
    unsafe { *CPU1.0.get() = side };
    DONE.store(true, Release);
    smccc::smc([psci::CPU_OFF, 0, 0, 0]);
    loop {
        core::hint::spin_loop();
    }
}

fn run_page(vcpu: u64) -> *mut RunPage {
    // SAFETY: only the page's address is taken.
    unsafe { (&raw mut RUN_PAGES[vcpu as usize & 1]).cast::<RunPage>() }
}

/// VCPU_RUN of `vcpu` until it reports (or the bounds run out).
fn drive(vm: u64, vcpu: u64) -> Side {
    let page = run_page(vcpu);
    let mut side = Side::NOT_RUN;
    let (start, freq) = sysreg::counter();
    let mut action = HostAction::Complete;
    side.end = loop {
        if side.exits >= MAX_EXITS {
            break End::TooManyExits;
        }
        if sysreg::counter().0.wrapping_sub(start) > MAX_SECONDS * freq {
            break End::OutOfTime;
        }
        // SAFETY: this vCPU's run page, ours, read and written only by this CPU and by
        // Stile while it runs the vCPU for us.
        unsafe { write_volatile(addr_of_mut!((*page).host_action), action as u32) };
        let x = call7([Function::VcpuRun as u64, vm, vcpu, 0, 0, 0, 0]);
        if x[0] != Status::Success.as_u64() {
            break End::Refused(x[0], x[1]);
        }
        // SAFETY: as above; Stile filled it in before VCPU_RUN returned.
        let p = unsafe { read_volatile(page) };
        action = match vgic_ipi::step(&mut side, x[1], &p.hvc, p.pc) {
            Step::Resume(a) => a,
            Step::RaiseSpi => {
                // A rising edge, while vCPU 1 runs on the other CPU.
                for level in [1, 0] {
                    call7([Function::IrqLine as u64, vm, SPI, level, 0, 0, 0]);
                }
                HostAction::Skip
            }
            Step::Stop(end) => break end,
        };
    };
    side
}

/// The VM: the guest copied into 64 KiB of free host RAM, two vCPUs (x0 = `mode`), a vGIC.
fn make_vm(facts: &Facts, mode: Mode, line: usize) -> Result<u64, Fail> {
    let block =
        crate::vmm::pick_memory(facts, 2 << 20).ok_or(Fail::Setup("no free 2 MiB of host RAM"))?;
    let ram = PhysRange::new(block.base.0, GUEST_SIZE);
    let code = (&raw const host_ipi_guest) as usize..(&raw const host_ipi_guest_end) as usize;
    if code.len() as u64 > SHARED {
        return Err(Fail::Setup("the IPI guest's code reaches its shared word"));
    }
    // SAFETY: `ram` is free host RAM (pick_memory avoided everything in use), mapped
    // Normal-WB in our identity map; the code is our own text. Cleaned to PoC: the guest
    // runs with its MMU off.
    unsafe {
        core::ptr::copy_nonoverlapping(code.start as *const u8, ram.base.0 as *mut u8, code.len());
        write_volatile((ram.base.0 + SHARED) as *mut u64, 0);
        cache::clean_dcache_range(ram.base.0 as usize, code.len(), line);
        cache::clean_dcache_range((ram.base.0 + SHARED) as usize, 8, line);
    }
    let x = call7([Function::VmCreate as u64, ram.base.0, ram.size, 0, 0, 0, 0]);
    succeeded("VM_CREATE", x)?;
    let vm = x[1];
    let made = (|| {
        let word = slot::word(
            SlotKind::Ram,
            slot::PERM_READ | slot::PERM_WRITE | slot::PERM_EXEC,
            0,
        );
        let x = call7([
            Function::MemslotSet as u64,
            vm,
            0,
            GUEST_IPA,
            ram.base.0,
            ram.size,
            word,
        ]);
        succeeded("MEMSLOT_SET", x)?;
        for vcpu in 0..2 {
            let page = run_page(vcpu) as u64;
            let x = call7([
                Function::VcpuCreate as u64,
                vm,
                GUEST_IPA,
                page,
                mode as u64,
                0,
                0,
            ]);
            succeeded("VCPU_CREATE", x)?;
        }
        let x = call7([
            Function::VgicConfig as u64,
            vm,
            VGIC_GICD,
            VGIC_GICR,
            0,
            0,
            0,
        ]);
        succeeded("VGIC_CONFIG", x)
    })();
    match made {
        Ok(()) => Ok(vm),
        Err(e) => {
            call7([Function::VmDestroy as u64, vm, 0, 0, 0, 0, 0]);
            Err(e)
        }
    }
}
