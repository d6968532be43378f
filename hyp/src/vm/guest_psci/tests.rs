//! Guest SMP: the PSCI answers from first principles (PSCI 1.1: CPU_ON 5.1.4, AFFINITY_INFO
//! 5.1.5), then the whole path through VCPU_CREATE, VCPU_RUN and a guest's HVC.

use super::*;
use crate::addr::PhysAddr;
use crate::esr::Esr;
use crate::vm::hvc::HvcBackend;
use crate::vm::machine::Machine;
use crate::vm::run::{handle_trap, prepare, Decision, GuestTrap, Handled, Prepared, TrapKind};
use crate::vm::tests_fixture::fixture;
use stile_abi::run_page::ExitReason;
use stile_abi::Reason;

const CPU_ON: u32 = 0x8400_0003;
const AFFINITY_INFO: u32 = 0x8400_0004;
const MINUS_2: u64 = -2i64 as u64;
const MINUS_4: u64 = -4i64 as u64;
const MINUS_9: u64 = -9i64 as u64;

/// vCPU 0 on, the others created off; MPIDRs 0x8000_0000 | index.
// Boxed as the VM keeps them (call() takes the VM's own slice).
#[allow(clippy::vec_box)]
fn vcpus(n: u64) -> alloc::vec::Vec<Box<Vcpu>> {
    (0..n)
        .map(|i| {
            Box::new(Vcpu::new(
                i,
                0x4000_0000,
                0x55,
                PhysAddr(0x1000 * i),
                i != 0,
            ))
        })
        .collect()
}

#[test]
fn cpu_on_starts_an_off_vcpu_where_the_caller_says_with_its_context_id() {
    let mut v = vcpus(3);
    v[2].ctx.x[7] = 0xdead;
    v[2].el1.sctlr = 0x30d0_1805; // MMU on, from an earlier life
    assert_eq!(call(&mut v, 0, CPU_ON, [2, 0x4008_0000, 0x1234]), Some(0));
    let t = &v[2];
    assert_eq!(t.state, VcpuState::Runnable);
    assert_eq!(
        (t.ctx.elr, t.ctx.x[0], t.ctx.x[7]),
        (0x4008_0000, 0x1234, 0)
    );
    assert_eq!(t.ctx.spsr, 0x3c5, "EL1h, DAIF masked");
    assert_eq!(t.el1.sctlr & 1, 0, "MMU off");
    // vCPU 1 was not touched.
    assert_eq!(v[1].state, VcpuState::PoweredOff);
    // The MPIDR's bit 31 (RES1) and MT/U bits do not matter: affinity does.
    assert_eq!(
        call(&mut v, 0, CPU_ON, [0x8000_0001, 0x4008_0000, 0]),
        Some(0)
    );
    assert_eq!(v[1].state, VcpuState::Runnable);
}

#[test]
fn cpu_on_refusals_are_psci_errors() {
    let mut v = vcpus(2);
    // Not a vCPU of this VM.
    assert_eq!(call(&mut v, 0, CPU_ON, [2, 0x4000_0000, 0]), Some(MINUS_2));
    assert_eq!(
        call(&mut v, 0, CPU_ON, [1 << 8, 0x4000_0000, 0]),
        Some(MINUS_2)
    );
    // Itself, and a vCPU that is on.
    assert_eq!(call(&mut v, 0, CPU_ON, [0, 0x4000_0000, 0]), Some(MINUS_4));
    // A misaligned entry point, and the target stays off.
    assert_eq!(call(&mut v, 0, CPU_ON, [1, 0x4000_0002, 0]), Some(MINUS_9));
    assert_eq!(v[1].state, VcpuState::PoweredOff);
    assert_eq!(call(&mut v, 0, CPU_ON, [1, 0x4000_0000, 0]), Some(0));
    assert_eq!(call(&mut v, 0, CPU_ON, [1, 0x4000_0000, 0]), Some(MINUS_4));
    // A vCPU stopped by SYSTEM_OFF is not started again.
    let mut v = vcpus(2);
    v[1].state = VcpuState::Off;
    assert_eq!(
        call(&mut v, 0, CPU_ON, [1, 0x4000_0000, 0]),
        Some(-3i64 as u64)
    );
    assert_eq!(v[1].state, VcpuState::Off);
}

#[test]
fn affinity_info_reports_on_and_off_at_level_0_only() {
    let mut v = vcpus(2);
    assert_eq!(call(&mut v, 0, AFFINITY_INFO, [0, 0, 0]), Some(0));
    assert_eq!(call(&mut v, 0, AFFINITY_INFO, [1, 0, 0]), Some(1));
    assert_eq!(call(&mut v, 0, AFFINITY_INFO, [1, 1, 0]), Some(MINUS_2));
    assert_eq!(call(&mut v, 0, AFFINITY_INFO, [5, 0, 0]), Some(MINUS_2));
    v[1].state = VcpuState::Off;
    assert_eq!(call(&mut v, 1, AFFINITY_INFO, [1, 0, 0]), Some(1));
    // Anything else is not this module's.
    assert_eq!(call(&mut v, 0, 0x8400_0000, [0, 0, 0]), None);
}

fn hvc(f: &mut crate::vm::tests_fixture::Fixture, vm: u64, vcpu: u64, x: [u64; 4]) -> Decision {
    let v = f.hyp.vm_mut(vm).unwrap();
    v.vcpus[vcpu as usize].ctx.x[..4].copy_from_slice(&x);
    let t = GuestTrap {
        kind: TrapKind::Sync,
        esr: Esr(0x16 << 26),
        ..GuestTrap::NONE
    };
    let mut v = f.hyp.lock_vm(vm).unwrap();
    match handle_trap(&f.hyp, &mut v, vcpu, &t, &mut f.m) {
        Handled::Resume => Decision::Resume,
        Handled::Exit(reason, _) => Decision::Exit(reason),
    }
}

#[test]
fn a_secondary_waits_off_until_the_boot_vcpu_turns_it_on_then_off_again() {
    let mut f = fixture(false);
    let vm = f.guest();
    let run_page_1 = crate::vm::tests_fixture::RUN_PAGE + 0x1000;
    assert_eq!(
        f.calls().vcpu_create(vm, 0, run_page_1, 0, 2),
        Err(Reason::BadArgument),
        "unknown flag"
    );
    assert_eq!(
        f.calls()
            .vcpu_create(vm, 0, run_page_1, 0, stile_abi::vcpu::START_OFF),
        Ok(1)
    );
    // VCPU_RUN of the secondary: nothing runs, the run page says CPU_OFF.
    let v = f.hyp.vm_mut(vm).unwrap();
    assert!(matches!(prepare(v, 1, &mut f.m), Ok(Prepared::PoweredOff)));
    let page = f.m.read_run_page(run_page_1);
    assert_eq!(
        (page.exit_reason, page.system_event),
        (ExitReason::SystemEvent as u32, 0x8400_0002)
    );
    assert!(!f.hyp.vm_mut(vm).unwrap().vcpus[1].running, "not claimed");
    // The boot vCPU asks (SMC64 form) and resumes with SUCCESS, no exit.
    assert!(matches!(
        hvc(&mut f, vm, 0, [0xC400_0003, 1, 0x4000_1000, 0xc0de]),
        Decision::Resume
    ));
    assert_eq!(f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.x[0], 0);
    let v = f.hyp.vm_mut(vm).unwrap();
    let Ok(Prepared::Enter(vc)) = prepare(v, 1, &mut f.m) else {
        panic!("the secondary does not enter after CPU_ON")
    };
    assert_eq!((vc.ctx.elr, vc.ctx.x[0]), (0x4000_1000, 0xc0de));
    // It turns itself off: a SYSTEM_EVENT exit, and it waits again (not gone).
    assert!(matches!(
        hvc(&mut f, vm, 1, [0x8400_0002, 0, 0, 0]),
        Decision::Exit(ExitReason::SystemEvent)
    ));
    assert!(matches!(
        hvc(&mut f, vm, 0, [0x8400_0004, 1, 0, 0]),
        Decision::Resume
    ));
    assert_eq!(
        f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.x[0],
        1,
        "AFFINITY_INFO: OFF"
    );
    let v = f.hyp.vm_mut(vm).unwrap();
    assert!(matches!(prepare(v, 1, &mut f.m), Ok(Prepared::PoweredOff)));
}
