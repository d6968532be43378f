//! The host DTB of a board whose CPUs Stile holds (dt/spin_table.rs, vm/psci_held.rs): the
//! spin-table CPUs become PSCI CPUs, `/psci` (hvc) appears when the DT has none, the
//! mailbox page is reserved `no-map`, and nothing else about the CPUs changes.

use super::super::{parse_ok, BOARD_16550, QEMU_V3_SMP4_1G};
use super::{build, build_ok, dtc, has_node, prop_at};
use crate::addr::PhysRange;
use crate::dt::parse::discover;
use crate::dt::spin_table::SpinTable;
use crate::dt::{Conduit, EnableMethod, HostDtbEdits, HostDtbError};

const RPI3B: &[u8] = include_bytes!("../../../../testdata/boards/bcm2837-rpi-3-b.dtb");

/// What boot/src/host.rs asks for when Stile holds the Pi's CPUs.
fn held<'a>(carve_outs: &'a [(&'a str, PhysRange)]) -> HostDtbEdits<'a> {
    HostDtbEdits {
        carve_outs,
        spin_table_to_psci: true,
        add_psci_hvc: true,
        ..HostDtbEdits::default()
    }
}

#[test]
fn rpi3b_cpus_become_psci_cpus_reached_over_hvc() {
    let firmware = discover(RPI3B).unwrap();
    let spin = SpinTable::from_platform(&firmware, 0);
    let carve: Vec<(&str, PhysRange)> = spin.pages.iter().map(|p| ("stile-hyp", *p)).collect();
    let dtb = build_ok(RPI3B, &held(&carve));
    let host = parse_ok(&dtb);
    let mpidrs = |p: &crate::dt::Platform| p.cpus.iter().map(|c| c.mpidr).collect::<Vec<_>>();
    assert_eq!(mpidrs(&host), mpidrs(&firmware));
    assert!(host
        .cpus
        .iter()
        .all(|c| c.enable_method == EnableMethod::Psci));
    assert_eq!(host.psci.map(|p| p.conduit), Some(Conduit::Hvc));
    assert_eq!(
        prop_at(&dtb, "/psci", "compatible").as_deref(),
        Some(&b"arm,psci-1.0\0"[..])
    );
    // The mailboxes are gone from the CPUs, and their page is the host's no more.
    for cpu in ["/cpus/cpu@0", "/cpus/cpu@3"] {
        assert_eq!(prop_at(&dtb, cpu, "cpu-release-addr"), None, "{cpu}");
    }
    assert!(host
        .reserved
        .iter()
        .any(|r| r.no_map && r.range == PhysRange::new(0, 0x1000)));
    // /cpus's own (32-bit) enable-method is not a CPU's: left as it was.
    assert_eq!(
        prop_at(&dtb, "/cpus", "enable-method"),
        prop_at(RPI3B, "/cpus", "enable-method")
    );
    assert_eq!(host.ram, firmware.ram);
    assert_eq!(host.console, firmware.console);
}

#[test]
fn dtc_reads_the_held_cpus_tree_without_new_warnings() {
    let carve = [("stile-hyp", PhysRange::new(0, 0x1000))];
    let Some((ok, dts, warnings)) = dtc(&build_ok(RPI3B, &held(&carve)), "rpi3b-held") else {
        return;
    };
    let (_, _, firmware_warnings) = dtc(RPI3B, "rpi3b-orig").expect("dtc");
    assert!(ok, "{warnings}");
    assert_eq!(warnings, firmware_warnings);
    assert!(dts.contains("method = \"hvc\";"), "{dts}");
    assert!(!dts.contains("spin-table"), "{dts}");
}

#[test]
fn a_board_with_psci_keeps_it_and_only_its_spin_table_cpus_change() {
    // The hand-written board: spin-table CPUs and no PSCI; rewrite without adding /psci.
    let edits = HostDtbEdits {
        spin_table_to_psci: true,
        ..HostDtbEdits::default()
    };
    let host = parse_ok(&build_ok(BOARD_16550, &edits));
    assert!(host
        .cpus
        .iter()
        .all(|c| c.enable_method == EnableMethod::Psci));
    assert_eq!(host.psci, None);
    // QEMU's tree has PSCI CPUs: nothing to rewrite, its /psci stays the firmware's.
    let qemu = parse_ok(&build_ok(QEMU_V3_SMP4_1G, &edits));
    assert_eq!(qemu.cpus, parse_ok(QEMU_V3_SMP4_1G).cpus);
    assert_eq!(qemu.psci.map(|p| p.conduit), Some(Conduit::Smc));
}

#[test]
fn psci_is_never_added_beside_the_firmwares() {
    let edits = HostDtbEdits {
        add_psci_hvc: true,
        ..HostDtbEdits::default()
    };
    assert!(has_node(QEMU_V3_SMP4_1G, "/psci"));
    assert_eq!(
        build(QEMU_V3_SMP4_1G, &edits).err(),
        Some(HostDtbError::PsciExists)
    );
}

#[test]
fn without_the_edits_the_spin_table_is_the_hosts() {
    let host = parse_ok(&build_ok(RPI3B, &HostDtbEdits::default()));
    assert_eq!(host.cpus, discover(RPI3B).unwrap().cpus);
    assert_eq!(host.psci, None);
}
