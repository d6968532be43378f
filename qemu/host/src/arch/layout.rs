//! Where the running image is (symbols from linker/host.ld, addressed PC-relative, so these
//! are runtime = physical addresses).

use stile_hyp::addr::PhysRange;

extern "C" {
    static __image_start: u8;
    static __image_end: u8;
}

/// The whole footprint: code, data, BSS (with the page-table pool) and the stack.
pub fn image() -> PhysRange {
    let start = (&raw const __image_start) as u64;
    let end = (&raw const __image_end) as u64;
    PhysRange::new(start, end.saturating_sub(start))
}
