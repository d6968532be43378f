//! One token-level pass over the struct block before the `fdt` crate walks it.
//!
//! The crate's iterators treat running off the end of the data as "no more children" and
//! its node-name/property lookups fail only when reached, so a corrupt blob could be read
//! as a smaller, valid-looking tree. After this pass the tree is known to be well nested,
//! every name is terminated UTF-8 and every property lies inside the block.

use super::header::{be32, Header};
use super::DtError;

const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;

/// Deepest nesting accepted, counting the root as 1. Real trees stay under 8; the tree
/// walk keeps one stack slot per level, so this also bounds its stack use.
pub(super) const MAX_DEPTH: usize = 16;

/// Length of the NUL-terminated UTF-8 string at the start of `bytes`, without the NUL.
fn cstr_len(bytes: &[u8]) -> Result<usize, DtError> {
    let len = bytes
        .iter()
        .position(|&b| b == 0)
        .ok_or(DtError::Malformed)?;
    core::str::from_utf8(&bytes[..len]).map_err(|_| DtError::Malformed)?;
    Ok(len)
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Checks nesting (one root, properties before children, balanced ends, `FDT_END` last),
/// names and property bounds. Nesting deeper than [`MAX_DEPTH`] is `TooMany`.
pub(super) fn validate(dtb: &[u8], h: &Header) -> Result<(), DtError> {
    let block = dtb
        .get(h.off_struct..h.off_struct + h.size_struct)
        .ok_or(DtError::Truncated)?;
    let strings = dtb
        .get(h.off_strings..h.off_strings + h.size_strings)
        .ok_or(DtError::Truncated)?;
    let mut at = 0;
    let mut depth = 0usize;
    let mut seen_root = false;
    // A property may only follow its node's start or another property.
    let mut prop_allowed = false;
    loop {
        let token = be32(block, at).ok_or(DtError::Malformed)?;
        at += 4;
        match token {
            FDT_BEGIN_NODE => {
                if depth == 0 && seen_root {
                    return Err(DtError::Malformed);
                }
                let name_len = cstr_len(block.get(at..).ok_or(DtError::Malformed)?)?;
                at = align4(at + name_len + 1);
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(DtError::TooMany);
                }
                seen_root = true;
                prop_allowed = true;
            }
            FDT_END_NODE => {
                depth = depth.checked_sub(1).ok_or(DtError::Malformed)?;
                prop_allowed = false;
            }
            FDT_PROP => {
                if !prop_allowed {
                    return Err(DtError::Malformed);
                }
                let len = be32(block, at).ok_or(DtError::Malformed)? as usize;
                let name_off = be32(block, at + 4).ok_or(DtError::Malformed)? as usize;
                let value_end = (at + 8).checked_add(len).ok_or(DtError::Malformed)?;
                if value_end > block.len() {
                    return Err(DtError::Malformed);
                }
                cstr_len(strings.get(name_off..).ok_or(DtError::Malformed)?)?;
                at = align4(value_end);
            }
            FDT_NOP => {}
            FDT_END => {
                // The crate finds the root's extent by expecting FDT_END as the last word.
                return if depth == 0 && seen_root && at == block.len() {
                    Ok(())
                } else {
                    Err(DtError::Malformed)
                };
            }
            _ => return Err(DtError::Malformed),
        }
    }
}
