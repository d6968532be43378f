//! Links the EL2 image with linker/stile.ld and the board's board.ld. Done here rather than
//! in .cargo/config.toml because a user's RUSTFLAGS would silently replace config rustflags.
use std::env;
use std::path::PathBuf;

fn main() {
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").unwrap(); // allow-panic: cargo sets it
    let root = PathBuf::from(manifest_dir).join("..");
    // One board feature, named like its platform/ directory (platform/build.rs checks that
    // exactly one is on).
    let board = ["qemu-virt", "rpi4", "rpi3", "zcu102", "imx8mp"]
        .into_iter()
        .find(|b| {
            let feature = format!("CARGO_FEATURE_{}", b.to_uppercase().replace('-', "_"));
            env::var_os(feature).is_some()
        })
        .expect("no board selected: enable one board feature (e.g. qemu-virt)"); // allow-panic: build-time refusal, on the build machine
    let script = root.join("linker/stile.ld");
    let board_dir = root.join("platform").join(board);
    println!("cargo:rerun-if-changed={}", script.display());
    println!(
        "cargo:rerun-if-changed={}",
        board_dir.join("board.ld").display()
    );
    if env::var("TARGET")
        .unwrap_or_default()
        .starts_with("aarch64-unknown-none")
    {
        println!("cargo:rustc-link-arg=-T{}", script.display());
        println!("cargo:rustc-link-arg=-L{}", board_dir.display());
        println!("cargo:rustc-link-arg=--pie");
        println!("cargo:rustc-link-arg=-znotext");
        println!("cargo:rustc-link-arg=--no-dynamic-linker");
        println!("cargo:rustc-link-arg=-zmax-page-size=4096");
    }
}
