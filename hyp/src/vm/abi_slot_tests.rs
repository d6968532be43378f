//! The ABI's MEMSLOT_SET word (abi/src/slot.rs) as EL2 reads it: every kind byte, the names
//! the log and docs/ABI.md use, and the bit of each permission and flag (mutation testing,
//! docs/FUZZING.md; the ABI crate is the host's, so its edge tests live here, beside their
//! only reader).

use stile_abi::slot::{self, SlotKind};

const KINDS: [(u8, SlotKind, &str); 5] = [
    (0, SlotKind::Ram, "ram"),
    (1, SlotKind::Device, "device"),
    (2, SlotKind::DeviceNc, "device-nc"),
    (3, SlotKind::CacheableDevice, "cacheable-device"),
    (4, SlotKind::Mmio, "mmio"),
];

#[test]
fn every_kind_byte_decodes_to_its_kind_and_no_other_byte_does() {
    for v in 0..=255u8 {
        let want = KINDS.iter().find(|k| k.0 == v).map(|k| k.1);
        assert_eq!(SlotKind::from_u8(v), want, "kind byte {v}");
    }
}

#[test]
fn each_kind_has_its_documented_name() {
    for (v, kind, name) in KINDS {
        assert_eq!(kind.name(), name);
        assert_eq!(kind as u8, v);
    }
}

#[test]
fn permissions_and_flags_sit_at_their_documented_bits() {
    assert_eq!(
        [slot::PERM_READ, slot::PERM_WRITE, slot::PERM_EXEC],
        [0x100, 0x200, 0x400]
    );
    assert_eq!(
        [slot::FLAG_CACHEABLE_OPT_IN, slot::FLAG_EAGER],
        [0x1_0000, 0x2_0000]
    );
    assert_eq!(slot::KNOWN_BITS, 0x3_07ff);
}

#[test]
fn a_word_holds_kind_permissions_and_flags_side_by_side() {
    let w = slot::word(
        SlotKind::CacheableDevice,
        slot::PERM_READ | slot::PERM_EXEC,
        slot::FLAG_EAGER,
    );
    assert_eq!(w, 0x2_0503);
    assert_eq!(slot::word(SlotKind::Ram, 0, 0), 0);
    assert_eq!(slot::word(SlotKind::Mmio, 0, 0), 4);
    assert_eq!(slot::word(SlotKind::Ram, slot::PERM_WRITE, 0), 0x200);
}

#[test]
fn a_stray_bit_in_the_permissions_never_cancels_a_kind_bit() {
    // A host that builds its word from a bad permission value must get a word EL2 refuses
    // (unknown bits) or the kind it asked for, never another kind: the parts are ORed.
    let w = slot::word(SlotKind::Device, slot::PERM_READ | 1, 0);
    assert_eq!(SlotKind::from_u8(w as u8), Some(SlotKind::Device));
    let w = slot::word(SlotKind::Mmio, 0, 4);
    assert_eq!(SlotKind::from_u8(w as u8), Some(SlotKind::Mmio));
    // The word is the union of its parts: a flag argument that repeats a permission bit
    // does not take it away.
    let w = slot::word(
        SlotKind::Ram,
        slot::PERM_READ,
        slot::PERM_READ | slot::FLAG_EAGER,
    );
    assert_eq!(w, slot::PERM_READ | slot::FLAG_EAGER);
}
