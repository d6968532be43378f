//! Descriptor encoding: what a table entry holds, and the count of valid entries a table
//! link carries in bits the walker ignores.

use crate::addr::PhysAddr;

pub(super) const ENTRIES: usize = 512;
pub(super) const DESC_VALID: u64 = 1 << 0;
/// At levels 0-2: "table" (vs block); at level 3 it must be set for a page.
pub(super) const DESC_TABLE_OR_PAGE: u64 = 1 << 1;
pub(super) const OA_MASK: u64 = 0x0000_ffff_ffff_f000;

#[inline(always)]
pub(super) const fn level_shift(level: u8) -> u32 {
    12 + 9 * (3 - level as u32)
}

pub(super) const fn is_leaf(desc: u64, level: u8) -> bool {
    level == 3 || desc & DESC_TABLE_OR_PAGE == 0
}

/// A leaf descriptor at `level`: a page at level 3, a block above.
pub(super) const fn leaf_desc(pa: u64, attrs: u64, level: u8) -> u64 {
    let kind = if level == 3 { DESC_TABLE_OR_PAGE } else { 0 };
    (pa & OA_MASK) | attrs | kind | DESC_VALID
}

/// Bits [11:2] of a table descriptor are IGNORED by the walker (as long as neither
/// FEAT_HAFT nor the LPA2 format is turned on, and this engine turns on neither): there
/// the engine keeps how many valid entries the linked table holds (0..=512), so an unmap
/// sees that it emptied a table from its link alone. The root's entries are not counted.
pub(super) const LIVE_SHIFT: u32 = 2;
pub(super) const LIVE_MASK: u64 = 0x3ff << LIVE_SHIFT;

/// A descriptor linking the table page at `table`, which holds `live` valid entries.
pub(super) const fn table_desc(table: PhysAddr, live: u64) -> u64 {
    (table.0 & OA_MASK) | (live << LIVE_SHIFT & LIVE_MASK) | DESC_TABLE_OR_PAGE | DESC_VALID
}

/// Valid entries in the table that the table descriptor `desc` links.
pub(super) const fn live_entries(desc: u64) -> u64 {
    (desc & LIVE_MASK) >> LIVE_SHIFT
}

/// The table linked by `up` gained one valid entry (`gained`) or lost one. Only the
/// ignored bits change, so the live link needs no break-before-make. The count wraps
/// inside its field rather than spill into the address (it cannot leave 0..=512 while
/// every entry write goes through here; tests audit it). The root is linked by nothing:
/// its `up` is a scratch word nobody reads, which spares every walk a "root?" test.
///
/// # Safety
/// `up` must point at a valid table descriptor of a table page from a `TableAlloc`, or at
/// a scratch word.
#[inline(always)]
pub(super) unsafe fn count_entry(up: *mut u64, gained: bool) {
    const ONE: u64 = 1 << LIVE_SHIFT;
    // SAFETY: the caller's promise.
    let desc = unsafe { up.read_volatile() };
    let counted = match gained {
        true => desc.wrapping_add(ONE),
        false => desc.wrapping_sub(ONE),
    };
    // SAFETY: as above.
    unsafe { up.write_volatile(desc & !LIVE_MASK | counted & LIVE_MASK) };
}

/// # Safety
/// `table` must be a table page (or concatenated root) from a `TableAlloc` and `idx` inside it.
pub(super) unsafe fn entry_ptr(table: PhysAddr, idx: usize) -> *mut u64 {
    (table.0 as usize as *mut u64).wrapping_add(idx)
}
