//! Guest SMP on one host CPU (docs/ABI.md, "Guest SMP"): a two-vCPU guest whose secondary is
//! created powered off. The boot vCPU starts it with PSCI CPU_ON and asks AFFINITY_INFO; the
//! secondary reports its context id and MPIDR, then turns itself off again. Every answer the
//! guest gets is passed out through an HVC exit and compared with what PSCI says it must be.

use super::cache;
use super::vmm::{call7, succeeded};
use crate::facts::Facts;
use crate::fail::Fail;
use crate::report::Report;
use core::fmt;
use stile_abi::slot::{self, SlotKind};
use stile_abi::{ExitReason, Function, RunPage, Status};

core::arch::global_asm!(
    r#"
.section .text.guest_smp, "ax"
.balign 4
// vCPU 0: CPU_ON(MPIDR 1, the secondary's entry, context 0x5eed) and AFFINITY_INFO(1),
// each answer out in x1 of an HVC exit (x0 = 0xC6FF_0001: not PSCI, not Stile's).
.global host_gsmp_boot
host_gsmp_boot:
    movz    x0, #0x8400, lsl #16
    movk    x0, #3                      // CPU_ON (SMC32 form)
    mov     x1, #1
    adr     x2, host_gsmp_secondary
    movz    x3, #0x5eed
    hvc     #0
    mov     x1, x0
    movz    x0, #0xc6ff, lsl #16
    movk    x0, #1
    hvc     #0
1:  movz    x0, #0x8400, lsl #16
    movk    x0, #4                      // AFFINITY_INFO(1, level 0)
    mov     x1, #1
    mov     x2, #0
    hvc     #0
    mov     x1, x0
    movz    x0, #0xc6ff, lsl #16
    movk    x0, #1
    hvc     #0
    b       1b
// vCPU 1, from CPU_ON: x0 = the context id. Report it and MPIDR_EL1, then CPU_OFF.
.global host_gsmp_secondary
host_gsmp_secondary:
    mov     x1, x0
    mrs     x2, mpidr_el1
    movz    x0, #0xc6ff, lsl #16
    movk    x0, #2
    hvc     #0
    movz    x0, #0x8400, lsl #16
    movk    x0, #2                      // CPU_OFF
    hvc     #0
    b       .
.global host_gsmp_end
host_gsmp_end:
"#
);

extern "C" {
    static host_gsmp_boot: u8;
    static host_gsmp_end: u8;
}

#[repr(C, align(4096))]
struct Page([u8; 4096]);
static mut RUN_PAGES: [Page; 2] = [const { Page([0; 4096]) }; 2];

const GUEST_IPA: u64 = 0x4000_0000;
const GUEST_SIZE: u64 = 0x1_0000;
const PSCI_CPU_OFF: u64 = 0x8400_0002;

/// The check, on a guest of its own (destroyed at the end).
pub fn run<W: fmt::Write>(facts: &Facts, dcache_line: usize, report: &mut Report<W>) {
    let vm = match make_guest(facts, dcache_line) {
        Ok(vm) => vm,
        Err(e) => return report.check("guest-smp-setup", Err(e)),
    };
    report.check("guest-smp-cpu-on", scenario(vm));
    let x = call7([Function::VmDestroy as u64, vm, 0, 0, 0, 0, 0]);
    report.check("guest-smp-destroyed", succeeded("VM_DESTROY", x));
}

fn scenario(vm: u64) -> Result<(), Fail> {
    // The secondary is off: VCPU_RUN returns at once, the run page says CPU_OFF.
    expect_off(vm)?;
    // The boot vCPU turns it on: SUCCESS (0).
    expect_hvc(vm, 0, 0xC6FF_0001, [0, 0])?;
    // The secondary starts where CPU_ON said, with the context id, as MPIDR Aff0 = 1.
    expect_hvc(vm, 1, 0xC6FF_0002, [0x5eed, 1 << 31 | 1])?;
    // AFFINITY_INFO while it is on: ON (0).
    expect_hvc(vm, 0, 0xC6FF_0001, [0, 0])?;
    // It calls CPU_OFF: a SYSTEM_EVENT exit, then it is off again.
    let x = run_vcpu(vm, 1);
    if x[1] != ExitReason::SystemEvent as u64 || page(1).system_event != PSCI_CPU_OFF {
        return Err(Fail::Value {
            what: "the secondary's CPU_OFF exit",
            got: x[1],
            want: ExitReason::SystemEvent as u64,
        });
    }
    expect_off(vm)?;
    // AFFINITY_INFO now: OFF (1).
    expect_hvc(vm, 0, 0xC6FF_0001, [1, 0])
}

fn run_vcpu(vm: u64, vcpu: u64) -> [u64; 4] {
    call7([Function::VcpuRun as u64, vm, vcpu, 0, 0, 0, 0])
}

fn page(vcpu: usize) -> RunPage {
    // SAFETY: Stile wrote the record before VCPU_RUN returned; nothing writes it now.
    unsafe { core::ptr::read_volatile((&raw const RUN_PAGES[vcpu]).cast::<RunPage>()) }
}

fn expect_off(vm: u64) -> Result<(), Fail> {
    let x = run_vcpu(vm, 1);
    let p = page(1);
    if x[0] != Status::Success.as_u64()
        || x[1] != ExitReason::SystemEvent as u64
        || p.system_event != PSCI_CPU_OFF
    {
        return Err(Fail::Value {
            what: "VCPU_RUN of the powered-off secondary (SYSTEM_EVENT, CPU_OFF)",
            got: x[1] << 32 | p.system_event,
            want: (ExitReason::SystemEvent as u64) << 32 | PSCI_CPU_OFF,
        });
    }
    Ok(())
}

/// Run `vcpu` to its HVC exit with `fid`, whose x1 and x2 must be `want`.
fn expect_hvc(vm: u64, vcpu: u64, fid: u64, want: [u64; 2]) -> Result<(), Fail> {
    let x = run_vcpu(vm, vcpu);
    if x[0] != Status::Success.as_u64() || x[1] != ExitReason::Hvc as u64 {
        return Err(Fail::Value {
            what: "VCPU_RUN to the guest's next HVC",
            got: x[1],
            want: ExitReason::Hvc as u64,
        });
    }
    let hvc = page(vcpu as usize).hvc;
    for (what, got, want) in [
        ("the guest's call", hvc[0], fid),
        ("the PSCI answer / context id", hvc[1], want[0]),
        ("the secondary's MPIDR", hvc[2] & 0xffff_ffff, want[1]),
    ] {
        // x2 is only reported by the secondary.
        if fid == 0xC6FF_0001 && what == "the secondary's MPIDR" {
            continue;
        }
        if got != want {
            return Err(Fail::Value { what, got, want });
        }
    }
    Ok(())
}

fn make_guest(facts: &Facts, line: usize) -> Result<u64, Fail> {
    let ram = crate::vmm::pick_memory(facts, GUEST_SIZE)
        .ok_or(Fail::Setup("no free host RAM for the guest-SMP guest"))?;
    let code = (&raw const host_gsmp_boot) as usize..(&raw const host_gsmp_end) as usize;
    // SAFETY: `ram` is free host RAM (pick_memory avoided everything in use), mapped
    // Normal-WB in our identity map; the code is our own text.
    unsafe {
        core::ptr::copy_nonoverlapping(code.start as *const u8, ram.base.0 as *mut u8, code.len());
        cache::clean_dcache_range(ram.base.0 as usize, code.len(), line);
    }
    let x = call7([
        Function::VmCreate as u64,
        ram.base.0,
        GUEST_SIZE,
        0,
        0,
        0,
        0,
    ]);
    succeeded("VM_CREATE", x)?;
    let vm = x[1];
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
        GUEST_SIZE,
        word,
    ]);
    succeeded("MEMSLOT_SET", x)?;
    for (vcpu, flags) in [(0, 0), (1, stile_abi::vcpu::START_OFF)] {
        // SAFETY: only the page's address is taken.
        let page = unsafe { (&raw mut RUN_PAGES[vcpu]) as u64 };
        let x = call7([
            Function::VcpuCreate as u64,
            vm,
            GUEST_IPA,
            page,
            0,
            flags,
            0,
        ]);
        succeeded("VCPU_CREATE", x)?;
    }
    Ok(vm)
}
