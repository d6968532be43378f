//! What EL2 maps for itself, and how: the image W^X, stacks with unmapped guard pages, RAM as
//! read-write never-execute data, and the devices it drives (console, GIC) as Device-nGnRE.
//! Everything is identity mapped (VA = PA).

use crate::addr::PhysRange;
use crate::dt::{Gic, Platform};
use crate::mm::el2_attrs::{el2_leaf_attrs, El2Use};
use crate::mm::pgtable::{MapError, MapStats, PageTable, TableAlloc, PAGE_SIZE};
use crate::mm::ranges::{RangeSet, TooManyRanges};

/// Where the linker put the pieces of the image (all page aligned).
#[derive(Debug, Clone, Copy)]
pub struct ImageLayout {
    /// The whole footprint, header to the end of the stacks.
    pub image: PhysRange,
    pub text: PhysRange,
    pub rodata: PhysRange,
    /// .data and .bss.
    pub data: PhysRange,
    /// `cpus` slots of `guard_size` (unmapped) followed by `stack_size` (mapped).
    pub stacks: PhysRange,
    pub guard_size: u64,
    pub stack_size: u64,
    pub cpus: u64,
    pub emergency_stacks: PhysRange,
}

impl ImageLayout {
    /// CPU `cpu`'s guard page.
    pub fn guard(&self, cpu: u64) -> PhysRange {
        let slot = self.guard_size + self.stack_size;
        PhysRange::new(self.stacks.base.0 + cpu * slot, self.guard_size)
    }

    /// CPU `cpu`'s stack (above its guard page).
    pub fn stack(&self, cpu: u64) -> PhysRange {
        let g = self.guard(cpu);
        PhysRange::new(g.end(), self.stack_size)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum El2MapError {
    Map(MapError, &'static str),
    TooManyRanges,
}

impl From<TooManyRanges> for El2MapError {
    fn from(_: TooManyRanges) -> Self {
        El2MapError::TooManyRanges
    }
}

/// What went into the map, for the boot log.
#[derive(Debug, Clone, Copy, Default)]
pub struct El2MapReport {
    pub stats: MapStats,
    pub ram_bytes: u64,
    pub device_ranges: u64,
}

/// Round a device range out to whole pages.
fn page_round_out(r: PhysRange) -> PhysRange {
    let start = r.base.0 & !(PAGE_SIZE - 1);
    let end = r.end().saturating_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
    PhysRange::new(start, end - start)
}

fn add(total: &mut MapStats, s: MapStats) {
    total.blocks_1g += s.blocks_1g;
    total.blocks_2m += s.blocks_2m;
    total.pages_4k += s.pages_4k;
    total.tables += s.tables;
}

/// Every device range EL2 drives, page-rounded.
fn device_ranges(platform: &Platform) -> heapless::Vec<PhysRange, 16> {
    let mut out = heapless::Vec::new();
    let mut push = |r: PhysRange| {
        let _ = out.push(page_round_out(r));
    };
    if let Some(c) = &platform.console {
        push(c.regs);
    }
    match &platform.gic {
        Some(Gic::V2 {
            gicd,
            gicc,
            gich,
            gicv,
        }) => {
            push(*gicd);
            push(*gicc);
            gich.iter().chain(gicv.iter()).for_each(|r| push(*r));
        }
        Some(Gic::V3 { gicd, gicr }) => {
            push(*gicd);
            gicr.iter().for_each(|r| push(*r));
        }
        None => {}
    }
    out
}

/// Build EL2's identity map into `table`. `extra_devices` are device ranges not in the DT's
/// console/GIC (e.g. the board's fallback console).
pub fn build_el2_map(
    table: &mut PageTable,
    alloc: &mut impl TableAlloc,
    image: &ImageLayout,
    platform: &Platform,
    never_map: &[PhysRange],
    extra_devices: &[PhysRange],
) -> Result<El2MapReport, El2MapError> {
    let mut report = El2MapReport::default();
    let mut map = |range: PhysRange, use_: El2Use, what: &'static str, blocks: bool| {
        if range.size == 0 {
            return Ok(MapStats::default());
        }
        table
            .map(
                alloc,
                range.base.0,
                range.base,
                range.size,
                el2_leaf_attrs(use_),
                blocks,
            )
            .map_err(|e| El2MapError::Map(e, what))
    };

    // RAM, minus the image (mapped piecewise below) and no-map reserved memory.
    let mut ram = RangeSet::new();
    for r in platform.ram.iter() {
        ram.add(*r)?;
    }
    ram.remove(page_round_out(image.image))?;
    for res in platform.reserved.iter().filter(|r| r.no_map) {
        ram.remove(page_round_out(res.range))?;
    }
    // Carve-outs (coherent device memory, ...) have no hypervisor VA by design.
    for r in never_map {
        ram.remove(page_round_out(*r))?;
    }
    ram.align_inward(PAGE_SIZE);
    for r in ram.iter() {
        add(&mut report.stats, map(*r, El2Use::ReadWrite, "RAM", true)?);
    }
    report.ram_bytes = ram.total_bytes();

    add(
        &mut report.stats,
        map(image.text, El2Use::Text, "image text", false)?,
    );
    add(
        &mut report.stats,
        map(image.rodata, El2Use::ReadOnly, "image rodata", false)?,
    );
    add(
        &mut report.stats,
        map(image.data, El2Use::ReadWrite, "image data", false)?,
    );
    for cpu in 0..image.cpus {
        add(
            &mut report.stats,
            map(image.stack(cpu), El2Use::ReadWrite, "stack", false)?,
        );
    }
    add(
        &mut report.stats,
        map(
            image.emergency_stacks,
            El2Use::ReadWrite,
            "emergency stacks",
            false,
        )?,
    );

    let mut devices = device_ranges(platform);
    for d in extra_devices {
        let _ = devices.push(page_round_out(*d));
    }
    for (i, d) in devices.iter().enumerate() {
        // Two devices may share a page (or the fallback console is the DT's console).
        let overlaps_earlier = devices[..i].iter().any(|e| e.overlaps(d));
        if overlaps_earlier {
            continue;
        }
        add(
            &mut report.stats,
            map(*d, El2Use::Device, "device MMIO", true)?,
        );
        report.device_ranges += 1;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::PhysAddr;
    use crate::dt::{UartInfo, UartKind};
    use crate::mm::pgtable::tests::TestAlloc;

    const MIB: u64 = 1 << 20;

    fn layout() -> ImageLayout {
        let base = 0x4000_0000;
        ImageLayout {
            image: PhysRange::new(base, 0x10_0000),
            text: PhysRange::new(base, 0x1_0000),
            rodata: PhysRange::new(base + 0x1_0000, 0x8000),
            data: PhysRange::new(base + 0x1_8000, 0x8000),
            stacks: PhysRange::new(base + 0x2_0000, 2 * 0x11000),
            guard_size: 0x1000,
            stack_size: 0x10000,
            cpus: 2,
            emergency_stacks: PhysRange::new(base + 0x4_2000, 0x4000),
        }
    }

    fn platform() -> Platform {
        let mut p = Platform::default();
        p.ram.push(PhysRange::new(0x4000_0000, 1 << 30)).unwrap();
        p.console = Some(UartInfo {
            kind: UartKind::Pl011,
            regs: PhysRange::new(0x0900_0000, 0x1000),
            reg_shift: 0,
            reg_io_width: 4,
            clock_frequency: None,
            baud: None,
        });
        let mut gicr = heapless::Vec::new();
        gicr.push(PhysRange::new(0x080a_0000, 0xf6_0000)).unwrap();
        p.gic = Some(Gic::V3 {
            gicd: PhysRange::new(0x0800_0000, 0x1_0000),
            gicr,
        });
        p
    }

    fn build() -> (PageTable, El2MapReport, TestAlloc) {
        let mut a = TestAlloc::new(64);
        let mut t = PageTable::new(&mut a, 0, 48).unwrap();
        let r = build_el2_map(&mut t, &mut a, &layout(), &platform(), &[], &[]).unwrap();
        (t, r, a)
    }

    #[test]
    fn image_is_write_xor_execute() {
        let (t, _r, _a) = build();
        let l = layout();
        let text = t.lookup(l.text.base.0).unwrap().attrs;
        let data = t.lookup(l.data.base.0).unwrap().attrs;
        assert_eq!(text, el2_leaf_attrs(El2Use::Text));
        assert_eq!(
            t.lookup(l.rodata.base.0).unwrap().attrs,
            el2_leaf_attrs(El2Use::ReadOnly)
        );
        assert_eq!(data, el2_leaf_attrs(El2Use::ReadWrite));
    }

    #[test]
    fn stack_guard_pages_are_unmapped() {
        let (t, _r, _a) = build();
        let l = layout();
        for cpu in 0..l.cpus {
            assert_eq!(t.lookup(l.guard(cpu).base.0), None, "guard of cpu {cpu}");
            assert!(t.lookup(l.stack(cpu).base.0).is_some());
            assert!(t.lookup(l.stack(cpu).end() - 8).is_some());
        }
    }

    #[test]
    fn ram_beyond_the_image_uses_blocks_and_is_never_executable() {
        let (t, r, _a) = build();
        let leaf = t.lookup(0x7000_0000).unwrap();
        assert_eq!(leaf.level, 2, "2 MiB blocks where aligned");
        assert_eq!(leaf.attrs, el2_leaf_attrs(El2Use::ReadWrite));
        assert_eq!(r.ram_bytes, (1 << 30) - MIB);
    }

    #[test]
    fn devices_are_device_memory() {
        let (t, r, _a) = build();
        assert_eq!(
            t.lookup(0x0900_0000).unwrap().attrs,
            el2_leaf_attrs(El2Use::Device)
        );
        assert_eq!(
            t.lookup(0x080a_0000 + 0xf5_f000).unwrap().pa,
            PhysAddr(0x080a_0000 + 0xf5_f000)
        );
        assert_eq!(r.device_ranges, 3);
        // Nothing between the devices.
        assert_eq!(t.lookup(0x0a00_0000), None);
    }

    #[test]
    fn no_map_reserved_memory_stays_out_of_the_map() {
        let mut p = platform();
        p.reserved
            .push(crate::dt::Reserved {
                range: PhysRange::new(0x5000_0000, 2 * MIB),
                source: crate::dt::ReservedSource::ReservedMemoryNode,
                no_map: true,
            })
            .unwrap();
        let mut a = TestAlloc::new(64);
        let mut t = PageTable::new(&mut a, 0, 48).unwrap();
        build_el2_map(&mut t, &mut a, &layout(), &p, &[], &[]).unwrap();
        assert_eq!(t.lookup(0x5000_0000), None);
        assert!(t.lookup(0x5020_0000).is_some());
    }

    #[test]
    fn carve_outs_are_never_in_el2s_map() {
        let mut a = TestAlloc::new(64);
        let mut t = PageTable::new(&mut a, 0, 48).unwrap();
        let aperture = PhysRange::new(0x7c00_0000, 64 * MIB);
        build_el2_map(&mut t, &mut a, &layout(), &platform(), &[aperture], &[]).unwrap();
        assert_eq!(t.lookup(0x7c00_0000), None);
        assert_eq!(t.lookup(0x7fff_f000), None);
        assert!(t.lookup(0x7bff_f000).is_some());
    }

    #[test]
    fn shared_or_duplicate_device_pages_are_mapped_once() {
        let mut a = TestAlloc::new(64);
        let mut t = PageTable::new(&mut a, 0, 48).unwrap();
        let extra = [PhysRange::new(0x0900_0000, 0x1000)];
        let r = build_el2_map(&mut t, &mut a, &layout(), &platform(), &[], &extra).unwrap();
        assert_eq!(r.device_ranges, 3);
    }

    #[test]
    fn boot_map_of_1g_fits_a_small_table_budget() {
        let (_, _, a) = build();
        assert!(a.used() <= 8, "used {} table pages", a.used());
    }
}
