//! Turns the selected board's regions.toml into Rust (`$OUT_DIR/regions.rs`, the `REGIONS`
//! static lib.rs includes), after holding it to stile-hyp's build-time rules: the very code
//! `cargo test -p stile-hyp` covers. A bad config fails the build here, naming the file and
//! the region; nothing unchecked reaches the hypervisor.

#[path = "regions/emit.rs"]
mod emit;
#[path = "regions/parse.rs"]
mod parse;

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::exit;

/// Board directories, each behind the cargo feature of the same name.
const BOARDS: [&str; 5] = ["qemu-virt", "rpi4", "rpi3", "zcu102", "imx8mp"];

fn main() {
    let board = selected_board();
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")); // allow-panic: build script
    let path = dir.join(board).join("regions.toml");
    // As users see it in messages: relative to the workspace.
    let shown = format!("platform/{board}/regions.toml");
    println!("cargo::rerun-if-changed={}", path.display());
    for helper in ["regions/parse.rs", "regions/emit.rs"] {
        println!("cargo::rerun-if-changed={}", dir.join(helper).display());
    }

    let text = fs::read_to_string(&path).unwrap_or_else(|e| fail(&[format!("{shown}: {e}")]));
    let regions = parse::parse_regions(&text).unwrap_or_else(|e| fail(&[format!("{shown}: {e}")]));
    let mut errors = Vec::new();
    stile_hyp::config::static_errors(&regions, |e| errors.push(format!("{shown}: {e}")));
    if !errors.is_empty() {
        fail(&errors);
    }

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("regions.rs"); // allow-panic: build script
    if let Err(e) = fs::write(&out, emit::emit(&regions, &shown)) {
        fail(&[format!("{}: {e}", out.display())]);
    }
}

fn selected_board() -> &'static str {
    let feature = |b: &str| format!("CARGO_FEATURE_{}", b.to_uppercase().replace('-', "_"));
    let selected: Vec<&str> = BOARDS
        .into_iter()
        .filter(|b| env::var_os(feature(b)).is_some())
        .collect();
    match selected.as_slice() {
        [board] => board,
        [] => fail(&[format!(
            "no board selected: enable one board feature ({})",
            BOARDS.join(", ")
        )]),
        more => fail(&[format!("more than one board selected: {}", more.join(", "))]),
    }
}

/// Fail the build with one `error:` line per problem (cargo prints them as errors).
fn fail(errors: &[String]) -> ! {
    for e in errors {
        println!("cargo::error={e}");
    }
    exit(1)
}
