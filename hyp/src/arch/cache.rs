//! Data-cache maintenance by virtual address.

use core::arch::asm;

/// Invalidate `[start, start + len)` to the point of coherency, discarding cached copies.
/// Used with the MMU and caches off, after writing memory that may have stale cache lines
/// (BSS, page tables, relocated data), so turning caches on cannot resurrect old data.
///
/// # Safety
/// The range must hold nothing whose only up-to-date copy is in the cache (true with the
/// data cache off: every write went to memory).
pub unsafe fn invalidate_dcache_range(start: usize, len: usize, line: usize) {
    let end = start.saturating_add(len);
    let mut addr = start & !(line - 1);
    while addr < end {
        // SAFETY: DC IVAC only affects cache state; the caller guarantees memory is current.
        unsafe { asm!("dc ivac, {}", in(reg) addr, options(nostack, preserves_flags)) };
        addr += line;
    }
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
}

/// Clean and invalidate `[start, start + len)` to the point of coherency, then invalidate
/// the instruction cache: for code and data EL2 wrote through its cacheable map that a lower
/// EL will read with its MMU (and so its caches) off.
pub fn clean_to_poc(start: usize, len: usize, line: usize) {
    let end = start.saturating_add(len);
    let mut addr = start & !(line - 1);
    while addr < end {
        // SAFETY: DC CIVAC writes dirty lines back and drops them; memory contents are
        // unchanged as seen by any observer.
        unsafe { asm!("dc civac, {}", in(reg) addr, options(nostack, preserves_flags)) };
        addr += line;
    }
    // SAFETY: barriers and I-cache invalidation have no memory-safety effect.
    unsafe {
        asm!(
            "dsb sy",
            "ic ialluis",
            "dsb sy",
            "isb",
            options(nostack, preserves_flags)
        )
    };
}
