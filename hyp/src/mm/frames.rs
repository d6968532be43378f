//! The page-frame allocator: whole 4 KiB pages of RAM that nobody else owns (buddy system,
//! so multi-page, naturally aligned runs are cheap). Needs the heap for its free lists.

use crate::addr::PhysAddr;
use crate::lock::{rank, Guard, Lock};
use crate::mm::pgtable::{TableAlloc, PAGE_SIZE};
use crate::mm::ranges::RangeSet;
use buddy_system_allocator::FrameAllocator;

const PAGE_SHIFT: u32 = 12;
/// Single pages kept out of the buddy allocator when freed (see `Frames::spare`).
const SPARE_PAGES: usize = 16;

pub struct Frames {
    buddy: FrameAllocator<32>,
    /// Single pages freed lately, handed out again first. Table pages come and go one at a
    /// time (a MEMSLOT_CLEAR frees them, the next fault takes them again), and the buddy's
    /// bookkeeping (a BTreeSet per order) costs hundreds of instructions each way. A run
    /// the buddy cannot find gets these pages back first, so they cannot starve it.
    spare: heapless::Vec<PhysAddr, SPARE_PAGES>,
    free_pages: u64,
    total_pages: u64,
}

impl Default for Frames {
    fn default() -> Self {
        Self::new()
    }
}

impl Frames {
    pub fn new() -> Self {
        Frames {
            buddy: FrameAllocator::new(),
            spare: heapless::Vec::new(),
            free_pages: 0,
            total_pages: 0,
        }
    }

    /// Hand every whole page of `ranges` to the allocator.
    pub fn add(&mut self, ranges: &RangeSet) {
        for r in ranges.iter() {
            let first = r.base.0.div_ceil(PAGE_SIZE);
            let end = r.end() / PAGE_SIZE;
            if end > first {
                self.buddy.add_frame(first as usize, end as usize);
                self.free_pages += end - first;
                self.total_pages += end - first;
            }
        }
    }

    /// `count` contiguous pages, aligned to the next power of two of `count`.
    pub fn alloc(&mut self, count: usize) -> Option<PhysAddr> {
        let spare = if count == 1 { self.spare.pop() } else { None };
        let pa = match spare {
            Some(pa) => pa,
            None => self.alloc_buddy(count)?,
        };
        self.free_pages -= count as u64;
        Some(pa)
    }

    /// `count` pages from the buddy allocator, with the spare pages given back to it first
    /// if it has no such run without them.
    fn alloc_buddy(&mut self, count: usize) -> Option<PhysAddr> {
        let frame = match self.buddy.alloc(count) {
            Some(frame) => frame,
            None if !self.spare.is_empty() => {
                while let Some(pa) = self.spare.pop() {
                    self.buddy.dealloc((pa.0 >> PAGE_SHIFT) as usize, 1);
                }
                self.buddy.alloc(count)?
            }
            None => return None,
        };
        Some(PhysAddr((frame as u64) << PAGE_SHIFT))
    }

    /// Give back pages from `alloc`.
    pub fn free(&mut self, pa: PhysAddr, count: usize) {
        if count != 1 || self.spare.push(pa).is_err() {
            self.buddy.dealloc((pa.0 >> PAGE_SHIFT) as usize, count);
        }
        self.free_pages += count as u64;
    }

    pub fn free_bytes(&self) -> u64 {
        self.free_pages * PAGE_SIZE
    }

    pub fn total_bytes(&self) -> u64 {
        self.total_pages * PAGE_SIZE
    }
}

/// Stage-2 table pages come from the frame pool. Frames are identity mapped at EL2 (the pool
/// is RAM in EL2's own map), so a page is zeroed through its physical address.
impl TableAlloc for Frames {
    fn alloc_table(&mut self) -> Option<PhysAddr> {
        self.alloc_root(1)
    }

    fn free_table(&mut self, table: PhysAddr) {
        self.free(table, 1);
    }

    fn alloc_root(&mut self, pages: usize) -> Option<PhysAddr> {
        let pa = self.alloc(pages)?;
        // SAFETY: the frames were just taken from the pool EL2 owns and maps read-write
        // (Normal memory, the MMU is on once the pool exists); nothing else refers to them.
        unsafe { zero_pages(pa, pages) };
        Some(pa)
    }
}

/// The frame pool shared by every CPU: [`Frames`] behind its own lock, the last in the lock
/// order (crate::lock). A stage-2 edit holds it through [`FramePool::hold`]: locked at the
/// first table page it takes or frees, so an edit that needs none (most faults) never
/// takes it, and one that frees many (a slot cleared) takes it once.
#[derive(Default)]
pub struct FramePool(Lock<Frames, { rank::FRAMES }>);

impl FramePool {
    pub fn new(frames: Frames) -> Self {
        FramePool(Lock::new(frames))
    }

    pub fn lock(&self) -> Guard<'_, Frames, { rank::FRAMES }> {
        self.0.lock()
    }

    /// The pool as a table allocator, locked at its first use until it is dropped. Drop it
    /// before taking any other lock.
    #[inline]
    pub fn hold(&self) -> HeldFrames<'_> {
        HeldFrames {
            pool: self,
            guard: None,
        }
    }

    pub fn free_bytes(&self) -> u64 {
        self.lock().free_bytes()
    }
}

/// The pool as a table allocator locked for each page, with nothing to release: the fault
/// path's, which needs a table page for one fault in hundreds.
impl TableAlloc for &FramePool {
    fn alloc_table(&mut self) -> Option<PhysAddr> {
        self.lock().alloc_table()
    }

    fn free_table(&mut self, table: PhysAddr) {
        self.lock().free_table(table);
    }

    fn alloc_root(&mut self, pages: usize) -> Option<PhysAddr> {
        self.lock().alloc_root(pages)
    }
}

/// [`FramePool::hold`]: the pool, locked once it is first needed.
pub struct HeldFrames<'a> {
    pool: &'a FramePool,
    guard: Option<Guard<'a, Frames, { rank::FRAMES }>>,
}

impl HeldFrames<'_> {
    fn frames(&mut self) -> &mut Frames {
        let pool = self.pool;
        self.guard.get_or_insert_with(|| pool.lock())
    }
}

impl TableAlloc for HeldFrames<'_> {
    fn alloc_table(&mut self) -> Option<PhysAddr> {
        self.frames().alloc_table()
    }

    fn free_table(&mut self, table: PhysAddr) {
        self.frames().free_table(table);
    }

    fn alloc_root(&mut self, pages: usize) -> Option<PhysAddr> {
        self.frames().alloc_root(pages)
    }
}

/// Zero whole pages: `DC ZVA` at EL2 (arch::cache), a plain memset elsewhere (unit tests,
/// payloads that borrow this crate).
///
/// # Safety
/// The pages must be writable Normal memory at their physical address, owned by the caller.
unsafe fn zero_pages(pa: PhysAddr, pages: usize) {
    #[cfg(all(target_arch = "aarch64", feature = "el2"))]
    // SAFETY: the caller's promise; frames are page aligned.
    unsafe {
        crate::arch::cache::zero_pages(pa.0 as usize, pages)
    };
    #[cfg(not(all(target_arch = "aarch64", feature = "el2")))]
    // SAFETY: the caller's promise.
    unsafe {
        core::ptr::write_bytes(pa.0 as usize as *mut u8, 0, pages * PAGE_SIZE as usize)
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::PhysRange;

    #[test]
    fn frames_come_only_from_the_given_ranges() {
        let mut set = RangeSet::new();
        set.add(PhysRange::new(0x4000_0000, 0x10_0000)).unwrap();
        set.add(PhysRange::new(0x8000_0000, 0x10_0000)).unwrap();
        let mut f = Frames::new();
        f.add(&set);
        assert_eq!(f.total_bytes(), 0x20_0000);
        let mut got = std::vec::Vec::new();
        while let Some(pa) = f.alloc(1) {
            assert!(set.iter().any(|r| r.contains(pa)), "{pa:?} outside RAM");
            got.push(pa);
        }
        assert_eq!(got.len(), 512);
        assert_eq!(f.free_bytes(), 0);
        for pa in got {
            f.free(pa, 1);
        }
        assert_eq!(f.free_bytes(), 0x20_0000);
    }

    #[test]
    fn multi_page_runs_are_naturally_aligned() {
        let mut set = RangeSet::new();
        set.add(PhysRange::new(0x4000_1000, 0x40_0000)).unwrap();
        let mut f = Frames::new();
        f.add(&set);
        let pa = f.alloc(16).unwrap();
        assert!(pa.is_aligned(16 * PAGE_SIZE));
        assert!(set
            .iter()
            .any(|r| r.contains(pa) && r.contains(PhysAddr(pa.0 + 15 * PAGE_SIZE))));
    }

    #[test]
    fn a_freed_page_is_handed_out_again_first() {
        let mut set = RangeSet::new();
        set.add(PhysRange::new(0x4000_0000, 0x10_0000)).unwrap();
        let mut f = Frames::new();
        f.add(&set);
        let (a, b) = (f.alloc(1).unwrap(), f.alloc(1).unwrap());
        f.free(a, 1);
        f.free(b, 1);
        assert_eq!(f.free_bytes(), 0x10_0000);
        assert_eq!(f.alloc(1), Some(b));
        assert_eq!(f.alloc(1), Some(a));
    }

    #[test]
    fn spare_pages_go_back_to_the_buddy_when_a_run_needs_them() {
        // 32 pages: take them all, give 16 back one by one (all kept as spares), then a
        // 16-page run can only be found once the spares are merged back.
        let mut set = RangeSet::new();
        set.add(PhysRange::new(0x4000_0000, 32 * PAGE_SIZE))
            .unwrap();
        let mut f = Frames::new();
        f.add(&set);
        let pages: std::vec::Vec<_> = (0..32).map(|_| f.alloc(1).unwrap()).collect();
        let mut low: std::vec::Vec<_> = pages
            .iter()
            .copied()
            .filter(|p| p.0 < 0x4001_0000)
            .collect();
        low.sort();
        assert_eq!(low.len(), 16);
        for &p in &low {
            f.free(p, 1);
        }
        assert_eq!(f.alloc(16), Some(PhysAddr(0x4000_0000)));
        assert_eq!(f.free_bytes(), 0);
        assert_eq!(f.alloc(1), None);
    }

    #[test]
    fn exhaustion_returns_none() {
        let mut f = Frames::new();
        assert_eq!(f.alloc(1), None);
    }
}
