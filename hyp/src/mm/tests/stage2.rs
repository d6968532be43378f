//! Stage 2: attributes per kind, VTTBR/VMID, splits and break-before-make on the real engine.

use super::*;
use crate::mm::pgtable::tests::TestAlloc;
use crate::mm::s2_attrs::{memattr, perms, XN};
use crate::mm::tlb::fake::{Call, RecordingTlb, Seen};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn vm(fwb: bool) -> (Stage2, TestAlloc, RecordingTlb) {
    let mut a = TestAlloc::new(64);
    let cfg = vtcr_for(2, 40, false).unwrap();
    let s2 = Stage2::new(&mut a, cfg, Vmid::for_test(5), fwb).unwrap();
    let tlb = s2.recording_tlb();
    (s2, a, tlb)
}

#[test]
fn vttbr_is_the_root_with_the_vmid_in_bits_48_and_up() {
    let (s2, _a, _t) = vm(true);
    assert_eq!(s2.vttbr() >> 48, 5);
    assert_eq!(s2.vttbr() & ((1 << 48) - 1), s2.table.root().0);
    // 40-bit IPA from level 1: two concatenated root pages, 8 KiB aligned.
    assert_eq!(s2.vttbr() & 0x1fff, 0);
    assert_eq!(s2.table_pages(), 2);
}

#[test]
fn map_encodes_the_kind_with_s2_attrs_and_uses_blocks() {
    let (mut s2, mut a, mut t) = vm(true);
    let st = s2
        .map(
            &mut a,
            &mut t,
            Ipa(GIB),
            PhysAddr(0x80_0000_0000 - GIB),
            GIB + 2 * MIB,
            MemoryKind::Ram,
            Perms::RWX,
        )
        .unwrap();
    assert_eq!((st.blocks_1g, st.blocks_2m), (1, 1));
    let l = s2.lookup(Ipa(GIB + 0x1234)).unwrap();
    assert_eq!(
        l.attrs,
        s2_leaf_attrs(MemoryKind::Ram, true, Perms::RWX).unwrap()
    );
    assert_eq!(l.pa, PhysAddr(0x80_0000_0000 - GIB + 0x1234));
    assert_eq!(memattr(l.attrs), 0b0110);
}

#[test]
fn cacheable_device_slot_refused_without_fwb_and_nothing_is_mapped() {
    let (mut s2, mut a, mut t) = vm(false);
    let before = a.used();
    let r = s2.map(
        &mut a,
        &mut t,
        Ipa(0),
        PhysAddr(0),
        2 * MIB,
        MemoryKind::CacheableDevice,
        Perms::RW,
    );
    assert_eq!(r, Err(S2Error::Attr(AttrError::NeedsFwb)));
    assert_eq!(s2.lookup(Ipa(0)), None);
    assert_eq!(a.used(), before);
    assert!(t.calls.is_empty());
}

#[test]
fn device_is_never_executable_even_when_rwx_is_asked() {
    let (mut s2, mut a, mut t) = vm(true);
    for (i, kind) in [MemoryKind::Device, MemoryKind::DeviceNc]
        .iter()
        .enumerate()
    {
        let ipa = Ipa(i as u64 * 2 * MIB);
        s2.map(
            &mut a,
            &mut t,
            ipa,
            PhysAddr(ipa.0),
            2 * MIB,
            *kind,
            Perms::RWX,
        )
        .unwrap();
        assert_ne!(s2.lookup(ipa).unwrap().attrs & XN, 0, "{kind:?}");
    }
    // Nor after a protect that asks for exec.
    s2.protect(
        &mut a,
        &mut t,
        Ipa(0),
        4 * MIB,
        MemoryKind::Device,
        Perms::RX,
    )
    .unwrap();
    assert!(!perms(s2.lookup(Ipa(0)).unwrap().attrs).exec);
}

#[test]
fn remap_to_another_kind_invalidates_this_vms_vmid_first() {
    let (mut s2, mut a, mut t) = vm(true);
    s2.map(
        &mut a,
        &mut t,
        Ipa(0),
        PhysAddr(0),
        2 * MIB,
        MemoryKind::Ram,
        Perms::RW,
    )
    .unwrap();
    t.take();
    t.watch(Ipa(0), 2 * MIB);
    s2.remap(
        &mut a,
        &mut t,
        Ipa(0),
        PhysAddr(0),
        2 * MIB,
        MemoryKind::DeviceNc,
        Perms::RW,
    )
    .unwrap();
    assert_eq!(memattr(s2.lookup(Ipa(0)).unwrap().attrs), 0b0101);
    let calls = t.take();
    // The block goes (level 2), and so does the level-1 entry of the table it emptied: two
    // entries broken by the unmap, published and then invalidated at once for this VM's
    // VMID, while the walk of the block's range stopped at the emptied level-1 entry; the
    // map then only publishes.
    assert_eq!(
        calls,
        [
            Call::DsbIshst,
            Call::InvalidateVmid(Vmid::for_test(5)),
            Call::DsbIshst,
        ]
    );
    assert_eq!(t.flushes, [std::vec![(Ipa(0), Seen::HoleAt(1))]]);
}

#[test]
fn protect_to_the_same_kind_and_perms_needs_no_invalidation() {
    let (mut s2, mut a, mut t) = vm(true);
    s2.map(
        &mut a,
        &mut t,
        Ipa(0),
        PhysAddr(0),
        4 * MIB,
        MemoryKind::Ram,
        Perms::RW,
    )
    .unwrap();
    t.take();
    s2.protect(&mut a, &mut t, Ipa(MIB), MIB, MemoryKind::Ram, Perms::RW)
        .unwrap();
    assert!(!t
        .calls
        .iter()
        .any(|c| matches!(c, Call::InvalidateIpa { .. })));
}

#[test]
fn ipa_or_pa_beyond_the_configured_sizes_is_out_of_range() {
    let (mut s2, mut a, mut t) = vm(true);
    let oor = Err(S2Error::Table(MapError::OutOfRange));
    let m = |s2: &mut Stage2, a: &mut TestAlloc, t: &mut RecordingTlb, ipa, pa, size| {
        s2.map(
            a,
            t,
            Ipa(ipa),
            PhysAddr(pa),
            size,
            MemoryKind::Ram,
            Perms::RW,
        )
    };
    assert_eq!(m(&mut s2, &mut a, &mut t, 1 << 40, 0, 0x1000), oor);
    assert_eq!(
        m(&mut s2, &mut a, &mut t, (1 << 40) - 0x1000, 0, 0x2000),
        oor
    );
    // 40-bit PA CPU: PAs at and above 1 TiB do not exist.
    assert_eq!(m(&mut s2, &mut a, &mut t, 0, 1 << 40, 0x1000), oor);
    assert_eq!(
        m(&mut s2, &mut a, &mut t, 0, (1 << 40) - 0x1000, 0x2000),
        oor
    );
    assert!(m(&mut s2, &mut a, &mut t, 0, (1 << 40) - 0x1000, 0x1000).is_ok());
}

#[test]
fn hostile_arguments_are_errors_never_panics() {
    let (mut s2, mut a, mut t) = vm(false);
    let nasty = [
        0,
        1,
        0xfff,
        0x1000,
        0x1001,
        2 * MIB,
        GIB,
        (1 << 40) - 0x1000,
        1 << 40,
        1 << 48,
        u64::MAX - 0xfff,
        u64::MAX,
    ];
    for &ipa in &nasty {
        for &pa in &nasty {
            for &size in &nasty {
                for kind in MemoryKind::ALL {
                    let _ = s2.map(
                        &mut a,
                        &mut t,
                        Ipa(ipa),
                        PhysAddr(pa),
                        size,
                        kind,
                        Perms::RWX,
                    );
                    let _ = s2.remap(&mut a, &mut t, Ipa(ipa), PhysAddr(pa), size, kind, Perms::R);
                    let _ = s2.protect(&mut a, &mut t, Ipa(ipa), size, kind, Perms::NONE);
                }
                let _ = s2.unmap(&mut a, &mut t, Ipa(ipa), size);
                let _ = s2.lookup(Ipa(ipa));
                let _ = s2.leaf_level(Ipa(ipa), PhysAddr(pa), size);
            }
            for level in 0..=4 {
                let (ipa, pa) = (Ipa(ipa), PhysAddr(pa));
                let _ = s2.map_leaf(&mut a, &mut t, ipa, pa, level, MemoryKind::Ram, Perms::RW);
            }
        }
    }
    // Whatever happened, the table is consistent and can be emptied.
    s2.unmap(&mut a, &mut t, Ipa(0), 1 << 40).unwrap();
    assert_eq!(s2.table_pages(), 2);
    assert_eq!(a.used(), 2);
}

#[test]
fn running_out_of_table_pages_is_an_error_value() {
    let (mut s2, mut a, mut t) = vm(true);
    a.fail_after(Some(0));
    assert_eq!(
        s2.map(
            &mut a,
            &mut t,
            Ipa(0x1000),
            PhysAddr(0),
            0x1000,
            MemoryKind::Ram,
            Perms::RW
        ),
        Err(S2Error::Table(MapError::OutOfTables))
    );
    let mut none = TestAlloc::new(0);
    assert_eq!(
        Stage2::new(
            &mut none,
            vtcr_for(2, 40, false).unwrap(),
            Vmid::HOST,
            false
        )
        .err(),
        Some(S2Error::Table(MapError::OutOfTables))
    );
}

#[test]
fn a_16_bit_vmid_needs_a_16_bit_vtcr() {
    let mut a = TestAlloc::new(8);
    let narrow = vtcr_for(2, 40, false).unwrap();
    assert_eq!(
        Stage2::new(&mut a, narrow, Vmid::for_test(256), true).err(),
        Some(S2Error::VmidTooWide(Vmid::for_test(256)))
    );
    let wide = vtcr_for(2, 40, true).unwrap();
    let s2 = Stage2::new(&mut a, wide, Vmid::for_test(0xabcd), true).unwrap();
    assert_eq!(s2.vttbr() >> 48, 0xabcd);
}

#[test]
fn a_hand_built_inconsistent_geometry_is_refused() {
    let mut a = TestAlloc::new(8);
    let mut cfg = vtcr_for(2, 40, false).unwrap();
    cfg.start_level = 2;
    assert_eq!(
        Stage2::new(&mut a, cfg, Vmid::HOST, false).err(),
        Some(S2Error::Table(MapError::BadGeometry))
    );
    assert_eq!(a.used(), 0);
}

#[test]
fn destroy_invalidates_the_vmid_then_frees_every_table_page() {
    let (mut s2, mut a, mut t) = vm(true);
    s2.map(
        &mut a,
        &mut t,
        Ipa(0x1000),
        PhysAddr(0),
        3 * MIB,
        MemoryKind::Ram,
        Perms::RW,
    )
    .unwrap();
    assert!(s2.table_pages() > 2);
    t.take();
    s2.destroy(&mut a, &mut t);
    assert_eq!(a.used(), 0);
    assert_eq!(
        t.calls,
        [Call::DsbIshst, Call::InvalidateVmid(Vmid::for_test(5))]
    );
}

/// Every perms combination, as the slot word spells it.
fn all_perms() -> impl Iterator<Item = Perms> {
    (0..8u8).map(|p| Perms {
        read: p & 1 != 0,
        write: p & 2 != 0,
        exec: p & 4 != 0,
    })
}

#[test]
fn one_leaf_gets_the_bits_a_range_map_gives_for_every_kind_perms_and_fwb() {
    let cfg = vtcr_for(2, 40, false).unwrap();
    for (fwb, host) in [(false, false), (true, false), (false, true), (true, true)] {
        let new = |a: &mut TestAlloc| match host {
            true => Stage2::new_host(a, cfg, Vmid::HOST, fwb).unwrap(),
            false => Stage2::new(a, cfg, Vmid::for_test(5), fwb).unwrap(),
        };
        let (mut a, mut b) = (TestAlloc::new(16), TestAlloc::new(16));
        let (mut fast, mut range) = (new(&mut a), new(&mut b));
        let mut t = RecordingTlb::new();
        let mut ipa = 0x4000_0000;
        for kind in MemoryKind::ALL {
            for perms in all_perms() {
                for size in [0x1000, 2 * MIB] {
                    ipa += 2 * MIB;
                    let (at, pa) = (Ipa(ipa), PhysAddr(ipa + GIB));
                    let level = fast.leaf_level(at, pa, size).unwrap();
                    let one = fast.map_leaf(&mut a, &mut t, at, pa, level, kind, perms);
                    let all = range.map(&mut b, &mut t, at, pa, size, kind, perms);
                    let what = format!("fwb {fwb} host {host} {kind:?} {perms:?} {size:#x}");
                    assert_eq!(one, all.map(drop), "{what}");
                    assert_eq!(fast.lookup(at), range.lookup(at), "{what}");
                }
            }
        }
        assert_eq!(fast.table_pages(), range.table_pages());
    }
}

#[test]
fn leaf_level_names_one_aligned_leaf_or_none() {
    let (s2, _a, _t) = vm(true);
    let level = |ipa: u64, pa: u64, size: u64| s2.leaf_level(Ipa(ipa), PhysAddr(pa), size);
    assert_eq!(level(0x1000, 0x5000, 0x1000), Some(3));
    assert_eq!(level(2 * MIB, 4 * MIB, 2 * MIB), Some(2));
    assert_eq!(level(GIB, 3 * GIB, GIB), Some(1));
    assert_eq!(level(2 * MIB, 0x1000, 2 * MIB), None, "PA not aligned");
    assert_eq!(level(0x1000, 2 * MIB, 2 * MIB), None, "IPA not aligned");
    assert_eq!(level(0, 0, 0x2000), None, "two pages");
    assert_eq!(level(0, 0, 0), None);
    // A 32-bit VM starts at level 2: a 1 GiB range is not one of its leaves.
    let mut a = TestAlloc::new(8);
    let small = Stage2::new(&mut a, vtcr_for(0, 32, false).unwrap(), Vmid::HOST, true).unwrap();
    assert_eq!(small.leaf_level(Ipa(GIB), PhysAddr(GIB), GIB), None);
    assert_eq!(small.leaf_level(Ipa(GIB), PhysAddr(GIB), 2 * MIB), Some(2));
}

#[test]
fn a_leaf_over_a_hole_needs_only_a_dsb_never_an_invalidation() {
    let (mut s2, mut a, mut t) = vm(true);
    let (ram, rw) = (MemoryKind::Ram, Perms::RW);
    s2.map_leaf(&mut a, &mut t, Ipa(0x1000), PhysAddr(0x1000), 3, ram, rw)
        .unwrap();
    // New tables: the branch is published, then the link.
    assert_eq!(t.take(), [Call::DsbIshst, Call::DsbIshst]);
    s2.map_leaf(&mut a, &mut t, Ipa(0x2000), PhysAddr(0x2000), 3, ram, rw)
        .unwrap();
    assert_eq!(t.take(), [Call::DsbIshst]);
    // Already mapped: nothing to publish.
    s2.map_leaf(&mut a, &mut t, Ipa(0x2000), PhysAddr(0x2000), 3, ram, rw)
        .unwrap();
    assert_eq!(t.take(), []);
}

#[test]
fn a_leaf_beyond_the_cpus_pa_size_or_of_an_unencodable_kind_is_refused() {
    let (mut s2, mut a, mut t) = vm(false);
    let (ram, rw) = (MemoryKind::Ram, Perms::RW);
    // 40-bit PA CPU.
    assert_eq!(
        s2.map_leaf(&mut a, &mut t, Ipa(0), PhysAddr(1 << 40), 3, ram, rw),
        Err(S2Error::Table(MapError::OutOfRange))
    );
    assert_eq!(
        s2.map_leaf(
            &mut a,
            &mut t,
            Ipa(0),
            PhysAddr(0),
            3,
            MemoryKind::CacheableDevice,
            rw
        ),
        Err(S2Error::Attr(AttrError::NeedsFwb))
    );
    s2.map_leaf(
        &mut a,
        &mut t,
        Ipa(0),
        PhysAddr((1 << 40) - 2 * MIB),
        2,
        ram,
        rw,
    )
    .unwrap();
    assert_eq!(a.used(), 3);
    assert_eq!(s2.table().audit_tables(), (1, 0));
}
