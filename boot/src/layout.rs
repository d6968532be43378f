//! The image layout as the linker placed it (symbols from linker/stile.ld).

use stile_hyp::addr::PhysRange;
use stile_hyp::mm::el2_map::ImageLayout;

/// Keep in sync with linker/stile.ld (checked by `image_layout`).
pub const STACK_SIZE: u64 = 0x20000;
pub const GUARD_SIZE: u64 = 0x1000;
pub const EMERGENCY_STACK_SIZE: u64 = 0x2000;
pub const MAX_CPUS: u64 = 8;

extern "C" {
    static __image_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __bss_end: u8;
    static __stacks_start: u8;
    static __stacks_end: u8;
    static __emergency_stacks_start: u8;
    static __emergency_stacks_end: u8;
    static __image_end: u8;
}

fn addr(sym: *const u8) -> u64 {
    sym as u64
}

fn span(start: u64, end: u64) -> PhysRange {
    PhysRange::new(start, end - start)
}

/// Where the pieces of the running image are (runtime addresses: the MMU is an identity map
/// and symbol addresses are PC-relative, so these are physical addresses).
pub fn image_layout() -> Result<ImageLayout, &'static str> {
    let start = addr(&raw const __image_start);
    let text_end = addr(&raw const __text_end);
    let rodata_end = addr(&raw const __rodata_end);
    let bss_end = addr(&raw const __bss_end);
    let stacks = span(
        addr(&raw const __stacks_start),
        addr(&raw const __stacks_end),
    );
    let emergency = span(
        addr(&raw const __emergency_stacks_start),
        addr(&raw const __emergency_stacks_end),
    );
    let end = addr(&raw const __image_end);
    if stacks.size != MAX_CPUS * (GUARD_SIZE + STACK_SIZE)
        || emergency.size != MAX_CPUS * EMERGENCY_STACK_SIZE
    {
        return Err("linker script and boot/src/layout.rs disagree on stack sizes");
    }
    Ok(ImageLayout {
        image: span(start, end),
        text: span(start, text_end),
        rodata: span(text_end, rodata_end),
        data: span(rodata_end, bss_end),
        stacks,
        guard_size: GUARD_SIZE,
        stack_size: STACK_SIZE,
        cpus: MAX_CPUS,
        emergency_stacks: emergency,
    })
}
