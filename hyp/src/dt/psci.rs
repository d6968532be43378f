//! `/psci` or `/firmware/psci`: the conduit PSCI calls go through.

use super::node::{is_available, is_compatible, str_prop, Node};
use super::{Conduit, DtError, Psci};

const COMPATIBLE: &[&str] = &["arm,psci", "arm,psci-0.2", "arm,psci-1.0"];

/// `None` for another node, a disabled one, or a `method` other than "smc"/"hvc".
pub(super) fn decode(node: &Node<'_>) -> Result<Option<Psci>, DtError> {
    if !is_compatible(node, COMPATIBLE)? || !is_available(node)? {
        return Ok(None);
    }
    let conduit = match str_prop(node, "method")? {
        Some("smc") => Conduit::Smc,
        Some("hvc") => Conduit::Hvc,
        _ => return Ok(None),
    };
    Ok(Some(Psci { conduit }))
}
