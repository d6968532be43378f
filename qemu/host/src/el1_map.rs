//! The payload's EL1 stage-1 identity map: every `/memory` range as Normal-WB (reserved
//! carve-outs inside RAM included: TRANSLATE must show what stage 2 does to a Normal-WB
//! stage-1 mapping), everything else below [`VA_LIMIT`] as Device-nGnRE. Built with hyp's
//! table engine, which picks 1 GiB / 2 MiB blocks wherever alignment allows.

use crate::el1_attrs::El1Use;
use stile_hyp::addr::{PhysAddr, PhysRange};
use stile_hyp::mm::pgtable::{MapError, MapStats, PageTable, TableAlloc, PAGE_SIZE};
use stile_hyp::mm::ranges::{RangeSet, TooManyRanges};

/// 39-bit VAs (TCR_EL1.T0SZ = 25): 512 GiB, walks start at level 1 with one root page.
pub const VA_BITS: u8 = 39;
pub const START_LEVEL: u8 = 1;
pub const VA_LIMIT: u64 = 1 << VA_BITS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum El1MapError {
    Map(MapError),
    /// More separate RAM ranges than a `RangeSet` holds.
    TooManyRanges,
}

impl From<TooManyRanges> for El1MapError {
    fn from(_: TooManyRanges) -> Self {
        El1MapError::TooManyRanges
    }
}

impl From<MapError> for El1MapError {
    fn from(e: MapError) -> Self {
        El1MapError::Map(e)
    }
}

/// RAM as the map covers it: clipped to [`VA_LIMIT`], widened to whole pages, merged.
pub fn ram_set(ram: &[PhysRange]) -> Result<RangeSet, TooManyRanges> {
    let mut set = RangeSet::new();
    for r in ram {
        let start = r.base.0.min(VA_LIMIT) & !(PAGE_SIZE - 1);
        let end = r.end().min(VA_LIMIT).next_multiple_of(PAGE_SIZE);
        if end > start {
            set.add(PhysRange::new(start, end - start))?;
        }
    }
    Ok(set)
}

/// How the map covers `addr`: `None` above [`VA_LIMIT`] (not mapped at all).
pub fn use_at(addr: u64, ram: &RangeSet) -> Option<El1Use> {
    if addr >= VA_LIMIT {
        None
    } else if ram.iter().any(|r| r.contains(PhysAddr(addr))) {
        Some(El1Use::Ram)
    } else {
        Some(El1Use::Device)
    }
}

/// Builds the whole identity map in tables from `alloc`.
pub fn build(
    alloc: &mut impl TableAlloc,
    ram: &[PhysRange],
) -> Result<(PageTable, MapStats), El1MapError> {
    let ram = ram_set(ram)?;
    let mut device = RangeSet::new();
    device.add(PhysRange::new(0, VA_LIMIT))?;
    for r in ram.iter() {
        device.remove(*r)?;
    }
    let mut table = PageTable::new(alloc, START_LEVEL, VA_BITS)?;
    let mut total = MapStats::default();
    let ranges = ram
        .iter()
        .map(|r| (r, El1Use::Ram))
        .chain(device.iter().map(|r| (r, El1Use::Device)));
    for (r, use_) in ranges {
        let s = table.map(alloc, r.base.0, r.base, r.size, use_.leaf_attrs(), true)?;
        total.blocks_1g += s.blocks_1g;
        total.blocks_2m += s.blocks_2m;
        total.pages_4k += s.pages_4k;
        total.tables += s.tables;
    }
    Ok((table, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C, align(4096))]
    struct Page([u64; 512]);

    /// Host memory standing in for table pages (their address is their "physical" address).
    struct Pages {
        pages: Vec<Page>,
        next: usize,
    }

    impl Pages {
        fn new(n: usize) -> Self {
            Pages {
                pages: (0..n).map(|_| Page([0; 512])).collect(),
                next: 0,
            }
        }
    }

    impl TableAlloc for Pages {
        fn alloc_table(&mut self) -> Option<PhysAddr> {
            let p = self.pages.get_mut(self.next)?;
            self.next += 1;
            Some(PhysAddr(p as *mut Page as u64))
        }
    }

    const GIB: u64 = 1 << 30;

    #[test]
    fn qemu_virt_1g_is_all_gigabyte_blocks_in_one_root_page() {
        let mut a = Pages::new(4);
        let (t, s) = build(&mut a, &[PhysRange::new(GIB, GIB)]).unwrap();
        assert_eq!(
            (s.blocks_1g, s.blocks_2m, s.pages_4k, s.tables),
            (512, 0, 0, 0)
        );
        assert_eq!(a.next, 1);
        let ram = t.lookup(0x4020_0000).unwrap();
        assert_eq!((ram.attrs, ram.level), (El1Use::Ram.leaf_attrs(), 1));
        let uart = t.lookup(0x0900_0000).unwrap();
        assert_eq!(uart.attrs, El1Use::Device.leaf_attrs());
        assert_eq!(
            t.lookup(0x7f_ffff_f000).unwrap().attrs,
            El1Use::Device.leaf_attrs()
        );
        assert_eq!(t.lookup(VA_LIMIT), None);
    }

    #[test]
    fn carve_outs_inside_ram_stay_normal_write_back() {
        let mut a = Pages::new(4);
        let (t, _) = build(&mut a, &[PhysRange::new(GIB, GIB)]).unwrap();
        for addr in [0x7B00_0000, 0x7C00_0000] {
            assert_eq!(t.lookup(addr).unwrap().attrs, El1Use::Ram.leaf_attrs());
        }
    }

    #[test]
    fn unaligned_ram_edges_use_smaller_leaves_and_are_widened_to_pages() {
        let mut a = Pages::new(16);
        let ram = [PhysRange::new(0x4000_0800, 0x0060_0000)];
        let (t, s) = build(&mut a, &ram).unwrap();
        assert!(s.pages_4k > 0 && s.blocks_2m > 0, "{s:?}");
        assert_eq!(
            t.lookup(0x4000_0000).unwrap().attrs,
            El1Use::Ram.leaf_attrs()
        );
        assert_eq!(
            t.lookup(0x4060_0000).unwrap().attrs,
            El1Use::Ram.leaf_attrs()
        );
        assert_eq!(
            t.lookup(0x4060_1000).unwrap().attrs,
            El1Use::Device.leaf_attrs()
        );
        let set = ram_set(&ram).unwrap();
        assert_eq!(use_at(0x4060_0fff, &set), Some(El1Use::Ram));
        assert_eq!(use_at(0x4060_1000, &set), Some(El1Use::Device));
    }

    #[test]
    fn overlapping_ram_ranges_merge_and_ram_above_the_limit_is_dropped() {
        let mut a = Pages::new(8);
        let ram = [
            PhysRange::new(GIB, GIB),
            PhysRange::new(GIB + 0x1000, 0x1000),
            PhysRange::new(VA_LIMIT - GIB, 2 * GIB),
            PhysRange::new(VA_LIMIT + GIB, GIB),
        ];
        let (t, _) = build(&mut a, &ram).unwrap();
        assert_eq!(
            t.lookup(VA_LIMIT - 0x1000).unwrap().attrs,
            El1Use::Ram.leaf_attrs()
        );
        let set = ram_set(&ram).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(use_at(VA_LIMIT + GIB, &set), None);
    }

    #[test]
    fn running_out_of_table_pages_is_an_error_not_a_panic() {
        let mut a = Pages::new(1);
        let ram = [PhysRange::new(0x4000_1000, 0x1000)];
        assert_eq!(
            build(&mut a, &ram).map(|_| ()),
            Err(El1MapError::Map(MapError::OutOfTables))
        );
    }
}
