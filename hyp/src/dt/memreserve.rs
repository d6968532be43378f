//! The `/memreserve/` block: (address, size) pairs of big-endian u64s, ended by (0, 0).
//! The `fdt` crate does not read it, so it is read here, bounded by the header's `totalsize`.

use super::header::{Header, RSV_ENTRY_LEN};
use super::{DtError, Platform, Reserved, ReservedSource};
use crate::addr::PhysRange;

fn be64(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

/// Appends every non-empty entry to `out.reserved`. An entry that wraps the address space,
/// or a block with no terminator before `totalsize`, is `Malformed`.
pub(super) fn read(dtb: &[u8], h: &Header, out: &mut Platform) -> Result<(), DtError> {
    let blob = dtb.get(..h.total_size).ok_or(DtError::Truncated)?;
    let mut at = h.off_rsvmap;
    loop {
        let (Some(base), Some(size)) = (be64(blob, at), be64(blob, at + 8)) else {
            return Err(DtError::Malformed);
        };
        if base == 0 && size == 0 {
            return Ok(());
        }
        // Zero-sized entries reserve nothing; skipping them keeps the list for real ones.
        if size != 0 {
            if base.checked_add(size).is_none() {
                return Err(DtError::Malformed);
            }
            let entry = Reserved {
                range: PhysRange::new(base, size),
                source: ReservedSource::MemReserve,
                no_map: false,
            };
            out.reserved.push(entry).map_err(|_| DtError::TooMany)?;
        }
        at += RSV_ENTRY_LEN;
    }
}
