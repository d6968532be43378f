//! The host payload image: entry.S (Image header, self-relocation, BSS, stack, vectors) and
//! the call into the library, which does everything else. On anything but aarch64 bare
//! metal this builds to a stub, so `cargo build --workspace` works on the build machine.
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod image {
    use stile_host::arch;

    core::arch::global_asm!(
        include_str!("../../../linker/self-relocate.S"),
        include_str!("entry.S")
    );

    /// Called by entry.S: MMU off, relocations applied, BSS zeroed, on our stack, VBAR_EL1
    /// set; `entry_ticks` is CNTVCT_EL0 as entry.S read it first thing.
    #[no_mangle]
    extern "C" fn host_main(dtb: usize, entry_ticks: u64) -> ! {
        arch::boot::run(dtb, entry_ticks)
    }

    /// stile-hyp links `alloc` (for its EL2 heap users), so an image needs an allocator; the
    /// payload allocates nothing, and any attempt fails (then panics, reported and fatal).
    struct NoHeap;

    // SAFETY: returning null is GlobalAlloc's way of saying "no memory"; nothing is handed out,
    // so nothing is ever deallocated.
    unsafe impl core::alloc::GlobalAlloc for NoHeap {
        unsafe fn alloc(&self, _layout: core::alloc::Layout) -> *mut u8 {
            core::ptr::null_mut()
        }

        unsafe fn dealloc(&self, _ptr: *mut u8, _layout: core::alloc::Layout) {}
    }

    #[global_allocator]
    static HEAP: NoHeap = NoHeap;

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        arch::fatal::panic(info)
    }
}

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn main() {
    eprintln!("stile-host is an EL1 image: build it with --target aarch64-unknown-none-softfloat");
    std::process::exit(1);
}
