//! A bump allocator of table pages over one fixed region (EL2's boot page-table pool).

use crate::addr::{PhysAddr, PhysRange};
use crate::mm::pgtable::{TableAlloc, PAGE_SIZE};

pub struct BumpTables {
    next: u64,
    end: u64,
    used: u64,
}

impl BumpTables {
    /// # Safety
    /// `region` must be page-aligned memory owned exclusively by this allocator, writable at
    /// its physical address for as long as the tables built from it are in use.
    pub unsafe fn new(region: PhysRange) -> Self {
        BumpTables {
            next: region.base.0,
            end: region.end(),
            used: 0,
        }
    }

    /// Table pages handed out so far.
    pub fn used(&self) -> u64 {
        self.used
    }
}

impl TableAlloc for BumpTables {
    fn alloc_table(&mut self) -> Option<PhysAddr> {
        if self.end.saturating_sub(self.next) < PAGE_SIZE {
            return None;
        }
        let page = self.next;
        self.next += PAGE_SIZE;
        self.used += 1;
        // SAFETY: `page` lies inside the region the constructor's caller gave us exclusively.
        unsafe { core::ptr::write_bytes(page as usize as *mut u8, 0, PAGE_SIZE as usize) };
        Some(PhysAddr(page))
    }
}
