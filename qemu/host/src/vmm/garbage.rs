//! Hypercalls with garbage in them: bad ids, misaligned, overlapping, wrapping or huge
//! ranges, unknown kinds and flags, memory that is not the caller's to give. Each must be
//! refused with the reason (and status) docs/ABI.md gives, and Stile must keep answering.

use super::calls::{self, expect, Request, SlotRequest};
use super::machine::VmmMachine;
use crate::report::Report;
use core::fmt;
use stile_abi::slot::{word, SlotKind, PERM_READ, PERM_WRITE};
use stile_abi::{Function, Reason};
use stile_guest::ipa::Ipa;
use stile_guest::layout::{self, PAGE};
use stile_hyp::addr::PhysRange;

/// One call that must be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// `hypercall-garbage-<name>`.
    pub name: &'static str,
    pub req: Request,
    pub want: Reason,
}

/// A VM id no VM has.
pub const NO_SUCH_VM: u64 = 77;
/// A free IPA the slot cases use (no slot of the layout is there).
pub const FREE_IPA: Ipa = Ipa(0x9020_0000);

const RW: u64 = PERM_READ | PERM_WRITE;

const fn case(name: &'static str, req: Request, want: Reason) -> Case {
    Case { name, req, want }
}

const fn slot_req(vm: u64, slot: u64, ipa: u64, pa: u64, size: u64, w: u64) -> Request {
    Request::memslot_set(
        vm,
        &SlotRequest {
            slot,
            ipa: Ipa(ipa),
            pa,
            size,
            word: w,
        },
    )
}

/// Before any VM exists. `block` is the memory about to be donated, `hyp` Stile's own.
pub fn before_vm(block: PhysRange, hyp: PhysRange, run_page: u64) -> [Case; 12] {
    let ram = word(SlotKind::Ram, RW, 0);
    let b = block.base.0;
    let size = block.size;
    [
        case(
            "vm-destroy-no-such-vm",
            Request::vm_destroy(NO_SUCH_VM),
            Reason::NoSuchVm,
        ),
        case(
            "vm-destroy-the-host",
            Request::vm_destroy(0),
            Reason::NoSuchVm,
        ),
        case(
            "vcpu-run-no-such-vm",
            Request::vcpu_run(NO_SUCH_VM, 0),
            Reason::NoSuchVm,
        ),
        case(
            "vcpu-create-no-such-vm",
            Request::vcpu_create(NO_SUCH_VM, layout::RAM.base.0, run_page, 0),
            Reason::NoSuchVm,
        ),
        case(
            "memslot-set-no-such-vm",
            slot_req(NO_SUCH_VM, 0, layout::RAM.base.0, b, PAGE, ram),
            Reason::NoSuchVm,
        ),
        case(
            "memslot-set-the-host",
            slot_req(0, 0, layout::RAM.base.0, b, PAGE, ram),
            Reason::NoSuchVm,
        ),
        case(
            "vm-create-unknown-flags",
            Request::vm_create(b, size, 1),
            Reason::BadArgument,
        ),
        case(
            "vm-create-misaligned",
            Request::vm_create(b + 0x800, size, 0),
            Reason::Misaligned,
        ),
        case(
            "vm-create-zero-size",
            Request::vm_create(b, 0, 0),
            Reason::Misaligned,
        ),
        case(
            "vm-create-hyp-memory",
            Request::vm_create(hyp.base.0 & !(PAGE - 1), PAGE, 0),
            Reason::NotOwned,
        ),
        case(
            "vm-create-huge",
            Request::vm_create(b, 1 << 40, 0),
            Reason::NotOwned,
        ),
        case(
            "vm-create-wraps",
            Request::vm_create(u64::MAX - size + 1, size, 0),
            Reason::OutOfRange,
        ),
    ]
}

/// With the VM and its vCPU created (whose run page is `run_page`).
pub fn with_vm(vm: u64, block: PhysRange, hyp: PhysRange, run_page: u64, entry: Ipa) -> [Case; 6] {
    let b = block.base.0;
    [
        case(
            "vm-create-already-donated",
            Request::vm_create(b, block.size, 0),
            Reason::Busy,
        ),
        case(
            "vcpu-create-run-page-in-donated-ram",
            Request::vcpu_create(vm, entry.0, b + PAGE, 0),
            Reason::Busy,
        ),
        case(
            "vcpu-create-run-page-misaligned",
            Request::vcpu_create(vm, entry.0, run_page + 8, 0),
            Reason::Misaligned,
        ),
        case(
            "vcpu-create-entry-misaligned",
            Request::vcpu_create(vm, entry.0 + 2, run_page, 0),
            Reason::Misaligned,
        ),
        case(
            "vcpu-create-run-page-hyp-memory",
            Request::vcpu_create(vm, entry.0, hyp.base.0 & !(PAGE - 1), 0),
            Reason::NotOwned,
        ),
        case(
            "vcpu-run-no-such-vcpu",
            Request::vcpu_run(vm, 3),
            Reason::NoSuchVcpu,
        ),
    ]
}

/// With the vCPU and the first slots there. `host_pa` is host RAM not donated (the
/// payload's own image).
pub fn with_slots(
    vm: u64,
    block: PhysRange,
    run_page: u64,
    entry: Ipa,
    host_pa: u64,
) -> [Case; 13] {
    let scratch = layout::SLOT_SCRATCH;
    let ram = word(SlotKind::Ram, RW, 0);
    let spare = block.base.0 + layout::READ_ONLY_BACKING + PAGE;
    let f = FREE_IPA.0;
    [
        case(
            "vcpu-create-run-page-in-use",
            Request::vcpu_create(vm, entry.0, run_page, 0),
            Reason::Busy,
        ),
        case(
            "memslot-slot-index-16",
            slot_req(vm, 16, f, spare, PAGE, ram),
            Reason::Limit,
        ),
        case(
            "memslot-unknown-kind",
            slot_req(vm, scratch, f, spare, PAGE, 0x7f | RW),
            Reason::BadArgument,
        ),
        case(
            "memslot-unknown-flags",
            slot_req(vm, scratch, f, spare, PAGE, ram | 1 << 40),
            Reason::BadArgument,
        ),
        case(
            "memslot-misaligned-ipa",
            slot_req(vm, scratch, f + 0x800, spare, PAGE, ram),
            Reason::Misaligned,
        ),
        case(
            "memslot-misaligned-pa",
            slot_req(vm, scratch, f, spare + 0x10, PAGE, ram),
            Reason::Misaligned,
        ),
        case(
            "memslot-misaligned-size",
            slot_req(vm, scratch, f, spare, 0x1800, ram),
            Reason::Misaligned,
        ),
        case(
            "memslot-zero-size",
            slot_req(vm, scratch, f, spare, 0, ram),
            Reason::Misaligned,
        ),
        case(
            "memslot-huge",
            slot_req(vm, scratch, f, spare, 1 << 52, ram),
            Reason::OutOfRange,
        ),
        case(
            "memslot-wraps",
            slot_req(vm, scratch, u64::MAX - PAGE + 1, spare, 2 * PAGE, ram),
            Reason::OutOfRange,
        ),
        case(
            "memslot-overlaps-ram-slot",
            slot_req(
                vm,
                scratch,
                layout::RAM.base.0 + 0x10_0000,
                spare,
                PAGE,
                ram,
            ),
            Reason::Overlap,
        ),
        case(
            "memslot-not-owned",
            slot_req(vm, scratch, f, host_pa & !(PAGE - 1), PAGE, ram),
            Reason::NotOwned,
        ),
        case(
            "memslot-device-over-ram",
            slot_req(vm, scratch, f, spare, PAGE, word(SlotKind::Device, RW, 0)),
            Reason::BadKind,
        ),
    ]
}

/// After VM_DESTROY of `vm`.
pub fn after_destroy(vm: u64, vcpu: u64) -> [Case; 2] {
    [
        case(
            "vm-destroy-twice",
            Request::vm_destroy(vm),
            Reason::NoSuchVm,
        ),
        case(
            "vcpu-run-destroyed-vm",
            Request::vcpu_run(vm, vcpu),
            Reason::NoSuchVm,
        ),
    ]
}

/// Makes each call, prints `check hypercall-garbage-<name>`, and undoes what a call that
/// wrongly succeeded created (a slot, a VM), so the run goes on as planned.
pub fn run<M: VmmMachine, W: fmt::Write>(m: &mut M, report: &mut Report<W>, cases: &[Case]) {
    for c in cases {
        let got = calls::call(m, &c.req);
        if let Ok(x) = got {
            undo(m, &c.req, x[0]);
        }
        report.check(
            format_args!("hypercall-garbage-{}", c.name),
            expect(c.req.function.name(), got, Some(c.want)),
        );
    }
}

fn undo(m: &mut impl VmmMachine, req: &Request, x1: u64) {
    let a = req.args;
    let cleanup = match req.function {
        Function::MemslotSet => Some(Request::new(
            Function::MemslotClear,
            [a[0], a[1], 0, 0, 0, 0],
        )),
        Function::VmCreate => Some(Request::vm_destroy(x1)),
        _ => None,
    };
    if let Some(r) = cleanup {
        let _ = calls::call(m, &r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: PhysRange = PhysRange::new(0x7ac0_0000, 4 << 20);
    const HYP: PhysRange = PhysRange::new(0x4020_0000, 0x120_0000);

    #[test]
    fn names_are_unique_across_every_phase() {
        let mut names: std::vec::Vec<&str> = std::vec::Vec::new();
        names.extend(before_vm(BLOCK, HYP, 0x4005_f000).iter().map(|c| c.name));
        names.extend(
            with_vm(1, BLOCK, HYP, 0x4005_f000, Ipa(0x8008_0000))
                .iter()
                .map(|c| c.name),
        );
        names.extend(
            with_slots(1, BLOCK, 0x4005_f000, Ipa(0x8008_0000), 0x4000_0000)
                .iter()
                .map(|c| c.name),
        );
        names.extend(after_destroy(1, 0).iter().map(|c| c.name));
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
    }

    #[test]
    fn each_slot_case_breaks_exactly_the_rule_it_is_named_for() {
        // The other fields are valid: only the first rule docs/ABI.md checks may fire.
        for c in with_slots(1, BLOCK, 0x4005_f000, Ipa(0x8008_0000), 0x4000_0000) {
            if c.req.function != Function::MemslotSet {
                continue;
            }
            let [_, slot, ipa, pa, size, w] = c.req.args;
            let checks = [
                (slot >= 16, Reason::Limit),
                (
                    w & !stile_abi::slot::KNOWN_BITS != 0 || SlotKind::from_u8(w as u8).is_none(),
                    Reason::BadArgument,
                ),
                (
                    size == 0 || (ipa | pa | size) & (PAGE - 1) != 0,
                    Reason::Misaligned,
                ),
                (
                    ipa.checked_add(size).is_none_or(|e| e > 1 << 44),
                    Reason::OutOfRange,
                ),
            ];
            let first = checks.iter().find(|(broken, _)| *broken).map(|&(_, r)| r);
            match first {
                Some(r) => assert_eq!(r, c.want, "{}", c.name),
                None => assert!(
                    matches!(c.want, Reason::Overlap | Reason::NotOwned | Reason::BadKind),
                    "{}",
                    c.name
                ),
            }
        }
    }

    #[test]
    fn the_wrapping_vm_create_ends_past_the_top() {
        let c = before_vm(BLOCK, HYP, 0x4005_f000)[11];
        assert_eq!(c.name, "vm-create-wraps");
        assert!(c.req.args[0].checked_add(c.req.args[1]).is_none());
    }
}
