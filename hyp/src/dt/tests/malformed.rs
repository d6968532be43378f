//! Broken blobs are refused with the reason that fits, never a panic.

use super::builder::with_memory;
use super::{header_field, parse, patch_struct, set_header_field, BOARD_16550, QEMU_V3_SMP4_1G};
use crate::dt::{DtError, MAX_DTB_SIZE};

const TOTALSIZE: usize = 1;
const OFF_STRUCT: usize = 2;
const OFF_STRINGS: usize = 3;
const OFF_RSVMAP: usize = 4;
const VERSION: usize = 5;
const LAST_COMP: usize = 6;
const SIZE_STRINGS: usize = 8;
const SIZE_STRUCT: usize = 9;

fn with_field(dtb: &[u8], index: usize, value: u32) -> Vec<u8> {
    let mut out = dtb.to_vec();
    set_header_field(&mut out, index, value);
    out
}

/// Struct-block byte offset `at` overwritten with the big-endian word `w`.
fn with_struct_word(dtb: &[u8], at: usize, w: u32) -> Vec<u8> {
    let mut out = dtb.to_vec();
    let at = header_field(dtb, OFF_STRUCT) as usize + at;
    out[at..at + 4].copy_from_slice(&w.to_be_bytes());
    out
}

#[test]
fn empty_buffer_is_truncated() {
    assert_eq!(parse(&[]), Err(DtError::Truncated));
}

#[test]
fn bad_magic_is_refused_before_anything_else() {
    let mut dtb = BOARD_16550.to_vec();
    dtb[0] ^= 0xff;
    assert_eq!(parse(&dtb), Err(DtError::BadMagic));
    assert_eq!(parse(&dtb[..12]), Err(DtError::BadMagic));
}

#[test]
fn cut_inside_the_header_is_truncated() {
    for cut in [1, 3, 4, 20, 39] {
        assert_eq!(
            parse(&BOARD_16550[..cut]),
            Err(DtError::Truncated),
            "cut at {cut}"
        );
    }
}

#[test]
fn cut_inside_a_block_is_truncated() {
    let off_struct = header_field(BOARD_16550, OFF_STRUCT) as usize;
    let off_strings = header_field(BOARD_16550, OFF_STRINGS) as usize;
    let cuts = [
        48,                 // inside /memreserve/
        off_struct + 4,     // just into the struct block
        off_struct + 0x100, // deep in it
        off_strings + 3,    // inside the strings block
        BOARD_16550.len() - 1,
    ];
    for cut in cuts {
        assert_eq!(
            parse(&BOARD_16550[..cut]),
            Err(DtError::Truncated),
            "cut at {cut:#x}"
        );
    }
}

#[test]
fn cut_in_the_padding_after_the_blocks_is_a_size_mismatch() {
    // QEMU's dump ends its blocks near 8 KiB and pads to 1 MiB: the blocks are whole, but
    // the header still claims 1 MiB.
    assert_eq!(
        parse(&QEMU_V3_SMP4_1G[..0x8000]),
        Err(DtError::SizeMismatch)
    );
}

#[test]
fn totalsize_larger_than_the_buffer_is_a_size_mismatch() {
    let dtb = with_field(BOARD_16550, TOTALSIZE, BOARD_16550.len() as u32 + 8);
    assert_eq!(parse(&dtb), Err(DtError::SizeMismatch));
}

#[test]
fn absurd_totalsize_is_a_size_mismatch() {
    for size in [0xffff_fff0, MAX_DTB_SIZE as u32 + 1, 0, 39] {
        let dtb = with_field(BOARD_16550, TOTALSIZE, size);
        assert_eq!(
            parse(&dtb),
            Err(DtError::SizeMismatch),
            "totalsize {size:#x}"
        );
    }
}

#[test]
fn block_offsets_past_the_end_are_a_size_mismatch() {
    for (field, value) in [
        (OFF_STRUCT, 0x10_0000),
        (OFF_STRUCT, 0xffff_fffc),
        (OFF_STRINGS, 0x10_0000),
        (OFF_STRINGS, 0xffff_ffff),
        (OFF_RSVMAP, 0xffff_fff8),
        (SIZE_STRUCT, 0xffff_fffc),
        (SIZE_STRINGS, 0xffff_ffff),
    ] {
        let dtb = with_field(BOARD_16550, field, value);
        assert_eq!(
            parse(&dtb),
            Err(DtError::SizeMismatch),
            "field {field} = {value:#x}"
        );
    }
}

#[test]
fn misaligned_or_overlapping_blocks_are_malformed() {
    let off_struct = header_field(BOARD_16550, OFF_STRUCT);
    for (field, value) in [
        (OFF_STRUCT, off_struct + 2),
        (OFF_RSVMAP, 44),
        (OFF_STRUCT, 0), // on top of the header
        (SIZE_STRUCT, 4),
    ] {
        let dtb = with_field(BOARD_16550, field, value);
        assert_eq!(
            parse(&dtb),
            Err(DtError::Malformed),
            "field {field} = {value:#x}"
        );
    }
}

#[test]
fn versions_before_17_or_needing_a_newer_reader_are_unsupported() {
    let old = with_field(BOARD_16550, VERSION, 16);
    assert_eq!(parse(&old), Err(DtError::UnsupportedVersion));
    let newer = with_field(BOARD_16550, LAST_COMP, 18);
    assert_eq!(parse(&newer), Err(DtError::UnsupportedVersion));
}

#[test]
fn missing_memory_node_is_no_memory() {
    // Same length, so the rest of the blob is untouched: only device_type changes.
    for dtb in [BOARD_16550, QEMU_V3_SMP4_1G] {
        let no_ram = patch_struct(dtb, b"memory\0", b"memorx\0");
        assert_eq!(parse(&no_ram), Err(DtError::NoMemory));
    }
}

#[test]
fn bad_tokens_in_the_struct_block_are_malformed() {
    let size_struct = header_field(BOARD_16550, SIZE_STRUCT) as usize;
    // The root's FDT_BEGIN_NODE made unknown; FDT_END made a NOP; END_NODE where the root
    // should start.
    for (at, word) in [(0, 5), (size_struct - 4, 4), (0, 2), (size_struct - 4, 1)] {
        let dtb = with_struct_word(BOARD_16550, at, word);
        assert_eq!(
            parse(&dtb),
            Err(DtError::Malformed),
            "word {word} at {at:#x}"
        );
    }
}

#[test]
fn property_running_past_the_block_or_naming_no_string_is_malformed() {
    // The first property of the root starts right after its 4-byte empty name.
    let huge_len = with_struct_word(BOARD_16550, 12, 0x7fff_0000);
    assert_eq!(parse(&huge_len), Err(DtError::Malformed));
    let bad_name = with_struct_word(BOARD_16550, 16, 0x00ff_ffff);
    assert_eq!(parse(&bad_name), Err(DtError::Malformed));
}

#[test]
fn property_after_a_child_node_is_malformed() {
    let mut d = with_memory();
    d.str("model", "late property").end();
    assert_eq!(parse(&d.finish()), Err(DtError::Malformed));
}

#[test]
fn two_roots_or_unbalanced_ends_are_malformed() {
    let mut two = with_memory();
    two.end().begin("").end();
    assert_eq!(parse(&two.finish()), Err(DtError::Malformed));
    let mut open = with_memory();
    open.begin("never-closed");
    assert_eq!(parse(&open.finish()), Err(DtError::Malformed));
}

#[test]
fn nesting_deeper_than_sixteen_levels_is_too_many() {
    let mut d = with_memory();
    for _ in 0..16 {
        d.begin("deeper");
    }
    for _ in 0..16 {
        d.end();
    }
    d.end();
    assert_eq!(parse(&d.finish()), Err(DtError::TooMany));
}

#[test]
fn nesting_of_sixteen_levels_is_accepted() {
    let mut d = with_memory();
    for _ in 0..15 {
        d.begin("deeper");
    }
    for _ in 0..15 {
        d.end();
    }
    d.end();
    assert!(parse(&d.finish()).is_ok());
}
