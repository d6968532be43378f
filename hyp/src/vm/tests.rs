//! The VM core end to end on the build machine: VM and vCPU lifecycle, hypercalls, exits
//! and their completion (guest faults: fault_tests.rs), in the test world of tests_fixture.rs.

use crate::addr::PhysRange;
use crate::mm::stage2::Ipa;
use crate::vm::guest::MAX_VCPUS;
use crate::vm::hvc::{dispatch, HvcBackend};
use crate::vm::hyp::Calls;
use crate::vm::machine::Machine;
use crate::vm::run::Decision;
use crate::vm::tests_fixture::*;
use std::vec::Vec;
use stile_abi::run_page::{ExitReason, RunPage};
use stile_abi::{Function, Reason, Status};

#[test]
fn vm_create_donates_ram_out_of_the_host_stage_2() {
    let mut f = fixture(true);
    assert!(f.hyp.host.lock().stage2.lookup(Ipa(GUEST_RAM)).is_some());
    let vm = f.calls().vm_create(GUEST_RAM, GUEST_RAM_SIZE, 0).unwrap();
    assert_eq!(vm, 1);
    assert!(f.hyp.host.lock().stage2.lookup(Ipa(GUEST_RAM)).is_none());
    assert!(f
        .hyp
        .host
        .lock()
        .stage2
        .lookup(Ipa(GUEST_RAM + GUEST_RAM_SIZE - 1))
        .is_none());
    assert!(f
        .hyp
        .host
        .lock()
        .stage2
        .lookup(Ipa(GUEST_RAM + GUEST_RAM_SIZE))
        .is_some());
    assert_eq!(f.hyp.host.lock().why_unmapped(GUEST_RAM), Reason::NotOwned);
    assert_eq!(
        f.m.cleaned,
        [PhysRange::new(GUEST_RAM, GUEST_RAM_SIZE)],
        "what the host wrote reaches memory"
    );
}

#[test]
fn a_host_action_that_means_nothing_or_an_abort_for_an_hvc_is_refused() {
    let mut f = fixture(false);
    let vm = f.guest();
    assert_eq!(
        f.trap(vm, dabt(4, 0, false, false, false), 0x0900_0000),
        Decision::Exit(ExitReason::Mmio)
    );
    let page = f.page();
    f.m.write_run_page(
        RUN_PAGE,
        &RunPage {
            host_action: 7,
            ..page
        },
    );
    assert_eq!(
        prepare(&mut f.hyp, vm, 0, &mut f.m),
        Err(Reason::BadArgument)
    );
    f.m.write_run_page(
        RUN_PAGE,
        &RunPage {
            host_action: 0,
            ..page
        },
    );
    prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.x[0] = 0xC600_8001;
    assert_eq!(f.trap(vm, 0x16 << 26, 0), Decision::Exit(ExitReason::Hvc));
    let page = f.page();
    f.m.write_run_page(
        RUN_PAGE,
        &RunPage {
            host_action: 2,
            ..page
        },
    );
    assert_eq!(
        prepare(&mut f.hyp, vm, 0, &mut f.m),
        Err(Reason::BadArgument)
    );
}

#[test]
fn skip_after_an_hvc_exit_does_not_skip_another_instruction() {
    let mut f = fixture(false);
    let vm = f.guest();
    f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.x[0] = 0xC600_8001;
    f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.elr = 0x4000_0104; // already past the HVC
    assert_eq!(f.trap(vm, 0x16 << 26, 0), Decision::Exit(ExitReason::Hvc));
    let page = f.page();
    f.m.write_run_page(
        RUN_PAGE,
        &RunPage {
            host_action: 1,
            ..page
        },
    );
    prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    assert_eq!(f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.elr, 0x4000_0104);
}

#[test]
fn vm_create_refusals_have_reasons() {
    let mut f = fixture(true);
    let cases = [
        ([GUEST_RAM + 1, 0x1000, 0], Reason::Misaligned),
        ([GUEST_RAM, 0, 0], Reason::Misaligned),
        ([GUEST_RAM, 0x1000, 1], Reason::BadArgument),
        ([HYP_MEM.base.0, 0x1000, 0], Reason::NotOwned),
        ([0x7c00_0000, 0x1000, 0], Reason::NotOwned),
        ([!0xfff, 0x2000, 0], Reason::OutOfRange),
    ];
    for (args, want) in cases {
        let r = f.call(Function::VmCreate, [args[0], args[1], args[2], 0, 0, 0]);
        assert_eq!(
            (r[0], r[1]),
            (crate::vm::hvc::status_of(want).as_u64(), want as u64),
            "{args:x?}"
        );
    }
    f.calls().vm_create(GUEST_RAM, GUEST_RAM_SIZE, 0).unwrap();
    assert_eq!(f.calls().vm_create(GUEST_RAM, 0x1000, 0), Err(Reason::Busy));
}

#[test]
fn vcpu_limits_and_run_page_rules() {
    let mut f = fixture(false);
    let vm = f.calls().vm_create(GUEST_RAM, GUEST_RAM_SIZE, 0).unwrap();
    assert_eq!(
        f.calls().vcpu_create(vm, 0, GUEST_RAM, 0, 0),
        Err(Reason::Busy),
        "run page in donated RAM"
    );
    assert_eq!(
        f.calls().vcpu_create(vm, 0, RUN_PAGE + 8, 0, 0),
        Err(Reason::Misaligned)
    );
    assert_eq!(
        f.calls().vcpu_create(9, 0, RUN_PAGE, 0, 0),
        Err(Reason::NoSuchVm)
    );
    for i in 0..MAX_VCPUS as u64 {
        assert_eq!(
            f.calls().vcpu_create(vm, 0, RUN_PAGE + i * 0x1000, 0, 0),
            Ok(i)
        );
    }
    assert_eq!(
        f.calls().vcpu_create(vm, 0, RUN_PAGE + 0x10_0000, 0, 0),
        Err(Reason::Limit)
    );
    assert_eq!(
        f.calls().vm_create(RUN_PAGE, 0x1000, 0),
        Err(Reason::Busy),
        "a run page cannot be donated"
    );
}

#[test]
fn guest_hvc_goes_to_the_host_and_the_results_come_back() {
    let mut f = fixture(false);
    let vm = f.guest();
    for (i, v) in [0xC600_8001u64, 1, 2, 3, 4, 5, 6, 7].iter().enumerate() {
        f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.x[i] = *v;
    }
    assert_eq!(
        f.trap(vm, 0x16 << 26 | 1 << 25, 0),
        Decision::Exit(ExitReason::Hvc)
    );
    assert_eq!(f.page().hvc, [0xC600_8001, 1, 2, 3, 4, 5, 6, 7]);
    let mut page = f.page();
    page.hvc[..4].copy_from_slice(&[10, 11, 12, 13]);
    f.m.write_run_page(RUN_PAGE, &page);
    prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    assert_eq!(
        (0..4).map(|r| f.vcpu_x(vm, r)).collect::<Vec<_>>(),
        [10, 11, 12, 13]
    );
}

#[test]
fn guest_psci_off_is_a_system_event_and_the_vcpu_never_runs_again() {
    let mut f = fixture(false);
    let vm = f.guest();
    f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.x[0] = 0x8400_0008;
    assert_eq!(
        f.trap(vm, 0x16 << 26, 0),
        Decision::Exit(ExitReason::SystemEvent)
    );
    assert_eq!(f.page().system_event, 0x8400_0008);
    assert_eq!(
        prepare(&mut f.hyp, vm, 0, &mut f.m),
        Err(Reason::NoSuchVcpu)
    );
    // PSCI_VERSION is answered in EL2 without an exit.
    let mut f = fixture(false);
    let vm = f.guest();
    f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.x[0] = 0x8400_0000;
    assert_eq!(f.trap(vm, 0x16 << 26, 0), Decision::Resume);
    assert_eq!(f.vcpu_x(vm, 0), 0x1_0000);
}

#[test]
fn ten_thousand_faults_are_ten_thousand_exits() {
    let mut f = fixture(false);
    let vm = f.guest();
    for _ in 0..10_000 {
        assert_eq!(
            f.trap(vm, dabt(4, 0, false, false, false), 0x0900_0000),
            Decision::Exit(ExitReason::Mmio)
        );
        prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    }
    assert_eq!(f.page().exit_count, 10_000);
    assert_eq!(f.hyp.vm_mut(vm).unwrap().stats.exits, 10_000);
}

#[test]
fn host_action_skip_and_inject_finish_an_exit_differently() {
    let mut f = fixture(false);
    let vm = f.guest();
    f.hyp.vm_mut(vm).unwrap().vcpus[0].el1.vbar = 0x4000_8000;
    let nisv = 0x24 << 26 | 1 << 25 | 0x07;
    assert_eq!(
        f.trap(vm, nisv, 0x0900_0000),
        Decision::Exit(ExitReason::Nisv)
    );
    let page = f.page();
    f.m.write_run_page(
        RUN_PAGE,
        &RunPage {
            host_action: 2,
            ..page
        },
    );
    prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    let vc = &f.hyp.vm_mut(vm).unwrap().vcpus[0];
    assert_eq!(
        (vc.ctx.elr, vc.el1.esr >> 26, vc.el1.far),
        (0x4000_8200, 0x25, 0x0900_0000)
    );
    assert_eq!(f.page().host_action, 0, "reset after use");
    assert_eq!(f.hyp.vm_mut(vm).unwrap().stats.injected, 1);
}

#[test]
fn stats_of_the_host_are_el2s_books_and_a_destroy_gives_everything_back() {
    let mut f = fixture(true);
    let before = f.calls().stats(0).unwrap();
    assert_eq!(
        (before[1], before[2]),
        (1, 0),
        "only the host's VMID, no guests"
    );
    let vm = f.guest();
    let during = f.calls().stats(0).unwrap();
    assert_eq!((during[1], during[2]), (2, 1));
    assert!(during[0] < before[0], "the guest's stage 2 took frames");
    f.calls().vm_destroy(vm).unwrap();
    let after = f.calls().stats(0).unwrap();
    // The host's stage 2 keeps tables its donation split; a second round trip is exact.
    let vm = f.guest();
    f.calls().vm_destroy(vm).unwrap();
    assert_eq!(f.calls().stats(0).unwrap(), after);
    assert_eq!((after[1], after[2]), (1, 0));
}

#[test]
fn vm_destroy_scrubs_and_returns_the_memory() {
    let mut f = fixture(true);
    let vm = f.guest();
    f.calls().vm_destroy(vm).unwrap();
    assert_eq!(f.m.scrubbed, [PhysRange::new(GUEST_RAM, GUEST_RAM_SIZE)]);
    assert!(f.hyp.host.lock().stage2.lookup(Ipa(GUEST_RAM)).is_some());
    assert_eq!(f.calls().vm_destroy(vm), Err(Reason::NoSuchVm));
    // The memory and the run page can be used again.
    let again = f.calls().vm_create(GUEST_RAM, GUEST_RAM_SIZE, 0).unwrap();
    assert_eq!(f.calls().vcpu_create(again, 0, RUN_PAGE, 0, 0), Ok(0));
}

#[test]
fn garbage_hypercalls_are_refused_never_panicking() {
    let mut f = fixture(true);
    let vm = f.guest();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let func = Function::ALL[(seed % Function::ALL.len() as u64) as usize];
        let pick = |s: u64| match s % 4 {
            0 => s,
            1 => vm,
            2 => s & 0xffff_f000,
            _ => (s >> 8) % 20,
        };
        let args = [
            pick(seed),
            pick(seed >> 3),
            pick(seed >> 5),
            pick(seed >> 7),
            pick(seed >> 11),
            pick(seed >> 13),
        ];
        if func == Function::VcpuRun || func == Function::VmDestroy {
            continue;
        }
        let _ = dispatch(
            &[
                func as u64,
                args[0],
                args[1],
                args[2],
                args[3],
                args[4],
                args[5],
            ],
            &mut Calls {
                hyp: &f.hyp,
                m: &mut f.m,
            },
        );
    }
    // Still healthy: calls are answered and a fresh VM works.
    assert_eq!(
        f.call(Function::GetCaps, [0; 6])[0],
        Status::Success.as_u64()
    );
    for id in 1..=8 {
        let _ = f.calls().vm_destroy(id);
    }
    let vm = f.guest();
    assert_eq!(
        f.trap(vm, dabt(8, 1, false, true, false), 0x4000_2000),
        Decision::Resume
    );
}

#[test]
fn a_vcpu_running_on_one_cpu_is_busy_for_another_until_it_exits() {
    let mut f = fixture(false);
    let vm = f.guest();
    // VCPU_RUN on one CPU claims the vCPU...
    prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    // ...so a second VCPU_RUN, from another CPU, is refused and changes nothing.
    let before = f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.elr;
    assert_eq!(prepare(&mut f.hyp, vm, 0, &mut f.m), Err(Reason::Busy));
    assert_eq!(f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.elr, before);
    // The VM cannot be destroyed under the running vCPU either.
    assert_eq!(f.calls().vm_destroy(vm), Err(Reason::Busy));
    // Its exit releases it: run again, and destroy once it is back.
    assert_eq!(f.trap(vm, 0x16 << 26, 0), Decision::Exit(ExitReason::Hvc));
    prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    assert_eq!(f.trap(vm, 0x16 << 26, 0), Decision::Exit(ExitReason::Hvc));
    assert_eq!(f.calls().vm_destroy(vm), Ok(()));
}

#[test]
fn a_host_translation_fault_on_a_page_mapped_again_is_replayed_not_refused() {
    let mut f = fixture(false);
    // Host RAM the fixture maps: a translation fault there can only be a break-before-make
    // another CPU was in the middle of; by the time EL2 holds the lock, it is mapped.
    let ram = GUEST_RAM;
    assert_eq!(f.hyp.host.lock().abort(ram, true), Ok(()));
    // A permission fault on it is not a race: refused.
    assert!(f.hyp.host.lock().abort(ram, false).is_err());
    // Donated to a guest: refused with NOT_OWNED, fault kind notwithstanding.
    let _vm = f.guest();
    assert_eq!(f.hyp.host.lock().abort(ram, true), Err(Reason::NotOwned));
}
