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

/// DCZID_EL0.DZP: `DC ZVA` is prohibited.
const DCZID_DZP: u64 = 1 << 4;
/// DCZID_EL0.BS: log2 of the `DC ZVA` block size in 4-byte words.
const DCZID_BS_MASK: u64 = 0xf;

/// Bytes one `DC ZVA` zeroes, or `None` where it is prohibited.
fn zva_block_bytes() -> Option<usize> {
    let dczid: u64;
    // SAFETY: reading an ID register has no side effects.
    unsafe { asm!("mrs {}, dczid_el0", out(reg) dczid, options(nomem, nostack, preserves_flags)) };
    if dczid & DCZID_DZP != 0 {
        return None;
    }
    Some(4 << (dczid & DCZID_BS_MASK))
}

/// Zero `pages` whole 4 KiB pages at `start`: `DC ZVA` per block (at most 2 KiB, so a page
/// is whole blocks), or plain stores where `DC ZVA` is prohibited. For table pages, which
/// otherwise cost a byte-wise `memset`.
///
/// # Safety
/// `start` must be 4 KiB aligned, and the pages writable Normal memory (with the MMU off
/// every access is Device, where `DC ZVA` faults) that nothing else refers to.
pub unsafe fn zero_pages(start: usize, pages: usize) {
    let end = start + pages * 4096;
    match zva_block_bytes() {
        // Four blocks a step (fewer loop instructions): a page is whole steps.
        Some(block) if block <= 1024 => {
            let mut addr = start;
            while addr < end {
                // SAFETY: the caller owns the memory, Normal and block aligned; DC ZVA
                // writes zeroes to the four blocks from `addr` and nowhere else.
                unsafe {
                    asm!(
                        "dc zva, {addr}",
                        "add {addr}, {addr}, {block}",
                        "dc zva, {addr}",
                        "add {addr}, {addr}, {block}",
                        "dc zva, {addr}",
                        "add {addr}, {addr}, {block}",
                        "dc zva, {addr}",
                        "add {addr}, {addr}, {block}",
                        addr = inout(reg) addr,
                        block = in(reg) block,
                        options(nostack, preserves_flags)
                    )
                };
            }
        }
        Some(block) => {
            let mut addr = start;
            while addr < end {
                // SAFETY: as above, one block.
                unsafe { asm!("dc zva, {}", in(reg) addr, options(nostack, preserves_flags)) };
                addr += block;
            }
        }
        // SAFETY: the caller's promise.
        None => unsafe { core::ptr::write_bytes(start as *mut u8, 0, end - start) },
    }
}
