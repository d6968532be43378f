//! Registration at the edges (cargo-mutants found comparisons here no test pinned down):
//! the last page of a range is in and one past it is out, for the donated RAM, an
//! assignable region, the IPA space and the other slots; a range that wraps is refused.

use super::tests::{ram, req, world, FB, RAM};
use super::*;

#[test]
fn backing_edges_the_last_page_is_in_one_past_is_not() {
    let w = world(false);
    let end = RAM.end();
    assert!(validate(&ram(0, RAM.base.0, RAM.size), &[], &w).is_ok());
    assert!(validate(&ram(0, end - 0x1000, 0x1000), &[], &w).is_ok());
    for (pa, size) in [
        (RAM.base.0, RAM.size + 0x1000),
        (end, 0x1000),
        (RAM.base.0 - 0x1000, 0x2000),
        (!0xfff, 0x2000), // wraps
    ] {
        assert_eq!(
            validate(&ram(0, pa, size), &[], &w),
            Err(Reason::NotOwned),
            "{pa:#x}+{size:#x}"
        );
    }
    let fb = |pa, size| {
        req(
            0,
            pa,
            size,
            slot::word(SlotKind::DeviceNc, slot::PERM_READ, 0),
        )
    };
    let fb_end = FB.range.end();
    assert!(validate(&fb(fb_end - 0x1000, 0x1000), &[], &w).is_ok());
    // The aperture starts where the framebuffer ends: another kind.
    assert_eq!(validate(&fb(fb_end, 0x1000), &[], &w), Err(Reason::BadKind));
    assert_eq!(
        validate(&fb(fb_end - 0x1000, 0x2000), &[], &w),
        Err(Reason::NotOwned)
    );
}

#[test]
fn ipa_edges_a_slot_may_end_at_the_limit_not_past_it() {
    let w = world(false);
    let limit = w.ipa_limit;
    assert!(validate(&ram(limit - 0x1000, RAM.base.0, 0x1000), &[], &w).is_ok());
    assert_eq!(
        validate(&ram(limit - 0x1000, RAM.base.0, 0x2000), &[], &w),
        Err(Reason::OutOfRange)
    );
    assert_eq!(
        validate(&ram(limit, RAM.base.0, 0x1000), &[], &w),
        Err(Reason::OutOfRange)
    );
    let last = SlotRequest {
        index: MAX_SLOTS as u64 - 1,
        ..ram(0, RAM.base.0, 0x1000)
    };
    assert!(validate(&last, &[], &w).is_ok());
}

#[test]
fn adjacent_slots_are_fine_one_shared_page_is_an_overlap() {
    let w = world(false);
    let first = validate(&ram(0x4000_0000, RAM.base.0, 0x2000), &[], &w).unwrap();
    assert!(validate(&ram(0x4000_2000, RAM.base.0, 0x1000), &[first], &w).is_ok());
    assert!(validate(&ram(0x3fff_f000, RAM.base.0, 0x1000), &[first], &w).is_ok());
    for ipa in [0x4000_1000, 0x3fff_f000] {
        assert_eq!(
            validate(&ram(ipa, RAM.base.0, 0x2000), &[first], &w),
            Err(Reason::Overlap),
            "{ipa:#x}"
        );
    }
    assert!(first.contains(0x4000_1fff) && first.contains(0x4000_0000));
    assert!(!first.contains(0x4000_2000) && !first.contains(0x3fff_ffff));
}

#[test]
fn the_slot_word_takes_each_permission_and_flag_from_its_own_bit() {
    let w = world(true);
    for (perm, want) in [
        (slot::PERM_READ, Perms::R),
        (
            slot::PERM_WRITE,
            Perms {
                write: true,
                ..Perms::default()
            },
        ),
        (
            slot::PERM_EXEC,
            Perms {
                exec: true,
                ..Perms::default()
            },
        ),
    ] {
        let s = validate(
            &req(0, RAM.base.0, 0x1000, slot::word(SlotKind::Ram, perm, 0)),
            &[],
            &w,
        )
        .unwrap();
        assert_eq!(s.perms(), want);
        assert!(!s.opted_in && !s.eager);
    }
    let word = slot::word(SlotKind::Ram, 0, slot::FLAG_EAGER);
    let s = validate(&req(0, RAM.base.0, 0x1000, word), &[], &w).unwrap();
    assert!(s.eager && !s.opted_in);
    let word = slot::word(SlotKind::Ram, 0, slot::FLAG_CACHEABLE_OPT_IN);
    let s = validate(&req(0, RAM.base.0, 0x1000, word), &[], &w).unwrap();
    assert!(s.opted_in && !s.eager);
}

#[test]
fn each_of_ipa_pa_and_size_must_be_page_aligned_on_its_own() {
    let w = world(false);
    for (ipa, pa, size) in [
        (0, RAM.base.0 + 0x800, 0x1000),
        (0, RAM.base.0, 0x1800),
        (0x800, RAM.base.0 + 0x800, 0x1000), // equally off: still off
        (0x800, RAM.base.0 + 0x800, 0x1800),
        (0, RAM.base.0 + 0x800, 0x1800),
    ] {
        assert_eq!(
            validate(&ram(ipa, pa, size), &[], &w),
            Err(Reason::Misaligned),
            "{ipa:#x} {pa:#x} {size:#x}"
        );
    }
}

#[test]
fn a_ram_slot_over_an_assignable_region_is_the_wrong_kind_whatever_its_kind() {
    let pool = Assignable {
        range: PhysRange::new(0x9000_0000, 0x10_0000),
        kind: MemoryKind::Ram,
    };
    let w = SlotWorld {
        assignable: &[pool],
        ..world(true)
    };
    assert_eq!(
        validate(&ram(0, 0x9000_0000, 0x1000), &[], &w),
        Err(Reason::BadKind)
    );
}

#[test]
fn the_fault_path_reads_the_permissions_registered() {
    let w = world(false);
    for bits in 0..8u64 {
        let word = slot::word(SlotKind::Ram, bits << 8, 0);
        let s = validate(&req(0, RAM.base.0, 0x1000, word), &[], &w).unwrap();
        assert_eq!(s.perm_bits(), bits as u8);
        assert_eq!(s.perms().bits(), bits as u8);
    }
}
