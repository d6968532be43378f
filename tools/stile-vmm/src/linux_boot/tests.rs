//! The guest DTB is read back with a different FDT implementation (the `fdt` crate the
//! hypervisor parses boot DTBs with), so the expectations do not come from the writer.

use super::*;

const MIB: u64 = 1 << 20;

fn machine() -> Machine {
    Machine {
        ram_ipa: 0x8000_0000,
        ram_size: 128 * MIB,
        cpus: 2,
        uart: Some(0x0900_0000),
        cmdline: "console=ttyAMA0 earlycon rdinit=/init".into(),
        initrd: Some((0x8700_0000, 0x8710_0000)),
        gic_v2: false,
    }
}

fn prop(blob: &[u8], path: &str, name: &str) -> Vec<u8> {
    let fdt = fdt::Fdt::new_unaligned(blob).expect("a valid FDT");
    let node = fdt
        .find_node(path)
        .unwrap_or_else(|| panic!("no node {path}"));
    node.raw_property(name)
        .unwrap_or_else(|| panic!("no {path}:{name}"))
        .value
        .to_vec()
}

fn be32s(v: &[u8]) -> Vec<u32> {
    v.chunks(4)
        .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
        .collect()
}

fn be64s(v: &[u8]) -> Vec<u64> {
    v.chunks(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn the_dtb_describes_the_vm() {
    let m = machine();
    let blob = device_tree(&m).unwrap();
    assert_eq!(
        prop(&blob, "/chosen", "bootargs"),
        b"console=ttyAMA0 earlycon rdinit=/init\0"
    );
    assert_eq!(prop(&blob, "/chosen", "stdout-path"), b"/pl011@9000000\0");
    assert_eq!(
        be64s(&prop(&blob, "/chosen", "linux,initrd-start")),
        [0x8700_0000]
    );
    assert_eq!(
        be64s(&prop(&blob, "/chosen", "linux,initrd-end")),
        [0x8710_0000]
    );
    assert_eq!(
        be64s(&prop(&blob, "/memory@80000000", "reg")),
        [0x8000_0000, 128 * MIB]
    );
    assert_eq!(be32s(&prop(&blob, "/cpus/cpu@1", "reg")), [1]);
    assert_eq!(prop(&blob, "/cpus/cpu@0", "enable-method"), b"psci\0");
    assert_eq!(prop(&blob, "/psci", "method"), b"hvc\0");
    // Two redistributor frames of 128 KiB for two vCPUs.
    assert_eq!(
        be64s(&prop(&blob, "/intc@8000000", "reg")),
        [0x0800_0000, 0x1_0000, 0x080a_0000, 0x4_0000]
    );
    // The virtual timer is PPI 11, routed to both CPUs (mask 0b11 in bits 8..16).
    let timer = be32s(&prop(&blob, "/timer", "interrupts"));
    assert_eq!(&timer[6..9], &[1, 11, 0x304]);
    assert_eq!(
        be64s(&prop(&blob, "/pl011@9000000", "reg")),
        [0x0900_0000, 0x1000]
    );
}

#[test]
fn without_a_uart_or_initrd_nothing_names_them() {
    let m = Machine {
        uart: None,
        initrd: None,
        ..machine()
    };
    let blob = device_tree(&m).unwrap();
    let fdt = fdt::Fdt::new_unaligned(&blob[..]).unwrap();
    let chosen = fdt.find_node("/chosen").unwrap();
    assert!(chosen.raw_property("stdout-path").is_none());
    assert!(chosen.raw_property("linux,initrd-start").is_none());
    assert!(fdt.find_node("/pl011@9000000").is_none());
}

#[test]
fn an_overlong_command_line_is_refused_by_name() {
    let m = Machine {
        cmdline: "x".repeat(CMDLINE_MAX + 1),
        ..machine()
    };
    assert!(device_tree(&m).unwrap_err().contains("at most 2047"));
    let m = Machine {
        cmdline: "x".repeat(CMDLINE_MAX),
        ..machine()
    };
    assert!(device_tree(&m).is_ok());
}

#[test]
fn the_dtb_takes_the_last_2m_and_the_initrd_sits_below_it() {
    let kernel = Placement {
        offset: 0,
        footprint: 40 * MIB,
    };
    let l = layout(128 * MIB, kernel, Some(3 * MIB + 5)).unwrap();
    assert_eq!(l.dtb, 126 * MIB);
    let initrd = l.initrd.unwrap();
    assert_eq!(initrd % 4096, 0);
    assert!(initrd + 3 * MIB + 5 <= l.dtb, "initrd overlaps the DTB");
    assert!(initrd >= 40 * MIB, "initrd overlaps the kernel");
    assert_eq!(l.dtb - initrd, (3 * MIB + 5).div_ceil(4096) * 4096);
}

#[test]
fn what_does_not_fit_is_named() {
    let kernel = Placement {
        offset: 0,
        footprint: 40 * MIB,
    };
    // The initramfs would reach into the kernel.
    let e = layout(64 * MIB, kernel, Some(23 * MIB)).unwrap_err();
    assert!(e.contains("does not fit"), "{e}");
    // Exactly fits: kernel end == initrd start.
    assert!(layout(64 * MIB, kernel, Some(22 * MIB)).is_ok());
    // The kernel reaches into the DTB's block.
    let e = layout(40 * MIB, kernel, None).unwrap_err();
    assert!(e.contains("more --mem"), "{e}");
    // RAM that is not whole 2 MiB blocks.
    assert!(layout(64 * MIB + 4096, kernel, None).is_err());
    assert!(layout(0, kernel, None).is_err());
    // An initramfs larger than RAM.
    assert!(layout(64 * MIB, kernel, Some(u64::MAX)).is_err());
}

#[test]
fn a_gicv2_vm_gets_gicd_and_gicc() {
    let m = Machine {
        gic_v2: true,
        ..machine()
    };
    let blob = device_tree(&m).unwrap();
    assert_eq!(
        prop(&blob, "/intc@8000000", "compatible"),
        b"arm,cortex-a15-gic\0"
    );
    assert_eq!(
        be64s(&prop(&blob, "/intc@8000000", "reg")),
        [GICD_IPA, 0x1000, GICC_IPA, 0x2000]
    );
    assert_eq!(
        be32s(&prop(&blob, "/intc@8000000", "#interrupt-cells")),
        [3]
    );
}

#[test]
fn gic_versions_from_compatible() {
    assert_eq!(gic_version(b"arm,gic-v3\0"), Some(3));
    assert_eq!(gic_version(b"arm,cortex-a15-gic\0"), Some(2));
    assert_eq!(gic_version(b"vendor,thing\0arm,gic-400\0"), Some(2));
    assert_eq!(gic_version(b"arm,gic-v3-its\0"), None);
    assert_eq!(gic_version(b"arm,pl011\0arm,primecell\0"), None);
}

#[test]
fn host_gic_version_walks_the_device_tree() {
    let root = std::env::temp_dir().join(format!("stile-vmm-dt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let node = |path: &str, compatible: &[u8]| {
        let dir = root.join(path);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("compatible"), compatible).unwrap();
    };
    assert_eq!(host_gic_version(&root), None);
    node("pl011@9000000", b"arm,pl011\0arm,primecell\0");
    assert_eq!(host_gic_version(&root), None);
    node("intc@8000000", b"arm,cortex-a15-gic\0");
    assert_eq!(host_gic_version(&root), Some(2));
    std::fs::remove_dir_all(&root).unwrap();
    node("soc/interrupt-controller@1000", b"arm,gic-v3\0");
    assert_eq!(host_gic_version(&root), Some(3));
    std::fs::remove_dir_all(&root).unwrap();
}
