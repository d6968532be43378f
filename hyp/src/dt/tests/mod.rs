//! Device-tree discovery rules, checked against QEMU dumps, two hand-written boards
//! (hyp/testdata/*.dts) and blobs built or broken on purpose here.

mod board;
pub(crate) mod builder;
mod chosen;
mod console_choice;
mod corpus;
mod cpus_memory;
mod debian_boards;
mod devices;
mod fuzz;
mod host_dtb;
mod interrupts;
mod malformed;
mod qemu;
mod spin_table;
mod stdout;
mod total_size;
mod translate;

use super::{DtError, Platform};

pub(super) const QEMU_V3_SMP4_1G: &[u8] =
    include_bytes!("../../../testdata/qemu-virt-gicv3-smp4-1g.dtb");
pub(super) const QEMU_V2_SMP1_512M: &[u8] =
    include_bytes!("../../../testdata/qemu-virt-gicv2-smp1-512m.dtb");
pub(super) const QEMU_V3_SMP2_4G: &[u8] =
    include_bytes!("../../../testdata/qemu-virt-gicv3-smp2-4g.dtb");
pub(super) const BOARD_16550: &[u8] = include_bytes!("../../../testdata/board-16550.dtb");
pub(super) const TINY_LEGACY: &[u8] = include_bytes!("../../../testdata/tiny-legacy-16550a.dtb");

/// Whether the blob is accepted, or why not (`Platform` itself has no `PartialEq`).
pub(super) fn parse(dtb: &[u8]) -> Result<(), DtError> {
    Platform::from_dtb(dtb).map(|_| ())
}

pub(super) fn parse_ok(dtb: &[u8]) -> Platform {
    match Platform::from_dtb(dtb) {
        Ok(p) => p,
        Err(e) => panic!("parse failed: {e:?} ({})", e.reason()),
    }
}

/// Header field `index` (0 = magic, 1 = totalsize, 2 = off_dt_struct, ...).
pub(super) fn header_field(dtb: &[u8], index: usize) -> u32 {
    let at = index * 4;
    u32::from_be_bytes(dtb[at..at + 4].try_into().unwrap())
}

pub(super) fn set_header_field(dtb: &mut [u8], index: usize, value: u32) {
    let at = index * 4;
    dtb[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

/// Replaces every occurrence of `from` with `to` (same length) in the struct block.
pub(super) fn patch_struct(dtb: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len(), "in-place patches keep the length");
    let mut out = dtb.to_vec();
    let start = header_field(dtb, 2) as usize;
    let end = start + header_field(dtb, 9) as usize;
    let mut hits = 0;
    let mut at = start;
    while at + from.len() <= end {
        if &out[at..at + from.len()] == from {
            out[at..at + from.len()].copy_from_slice(to);
            hits += 1;
            at += from.len();
        } else {
            at += 1;
        }
    }
    assert!(
        hits > 0,
        "patch target {:?} not found",
        String::from_utf8_lossy(from)
    );
    out
}
