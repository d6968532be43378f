//! `/chosen`: the kernel command line (Stile's own options) and the initrd (the host payload).

use super::node::{prop, str_prop, Node};
use super::{DtError, Platform};
use crate::addr::PhysRange;

/// Read `bootargs` and `linux,initrd-start`/`-end` into `platform`. Bootargs longer than
/// [`super::MAX_BOOTARGS`] are refused as `TooMany` rather than silently cut.
pub(super) fn decode(chosen: &Node<'_>, platform: &mut Platform) -> Result<(), DtError> {
    if let Some(args) = str_prop(chosen, "bootargs")? {
        platform.bootargs.clear();
        platform
            .bootargs
            .push_str(args)
            .map_err(|_| DtError::TooMany)?;
    }
    let start = prop(chosen, "linux,initrd-start")?
        .map(be_number)
        .transpose()?;
    let end = prop(chosen, "linux,initrd-end")?
        .map(be_number)
        .transpose()?;
    platform.initrd = match (start, end) {
        (Some(s), Some(e)) if e > s => Some(PhysRange::new(s, e - s)),
        (None, None) => None,
        _ => return Err(DtError::Malformed),
    };
    Ok(())
}

/// A 1- or 2-cell big-endian number (both forms are in use for the initrd properties).
fn be_number(bytes: &[u8]) -> Result<u64, DtError> {
    match *bytes {
        [a, b, c, d] => Ok(u32::from_be_bytes([a, b, c, d]) as u64),
        [a, b, c, d, e, f, g, h] => Ok(u64::from_be_bytes([a, b, c, d, e, f, g, h])),
        _ => Err(DtError::Malformed),
    }
}
