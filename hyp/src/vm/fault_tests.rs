//! Guest faults end to end on the build machine: lazy maps, MMIO exits and their
//! completion, faults outside every slot and their replay, permissions, memory kinds.

use crate::addr::PhysAddr;
use crate::mm::stage2::Ipa;
use crate::vm::hvc::HvcBackend;
use crate::vm::machine::Machine;
use crate::vm::memslot::SlotRequest;
use crate::vm::run::Decision;
use crate::vm::tests_fixture::*;
use std::vec::Vec;
use stile_abi::run_page::{ExitReason, RunPage, MMIO_REG64, MMIO_SIGN_EXTEND};
use stile_abi::slot::{self, SlotKind};
use stile_abi::{Function, Reason, Status};

#[test]
fn first_touch_of_ram_is_resolved_in_hyp_and_counted() {
    let mut f = fixture(true);
    let vm = f.guest();
    assert_eq!(
        f.trap(vm, dabt(8, 1, false, true, false), 0x4000_1000),
        Decision::Resume
    );
    let v = f.hyp.vm_mut(vm).unwrap();
    assert_eq!(v.stats.resolved_in_hyp, 1);
    assert_eq!(
        v.stage2.lookup(Ipa(0x4000_1000)).map(|l| l.pa),
        Some(PhysAddr(GUEST_RAM + 0x1000))
    );
    assert_eq!(f.call(Function::Stats, [vm, 0, 0, 0, 0, 0]), [0, 1, 0, 0]);
}

#[test]
fn a_fault_on_a_page_another_vcpu_mapped_first_resumes_and_changes_nothing() {
    let mut f = fixture(true);
    let vm = f.guest();
    let load = dabt(8, 1, false, true, false);
    assert_eq!(f.trap(vm, load, 0x4000_1000), Decision::Resume);
    let mapped = f.hyp.vm_mut(vm).unwrap().stage2.lookup(Ipa(0x4000_1000));
    let pages = f.hyp.vm_mut(vm).unwrap().stage2.table_pages();
    // The second vCPU's fault was taken before the first one's map became visible.
    assert_eq!(f.trap(vm, load, 0x4000_1000), Decision::Resume);
    let v = f.hyp.vm_mut(vm).unwrap();
    assert_eq!(v.stage2.lookup(Ipa(0x4000_1000)), mapped);
    assert_eq!(v.stage2.table_pages(), pages);
    assert_eq!(v.stats.resolved_in_hyp, 2);
}

#[test]
fn a_page_mapped_on_first_touch_is_the_page_an_eager_slot_maps() {
    let mut f = fixture(true);
    let vm = f.guest();
    let page = |index, ipa, pa, flags| SlotRequest {
        index,
        ipa,
        pa,
        size: 0x1000,
        word: slot::word(SlotKind::Ram, slot::PERM_READ | slot::PERM_EXEC, flags),
    };
    let eager = page(2, 0x6000_0000, GUEST_RAM + 0x20_0000, slot::FLAG_EAGER);
    let lazy = page(3, 0x6000_1000, GUEST_RAM + 0x20_1000, 0);
    f.calls().memslot_set(vm, &eager).unwrap();
    f.calls().memslot_set(vm, &lazy).unwrap();
    assert_eq!(
        f.hyp.vm_mut(vm).unwrap().stage2.lookup(Ipa(0x6000_1000)),
        None
    );
    assert_eq!(
        f.trap(vm, dabt(8, 1, false, true, false), 0x6000_1008),
        Decision::Resume
    );
    let s2 = &f.hyp.vm_mut(vm).unwrap().stage2;
    let (e, l) = (
        s2.lookup(Ipa(0x6000_0000)).unwrap(),
        s2.lookup(Ipa(0x6000_1000)).unwrap(),
    );
    assert_eq!((e.level, e.attrs), (l.level, l.attrs));
    assert_eq!(l.pa, PhysAddr(GUEST_RAM + 0x20_1000));
}

#[test]
fn a_lazy_map_without_table_pages_exits_no_memory_and_the_replay_maps_it() {
    let mut f = fixture(true);
    let vm = f.guest();
    let mut taken = Vec::new();
    while let Some(pa) = f.hyp.frames.lock().alloc(1) {
        taken.push(pa);
    }
    let load = dabt(8, 1, false, true, false);
    assert_eq!(
        f.trap(vm, load, 0x4000_1000),
        Decision::Exit(ExitReason::MemoryFault)
    );
    assert_eq!(f.page().fault_reason, Reason::NoMemory as u64);
    let v = f.hyp.vm_mut(vm).unwrap();
    assert_eq!(v.stage2.lookup(Ipa(0x4000_1000)), None);
    assert_eq!(
        v.stage2.table().audit_tables(),
        (0, 0),
        "nothing half-built"
    );
    assert_eq!(v.stats.resolved_in_hyp, 0);
    for pa in taken {
        f.hyp.frames.lock().free(pa, 1);
    }
    prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    assert_eq!(f.trap(vm, load, 0x4000_1000), Decision::Resume);
    assert_eq!(
        f.hyp
            .vm_mut(vm)
            .unwrap()
            .stage2
            .lookup(Ipa(0x4000_1000))
            .map(|l| l.pa),
        Some(PhysAddr(GUEST_RAM + 0x1000))
    );
}

#[test]
fn mmio_read_exits_and_the_next_run_loads_the_value_sign_extended() {
    let mut f = fixture(false);
    let vm = f.guest();
    // LDRSH x5, [0x0900_0010]
    assert_eq!(
        f.trap(vm, dabt(2, 5, true, true, false), 0x0900_0010),
        Decision::Exit(ExitReason::Mmio)
    );
    let page = f.page();
    assert_eq!(
        (page.exit_reason, page.ipa, page.size, page.srt),
        (ExitReason::Mmio as u32, 0x0900_0010, 2, 5)
    );
    assert_eq!(page.flags, MMIO_SIGN_EXTEND | MMIO_REG64);
    assert_eq!((page.pc, page.exit_count), (0x4000_0000, 1));
    f.m.write_run_page(
        RUN_PAGE,
        &RunPage {
            data: 0x8001,
            ..page
        },
    );
    prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    assert_eq!(f.vcpu_x(vm, 5), 0xffff_ffff_ffff_8001);
    assert_eq!(
        f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.elr,
        0x4000_0004,
        "stepped over the load"
    );
}

#[test]
fn mmio_write_carries_the_data_and_xzr_writes_zero() {
    let mut f = fixture(false);
    let vm = f.guest();
    f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.x[3] = 0x1122_3344_5566_7788;
    assert_eq!(
        f.trap(vm, dabt(4, 3, false, false, true), 0x0900_0000),
        Decision::Exit(ExitReason::Mmio)
    );
    assert_eq!(f.page().data, 0x5566_7788);
    prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    assert_eq!(
        f.trap(vm, dabt(8, 31, false, true, true), 0x0900_0000),
        Decision::Exit(ExitReason::Mmio)
    );
    assert_eq!(f.page().data, 0);
}

#[test]
fn access_outside_every_slot_is_a_memory_fault_and_replays_after_the_fix() {
    let mut f = fixture(false);
    let vm = f.guest();
    let esr = dabt(8, 2, false, true, false);
    assert_eq!(
        f.trap(vm, esr, 0x6000_0000),
        Decision::Exit(ExitReason::MemoryFault)
    );
    assert_eq!(
        (f.page().fault_reason, f.page().ipa),
        (Reason::NoSlot as u64, 0x6000_0000)
    );
    let fix = SlotRequest {
        index: 2,
        ipa: 0x6000_0000,
        pa: GUEST_RAM + 0x20_0000,
        size: 0x1000,
        word: slot::word(SlotKind::Ram, RWX, 0),
    };
    f.calls().memslot_set(vm, &fix).unwrap();
    prepare(&mut f.hyp, vm, 0, &mut f.m).unwrap();
    assert_eq!(
        f.hyp.vm_mut(vm).unwrap().vcpus[0].ctx.elr,
        0x4000_0000,
        "re-executes the load"
    );
    assert_eq!(
        f.trap(vm, esr, 0x6000_0000),
        Decision::Resume,
        "now resolved in EL2"
    );
}

#[test]
fn write_to_a_read_only_slot_is_a_permission_fault() {
    let mut f = fixture(false);
    let vm = f.guest();
    let ro = SlotRequest {
        index: 3,
        ipa: 0x7000_0000,
        pa: GUEST_RAM + 0x30_0000,
        size: 0x1000,
        word: slot::word(SlotKind::Ram, slot::PERM_READ, 0),
    };
    f.calls().memslot_set(vm, &ro).unwrap();
    assert_eq!(
        f.trap(vm, dabt(4, 1, false, false, true), 0x7000_0000),
        Decision::Exit(ExitReason::MemoryFault)
    );
    assert_eq!(f.page().fault_reason, Reason::Permission as u64);
}

#[test]
fn cacheable_device_slot_needs_fwb_then_opt_in_and_gets_write_back() {
    let slot_of = |flags| SlotRequest {
        index: 4,
        ipa: 0x1_0000_0000,
        pa: 0x7c00_0000,
        size: 0x20_0000,
        word: slot::word(
            SlotKind::CacheableDevice,
            slot::PERM_READ | slot::PERM_WRITE,
            flags,
        ),
    };
    let mut f = fixture(false);
    let vm = f.guest();
    assert_eq!(
        f.calls()
            .memslot_set(vm, &slot_of(slot::FLAG_CACHEABLE_OPT_IN)),
        Err(Reason::NeedsFwb)
    );
    let mut f = fixture(true);
    let vm = f.guest();
    assert_eq!(
        f.calls().memslot_set(vm, &slot_of(0)),
        Err(Reason::NotOptedIn)
    );
    f.calls()
        .memslot_set(vm, &slot_of(slot::FLAG_CACHEABLE_OPT_IN | slot::FLAG_EAGER))
        .unwrap();
    let r = f.call(Function::Translate, [vm, 0x1_0000_0000, 0, 0, 0, 0]);
    assert_eq!(
        (r[0], r[1], r[2]),
        (Status::Success.as_u64(), 0x7c00_0000, 0xff)
    );
    assert_eq!(crate::mm::s2_attrs::memattr(r[3]), 0b0110);
}
