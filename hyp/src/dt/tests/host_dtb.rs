//! The host VM's DTB: the firmware's tree with Stile's carve-outs, /chosen rewritten, and
//! nothing else changed.

use super::builder::with_memory;
use super::{header_field, parse_ok, BOARD_16550, QEMU_V3_SMP4_1G, TINY_LEGACY};
use crate::addr::PhysRange;
use crate::dt::node::prop;
use crate::dt::walk::find_path;
use crate::dt::{
    build_host_dtb, HostDtbEdits, HostDtbError, Reserved, ReservedSource, HOST_DTB_SLACK,
};
use fdt::nodes::AsNode;
use std::process::Command;

mod gic_v2;
mod mutated;
mod refused;
mod spin_psci;

const MIB: u64 = 1 << 20;

/// A plausible QEMU layout: the hypervisor at the top of RAM, an aperture below it.
const QEMU_CARVE_OUTS: [(&str, PhysRange); 2] = [
    ("stile-hyp", PhysRange::new(0x7e00_0000, 32 * MIB)),
    ("stile-aperture", PhysRange::new(0x7c00_0000, 16 * MIB)),
];

fn build(original: &[u8], edits: &HostDtbEdits<'_>) -> Result<Vec<u8>, HostDtbError> {
    let mut out = vec![0xa5; 64 * 1024];
    let len = build_host_dtb(original, edits, &mut out)?;
    out.truncate(len);
    Ok(out)
}

fn build_ok(original: &[u8], edits: &HostDtbEdits<'_>) -> Vec<u8> {
    match build(original, edits) {
        Ok(dtb) => dtb,
        Err(e) => panic!("host DTB refused: {e:?} ({})", e.reason()),
    }
}

fn carve(carve_outs: &[(&'static str, PhysRange)]) -> Vec<Reserved> {
    carve_outs
        .iter()
        .map(|(_, range)| Reserved {
            range: *range,
            source: ReservedSource::ReservedMemoryNode,
            no_map: true,
        })
        .collect()
}

/// The raw value of `path`'s property `name`, `None` when the node or property is absent.
fn prop_at(dtb: &[u8], path: &str, name: &str) -> Option<Vec<u8>> {
    let fdt = fdt::Fdt::new_unaligned_fallible(dtb).expect("fdt crate reads it");
    let root = fdt.root().expect("root").as_node();
    let chain = find_path(root, path).expect("walk")?;
    let node = chain.last().expect("chain ends at the node");
    prop(node, name).expect("property").map(<[u8]>::to_vec)
}

fn has_node(dtb: &[u8], path: &str) -> bool {
    let fdt = fdt::Fdt::new_unaligned_fallible(dtb).expect("fdt crate reads it");
    let root = fdt.root().expect("root").as_node();
    find_path(root, path).expect("walk").is_some()
}

/// `dtc -I dtb -O dts` of `dtb`: (success, stdout, stderr), or `None` without dtc.
fn dtc(dtb: &[u8], tag: &str) -> Option<(bool, String, String)> {
    if Command::new("dtc").arg("--version").output().is_err() {
        println!("note: dtc not installed, skipping the dtc check for {tag}");
        return None;
    }
    let path =
        std::env::temp_dir().join(format!("stile-host-dtb-{}-{tag}.dtb", std::process::id()));
    std::fs::write(&path, dtb).expect("write temp DTB");
    let run = Command::new("dtc")
        .args(["-I", "dtb", "-O", "dts", "-o", "-"])
        .arg(&path)
        .output()
        .expect("run dtc");
    let _ = std::fs::remove_file(&path);
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    Some((run.status.success(), text(run.stdout), text(run.stderr)))
}

#[test]
fn carve_outs_become_no_map_reserved_memory_children() {
    let edits = HostDtbEdits {
        carve_outs: &QEMU_CARVE_OUTS,
        ..HostDtbEdits::default()
    };
    let host = parse_ok(&build_ok(QEMU_V3_SMP4_1G, &edits));
    assert_eq!(host.reserved.as_slice(), carve(&QEMU_CARVE_OUTS).as_slice());
}

#[test]
fn ram_cpus_gic_console_psci_and_timer_are_unchanged() {
    let edits = HostDtbEdits {
        carve_outs: &QEMU_CARVE_OUTS,
        remove_initrd: true,
        bootargs: Some("console=ttyAMA0"),
        extra_chosen: &[("stile,hyp-base", 0x7e00_0000)],
        spin_table_to_psci: false,
        add_psci_hvc: false,
        trim_reg: None,
    };
    let firmware = parse_ok(QEMU_V3_SMP4_1G);
    let host = parse_ok(&build_ok(QEMU_V3_SMP4_1G, &edits));
    assert_eq!(host.ram, firmware.ram);
    assert_eq!(host.cpus, firmware.cpus);
    assert_eq!(host.gic, firmware.gic);
    assert_eq!(host.console, firmware.console);
    assert_eq!(host.psci, firmware.psci);
    assert_eq!(host.timer, firmware.timer);
}

#[test]
fn qemu_host_dtb_is_packed_to_its_content_plus_slack() {
    let edits = HostDtbEdits {
        carve_outs: &QEMU_CARVE_OUTS,
        bootargs: Some("console=ttyAMA0 earlycon"),
        extra_chosen: &[("stile,hyp-base", 0x7e00_0000)],
        ..HostDtbEdits::default()
    };
    let dtb = build_ok(QEMU_V3_SMP4_1G, &edits);
    // The dump's own content ends with its strings block; the rest of its 1 MiB is free.
    let content = (header_field(QEMU_V3_SMP4_1G, 3) + header_field(QEMU_V3_SMP4_1G, 8)) as usize;
    let content_end = (header_field(&dtb, 3) + header_field(&dtb, 8)) as usize;
    println!(
        "qemu host DTB: {} bytes ({content_end} of content, firmware's {content} of 1 MiB)",
        dtb.len()
    );
    assert_eq!(header_field(&dtb, 1) as usize, dtb.len());
    assert_eq!(
        dtb.len(),
        (content_end + HOST_DTB_SLACK).next_multiple_of(8)
    );
    // Two carve-out nodes, bootargs and one u64 cost a few hundred bytes.
    assert!(content_end > content && content_end < content + 512);
    assert!(
        dtb[content_end..].iter().all(|&b| b == 0),
        "slack is zeroed"
    );
    assert_eq!(header_field(&dtb, 5), 17, "version");
    assert_eq!(header_field(&dtb, 7), header_field(QEMU_V3_SMP4_1G, 7));
}

#[test]
fn dtc_decompiles_the_host_dtb_without_new_warnings() {
    let edits = HostDtbEdits {
        carve_outs: &QEMU_CARVE_OUTS,
        remove_initrd: true,
        bootargs: Some("console=ttyAMA0"),
        extra_chosen: &[("stile,hyp-base", 0x7e00_0000)],
        spin_table_to_psci: false,
        add_psci_hvc: false,
        trim_reg: None,
    };
    for (tag, original) in [("qemu", QEMU_V3_SMP4_1G), ("board", BOARD_16550)] {
        let Some((ok, dts, warnings)) = dtc(&build_ok(original, &edits), tag) else {
            return;
        };
        assert!(ok, "dtc refused the {tag} host DTB: {warnings}");
        let (_, _, firmware_warnings) = dtc(original, &format!("{tag}-orig")).expect("dtc");
        assert_eq!(
            warnings, firmware_warnings,
            "{tag}: dtc warns about our additions"
        );
        assert!(dts.contains("stile-hyp@7e000000 {"), "{tag}:\n{dts}");
        assert!(dts.contains("stile-aperture@7c000000 {"), "{tag}:\n{dts}");
        assert!(dts.contains("no-map;"), "{tag}:\n{dts}");
        assert!(
            dts.contains("stile,hyp-base = <0x00 0x7e000000>;"),
            "{tag}:\n{dts}"
        );
    }
}

#[test]
fn board_keeps_memreserve_and_firmware_reservations_and_gains_carve_outs() {
    let carve_outs = [("stile-hyp", PhysRange::new(0x9e00_0000, 16 * MIB))];
    let edits = HostDtbEdits {
        carve_outs: &carve_outs,
        ..HostDtbEdits::default()
    };
    let firmware = parse_ok(BOARD_16550);
    let host = parse_ok(&build_ok(BOARD_16550, &edits));
    let mut expected = firmware.reserved.to_vec();
    expected.extend(carve(&carve_outs));
    assert_eq!(host.reserved.as_slice(), expected.as_slice());
    assert_eq!(host.ram, firmware.ram);
    assert_eq!(host.cpus, firmware.cpus);
    assert_eq!(host.gic, firmware.gic);
    assert_eq!(host.console, firmware.console);
}

#[test]
fn no_edits_give_a_valid_copy_without_reserved_memory() {
    let dtb = build_ok(QEMU_V3_SMP4_1G, &HostDtbEdits::default());
    let host = parse_ok(&dtb);
    assert!(host.reserved.is_empty());
    assert!(!has_node(&dtb, "/reserved-memory"));
    if let Some((ok, _, warnings)) = dtc(&dtb, "no-edits") {
        assert!(ok, "{warnings}");
    }
    // Nothing to change: the struct and strings blocks are the firmware's, byte for byte.
    let block = |dtb: &[u8], off: usize, size: usize| {
        let start = header_field(dtb, off) as usize;
        dtb[start..start + header_field(dtb, size) as usize].to_vec()
    };
    assert_eq!(block(&dtb, 2, 9), block(QEMU_V3_SMP4_1G, 2, 9));
    assert_eq!(block(&dtb, 3, 8), block(QEMU_V3_SMP4_1G, 3, 8));
}

fn with_chosen_initrd() -> Vec<u8> {
    let mut d = with_memory();
    d.begin("chosen")
        .str("bootargs", "stile.selftest=ok console=ttyS0")
        .cells("linux,initrd-start", &[0x4800_0000])
        .cells("linux,initrd-end", &[0, 0x4810_0000])
        .str("stdout-path", "/uart")
        .end()
        .end();
    d.finish()
}

#[test]
fn initrd_is_removed_when_asked_and_kept_otherwise() {
    let original = with_chosen_initrd();
    let removed = HostDtbEdits {
        remove_initrd: true,
        ..HostDtbEdits::default()
    };
    let host = build_ok(&original, &removed);
    assert_eq!(parse_ok(&host).initrd, None);
    assert_eq!(prop_at(&host, "/chosen", "linux,initrd-start"), None);
    assert_eq!(prop_at(&host, "/chosen", "linux,initrd-end"), None);
    assert_eq!(
        prop_at(&host, "/chosen", "stdout-path").as_deref(),
        Some(&b"/uart\0"[..])
    );

    let kept = parse_ok(&build_ok(&original, &HostDtbEdits::default()));
    assert_eq!(kept.initrd, Some(PhysRange::new(0x4800_0000, MIB)));
}

#[test]
fn bootargs_are_replaced_and_extra_chosen_are_two_cells() {
    let edits = HostDtbEdits {
        bootargs: Some("console=ttyS0"),
        extra_chosen: &[
            ("stile,hyp-base", 0x1_2345_6789),
            ("stile,hyp-size", 0x200_0000),
        ],
        ..HostDtbEdits::default()
    };
    let host = build_ok(&with_chosen_initrd(), &edits);
    assert_eq!(parse_ok(&host).bootargs.as_str(), "console=ttyS0");
    let base = prop_at(&host, "/chosen", "stile,hyp-base");
    assert_eq!(
        base.as_deref(),
        Some(&[0, 0, 0, 1, 0x23, 0x45, 0x67, 0x89][..])
    );
    let size = prop_at(&host, "/chosen", "stile,hyp-size");
    assert_eq!(size.as_deref(), Some(&[0, 0, 0, 0, 2, 0, 0, 0][..]));
}

#[test]
fn extra_chosen_replaces_a_property_of_the_same_name() {
    let edits = HostDtbEdits {
        remove_initrd: true,
        extra_chosen: &[
            ("linux,initrd-start", 0x5000_0000),
            ("linux,initrd-end", 0x5010_0000),
        ],
        ..HostDtbEdits::default()
    };
    let host = parse_ok(&build_ok(&with_chosen_initrd(), &edits));
    assert_eq!(host.initrd, Some(PhysRange::new(0x5000_0000, MIB)));
}

#[test]
fn chosen_is_created_when_the_original_has_none() {
    let mut d = with_memory();
    d.end();
    let original = d.finish();
    let edits = HostDtbEdits {
        bootargs: Some("quiet"),
        extra_chosen: &[("stile,hyp-base", 0x4000_0000)],
        ..HostDtbEdits::default()
    };
    let host = build_ok(&original, &edits);
    assert_eq!(parse_ok(&host).bootargs.as_str(), "quiet");
    assert!(prop_at(&host, "/chosen", "stile,hyp-base").is_some());
    // Nothing asked of /chosen: none is made.
    assert!(!has_node(
        &build_ok(&original, &HostDtbEdits::default()),
        "/chosen"
    ));
}

#[test]
fn one_cell_root_gets_a_one_cell_reserved_memory() {
    let low = [("stile-hyp", PhysRange::new(0x4700_0000, 16 * MIB))];
    let edits = HostDtbEdits {
        carve_outs: &low,
        ..HostDtbEdits::default()
    };
    let host = build_ok(TINY_LEGACY, &edits);
    assert_eq!(parse_ok(&host).reserved.as_slice(), carve(&low).as_slice());
    let cells = prop_at(&host, "/reserved-memory", "#address-cells");
    assert_eq!(cells.as_deref(), Some(&1u32.to_be_bytes()[..]));

    let high = [("stile-hyp", PhysRange::new(0x1_0000_0000, MIB))];
    let edits = HostDtbEdits {
        carve_outs: &high,
        ..HostDtbEdits::default()
    };
    assert_eq!(
        build(TINY_LEGACY, &edits),
        Err(HostDtbError::CarveOutTooWide)
    );
}

/// A 2-cell root with a /reserved-memory stating `cells` (address, size) and maybe `ranges`.
fn with_reserved_memory(cells: Option<(u32, u32)>, ranges: bool) -> Vec<u8> {
    let mut d = with_memory();
    d.begin("reserved-memory");
    if let Some((addr, size)) = cells {
        d.cells("#address-cells", &[addr])
            .cells("#size-cells", &[size]);
    }
    if ranges {
        d.prop("ranges", &[]);
    }
    d.end().end();
    d.finish()
}

#[test]
fn reserved_memory_without_ranges_gains_an_empty_one() {
    let carve_outs = [("stile-hyp", PhysRange::new(0x4f00_0000, MIB))];
    let edits = HostDtbEdits {
        carve_outs: &carve_outs,
        ..HostDtbEdits::default()
    };
    let host = build_ok(&with_reserved_memory(Some((2, 2)), false), &edits);
    assert_eq!(prop_at(&host, "/reserved-memory", "ranges"), Some(vec![]));
    assert_eq!(
        parse_ok(&host).reserved.as_slice(),
        carve(&carve_outs).as_slice()
    );
}

#[test]
fn property_names_longer_than_31_characters_pass_through() {
    // Real trees (i.MX8MP, RK3399) carry this one; Linux and Stile accept it.
    let long = "snps,dis-u2-freeclk-exists-quirk";
    let mut d = with_memory();
    d.begin("usb@1000").prop(long, &[]).end().end();
    let host = build_ok(&d.finish(), &HostDtbEdits::default());
    assert_eq!(prop_at(&host, "/usb@1000", long), Some(vec![]));
}

#[test]
fn nops_are_dropped_and_bytes_past_totalsize_ignored() {
    let mut d = with_memory();
    d.begin("chosen")
        .cells("nop-me", &[0xdead_beef])
        .end()
        .end();
    let mut original = d.finish();
    // Overwrite that property's 16-byte token with NOPs, as in-place editors delete.
    let value = original
        .windows(4)
        .position(|w| w == [0xde, 0xad, 0xbe, 0xef])
        .unwrap();
    for word in original[value - 12..value + 4].chunks_exact_mut(4) {
        word.copy_from_slice(&4u32.to_be_bytes());
    }
    let struct_size = header_field(&original, 9);
    original.extend_from_slice(&[0xff; 64]);
    let host = build_ok(&original, &HostDtbEdits::default());
    assert_eq!(header_field(&host, 9), struct_size - 16);
    assert!(has_node(&host, "/chosen"));
    assert_eq!(prop_at(&host, "/chosen", "nop-me"), None);
    parse_ok(&host);
}
