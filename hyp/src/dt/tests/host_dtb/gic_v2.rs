//! A GICv2's virtualization frames (GICH, GICV) are EL2's: the host DTB's GIC node keeps
//! only GICD and GICC, and nothing else in the tree changes.

use super::super::{parse_ok, BOARD_16550, QEMU_V2_SMP1_512M, QEMU_V3_SMP4_1G};
use super::build_ok;
use crate::addr::{PhysAddr, PhysRange};
use crate::dt::{Gic, GicNode, HostDtbEdits};

#[test]
fn qemu_gicv2_node_is_found_with_its_cells() {
    let p = parse_ok(QEMU_V2_SMP1_512M);
    let node = p.gic_node.expect("the GIC node");
    // The root's 2 + 2 cells: 16 bytes an entry; the GIC is one of the root's children.
    assert_eq!(node.reg_entry, 16);
    assert!(node.ordinal > 0);
    assert_eq!(p.gic_reg_trim(), Some((node.ordinal, 32)));
    let frames: std::vec::Vec<_> = p.gic_virt_frames().collect();
    assert_eq!(
        frames,
        [
            PhysRange::new(0x0803_0000, 0x1_0000),
            PhysRange::new(0x0804_0000, 0x1_0000)
        ]
    );
}

#[test]
fn gicv3_needs_no_trim() {
    assert_eq!(parse_ok(QEMU_V3_SMP4_1G).gic_reg_trim(), None);
    assert_eq!(parse_ok(QEMU_V3_SMP4_1G).gic_virt_frames().count(), 0);
}

#[test]
fn a_gic_400_under_a_bus_is_cut_by_its_parents_cells() {
    // /soc@f0000000 has 1 + 1 cells and maps child 0 at 0xf0000000.
    let firmware = parse_ok(BOARD_16550);
    let node = firmware.gic_node.unwrap();
    assert_eq!(firmware.gic_reg_trim(), Some((node.ordinal, 16)));
    let edits = HostDtbEdits {
        trim_reg: firmware.gic_reg_trim(),
        ..HostDtbEdits::default()
    };
    let host = parse_ok(&build_ok(BOARD_16550, &edits));
    assert_eq!(
        host.gic,
        Some(Gic::V2 {
            gicd: PhysRange::new(0xf100_1000, 0x1000),
            gicc: PhysRange::new(0xf100_2000, 0x2000),
            gich: None,
            gicv: None
        })
    );
    assert!(!host
        .devices
        .iter()
        .any(|r| r.contains(PhysAddr(0xf100_4000))));
}

#[test]
fn host_dtb_gic_loses_gich_and_gicv_and_nothing_else_changes() {
    let firmware = parse_ok(QEMU_V2_SMP1_512M);
    let edits = HostDtbEdits {
        trim_reg: firmware.gic_reg_trim(),
        ..HostDtbEdits::default()
    };
    let host = parse_ok(&build_ok(QEMU_V2_SMP1_512M, &edits));
    let Some(Gic::V2 { gicd, gicc, .. }) = firmware.gic.clone() else {
        panic!("a GICv2 fixture");
    };
    assert_eq!(
        host.gic,
        Some(Gic::V2 {
            gicd,
            gicc,
            gich: None,
            gicv: None
        })
    );
    assert_eq!(host.gic_node, firmware.gic_node);
    assert_eq!(host.ram, firmware.ram);
    assert_eq!(host.cpus, firmware.cpus);
    assert_eq!(host.timer, firmware.timer);
    assert_eq!(host.console, firmware.console);
    // The host's device ranges are the firmware's less exactly GICH and GICV.
    for a in [0x0803_0000u64, 0x0803_ffff, 0x0804_0000, 0x0804_ffff] {
        assert!(firmware.devices.iter().any(|r| r.contains(PhysAddr(a))));
        assert!(
            !host.devices.iter().any(|r| r.contains(PhysAddr(a))),
            "{a:#x}"
        );
    }
    for a in [0x0800_0000u64, 0x0801_0000, 0x0900_0000] {
        assert!(
            host.devices.iter().any(|r| r.contains(PhysAddr(a))),
            "{a:#x}"
        );
    }
}

#[test]
fn a_trim_naming_another_node_or_a_longer_reg_changes_nothing_there() {
    let firmware = parse_ok(QEMU_V2_SMP1_512M);
    let GicNode { ordinal, .. } = firmware.gic_node.unwrap();
    // As long as the reg, or longer: copied as it is.
    let same = HostDtbEdits {
        trim_reg: Some((ordinal, 64)),
        ..HostDtbEdits::default()
    };
    assert_eq!(
        parse_ok(&build_ok(QEMU_V2_SMP1_512M, &same)).gic,
        firmware.gic
    );
    // Another node (the root has no `reg`): the GIC keeps its frames.
    let root = HostDtbEdits {
        trim_reg: Some((0, 0)),
        ..HostDtbEdits::default()
    };
    assert_eq!(
        parse_ok(&build_ok(QEMU_V2_SMP1_512M, &root)).gic,
        firmware.gic
    );
}
