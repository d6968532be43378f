//! Edits and originals that get an error, never a panic or a half-edited tree.

use super::{build, build_ok, carve, with_reserved_memory, MIB, QEMU_CARVE_OUTS};
use crate::addr::PhysRange;
use crate::dt::tests::builder::Dtb;
use crate::dt::tests::{parse_ok, BOARD_16550, QEMU_V3_SMP4_1G};
use crate::dt::{build_host_dtb, HostDtbEdits, HostDtbError, HOST_DTB_SLACK};

#[test]
fn too_small_a_buffer_is_out_of_space_not_a_panic() {
    let edits = HostDtbEdits {
        carve_outs: &QEMU_CARVE_OUTS,
        bootargs: Some("console=ttyAMA0"),
        ..HostDtbEdits::default()
    };
    let needed = build_ok(QEMU_V3_SMP4_1G, &edits).len();
    let mut exact = vec![0; needed];
    assert_eq!(
        build_host_dtb(QEMU_V3_SMP4_1G, &edits, &mut exact),
        Ok(needed)
    );
    for len in [needed - 1, needed - HOST_DTB_SLACK, 2000, 40, 0] {
        let mut out = vec![0; len];
        assert_eq!(
            build_host_dtb(QEMU_V3_SMP4_1G, &edits, &mut out),
            Err(HostDtbError::OutOfSpace),
            "{len}-byte buffer"
        );
    }
}

#[test]
fn carve_out_names_that_are_not_plain_dt_names_are_refused() {
    let range = PhysRange::new(0x7e00_0000, MIB);
    let too_long = "a-carve-out-name-of-32-chars-xyz";
    assert_eq!(too_long.len(), 32);
    for name in [
        "",
        "stile hyp",
        "stile@hyp",
        "stile/hyp",
        "0stile",
        "-stile",
        "stile\0",
        too_long,
        "stilé",
    ] {
        let carve_outs = [(name, range)];
        let edits = HostDtbEdits {
            carve_outs: &carve_outs,
            ..HostDtbEdits::default()
        };
        assert_eq!(
            build(QEMU_V3_SMP4_1G, &edits),
            Err(HostDtbError::BadName),
            "{name:?}"
        );
    }
    for name in ["stile-hyp", "Stile,aperture_2.b+c", &too_long[..31]] {
        let carve_outs = [(name, range)];
        let edits = HostDtbEdits {
            carve_outs: &carve_outs,
            ..HostDtbEdits::default()
        };
        assert!(build(QEMU_V3_SMP4_1G, &edits).is_ok(), "{name:?}");
    }
}

#[test]
fn odd_extra_chosen_names_are_refused() {
    for name in [
        "",
        "stile hyp-base",
        "stile@base",
        "a-property-name-of-32-characters",
    ] {
        let extra = [(name, 1)];
        let edits = HostDtbEdits {
            extra_chosen: &extra,
            ..HostDtbEdits::default()
        };
        assert_eq!(
            build(QEMU_V3_SMP4_1G, &edits),
            Err(HostDtbError::BadName),
            "{name:?}"
        );
    }
}

#[test]
fn empty_or_wrapping_carve_outs_are_refused() {
    for range in [
        PhysRange::new(0x7e00_0000, 0),
        PhysRange::new(u64::MAX - 0xfff, 0x2000),
    ] {
        let carve_outs = [("stile-hyp", range)];
        let edits = HostDtbEdits {
            carve_outs: &carve_outs,
            ..HostDtbEdits::default()
        };
        assert_eq!(build(QEMU_V3_SMP4_1G, &edits), Err(HostDtbError::BadRange));
    }
}

#[test]
fn carve_out_names_may_repeat_only_at_different_addresses() {
    let apertures = [
        ("stile-aperture", PhysRange::new(0x7c00_0000, MIB)),
        ("stile-aperture", PhysRange::new(0x7d00_0000, MIB)),
    ];
    let edits = HostDtbEdits {
        carve_outs: &apertures,
        ..HostDtbEdits::default()
    };
    let host = parse_ok(&build_ok(QEMU_V3_SMP4_1G, &edits));
    assert_eq!(host.reserved.as_slice(), carve(&apertures).as_slice());

    let twice = [apertures[0], apertures[0]];
    let edits = HostDtbEdits {
        carve_outs: &twice,
        ..HostDtbEdits::default()
    };
    assert_eq!(build(QEMU_V3_SMP4_1G, &edits), Err(HostDtbError::NameTaken));
}

#[test]
fn a_carve_out_named_like_a_firmware_reservation_is_refused() {
    // board-16550 has /reserved-memory/secmon@9f000000: replacing it would free it.
    let carve_outs = [("secmon", PhysRange::new(0x9f00_0000, MIB))];
    let edits = HostDtbEdits {
        carve_outs: &carve_outs,
        ..HostDtbEdits::default()
    };
    assert_eq!(build(BOARD_16550, &edits), Err(HostDtbError::NameTaken));
}

#[test]
fn chosen_properties_set_twice_or_nul_bootargs_are_refused() {
    let twice = HostDtbEdits {
        extra_chosen: &[("stile,hyp-base", 1), ("stile,hyp-base", 2)],
        ..HostDtbEdits::default()
    };
    assert_eq!(
        build(QEMU_V3_SMP4_1G, &twice),
        Err(HostDtbError::DuplicateProperty)
    );
    let bootargs_twice = HostDtbEdits {
        bootargs: Some("quiet"),
        extra_chosen: &[("bootargs", 1)],
        ..HostDtbEdits::default()
    };
    assert_eq!(
        build(QEMU_V3_SMP4_1G, &bootargs_twice),
        Err(HostDtbError::DuplicateProperty)
    );
    let nul = HostDtbEdits {
        bootargs: Some("quiet\0stile.x=1"),
        ..HostDtbEdits::default()
    };
    assert_eq!(build(QEMU_V3_SMP4_1G, &nul), Err(HostDtbError::BadBootargs));
}

#[test]
fn reserved_memory_with_cells_unlike_the_root_is_refused() {
    let carve_outs = [("stile-hyp", PhysRange::new(0x4f00_0000, MIB))];
    let edits = HostDtbEdits {
        carve_outs: &carve_outs,
        ..HostDtbEdits::default()
    };
    for original in [
        with_reserved_memory(Some((1, 1)), true),
        with_reserved_memory(Some((2, 1)), true),
        with_reserved_memory(None, true),
    ] {
        assert_eq!(
            build(&original, &edits),
            Err(HostDtbError::ReservedMemoryCells)
        );
    }
    // Without carve-outs the node is not ours to judge: copied as it is.
    assert!(build(
        &with_reserved_memory(Some((1, 1)), true),
        &HostDtbEdits::default()
    )
    .is_ok());
}

#[test]
fn root_without_cell_counts_cannot_take_carve_outs() {
    let mut d = Dtb::new();
    d.begin("")
        .begin("memory@40000000")
        .str("device_type", "memory")
        .cells("reg", &[0, 0x4000_0000, 0x1000_0000])
        .end()
        .end();
    let original = d.finish();
    parse_ok(&original);
    let carve_outs = [("stile-hyp", PhysRange::new(0x4f00_0000, MIB))];
    let edits = HostDtbEdits {
        carve_outs: &carve_outs,
        ..HostDtbEdits::default()
    };
    assert_eq!(
        build(&original, &edits),
        Err(HostDtbError::ReservedMemoryCells)
    );
}
