//! RAM the DT describes but the host's stage 2 does not map as RAM: each piece must become a
//! `/reserved-memory` `no-map` child of the host's DTB, or the host's kernel would one day
//! allocate it and fault. The rule: the host DTB never promises what stage 2 does not map.
//!
//! Named pieces first (Stile's memory, the boot DTB, each board region in RAM), then
//! whatever else is missing (page slivers around an unaligned DTB, RAM past the PA range or
//! outside a board's host-ram cap, pieces dropped for capacity) as `stile-held`.

use super::boot_check::{RegionCheck, DT_DEVICES};
use crate::addr::PhysRange;
use crate::dt::Platform;
use crate::mm::ranges::RangeSet;
use heapless::{String, Vec};

/// Most held-back pieces a host DTB gets.
pub const MAX_HELD_BACK: usize = 40;

/// A node name (`stile-<what>`) and its range.
pub type HeldBack = (String<31>, PhysRange);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyHeldBack;

/// What the host must be told to keep away from; `hyp` and `dtb` as given to
/// [`super::check_regions`]. Pieces already covered by a `no-map` reservation of the DT are
/// left out (the host DTB keeps those nodes).
pub fn held_back(
    check: &RegionCheck,
    platform: &Platform,
    hyp: &[PhysRange],
    dtb: PhysRange,
) -> Result<Vec<HeldBack, MAX_HELD_BACK>, TooManyHeldBack> {
    let ram = |r: &PhysRange| platform.ram.iter().any(|m| m.overlaps(r));
    let mut out = Vec::new();
    for h in hyp.iter().filter(|r| ram(r)) {
        push(&mut out, "hyp", *h)?;
    }
    if ram(&dtb) {
        push(&mut out, "boot-dtb", dtb)?;
    }
    let regions = check.accepted.iter().map(|a| &a.region);
    let refused = check.refused.iter().map(|r| &r.region);
    for region in regions.chain(refused) {
        if !region.is_host_ram() && *region != DT_DEVICES && ram(&region.range) {
            push(&mut out, region.name, region.range)?;
        }
    }
    let named: Vec<PhysRange, MAX_HELD_BACK> = out.iter().map(|(_, r)| *r).collect();
    for piece in unnamed(check, platform, &named).iter() {
        push(&mut out, "held", *piece)?;
    }
    Ok(out)
}

fn push(
    out: &mut Vec<HeldBack, MAX_HELD_BACK>,
    name: &str,
    range: PhysRange,
) -> Result<(), TooManyHeldBack> {
    let mut n = String::new();
    // Region names are short (build.rs checks them); a longer one is cut, never mixed up.
    for c in "stile-".chars().chain(name.chars()) {
        if n.push(c).is_err() {
            break;
        }
    }
    out.push((n, range)).map_err(|_| TooManyHeldBack)
}

/// DT RAM less host RAM, less the named pieces and `no-map` reservations.
fn unnamed(check: &RegionCheck, platform: &Platform, named: &[PhysRange]) -> RangeSet {
    let mut left = RangeSet::new();
    for r in platform.ram.iter() {
        // A set that overflows keeps fewer pieces; the callers' rule test would catch it.
        let _ = left.add(*r);
    }
    let host_ram = check
        .accepted
        .iter()
        .filter(|a| a.region.is_host_ram())
        .flat_map(|a| a.ranges.iter());
    let no_map = platform
        .reserved
        .iter()
        .filter(|r| r.no_map)
        .map(|r| &r.range);
    for hole in host_ram.chain(named.iter()).chain(no_map) {
        if left.remove(*hole).is_err() {
            // Too fragmented to subtract: keep the larger piece held back (still correct:
            // holding back mapped RAM only costs the host memory).
            continue;
        }
    }
    left
}
