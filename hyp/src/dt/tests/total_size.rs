//! `dtb_total_size`: how much to map before parsing, from the first 8 bytes only.

use super::{BOARD_16550, QEMU_V3_SMP4_1G};
use crate::dt::{dtb_total_size, DtError, MAX_DTB_SIZE};

fn first8(magic: u32, size: u32) -> [u8; 8] {
    let mut h = [0; 8];
    h[..4].copy_from_slice(&magic.to_be_bytes());
    h[4..].copy_from_slice(&size.to_be_bytes());
    h
}

#[test]
fn total_size_is_read_from_a_real_header() {
    let qemu: [u8; 8] = QEMU_V3_SMP4_1G[..8].try_into().unwrap();
    assert_eq!(dtb_total_size(&qemu), Ok(0x10_0000));
    let board: [u8; 8] = BOARD_16550[..8].try_into().unwrap();
    assert_eq!(dtb_total_size(&board), Ok(BOARD_16550.len()));
}

#[test]
fn total_size_refuses_bad_magic() {
    assert_eq!(
        dtb_total_size(&first8(0xfeed_d00d, 0x1000)),
        Err(DtError::BadMagic)
    );
    assert_eq!(dtb_total_size(&[0; 8]), Err(DtError::BadMagic));
}

#[test]
fn total_size_accepts_exactly_the_header_up_to_the_maximum() {
    assert_eq!(dtb_total_size(&first8(0xd00d_feed, 40)), Ok(40));
    let max = MAX_DTB_SIZE as u32;
    assert_eq!(dtb_total_size(&first8(0xd00d_feed, max)), Ok(MAX_DTB_SIZE));
}

#[test]
fn total_size_below_a_header_or_above_the_maximum_is_a_size_mismatch() {
    for size in [0, 39, MAX_DTB_SIZE as u32 + 1, u32::MAX] {
        assert_eq!(
            dtb_total_size(&first8(0xd00d_feed, size)),
            Err(DtError::SizeMismatch),
            "size {size:#x}"
        );
    }
}
