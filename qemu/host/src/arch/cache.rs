//! Data-cache maintenance by virtual address.

use core::arch::asm;

/// Invalidate `[start, start + len)` to the point of coherency. Used with the MMU and caches
/// off, before turning them on, so no stale line shadows what we wrote to memory since entry
/// (BSS, relocations, page tables, stack).
///
/// # Safety
/// The range must hold nothing whose only up-to-date copy is in a cache: true for what we
/// wrote with the data cache off, and for the image Stile cleaned to PoC before entering us.
pub unsafe fn invalidate_dcache_range(start: usize, len: usize, line: usize) {
    let end = start.saturating_add(len);
    let mut addr = start & !(line - 1);
    while addr < end {
        // SAFETY: DC IVAC changes cache state only; the caller guarantees memory is current.
        // (Under a hypervisor with HCR_EL2.VM set it runs as DC CIVAC: equally harmless here.)
        unsafe { asm!("dc ivac, {}", in(reg) addr, options(nostack, preserves_flags)) };
        addr += line;
    }
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
}

/// Clean `[start, start + len)` to the point of coherency: what we wrote with caches on
/// becomes visible to an observer that reads memory non-cacheable (a guest with its MMU off
/// where guests run without FWB; docs/ABI.md, VM_CREATE).
///
/// # Safety
/// The range must be mapped in our stage 1 (any attributes); cleaning never loses data.
pub unsafe fn clean_dcache_range(start: usize, len: usize, line: usize) {
    let end = start.saturating_add(len);
    let mut addr = start & !(line - 1);
    while addr < end {
        // SAFETY: DC CVAC writes dirty lines back and changes nothing else.
        unsafe { asm!("dc cvac, {}", in(reg) addr, options(nostack, preserves_flags)) };
        addr += line;
    }
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
}
