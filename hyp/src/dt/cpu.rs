//! `/cpus/cpu@*`: each CPU's MPIDR and how to start it.

use super::cells::{take, Cells};
use super::node::{prop, str_prop, Node};
use super::{Cpu, DtError, EnableMethod};

/// `None` for a child of `/cpus` that is not a CPU (`cpu-map`, caches) or whose `status`
/// is "fail..." (broken). A "disabled" CPU is kept: the spec defines it as parked until
/// started through its enable-method.
pub(super) fn decode(cpus: &Node<'_>, node: &Node<'_>) -> Result<Option<Cpu>, DtError> {
    if str_prop(node, "device_type")? != Some("cpu") {
        return Ok(None);
    }
    if str_prop(node, "status")?.is_some_and(|s| s.starts_with("fail")) {
        return Ok(None);
    }
    let cells = Cells::of(cpus)?;
    // arm64 CPU ids are 1 or 2 cells (Aff3 lives above bit 32).
    if !(1..=2).contains(&cells.addr) {
        return Err(DtError::Malformed);
    }
    let reg = prop(node, "reg")?.ok_or(DtError::Malformed)?;
    // Several ids would be SMT threads; arm64 gives each its own node, so take the first.
    let (mpidr, _) = take(reg, cells.addr)?;
    Ok(Some(Cpu {
        mpidr,
        enable_method: enable_method(node)?,
    }))
}

/// A spin-table CPU without `cpu-release-addr`, or an unknown method, cannot be started:
/// that is `EnableMethod::None`, not an error, so the other CPUs still come up.
fn enable_method(node: &Node<'_>) -> Result<EnableMethod, DtError> {
    match str_prop(node, "enable-method")? {
        Some("psci") => Ok(EnableMethod::Psci),
        Some("spin-table") => match prop(node, "cpu-release-addr")? {
            // Usually two cells; a few old trees give one.
            Some(bytes @ (&[_, _, _, _] | &[_, _, _, _, _, _, _, _])) => {
                let (release_addr, _) = take(bytes, bytes.len() as u32 / 4)?;
                Ok(EnableMethod::SpinTable { release_addr })
            }
            Some(_) => Err(DtError::Malformed),
            None => Ok(EnableMethod::None),
        },
        _ => Ok(EnableMethod::None),
    }
}
