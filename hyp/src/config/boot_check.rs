//! Boot-time validation: the board's config held against this machine (the DT, the CPU, where
//! the hypervisor and the DTB ended up). Each region is accepted or refused with an
//! `abi::Reason`; nothing here panics or stops the boot. The caller logs each refusal as
//! `stile: error: region '<name>' refused (<REASON>)` (that is [`Refused`]'s `Display`).

use super::host_ram;
use super::region::{Owner, Region, MAX_REGIONS};
use crate::addr::PhysRange;
use crate::cpu_features::CpuFeatures;
use crate::dt::{Platform, MAX_RAM_RANGES};
use crate::mm::kind::{MemoryKind, Perms};
use crate::mm::ranges::{RangeSet, MAX_RANGES};
use core::fmt;
use heapless::Vec;
use stile_abi::Reason;

/// A `device` region that overlaps DT RAM.
pub const DEVICE_OVERLAPS_RAM: Reason = Reason::OverlapsRam;

/// A region the machine can take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub region: Region,
    /// What to map: the declared range, or for host RAM what is left of it after clipping
    /// (several ranges when holes were punched).
    pub ranges: RangeSet,
    /// The permissions to map with: the declared ones, less `exec` when `exec_dropped`.
    pub perms: Perms,
    /// Why `exec` was taken away: `NoDic` for cacheable-device memory on a CPU without
    /// CTR_EL0.DIC (docs/CONFIG.md: the hypervisor has no VA to invalidate the I-cache by).
    pub exec_dropped: Option<Reason>,
    /// Host RAM only: see `host_ram::HostRam::pieces_dropped` (a pathological DT).
    pub pieces_dropped: bool,
}

/// A region the machine cannot take, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub region: Region,
    pub reason: Reason,
}

/// `region 'aperture' refused (OUTSIDE_RAM)`: the caller puts it in a `stile: error:` line.
impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "region '{}' refused ({})", self.region.name, self.reason)
    }
}

/// The outcome for every region, in config order within each list. About 17 KiB (a RangeSet
/// per accepted region): keep it in a static or on the heap rather than on a small stack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionCheck {
    pub accepted: Vec<Accepted, MAX_CHECKED>,
    pub refused: Vec<Refused, MAX_CHECKED>,
}

impl RegionCheck {
    /// Regions the host may hand to guests (memslots): the accepted assignable ones, and
    /// those refused only because this CPU lacks FEAT_S2FWB, so a memslot over them is
    /// refused with that reason rather than as memory nobody owns.
    pub fn assignable(&self) -> impl Iterator<Item = &Region> + '_ {
        let accepted = self.accepted.iter().map(|a| &a.region);
        let needs_fwb = self
            .refused
            .iter()
            .filter(|r| r.reason == Reason::NeedsFwb)
            .map(|r| &r.region);
        accepted.chain(needs_fwb).filter(|r| r.assignable)
    }

    pub fn accepted_named(&self, name: &str) -> Option<&Accepted> {
        self.accepted.iter().find(|a| a.region.name == name)
    }

    pub fn refusal_of(&self, name: &str) -> Option<Reason> {
        self.refused
            .iter()
            .find(|r| r.region.name == name)
            .map(|r| r.reason)
    }
}

/// Rows a check can hold: the board's regions plus the two the DT gives the host
/// ([`HOST_RAM`] unless the board caps it with its own, and [`DT_DEVICES`]).
pub const MAX_CHECKED: usize = MAX_REGIONS + 2;

/// The host's RAM when the board declares no host `ram` region: every byte of DT RAM is a
/// candidate (clipped to the PA range, with the usual holes).
pub const HOST_RAM: Region = Region {
    name: "host-ram",
    range: PhysRange::new(0, u64::MAX),
    kind: MemoryKind::Ram,
    perms: Perms::RWX,
    owner: Owner::Host,
    assignable: false,
};

/// Every device range the DT describes (`Platform::devices`), as Device for the host.
pub const DT_DEVICES: Region = Region {
    name: "dt-devices",
    range: PhysRange::new(0, u64::MAX),
    kind: MemoryKind::Device,
    perms: Perms::RW,
    owner: Owner::Host,
    assignable: false,
};

/// Hold `regions` against the machine, and add what the DT gives the host.
///
/// - `hyp`: memory only EL2 may touch (the image, its stacks, the page-frame pool, ...); not
///   the console the host shares.
/// - `dtb`: where the DTB we were handed lies.
///
/// The host's RAM is all DT RAM (or, if the board declares host `ram` regions, DT RAM inside
/// them) minus `hyp`, the DTB, `no-map` reserved memory and every other region; its devices
/// are every DT device range minus RAM, `hyp`, every region (a region such as a read-only
/// flash overrides the DT's default of Device read-write) and a GICv2's virtualization
/// frames (GICH, GICV: EL2's).
///
/// Assumes `regions` passed [`super::validate`] (build.rs guarantees that for a board's
/// regions). Regions past [`MAX_REGIONS`] are neither accepted nor refused, but their ranges
/// are still kept out of host RAM and devices.
pub fn check_regions(
    regions: &[Region],
    platform: &Platform,
    cpu: &CpuFeatures,
    hyp: &[PhysRange],
    dtb: PhysRange,
) -> RegionCheck {
    let dt_ram = dt_ram(platform);
    let machine = Machine {
        dt_ram: &dt_ram,
        platform,
        cpu,
        hyp,
        dtb,
    };
    let mut check = RegionCheck::default();
    let mut record = |region: &Region, outcome| match outcome {
        // The pushes cannot fail: at most MAX_REGIONS regions plus the two DT rows are
        // considered, each lands in one list.
        Ok(accepted) => {
            let _ = check.accepted.push(accepted);
        }
        Err(reason) => {
            let _ = check.refused.push(Refused {
                region: *region,
                reason,
            });
        }
    };
    if !regions.iter().any(Region::is_host_ram) {
        record(&HOST_RAM, machine.host_ram(&HOST_RAM, regions.iter()));
    }
    if let Some(devices) = machine.devices(regions) {
        record(&DT_DEVICES, Ok(devices));
    }
    for (index, region) in regions.iter().enumerate().take(MAX_REGIONS) {
        let outcome = if region.is_host_ram() {
            // Every other region is a hole, accepted or not: memory meant for a device
            // must never silently become host RAM.
            let others = regions
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != index)
                .map(|(_, r)| r);
            machine.host_ram(region, others)
        } else {
            machine.other(region)
        };
        record(region, outcome);
    }
    check
}

/// What the regions are held against.
struct Machine<'a> {
    dt_ram: &'a RangeSet,
    platform: &'a Platform,
    cpu: &'a CpuFeatures,
    hyp: &'a [PhysRange],
    dtb: PhysRange,
}

impl Machine<'_> {
    /// First address the CPU cannot reach.
    fn pa_limit(&self) -> u64 {
        1u64.checked_shl(u32::from(self.cpu.pa_bits))
            .unwrap_or(u64::MAX)
    }

    /// Host RAM is clipped rather than checked: refused only when nothing is left. `no-map`
    /// reserved memory is a hole; other reserved memory stays mapped (the host's kernel maps
    /// it, e.g. to write a spin-table release address) and its DTB still reserves it.
    fn host_ram<'r>(
        &self,
        region: &Region,
        others: impl Iterator<Item = &'r Region>,
    ) -> Result<Accepted, Reason> {
        let region = *region;
        let no_map = self.platform.reserved.iter().filter(|r| r.no_map);
        let holes = self
            .hyp
            .iter()
            .copied()
            .chain(core::iter::once(self.dtb))
            .chain(no_map.map(|r| r.range))
            .chain(others.map(|r| r.range));
        let clipped = host_ram::clip(region.range, self.dt_ram, self.pa_limit(), holes);
        if clipped.ranges.is_empty() {
            return Err(Reason::OutsideRam);
        }
        Ok(Accepted {
            region,
            ranges: clipped.ranges,
            perms: region.perms,
            exec_dropped: None,
            pieces_dropped: clipped.pieces_dropped,
        })
    }

    /// The DT's device ranges inside the PA range, less RAM, `hyp` and every region; `None`
    /// when nothing is left.
    fn devices(&self, regions: &[Region]) -> Option<Accepted> {
        let addressable = PhysRange::new(0, self.pa_limit());
        let mut ranges = RangeSet::new();
        for r in self.platform.devices.iter() {
            if let Some(piece) = host_ram::intersect(*r, addressable) {
                // Cannot fail: no more pieces than `devices`, itself a RangeSet.
                let _ = ranges.add(piece);
            }
        }
        let holes = self
            .dt_ram
            .iter()
            .chain(self.hyp.iter())
            .chain(self.platform.reserved.iter().map(|r| &r.range))
            .copied()
            .chain(regions.iter().map(|r| r.range))
            // GICv2's GICH and GICV: EL2's own frame, and its guests' virtual CPU interface.
            .chain(self.platform.gic_virt_frames());
        for hole in holes {
            if ranges.remove(hole).is_err() {
                ranges = host_ram::without_touched(&ranges, hole);
            }
        }
        if ranges.is_empty() {
            return None;
        }
        Some(Accepted {
            region: DT_DEVICES,
            ranges,
            perms: DT_DEVICES.perms,
            exec_dropped: None,
            pieces_dropped: false,
        })
    }

    /// Every region but host RAM is taken whole or refused whole.
    fn other(&self, region: &Region) -> Result<Accepted, Reason> {
        if let Some(reason) = self.refusal(region) {
            return Err(reason);
        }
        let mut perms = region.perms;
        perms.exec &= region.kind.may_execute();
        let mut exec_dropped = None;
        // Without DIC, executing from memory we cannot invalidate the I-cache for is unsafe;
        // data accesses are not (FWB already made the memory type right).
        if region.kind == MemoryKind::CacheableDevice && perms.exec && !self.cpu.dic {
            perms.exec = false;
            exec_dropped = Some(Reason::NoDic);
        }
        let mut ranges = RangeSet::new();
        // Cannot fail: the first range of an empty set.
        let _ = ranges.add(region.range);
        Ok(Accepted {
            region: *region,
            ranges,
            perms,
            exec_dropped,
            pieces_dropped: false,
        })
    }

    /// The first rule `region` breaks, in the order docs/CONFIG.md lists them: where it is,
    /// whom it collides with, then what the CPU can do.
    fn refusal(&self, region: &Region) -> Option<Reason> {
        let range = region.range;
        let fits_pa = range
            .base
            .checked_add(range.size)
            .is_some_and(|end| end.0 <= self.pa_limit());
        if !fits_pa {
            return Some(Reason::OutsidePaRange);
        }
        if region.kind == MemoryKind::Device {
            // MMIO: outside RAM by nature.
            if self.dt_ram.iter().any(|r| r.overlaps(&range)) {
                return Some(DEVICE_OVERLAPS_RAM);
            }
        } else if !self.dt_ram.iter().any(|r| covers(r, &range)) {
            // A carve-out (aperture, framebuffer, guest pool): RAM the DT must describe.
            return Some(Reason::OutsideRam);
        }
        if self.hyp.iter().any(|h| h.overlaps(&range)) {
            return Some(Reason::HypMemory);
        }
        if self.dtb.overlaps(&range) {
            return Some(Reason::CollidesWithDtb);
        }
        if self
            .platform
            .reserved
            .iter()
            .any(|r| r.range.overlaps(&range))
        {
            return Some(Reason::CollidesWithReserved);
        }
        if region.kind == MemoryKind::CacheableDevice && !self.cpu.fwb {
            // Without FWB we would have to clean it to PoC through a VA we do not have.
            return Some(Reason::NeedsFwb);
        }
        None
    }
}

const _: () = assert!(MAX_RAM_RANGES <= MAX_RANGES);

/// The DT's RAM as a merged set, so a region spanning two touching `/memory` ranges counts
/// as inside RAM.
fn dt_ram(platform: &Platform) -> RangeSet {
    let mut set = RangeSet::new();
    for r in platform.ram.iter() {
        // Cannot fail: MAX_RAM_RANGES <= MAX_RANGES (asserted above).
        let _ = set.add(*r);
    }
    set
}

fn covers(outer: &PhysRange, inner: &PhysRange) -> bool {
    inner.base.0 >= outer.base.0 && inner.end() <= outer.end()
}
