//! Links the host payload with linker/host.ld as a position-independent image (like
//! boot/build.rs does for Stile; build.rs rather than .cargo/config.toml because a user's
//! RUSTFLAGS would silently replace config rustflags), and embeds the guest payload: the
//! file STILE_GUEST_BIN names (the Makefile passes build/<board>/guest.bin) is copied to
//! OUT_DIR/guest.bin for `include_bytes!`; without the variable (`cargo test`, clippy) an
//! empty file, which the payload reports as `check host-guest-image: FAIL no guest image
//! embedded`.
use std::env;
use std::fs;
use std::path::PathBuf;

fn embed_guest() {
    println!("cargo:rerun-if-env-changed=STILE_GUEST_BIN");
    let Some(out) = env::var_os("OUT_DIR") else {
        panic!("cargo did not set OUT_DIR");
    };
    let dest = PathBuf::from(out).join("guest.bin");
    let result = match env::var_os("STILE_GUEST_BIN") {
        Some(src) if !src.is_empty() => {
            let src = PathBuf::from(src);
            println!("cargo:rerun-if-changed={}", src.display());
            fs::copy(&src, &dest).map(|_| ())
        }
        _ => fs::write(&dest, []),
    };
    if let Err(e) = result {
        panic!("embedding the guest image (STILE_GUEST_BIN) failed: {e}");
    }
}

fn main() {
    embed_guest();
    let Some(dir) = env::var_os("CARGO_MANIFEST_DIR") else {
        panic!("cargo did not set CARGO_MANIFEST_DIR");
    };
    let script = PathBuf::from(dir).join("../../linker/host.ld");
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
