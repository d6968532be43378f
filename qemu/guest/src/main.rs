//! The guest payload image: entry.S (Image header, self-relocation, BSS, stack, vectors) and
//! the call into the library, which does everything else. On anything but aarch64 bare
//! metal this builds to a stub, so `cargo build --workspace` works on the build machine.
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod image {
    use stile_guest::arch;

    core::arch::global_asm!(
        include_str!("../../../linker/self-relocate.S"),
        include_str!("entry.S")
    );
    core::arch::global_asm!(
        include_str!("../../el1-vectors.S"),
        handler = sym arch::exceptions::guest_exception
    );

    /// Called by entry.S: MMU off, relocations applied, BSS zeroed, on our stack, VBAR_EL1
    /// set; `x0` as the VMM passed it, `entry` where the image runs.
    #[no_mangle]
    extern "C" fn guest_main(x0: u64, entry: u64) -> ! {
        arch::boot::run(x0, entry)
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        arch::fatal::panic(info)
    }
}

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn main() {
    eprintln!("stile-guest is an EL1 image: build it with --target aarch64-unknown-none-softfloat");
    std::process::exit(1);
}
