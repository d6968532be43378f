//! Stile's own memory, as the host sees it: named in the DTB, and every access to it aborts
//! (an abort Stile injects into EL1, which the vectors record and skip).

use crate::el1_map;
use crate::facts::{Facts, HostGic};
use crate::fail::Fail;
use crate::machine::{Access, Machine};
use crate::report::Report;
use core::fmt;
use heapless::Vec;
use stile_hyp::addr::PhysRange;
use stile_hyp::esr::Esr;
use stile_hyp::mm::pgtable::PAGE_SIZE;

/// ESR.EC of a data abort taken without a change in EL.
const EC_DATA_ABORT_SAME_EL: u64 = 0x25;
/// Stored when the read was blocked (so the value is unknown); the store should be blocked too.
const MARKER: u32 = 0x484f_5354; // "HOST"

const NO_NODE: Fail = Fail::Missing("no /reserved-memory/stile-hyp node in the DTB");

pub(super) fn dtb_node(facts: &Facts) -> Result<(), Fail> {
    let node = facts.stile_hyp.ok_or(NO_NODE)?;
    if node.range.size == 0 {
        return Err(Fail::Missing("the stile-hyp node has no reg"));
    }
    if !node.no_map {
        return Err(Fail::Missing("the stile-hyp node has no no-map"));
    }
    Ok(())
}

/// Where the access checks probe Stile's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spot {
    /// `base + k * 4096`.
    Page(u64),
    /// The last 32-bit word: the far edge, and a FAR that is not page aligned.
    LastWord,
}

impl fmt::Display for Spot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spot::Page(k) => write!(f, "page{k}"),
            Spot::LastWord => f.write_str("last-word"),
        }
    }
}

/// The spots probed in `range`: the first four pages (those it has) and its last word.
pub fn spots(range: PhysRange) -> Vec<(Spot, u64), 5> {
    let mut out: Vec<(Spot, u64), 5> = Vec::new();
    for k in 0..(range.size / PAGE_SIZE).min(4) {
        // At most 4 of 5 slots: cannot fail.
        let _ = out.push((Spot::Page(k), range.base.0 + k * PAGE_SIZE));
    }
    if range.size >= 4 {
        let _ = out.push((Spot::LastWord, range.end() - 4));
    }
    out
}

pub(super) fn run<W: fmt::Write>(m: &mut impl Machine, facts: &Facts, report: &mut Report<W>) {
    let Some(node) = facts.stile_hyp.filter(|n| n.range.size >= PAGE_SIZE) else {
        let why = if facts.stile_hyp.is_some() {
            Fail::Missing("the stile-hyp node is smaller than a page")
        } else {
            NO_NODE
        };
        report.check("host-hyp-read-page0", Err(why));
        report.check("host-hyp-write-page0", Err(why));
        return;
    };
    // Our own stage 1 must map it (an abort from our MMU would look like Stile's), and a
    // store must not land in our own image.
    let mapped = node.range.end() <= el1_map::VA_LIMIT;
    if !mapped || node.range.overlaps(&facts.image) || !node.range.base.is_aligned(4) {
        let why = Fail::Setup("the stile-hyp node is above 512 GiB, misaligned or overlaps us");
        report.check("host-hyp-read-page0", Err(why));
        report.check("host-hyp-write-page0", Err(why));
        return;
    }
    for (spot, addr) in spots(node.range) {
        // SAFETY: `addr` is 4-byte aligned (base and offsets are), below 512 GiB and inside
        // the stile-hyp node, RAM the payload does not use (checked above: not our image);
        // Stile's DTB declares it its own, so the access is meant to abort.
        let read = unsafe { m.read32(addr) };
        report.check(format_args!("host-hyp-read-{spot}"), aborted(addr, read));
        // If the read went through, store what it read: a broken stage 2 then costs nothing.
        let value = match read {
            Access::Done(v) => v,
            Access::Aborted(_) => MARKER,
        };
        // SAFETY: as for the read; a store that goes through writes back what was read.
        let write = unsafe { m.write32(addr, value) };
        report.check(format_args!("host-hyp-write-{spot}"), aborted(addr, write));
    }
}

/// QEMU virt's GICv2 virtualization frames (its memory map: GICH at 0x0803_0000, GICV at
/// 0x0804_0000; the host DTB no longer lists them): Stile's, so every access aborts.
const QEMU_VIRT_GIC_V2: (u64, u64) = (0x0800_0000, 0x0801_0000);
const QEMU_VIRT_GIC_VIRT: [(&str, u64); 2] = [("gich", 0x0803_0000), ("gicv", 0x0804_0000)];

pub(super) fn gic_frames<W: fmt::Write>(
    m: &mut impl Machine,
    facts: &Facts,
    report: &mut Report<W>,
) {
    let qemu = facts.machine.is_some_and(|(name, _)| name == "qemu-virt");
    let (gicd, gicc) = QEMU_VIRT_GIC_V2;
    if !qemu || facts.gic != Some(HostGic::V2(gicd, gicc)) {
        return;
    }
    for (name, addr) in QEMU_VIRT_GIC_VIRT {
        // SAFETY: aligned, below 512 GiB (Device in our map), not our memory; reading
        // GICH_HCR or GICV_CTLR has no side effect, and a store that went through writes
        // back what was read (or 0: interface off). Stile keeps both out of our stage 2.
        let read = unsafe { m.read32(addr) };
        let value = match read {
            Access::Done(v) => v,
            Access::Aborted(_) => 0,
        };
        report.check(
            format_args!("host-{name}-read-unmapped"),
            aborted(addr, read),
        );
        // SAFETY: as for the read.
        let write = unsafe { m.write32(addr, value) };
        report.check(
            format_args!("host-{name}-write-unmapped"),
            aborted(addr, write),
        );
    }
}

pub(crate) fn aborted(addr: u64, access: Access) -> Result<(), Fail> {
    let Access::Aborted(fault) = access else {
        return Err(Fail::NotBlocked { addr });
    };
    let ec = u64::from(Esr(fault.esr).ec_raw());
    if ec != EC_DATA_ABORT_SAME_EL {
        return Err(Fail::Value {
            what: "ESR_EL1.EC",
            got: ec,
            want: EC_DATA_ABORT_SAME_EL,
        });
    }
    if fault.far != addr {
        return Err(Fail::Value {
            what: "FAR_EL1",
            got: fault.far,
            want: addr,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_the_first_four_pages_and_the_last_word() {
        let base = 0x4020_0000;
        let got = spots(PhysRange::new(base, 0x60_0000));
        let want = [
            (Spot::Page(0), base),
            (Spot::Page(1), base + 0x1000),
            (Spot::Page(2), base + 0x2000),
            (Spot::Page(3), base + 0x3000),
            (Spot::LastWord, base + 0x5f_fffc),
        ];
        assert_eq!(got.as_slice(), &want);
        let small = spots(PhysRange::new(base, 0x2000));
        assert_eq!(
            small
                .iter()
                .map(|s| s.0.to_string())
                .collect::<std::vec::Vec<_>>(),
            ["page0", "page1", "last-word"]
        );
    }
}
