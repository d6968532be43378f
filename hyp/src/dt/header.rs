//! The 40-byte FDT header, checked field by field before anything else trusts it.
//!
//! The `fdt` crate trusts the header: it adds offset + size as `u32` (a panic in debug
//! builds; in release the wrapped sum passes its bounds check and the slice after it
//! panics) and never reads `/memreserve/`. So every offset and size is bounded here first.

use super::{DtError, MAX_DTB_SIZE};

const MAGIC: u32 = 0xd00d_feed;
/// A version 17 header; older ones lack `size_dt_struct`, which the crate reads regardless.
pub(super) const HEADER_LEN: usize = 40;
const MIN_VERSION: u32 = 17;
/// One `/memreserve/` entry (address, size); the block ends with an all-zero entry.
pub(super) const RSV_ENTRY_LEN: usize = 16;
/// A root `FDT_BEGIN_NODE` and an `FDT_END`. The crate computes `len - 4` after reading
/// the first token, which underflows on a shorter block.
const MIN_STRUCT_LEN: usize = 8;

/// Header fields that passed [`check`]: every block lies inside `total_size` bytes,
/// which lie inside the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    pub total_size: usize,
    pub off_struct: usize,
    pub size_struct: usize,
    pub off_strings: usize,
    pub size_strings: usize,
    pub off_rsvmap: usize,
}

/// Big-endian `u32` at byte `at`, or `None` past the end.
pub(super) fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Checks, in this order: magic, header length, version, `totalsize` bounds, block
/// placement inside `totalsize`, blocks inside the buffer, `totalsize` inside the buffer.
pub(super) fn check(dtb: &[u8]) -> Result<Header, DtError> {
    let field = |i: usize| be32(dtb, i * 4).ok_or(DtError::Truncated);
    if field(0)? != MAGIC {
        return Err(DtError::BadMagic);
    }
    if dtb.len() < HEADER_LEN {
        return Err(DtError::Truncated);
    }
    // Field 6 is last_comp_version: a blob that needs a newer reader than v17 says so there.
    if field(5)? < MIN_VERSION || field(6)? > MIN_VERSION {
        return Err(DtError::UnsupportedVersion);
    }
    let total_size = field(1)? as usize;
    if !(HEADER_LEN..=MAX_DTB_SIZE).contains(&total_size) {
        return Err(DtError::SizeMismatch);
    }
    let h = Header {
        total_size,
        off_struct: field(2)? as usize,
        off_strings: field(3)? as usize,
        off_rsvmap: field(4)? as usize,
        size_strings: field(8)? as usize,
        size_struct: field(9)? as usize,
    };
    // Token parsing assumes a 4-aligned struct block; `/memreserve/` entries are 8-aligned.
    if !h.off_struct.is_multiple_of(4)
        || !h.size_struct.is_multiple_of(4)
        || h.size_struct < MIN_STRUCT_LEN
    {
        return Err(DtError::Malformed);
    }
    if !h.off_rsvmap.is_multiple_of(8) {
        return Err(DtError::Malformed);
    }
    let blocks = [
        (h.off_rsvmap, RSV_ENTRY_LEN),
        (h.off_struct, h.size_struct),
        (h.off_strings, h.size_strings),
    ];
    for (off, len) in blocks {
        if off < HEADER_LEN {
            return Err(DtError::Malformed);
        }
        // Two values below 2^32 cannot overflow a 64-bit usize; checked_add keeps it so
        // on any target.
        let end = off.checked_add(len).ok_or(DtError::SizeMismatch)?;
        if end > h.total_size {
            return Err(DtError::SizeMismatch);
        }
        if end > dtb.len() {
            return Err(DtError::Truncated);
        }
    }
    if h.total_size > dtb.len() {
        return Err(DtError::SizeMismatch);
    }
    Ok(h)
}
