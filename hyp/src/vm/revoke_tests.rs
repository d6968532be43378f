//! REGION_REVOKE / REGION_RESTORE against the VM core on the build machine (the fixture of
//! vm/tests_fixture.rs: qemu-virt's fb-nc at 0x7b00_0000, 16 MiB, and aperture at 0x7c00_0000).

use super::*;
use crate::mm::stage2::Ipa;
use crate::mm::tlb::fake::{Call, Seen};
use crate::vm::hvc::HvcBackend;
use crate::vm::memslot::SlotRequest;
use crate::vm::run::Decision;
use crate::vm::tests_fixture::{dabt, fixture, Fixture, GUEST_RAM, GUEST_RAM_SIZE, RUN_PAGE};
use stile_abi::run_page::ExitReason;
use stile_abi::slot::{self, SlotKind};
use stile_abi::{Function, Status};

const FB: u64 = 0x7b00_0000;
const APERTURE: u64 = 0x7c00_0000;
/// Where the tests put the fb-nc window in each guest.
const WINDOW: u64 = 0xa000_0000;
const RW: u64 = slot::PERM_READ | slot::PERM_WRITE;

fn fb_slot(index: u64, pa: u64, size: u64, eager: bool) -> SlotRequest {
    let flags = if eager { slot::FLAG_EAGER } else { 0 };
    SlotRequest {
        index,
        ipa: WINDOW,
        pa,
        size,
        word: slot::word(SlotKind::DeviceNc, RW, flags),
    }
}

/// A second guest beside `Fixture::guest`'s: its own RAM and run page, one vCPU.
fn second_guest(f: &mut Fixture) -> u64 {
    let vm = f
        .calls()
        .vm_create(GUEST_RAM + GUEST_RAM_SIZE, GUEST_RAM_SIZE, 0)
        .unwrap();
    f.calls()
        .vcpu_create(vm, 0x4000_0000, RUN_PAGE + 0x1000, 0, 0)
        .unwrap();
    vm
}

fn mapped(f: &Fixture, vm: u64, ipa: u64) -> bool {
    f.hyp.lock_vm(vm).unwrap().stage2.lookup(Ipa(ipa)).is_some()
}

fn changed(f: &Fixture, vm: u64, index: usize) -> bool {
    f.hyp.lock_vm(vm).unwrap().slots.changed(index)
}

/// The syndrome of a 64-bit load into x3.
fn load() -> u64 {
    dabt(8, 3, false, true, false)
}

#[test]
fn revoke_unmaps_the_region_from_every_guest_and_the_next_access_is_slot_changed() {
    let mut f = fixture(false);
    let a = f.guest();
    let b = second_guest(&mut f);
    f.calls()
        .memslot_set(a, &fb_slot(2, FB, 0x1_0000, true))
        .unwrap();
    f.calls()
        .memslot_set(b, &fb_slot(5, FB + 0x20_0000, 0x20_0000, true))
        .unwrap();
    assert!(mapped(&f, a, WINDOW) && mapped(&f, b, WINDOW + 0x1f_f000));

    // Break-before-make, seen from guest a's table: the unmap of its 16 pages is invalidated
    // once for its VMID, when a walk of the whole slot finds nothing mapped.
    let s2 = &f.hyp.vm_mut(a).unwrap().stage2;
    let (mut tlb, vmid_a) = (s2.recording_tlb(), s2.vmid());
    tlb.watch(Ipa(WINDOW), 0x1_0000);
    let r = revoke(&f.hyp, &mut tlb, FB).unwrap();
    assert_eq!(r, Revoked { slots: 2, vms: 2 });
    let calls = tlb.take();
    let flushes: std::vec::Vec<_> = calls
        .iter()
        .filter_map(|c| match c {
            Call::InvalidateVmid(v) => Some(*v),
            _ => None,
        })
        .zip(&tlb.flushes)
        .filter(|(v, _)| *v == vmid_a)
        .collect();
    assert_eq!(flushes.len(), 1, "{calls:?}");
    assert!(
        flushes[0].1.iter().all(|&(_, s)| s != Seen::Mapped),
        "{flushes:?}"
    );
    assert!(!mapped(&f, a, WINDOW) && !mapped(&f, b, WINDOW + 0x1f_f000));
    assert!(changed(&f, a, 2) && changed(&f, b, 5));

    // The guest's next access: an exit with the reason and the whole syndrome, replayed.
    let esr = load();
    assert_eq!(
        f.trap(a, esr, WINDOW + 0x18),
        Decision::Exit(ExitReason::MemoryFault)
    );
    let p = f.page();
    assert_eq!(p.fault_reason, Reason::SlotChanged as u64);
    assert_eq!((p.esr, p.ipa, p.far), (esr, WINDOW + 0x18, WINDOW + 0x18));
    assert_eq!(p.hpfar, (WINDOW >> 8) & !0xf);
    assert_eq!(p.size, 8);
    assert!(
        !mapped(&f, a, WINDOW),
        "not mapped again behind the VMM's back"
    );
}

#[test]
fn a_slot_covering_part_of_the_region_goes_and_the_others_stay() {
    let mut f = fixture(true);
    let vm = f.guest();
    // 64 KiB in the middle of fb-nc, and 2 MiB of the aperture beside it.
    f.calls()
        .memslot_set(vm, &fb_slot(2, FB + 0x40_0000, 0x1_0000, true))
        .unwrap();
    let aperture = SlotRequest {
        index: 3,
        ipa: 0x1_0000_0000,
        pa: APERTURE,
        size: 0x20_0000,
        word: slot::word(
            SlotKind::CacheableDevice,
            RW,
            slot::FLAG_CACHEABLE_OPT_IN | slot::FLAG_EAGER,
        ),
    };
    f.calls().memslot_set(vm, &aperture).unwrap();
    let r = f.call(Function::RegionRevoke, [FB, 0, 0, 0, 0, 0]);
    assert_eq!(r, [Status::Success.as_u64(), 1, 1, 0]);
    assert!(!mapped(&f, vm, WINDOW) && changed(&f, vm, 2));
    assert!(mapped(&f, vm, 0x1_0000_0000) && !changed(&f, vm, 3));
    // RAM is not a region's: a first touch is still resolved in EL2.
    assert_eq!(f.trap(vm, load(), 0x4000_0000), Decision::Resume);
    // And the aperture can be revoked on its own.
    assert_eq!(
        f.call(Function::RegionRevoke, [APERTURE, 0, 0, 0, 0, 0]),
        [Status::Success.as_u64(), 1, 1, 0]
    );
    assert!(!mapped(&f, vm, 0x1_0000_0000));
}

#[test]
fn memslot_set_on_a_revoked_region_is_revoked_until_restored() {
    let mut f = fixture(false);
    let vm = f.guest();
    f.calls()
        .memslot_set(vm, &fb_slot(2, FB, 0x1_0000, false))
        .unwrap();
    assert_eq!(
        f.call(Function::RegionRevoke, [FB, 0, 0, 0, 0, 0]),
        [Status::Success.as_u64(), 1, 1, 0]
    );
    // Refused last: a request that breaks another rule hears about that one first.
    let r = f.call(
        Function::MemslotSet,
        [vm, 2, WINDOW, FB, 0x1_0000, fb_slot(2, 0, 0, false).word],
    );
    assert_eq!(r[..2], [Status::Denied.as_u64(), Reason::Revoked as u64]);
    let mut misaligned = fb_slot(2, FB + 0x800, 0x1_0000, false);
    assert_eq!(
        f.calls().memslot_set(vm, &misaligned),
        Err(Reason::Misaligned)
    );
    misaligned.pa = FB + 0x1000;
    assert_eq!(f.calls().memslot_set(vm, &misaligned), Err(Reason::Revoked));
    // The refused call changed nothing: the slot is there, still changed.
    assert!(changed(&f, vm, 2));

    assert_eq!(restore(&f.hyp, FB), Ok(()));
    // Restored before the guest came back: it still learns that the mapping changed.
    assert_eq!(
        f.trap(vm, load(), WINDOW),
        Decision::Exit(ExitReason::MemoryFault)
    );
    assert_eq!(f.page().fault_reason, Reason::SlotChanged as u64);
    // The VMM registers it again; the replayed access is mapped in EL2.
    f.calls()
        .memslot_set(vm, &fb_slot(2, FB, 0x1_0000, false))
        .unwrap();
    assert!(!changed(&f, vm, 2));
    assert_eq!(f.trap(vm, load(), WINDOW), Decision::Resume);
    assert!(mapped(&f, vm, WINDOW));
}

#[test]
fn revoke_twice_restore_without_revoke_and_unknown_regions_have_named_answers() {
    let mut f = fixture(false);
    let vm = f.guest();
    f.calls()
        .memslot_set(vm, &fb_slot(2, FB, 0x1_0000, true))
        .unwrap();
    let mut tlb = crate::mm::tlb::fake::RecordingTlb::new();
    assert_eq!(restore(&f.hyp, FB), Ok(()), "not revoked: nothing to do");
    assert!(mapped(&f, vm, WINDOW) && !changed(&f, vm, 2));
    assert_eq!(
        revoke(&f.hyp, &mut tlb, FB),
        Ok(Revoked { slots: 1, vms: 1 })
    );
    tlb.take();
    let again = f.call(Function::RegionRevoke, [FB, 0, 0, 0, 0, 0]);
    assert_eq!(
        again[..2],
        [Status::Denied.as_u64(), Reason::Revoked as u64]
    );
    assert_eq!(revoke(&f.hyp, &mut tlb, FB), Err(Reason::Revoked));
    assert!(tlb.take().is_empty(), "a refused revoke touches no table");
    // Not a region's base: inside one, host RAM, Stile's own memory, nothing at all.
    for base in [FB + 0x1000, GUEST_RAM, 0x4020_0000, u64::MAX, 0] {
        assert_eq!(revoke(&f.hyp, &mut tlb, base), Err(Reason::NotOwned));
        assert_eq!(restore(&f.hyp, base), Err(Reason::NotOwned));
        let r = f.call(Function::RegionRevoke, [base, 0, 0, 0, 0, 0]);
        assert_eq!(r[..2], [Status::Denied.as_u64(), Reason::NotOwned as u64]);
    }
    // Restore twice: the second finds nothing to do.
    assert_eq!(f.call(Function::RegionRestore, [FB, 0, 0, 0, 0, 0]), [0; 4]);
    assert_eq!(f.call(Function::RegionRestore, [FB, 0, 0, 0, 0, 0]), [0; 4]);
    // A revoke with no slot over the region, and after VM_DESTROY, is fine too.
    f.calls().memslot_clear(vm, 2).unwrap();
    assert_eq!(
        revoke(&f.hyp, &mut tlb, FB),
        Ok(Revoked { slots: 0, vms: 0 })
    );
    f.calls().vm_destroy(vm).unwrap();
    assert_eq!(restore(&f.hyp, FB), Ok(()));
    assert_eq!(
        revoke(&f.hyp, &mut tlb, APERTURE),
        Ok(Revoked { slots: 0, vms: 0 })
    );
}

#[test]
fn mmio_and_ram_slots_are_never_backed_by_a_region() {
    let mut f = fixture(false);
    let vm = f.guest();
    // An MMIO slot whose (ignored) backing names the region's address.
    let mmio = SlotRequest {
        index: 4,
        ipa: 0x0a00_0000,
        pa: FB,
        size: 0x1000,
        word: slot::word(SlotKind::Mmio, RW, 0),
    };
    f.calls().memslot_set(vm, &mmio).unwrap();
    let r = f.call(Function::RegionRevoke, [FB, 0, 0, 0, 0, 0]);
    assert_eq!(r, [Status::Success.as_u64(), 0, 0, 0]);
    // MMIO slots may still be registered while it is revoked: nothing backs them.
    f.calls().memslot_set(vm, &mmio).unwrap();
    assert!(!changed(&f, vm, 4) && !changed(&f, vm, 0));
}
