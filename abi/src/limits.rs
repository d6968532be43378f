//! The fixed limits of revision 0.2 (exceeding one is refused with `Reason::Limit`), and the
//! granule every address and size in the ABI is counted in.

/// Guests at once (VM ids besides the host's 0).
pub const MAX_GUESTS: u64 = 8;
/// vCPUs per guest (ids 0..MAX_VCPUS).
pub const MAX_VCPUS: u64 = 4;
/// Memslots per guest (slot indexes 0..MAX_SLOTS).
pub const MAX_SLOTS: u64 = 16;
/// The page: VM_CREATE ranges, memslots and run pages are multiples of it and aligned to it.
pub const PAGE_SIZE: u64 = 4096;
/// A run page is one page (the record at its start; the rest reserved).
pub const RUN_PAGE_SIZE: u64 = PAGE_SIZE;
