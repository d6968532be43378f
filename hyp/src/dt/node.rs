//! Property access on the `fdt` crate's nodes, returning raw bytes we decode ourselves.
//!
//! Only the crate's no-panic (`*_fallible`) parser is used, and only its node/property
//! iteration: its typed helpers can panic or mis-read. `Reg` divides by the entry size
//! (0 when both cell counts are 0) and, when a parent sets only one of `#address-cells` /
//! `#size-cells`, drops that one too and uses 2/1; `Node::parent()` has no parent of its
//! own, so nothing above one level can be reached; `Chosen::bootargs` underflows on an
//! empty value.

use super::DtError;
use fdt::helpers::UnalignedFallibleNode;
use fdt::FdtError;

pub(super) type Node<'a> = UnalignedFallibleNode<'a>;

/// The crate's errors after [`super::structure::validate`] passed can only mean a blob we
/// failed to reject earlier; the header-level ones map to what they say.
pub(super) fn from_fdt(e: FdtError) -> DtError {
    match e {
        FdtError::BadMagic => DtError::BadMagic,
        FdtError::SliceTooSmall => DtError::Truncated,
        _ => DtError::Malformed,
    }
}

/// The node's name without its unit address ("memory" for "memory@40000000").
pub(super) fn base_name<'a>(node: &Node<'a>) -> Result<&'a str, DtError> {
    Ok(node.name().map_err(from_fdt)?.name)
}

pub(super) fn prop<'a>(node: &Node<'a>, name: &str) -> Result<Option<&'a [u8]>, DtError> {
    Ok(node.raw_property(name).map_err(from_fdt)?.map(|p| p.value))
}

/// A string property up to its first NUL (a string list yields its first string).
pub(super) fn str_prop<'a>(node: &Node<'a>, name: &str) -> Result<Option<&'a str>, DtError> {
    match prop(node, name)? {
        None => Ok(None),
        Some(bytes) => {
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            core::str::from_utf8(&bytes[..end])
                .map(Some)
                .map_err(|_| DtError::Malformed)
        }
    }
}

/// A one-cell property; any other length is `Malformed`.
pub(super) fn u32_prop(node: &Node<'_>, name: &str) -> Result<Option<u32>, DtError> {
    match prop(node, name)? {
        None => Ok(None),
        Some(&[a, b, c, d]) => Ok(Some(u32::from_be_bytes([a, b, c, d]))),
        Some(_) => Err(DtError::Malformed),
    }
}

/// Whether any string in the node's `compatible` list is one of `wanted`.
pub(super) fn is_compatible(node: &Node<'_>, wanted: &[&str]) -> Result<bool, DtError> {
    let Some(bytes) = prop(node, "compatible")? else {
        return Ok(false);
    };
    Ok(bytes
        .split(|&b| b == 0)
        .any(|s| wanted.iter().any(|w| w.as_bytes() == s)))
}

/// `status` absent, "okay" or the older "ok": the device is meant to be used.
pub(super) fn is_available(node: &Node<'_>) -> Result<bool, DtError> {
    Ok(matches!(
        str_prop(node, "status")?,
        None | Some("okay") | Some("ok")
    ))
}

/// `phandle`, or the pre-2010 `linux,phandle`.
pub(super) fn phandle(node: &Node<'_>) -> Result<Option<u32>, DtError> {
    match u32_prop(node, "phandle")? {
        Some(p) => Ok(Some(p)),
        None => u32_prop(node, "linux,phandle"),
    }
}
