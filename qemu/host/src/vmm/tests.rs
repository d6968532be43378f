//! The VMM end to end against the fake Stile, with the real guest code: a correct Stile
//! passes every check in every configuration, the exact lines below; each bug fails the
//! check that names it.

use super::fake::{Bug, FakeStile};
use super::run;
use crate::dt_facts::HypNode;
use crate::el1_map::ram_set;
use crate::facts::Facts;
use crate::report::Report;
use stile_hyp::addr::PhysRange;

const GIB: u64 = 1 << 30;

pub(crate) fn facts(fwb: bool) -> Facts {
    let mut reserved = heapless::Vec::new();
    for r in [
        PhysRange::new(0x4020_0000, 0x120_0000),
        PhysRange::new(0x7b00_0000, 0x100_0000),
        PhysRange::new(0x7c00_0000, 0x400_0000),
    ] {
        reserved.push(r).unwrap();
    }
    Facts {
        ram: ram_set(&[PhysRange::new(GIB, GIB)]).unwrap(),
        stile_hyp: Some(HypNode {
            range: PhysRange::new(0x4020_0000, 0x120_0000),
            no_map: true,
        }),
        image: PhysRange::new(0x4000_0000, 0x6_1000),
        fwb,
        dic: false,
        park_entry: 0x4000_1000,
        dtb: PhysRange::new(0x4006_1000, 0x2000),
        reserved,
        machine: Some(("qemu-virt", &crate::oracle::QEMU_VIRT)),
        psci: true,
        gic: None,
        virq_wired: true,
    }
}

/// A guest image: the real header layout, the guest's text_offset and image_size.
pub(crate) fn guest_image() -> Vec<u8> {
    let mut b = vec![0u8; 0x4000];
    b[8..16].copy_from_slice(&0x8_0000u64.to_le_bytes());
    b[16..24].copy_from_slice(&0x9000u64.to_le_bytes());
    b[24..32].copy_from_slice(&0xau64.to_le_bytes());
    b[0x38..0x3c].copy_from_slice(b"ARM\x64");
    b
}

fn run_with(stile: &mut FakeStile, fwb: bool) -> (u32, u32, String) {
    let mut report = Report::new(String::new());
    run(stile, &facts(fwb), &guest_image(), &mut report);
    (report.passed(), report.failed(), report.into_inner())
}

fn checks(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("check ")).collect()
}

/// Every check a correct Stile passes on a CPU with FEAT_S2FWB, in order.
const WITH_FWB: &[&str] = &[
    "host-guest-image",
    "guest-caps",
    "guest-cacheable-device-caps",
    "hypercall-garbage-vm-destroy-no-such-vm",
    "hypercall-garbage-vm-destroy-the-host",
    "hypercall-garbage-vcpu-run-no-such-vm",
    "hypercall-garbage-vcpu-create-no-such-vm",
    "hypercall-garbage-memslot-set-no-such-vm",
    "hypercall-garbage-memslot-set-the-host",
    "hypercall-garbage-vm-create-unknown-flags",
    "hypercall-garbage-vm-create-misaligned",
    "hypercall-garbage-vm-create-zero-size",
    "hypercall-garbage-vm-create-hyp-memory",
    "hypercall-garbage-vm-create-huge",
    "hypercall-garbage-vm-create-wraps",
    "guest-vm-create",
    "guest-ram-donated",
    "guest-vcpu-create",
    "hypercall-garbage-vm-create-already-donated",
    "hypercall-garbage-vcpu-create-run-page-in-donated-ram",
    "hypercall-garbage-vcpu-create-run-page-misaligned",
    "hypercall-garbage-vcpu-create-entry-misaligned",
    "hypercall-garbage-vcpu-create-run-page-hyp-memory",
    "hypercall-garbage-vcpu-run-no-such-vcpu",
    "guest-memslots",
    "guest-cacheable-device-without-opt-in",
    "guest-cacheable-device-with-opt-in",
    "guest-device-nc-slot",
    "hypercall-garbage-vcpu-create-run-page-in-use",
    "hypercall-garbage-memslot-slot-index-16",
    "hypercall-garbage-memslot-unknown-kind",
    "hypercall-garbage-memslot-unknown-flags",
    "hypercall-garbage-memslot-misaligned-ipa",
    "hypercall-garbage-memslot-misaligned-pa",
    "hypercall-garbage-memslot-misaligned-size",
    "hypercall-garbage-memslot-zero-size",
    "hypercall-garbage-memslot-huge",
    "hypercall-garbage-memslot-wraps",
    "hypercall-garbage-memslot-overlaps-ram-slot",
    "hypercall-garbage-memslot-not-owned",
    "hypercall-garbage-memslot-device-over-ram",
    "guest-boot",
    "guest-ram-translate",
    "guest-mmio-read-1",
    "guest-mmio-read-2",
    "guest-mmio-read-4",
    "guest-mmio-read-8",
    "guest-mmio-write-1",
    "guest-mmio-write-2",
    "guest-mmio-write-4",
    "guest-mmio-write-8",
    "guest-mmio-sign-extend",
    "guest-mmio-load-pair-nisv",
    "guest-mmio-nisv-inject-abort",
    "guest-lazy-ram-handled-in-hyp",
    "guest-no-slot-fault-then-replay",
    "guest-readonly-slot-write-permission",
    "guest-cacheable-device-guest-access",
    "guest-cacheable-device-translate",
    "guest-device-nc-guest-access",
    "guest-device-nc-translate",
    "guest-probe-host-and-hyp-memory",
    "guest-fault-storm-10000",
    "guest-hvc-forwarded",
    "guest-fp-state-isolated",
    "guest-registers-kept-across-aborts",
    "hypercall-garbage-vcpu-run-bad-host-action",
    "hypercall-garbage-vcpu-run-inject-abort-after-hvc",
    "guest-system-off-event",
    "guest-exit-accounting",
    "guest-region-revoke",
    "vm-destroy-returns-memory",
    "hypercall-garbage-vm-destroy-twice",
    "hypercall-garbage-vcpu-run-destroyed-vm",
];

fn ok_lines(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| format!("check {n}: ok")).collect()
}

#[test]
fn a_correct_stile_with_fwb_passes_every_guest_check_in_order() {
    let (passed, failed, out) = run_with(&mut FakeStile::new(true), true);
    assert_eq!(checks(&out), ok_lines(WITH_FWB), "{out}");
    assert_eq!((passed, failed), (WITH_FWB.len() as u32, 0));
    assert!(
        out.contains("guest: stile-guest"),
        "the guest's console reaches the output"
    );
}

#[test]
fn without_fwb_the_cacheable_window_is_refused_and_never_used() {
    let (_, failed, out) = run_with(&mut FakeStile::new(false), false);
    let want: Vec<&str> = WITH_FWB
        .iter()
        .copied()
        .filter(|c| {
            !c.starts_with("guest-cacheable-device-guest")
                && *c != "guest-cacheable-device-translate"
        })
        .collect();
    assert_eq!(checks(&out), ok_lines(&want), "{out}");
    assert_eq!(failed, 0);
    assert!(
        out.contains("-> PA 0x7c000000: DENIED (NEEDS_FWB)"),
        "{out}"
    );
}

#[test]
fn the_narration_is_one_line_per_event_and_the_storm_is_one_line() {
    let (_, _, out) = run_with(&mut FakeStile::new(true), true);
    assert!(
        out.contains("vmm: guest MMIO read of 4 bytes at 0x9000010 (PATTERN, x4) -> 0xdeadbeef")
    );
    assert!(out.contains(
        "vmm: fault storm: 10000 MMIO exits (10000 COUNTER reads), run page exit_count +10001, \
         VMM exits +10001; GET_CAPS afterwards: SUCCESS"
    ));
    assert!(out.lines().count() < 250, "{} lines", out.lines().count());
    assert!(
        !out.contains("COUNTER, x4"),
        "storm reads are not narrated one by one"
    );
}

#[test]
fn without_an_embedded_image_only_the_image_check_prints_and_fails() {
    let mut report = Report::new(String::new());
    run(&mut FakeStile::new(true), &facts(true), &[], &mut report);
    let out = report.into_inner();
    assert_eq!(
        checks(&out),
        ["check host-guest-image: FAIL no guest image embedded"]
    );
}

#[test]
fn a_stile_without_guests_fails_get_caps_and_stops() {
    let mut stile = FakeStile::new(true);
    stile.no_guests = true;
    let (_, failed, out) = run_with(&mut stile, true);
    assert_eq!(failed, 1, "{out}");
    assert!(out.contains("check guest-caps: FAIL GET_CAPS refused: NOT_SUPPORTED (NONE)"));
    assert!(!out.contains("VM_CREATE("));
}

#[test]
fn each_bug_fails_the_check_that_names_it() {
    let cases: [(Bug, &str); 14] = [
        (
            Bug::NoSignExtend,
            "check guest-mmio-sign-extend: FAIL the guest reports wrong value (0x0 0xa5 0xffffffa5 0x0 0x0)",
        ),
        (
            Bug::WriteDataUnmasked,
            "check guest-mmio-write-1: FAIL MMIO write data 0xbad0bad0bad0ba5a, want 0x5a",
        ),
        (Bug::WrongSrt, "check guest-mmio-read-1: FAIL MMIO srt 0x2, want 0x1"),
        (
            Bug::LazyFaultsExit,
            "check guest-lazy-ram-handled-in-hyp: FAIL unexpected exit: MEMORY_FAULT (NO_SLOT) write at 0x80200000",
        ),
        (
            Bug::DonatedStillReadable,
            "check guest-ram-donated: FAIL access to 0x7ac00000 was not blocked",
        ),
        (
            Bug::NoScrub,
            "check vm-destroy-returns-memory: FAIL 0x7ac80008 holds 0x80000, want 0 (not scrubbed)",
        ),
        (
            Bug::CacheableWithoutOptIn,
            "check guest-cacheable-device-without-opt-in: FAIL MEMSLOT_SET succeeded, want DENIED (NOT_OPTED_IN)",
        ),
        (
            Bug::GuestSeesHostRam,
            "check guest-probe-host-and-hyp-memory: FAIL no MEMORY_FAULT exit",
        ),
        (
            Bug::ExitCountSkips,
            "check guest-exit-accounting: FAIL run page exit_count",
        ),
        (
            Bug::AcceptBadHostAction,
            "check hypercall-garbage-vcpu-run-bad-host-action: FAIL VCPU_RUN succeeded, want INVALID_PARAMETERS (BAD_ARGUMENT)",
        ),
        (Bug::HvcArgsTruncated, "check guest-hvc-forwarded: FAIL HVC x4 0x0, want 0x4444000000000004"),
        (
            Bug::NoFwbForGuests,
            "check guest-ram-translate: FAIL stage-2 MemAttr 0xf, want 0x6",
        ),
        (
            Bug::HostX19FromGuest,
            "check guest-registers-kept-across-aborts: FAIL a host register (x4..x30) after VCPU_RUN 0x4b45505400000013, want 0x484f5354",
        ),
        (
            Bug::RevokeKeepsMapping,
            "check guest-region-revoke: FAIL access to 0xa1000000 was not blocked",
        ),
    ];
    for (bug, want) in cases {
        let mut stile = FakeStile::new(true).with_bug(bug);
        let (_, failed, out) = run_with(&mut stile, true);
        assert!(failed > 0, "{bug:?} went unnoticed:\n{out}");
        assert!(
            out.lines().any(|l| l.starts_with(want)),
            "{bug:?}: no line starting {want:?} in\n{out}"
        );
    }
}
