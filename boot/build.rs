//! Links the EL2 image with linker/stile.ld and the board's board.ld. Done here rather than
//! in .cargo/config.toml because a user's RUSTFLAGS would silently replace config rustflags.
use std::env;
use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("..");
    let board = if env::var_os("CARGO_FEATURE_QEMU_VIRT").is_some() {
        "qemu-virt"
    } else {
        panic!("no board selected: enable one board feature (e.g. qemu-virt)");
    };
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
