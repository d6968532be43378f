//! EL2's heap: a fixed block in BSS, usable once the MMU maps it as normal memory (the
//! allocator's lock needs exclusive-access instructions).

use linked_list_allocator::LockedHeap;

const HEAP_SIZE: usize = 256 * 1024;

#[repr(C, align(4096))]
struct HeapMemory([u8; HEAP_SIZE]);

static mut HEAP_MEMORY: HeapMemory = HeapMemory([0; HEAP_SIZE]);

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Give the heap its memory. Call once, after the MMU is on.
pub fn init() -> usize {
    // SAFETY: called once on the boot CPU; HEAP_MEMORY is used by nothing but the allocator.
    unsafe {
        HEAP.lock()
            .init((&raw mut HEAP_MEMORY).cast::<u8>(), HEAP_SIZE)
    };
    HEAP_SIZE
}
