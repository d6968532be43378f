//! The whole check suite against a fake Stile: a correct one passes everything in every
//! configuration, and each bug fails exactly the check that names it.

use super::fake::{Bug, FakeStile};
use super::run_all;
use crate::dt_facts::HypNode;
use crate::el1_map::ram_set;
use crate::facts::Facts;
use crate::report::Report;
use stile_hyp::addr::PhysRange;

const GIB: u64 = 1 << 30;

fn facts(ram_size: u64, fwb: bool) -> Facts {
    Facts {
        ram: ram_set(&[PhysRange::new(GIB, ram_size)]).unwrap(),
        stile_hyp: Some(HypNode {
            range: PhysRange::new(0x4020_0000, 0x60_0000),
            no_map: true,
        }),
        image: PhysRange::new(0x4800_0000, 0x10_0000),
        fwb,
        dic: true,
        park_entry: 0x4800_1000,
        dtb: PhysRange::new(0x4806_1000, 0x2000),
        reserved: heapless::Vec::new(),
        machine: Some(("qemu-virt", &crate::oracle::QEMU_VIRT)),
        psci: true,
        gic: None,
        virq_wired: true,
    }
}

fn run(stile: &mut FakeStile, facts: &Facts) -> (u32, u32, String) {
    let mut report = Report::new(String::new());
    run_all(stile, facts, &mut report);
    (report.passed(), report.failed(), report.into_inner())
}

fn failures(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.contains(": FAIL ")).collect()
}

const ALL_CHECKS: [&str; 25] = [
    "host-dtb-stile-hyp",
    "host-uid",
    "host-revision",
    "host-unknown-function",
    "host-translate-host-ram",
    "host-translate-flash",
    "host-translate-virt-mmio",
    "host-translate-fb-nc",
    "host-translate-aperture",
    "host-translate-hyp-memory",
    "host-translate-no-mapping",
    "host-translate-no-such-vm",
    "host-translate-out-of-range",
    "host-hyp-read-page0",
    "host-hyp-write-page0",
    "host-hyp-read-page1",
    "host-hyp-write-page1",
    "host-hyp-read-page2",
    "host-hyp-write-page2",
    "host-hyp-read-page3",
    "host-hyp-write-page3",
    "host-hyp-read-last-word",
    "host-hyp-write-last-word",
    "host-psci-version",
    "host-psci-cpu-on-no-such-cpu",
];

#[test]
fn a_correct_stile_passes_every_check_in_order() {
    let (passed, failed, out) = run(&mut FakeStile::new(0x8000_0000, true), &facts(GIB, true));
    let want: Vec<String> = ALL_CHECKS
        .iter()
        .map(|c| format!("check {c}: ok"))
        .collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
    assert_eq!((passed, failed), (25, 0));
}

#[test]
fn without_fwb_the_aperture_refusal_is_the_right_answer() {
    let (_, failed, out) = run(&mut FakeStile::new(0x8000_0000, false), &facts(GIB, false));
    assert_eq!(failed, 0, "{out}");
}

#[test]
fn with_512m_the_carve_outs_are_outside_ram_with_or_without_fwb() {
    for fwb in [true, false] {
        let (_, failed, out) = run(&mut FakeStile::new(0x6000_0000, fwb), &facts(GIB / 2, fwb));
        assert_eq!(failed, 0, "fwb={fwb}: {out}");
    }
}

#[test]
fn each_bug_fails_the_check_that_names_it() {
    let cases: [(Bug, &[&str]); 15] = [
        (
            Bug::DeviceNGnRnE,
            &["check host-translate-virt-mmio: FAIL stage-2 MemAttr 0x0, want 0x1 (x0=0x0 x1=0x9000000 x2=0x0 x3=0x400000000004c0)"],
        ),
        (
            Bug::FlashWritable,
            &["check host-translate-flash: FAIL S2AP write set, want clear (x0=0x0 x1=0x0 x2=0x4 x3=0x400000000004c4)"],
        ),
        (
            Bug::FbNcExecutable,
            &["check host-translate-fb-nc: FAIL XN clear, want set (x0=0x0 x1=0x7b000000 x2=0x44 x3=0x4d4)"],
        ),
        (
            Bug::ParAttrZero,
            &["check host-translate-host-ram: FAIL PAR attr 0x0, want 0xff (x0=0x0 x1=0x48000000 x2=0x0 x3=0x7dc)"],
        ),
        (
            Bug::RamFwb0Encoding,
            &["check host-translate-host-ram: FAIL stage-2 MemAttr 0xf, want 0x7 (x0=0x0 x1=0x48000000 x2=0x0 x3=0x7fc)"],
        ),
        (
            Bug::RamForcedWriteBack,
            &["check host-translate-host-ram: FAIL stage-2 MemAttr 0x6, want 0x7 (x0=0x0 x1=0x48000000 x2=0xff x3=0x7d8)"],
        ),
        (
            Bug::ApertureStage1Decides,
            &["check host-translate-aperture: FAIL stage-2 MemAttr 0x7, want 0x6 (x0=0x0 x1=0x7c000000 x2=0xff x3=0x7dc)"],
        ),
        (Bug::UidWord2, &["check host-uid: FAIL UID word 2 (w2) 0x70657277, want 0x70657276"]),
        (
            Bug::MaxTranslates,
            &["check host-translate-out-of-range: FAIL TRANSLATE of 0xffffffffffffffff was not refused (x0=0x0)"],
        ),
        (Bug::CpuOnStarts, &["check host-psci-cpu-on-no-such-cpu: FAIL CPU_ON of MPIDR 0xff00 was not refused (x0=0x0)"]),
        (Bug::OldPsci, &["check host-psci-version: FAIL PSCI version 0x2, want >= 0x10000"]),
        (Bug::UnknownIsSuccess, &["check host-unknown-function: FAIL w0 0x0, want 0xffffffff"]),
        (
            Bug::WrongEc,
            &[
                "check host-hyp-read-page0: FAIL ESR_EL1.EC 0x24, want 0x25",
                "check host-hyp-write-page0: FAIL ESR_EL1.EC 0x24, want 0x25",
            ],
        ),
        (
            Bug::FarPageAligned,
            &[
                "check host-hyp-read-last-word: FAIL FAR_EL1 0x407ff000, want 0x407ffffc",
                "check host-hyp-write-last-word: FAIL FAR_EL1 0x407ff000, want 0x407ffffc",
            ],
        ),
        (
            Bug::HypAccessible,
            &[
                "check host-hyp-read-page0: FAIL access to 0x40200000 was not blocked",
                "check host-hyp-write-page0: FAIL access to 0x40200000 was not blocked",
            ],
        ),
    ];
    for (bug, want) in cases {
        let mut stile = FakeStile::new(0x8000_0000, true).with_bug(bug);
        let (_, failed, out) = run(&mut stile, &facts(GIB, true));
        let got = failures(&out);
        assert!(failed > 0, "{bug:?} went unnoticed:\n{out}");
        for line in want {
            assert!(got.contains(line), "{bug:?}: no {line:?} in\n{out}");
        }
    }
}

#[test]
fn needs_fwb_before_outside_ram_is_caught_with_512m_and_no_fwb() {
    let mut stile = FakeStile::new(0x6000_0000, false).with_bug(Bug::FwbBeforeRam);
    let (_, failed, out) = run(&mut stile, &facts(GIB / 2, false));
    assert_eq!(failed, 1, "{out}");
    assert!(out.contains(
        "check host-translate-aperture: FAIL got DENIED (NEEDS_FWB), want DENIED (OUTSIDE_RAM)"
    ));
}

#[test]
fn a_readable_hypervisor_page_gets_its_own_value_written_back() {
    let mut stile = FakeStile::new(0x8000_0000, true).with_bug(Bug::HypAccessible);
    run(&mut stile, &facts(GIB, true));
    assert!(!stile.stores.is_empty());
    assert!(stile.stores.iter().all(|&(_, v)| v == 0x1234_5678));
}

#[test]
fn without_the_stile_hyp_node_the_checks_that_need_it_fail_and_the_rest_run() {
    let mut f = facts(GIB, true);
    f.stile_hyp = None;
    let (passed, failed, out) = run(&mut FakeStile::new(0x8000_0000, true), &f);
    let why = "no /reserved-memory/stile-hyp node in the DTB";
    for name in [
        "host-dtb-stile-hyp",
        "host-translate-hyp-memory",
        "host-hyp-read-page0",
        "host-hyp-write-page0",
    ] {
        assert!(out.contains(&format!("check {name}: FAIL {why}")), "{out}");
    }
    assert_eq!((passed, failed), (13, 4));
}

#[test]
fn a_node_without_no_map_fails_the_dtb_check() {
    let mut f = facts(GIB, true);
    f.stile_hyp = f.stile_hyp.map(|n| HypNode { no_map: false, ..n });
    let (_, failed, out) = run(&mut FakeStile::new(0x8000_0000, true), &f);
    assert_eq!(failed, 1);
    assert!(out.contains("check host-dtb-stile-hyp: FAIL the stile-hyp node has no no-map"));
}

#[test]
fn a_payload_placed_outside_host_ram_fails_only_that_probe() {
    let mut f = facts(GIB, true);
    f.image = PhysRange::new(0x7d00_0000, 0x10_0000);
    let (_, failed, out) = run(&mut FakeStile::new(0x8000_0000, true), &f);
    assert_eq!(failed, 1, "{out}");
    assert!(out.contains("check host-translate-host-ram: FAIL the payload runs outside"));
}
