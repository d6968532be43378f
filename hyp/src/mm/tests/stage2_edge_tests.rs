//! Stage-2 edges found by mutation testing (docs/FUZZING.md): each (kind, permissions) gets
//! its own encoding, not another row of the per-VM table (`attr_index_of_bits`,
//! `encode_attrs`); a fault's one leaf needs both sides aligned, each on its own.

use super::*;
use crate::mm::pgtable::tests::TestAlloc;
use crate::mm::s2_attrs::{memattr, perms};
use crate::mm::tlb::fake::RecordingTlb;

const GIB: u64 = 1 << 30;

#[test]
fn every_kind_and_permission_set_maps_with_its_own_bits() {
    let cfg = vtcr_for(2, 40, false).unwrap();
    for (fwb, host) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut a = TestAlloc::new(32);
        let mut s2 = match host {
            true => Stage2::new_host(&mut a, cfg, Vmid::HOST, fwb).unwrap(),
            false => Stage2::new(&mut a, cfg, Vmid::for_test(5), fwb).unwrap(),
        };
        let mut t = RecordingTlb::new();
        let mut ipa = 0x4000_0000;
        for kind in MemoryKind::ALL {
            for bits in 0..8u8 {
                let p = Perms {
                    read: bits & 1 != 0,
                    write: bits & 2 != 0,
                    exec: bits & 4 != 0,
                };
                let want = match host {
                    true => host_leaf_attrs(kind, fwb, p),
                    false => s2_leaf_attrs(kind, fwb, p),
                };
                let what = format!("fwb {fwb} host {host} {kind:?} {p:?}");
                // Through the range map and through the fault path's one leaf.
                for one_leaf in [false, true] {
                    ipa += 0x1000;
                    let (at, pa) = (Ipa(ipa), PhysAddr(ipa + GIB));
                    let got = match one_leaf {
                        true => s2.map_leaf(&mut a, &mut t, at, pa, 3, kind, p),
                        false => s2.map(&mut a, &mut t, at, pa, 0x1000, kind, p).map(drop),
                    };
                    match want {
                        Err(e) => assert_eq!(got, Err(S2Error::Attr(e)), "{what}"),
                        Ok(bits) => {
                            assert_eq!(got, Ok(()), "{what}");
                            let leaf = s2.lookup(at).unwrap();
                            assert_eq!(perms(leaf.attrs), perms(bits), "{what}");
                            assert_eq!(memattr(leaf.attrs), memattr(bits), "{what}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn a_leaf_needs_ipa_and_pa_aligned_even_when_they_are_equally_misaligned() {
    let mut a = TestAlloc::new(8);
    let s2 = Stage2::new(
        &mut a,
        vtcr_for(2, 40, false).unwrap(),
        Vmid::for_test(5),
        false,
    )
    .unwrap();
    let level = |ipa: u64, pa: u64, size: u64| s2.leaf_level(Ipa(ipa), PhysAddr(pa), size);
    // The same offset on both sides is still no block: (ipa ^ pa) would be aligned.
    assert_eq!(level(GIB + 0x1000, 2 * GIB + 0x1000, 2 << 20), None);
    assert_eq!(level(0x20_1000, 0x40_1000, 2 << 20), None);
    assert_eq!(level(GIB + (2 << 20), 2 * GIB + (2 << 20), GIB), None);
    // The last aligned block below, and the page itself, are leaves.
    assert_eq!(level(0x20_0000, 0x40_0000, 2 << 20), Some(2));
    assert_eq!(level(0x20_1000, 0x40_1000, 0x1000), Some(3));
}

#[test]
fn protect_changes_the_permissions_of_what_is_mapped_and_nothing_else() {
    let mut a = TestAlloc::new(16);
    let cfg = vtcr_for(2, 40, false).unwrap();
    let mut s2 = Stage2::new(&mut a, cfg, Vmid::for_test(5), false).unwrap();
    let mut t = RecordingTlb::new();
    let (ram, base) = (MemoryKind::Ram, 0x4000_0000);
    s2.map(
        &mut a,
        &mut t,
        Ipa(base),
        PhysAddr(base),
        0x2000,
        ram,
        Perms::RW,
    )
    .unwrap();
    // Two mapped pages and a hole after them: only the two change.
    let stats = s2
        .protect(&mut a, &mut t, Ipa(base), 0x3000, ram, Perms::R)
        .unwrap();
    assert_eq!(stats.changed, 2);
    for ipa in [base, base + 0x1000] {
        let leaf = s2.lookup(Ipa(ipa)).unwrap();
        assert_eq!(perms(leaf.attrs), Perms::R, "{ipa:#x}");
    }
    assert_eq!(s2.lookup(Ipa(base + 0x2000)), None);
}

#[test]
fn a_vm_keeps_the_fwb_setting_it_was_made_with() {
    let cfg = vtcr_for(2, 40, false).unwrap();
    for fwb in [false, true] {
        let mut a = TestAlloc::new(4);
        assert_eq!(
            Stage2::new(&mut a, cfg, Vmid::for_test(5), fwb)
                .unwrap()
                .fwb(),
            fwb
        );
        let mut a = TestAlloc::new(4);
        assert_eq!(
            Stage2::new_host(&mut a, cfg, Vmid::HOST, fwb)
                .unwrap()
                .fwb(),
            fwb
        );
    }
}
