//! Links the guest payload with linker/guest.ld as a position-independent image, as
//! qemu/host/build.rs does for the host payload (build.rs rather than .cargo/config.toml:
//! a user's RUSTFLAGS would silently replace config rustflags).
use std::env;
use std::path::PathBuf;

fn main() {
    let Some(dir) = env::var_os("CARGO_MANIFEST_DIR") else {
        panic!("cargo did not set CARGO_MANIFEST_DIR");
    };
    let script = PathBuf::from(dir).join("../../linker/guest.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    let target = env::var("TARGET").unwrap_or_default();
    if target.starts_with("aarch64-unknown-none") {
        // Only the bin links: these are link args of the image, not of the lib's tests.
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
        println!("cargo:rustc-link-arg-bins=--pie");
        println!("cargo:rustc-link-arg-bins=-znotext");
        println!("cargo:rustc-link-arg-bins=--no-dynamic-linker");
        println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    }
}
