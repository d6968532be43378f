//! "Physical memory" for table pages: a block of this process's memory handed to the real
//! page-frame allocator (`Frames`), whose pages the table engine then writes through their
//! address, as EL2 does with RAM. A budget can make it run dry on purpose.
//!
//! The memory is allocated once per thread and reused: `Frames` zeroes every page it hands
//! out, so a fresh allocator over old memory is as good as new, and a fuzzer then spends its
//! time in the code under test rather than in `calloc` of megabytes for every input.

use std::cell::{Cell, RefCell};

use stile_hyp::addr::PhysAddr;
use stile_hyp::addr::PhysRange;
use stile_hyp::mm::frames::Frames;
use stile_hyp::mm::pgtable::TableAlloc;
use stile_hyp::mm::ranges::RangeSet;

const ALIGN: u64 = 2 << 20;
/// The most a pool may hold.
const MAX_BYTES: u64 = 8 << 20;

thread_local! {
    static MEMORY: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// A pool of this thread's memory exists (at most one may).
    static TAKEN: Cell<bool> = const { Cell::new(false) };
}

pub struct Pool {
    pub frames: Frames,
    /// Table pages out now (alloc minus free).
    pub out: u64,
    /// Allocations still allowed before the pool "runs dry" (`None`: no limit).
    pub budget: Option<u64>,
}

impl Pool {
    /// A pool of `bytes` (a multiple of 2 MiB, at most 8 MiB), 2 MiB aligned: this
    /// thread's memory, so one pool per thread at a time.
    pub fn new(bytes: u64) -> Pool {
        assert!(bytes <= MAX_BYTES, "pool of {bytes} bytes");
        assert!(!TAKEN.replace(true), "a second pool on one thread");
        let base = MEMORY.with_borrow_mut(|m| {
            if m.is_empty() {
                *m = vec![0u8; (MAX_BYTES + ALIGN) as usize];
            }
            m.as_mut_ptr() as u64
        });
        let start = base.next_multiple_of(ALIGN);
        let mut set = RangeSet::new();
        set.add(PhysRange::new(start, bytes)).expect("one range");
        let mut frames = Frames::new();
        frames.add(&set);
        Pool {
            frames,
            out: 0,
            budget: None,
        }
    }

    fn spend(&mut self, pages: u64) -> bool {
        match &mut self.budget {
            Some(left) if *left < pages => false,
            Some(left) => {
                *left -= pages;
                true
            }
            None => true,
        }
    }
}

impl TableAlloc for Pool {
    fn alloc_table(&mut self) -> Option<PhysAddr> {
        self.alloc_root(1)
    }

    fn free_table(&mut self, table: PhysAddr) {
        self.out -= 1;
        self.frames.free_table(table);
    }

    fn alloc_root(&mut self, pages: usize) -> Option<PhysAddr> {
        if !self.spend(pages as u64) {
            return None;
        }
        let pa = self.frames.alloc_root(pages)?;
        self.out += pages as u64;
        Some(pa)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        TAKEN.set(false);
    }
}
