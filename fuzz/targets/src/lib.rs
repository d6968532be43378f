//! Stile's fuzz targets, one module each: `run(&[u8])` drives arch-free hyp code with the
//! fuzzer's bytes and panics only when an invariant breaks (a panic inside hyp is a bug
//! too). The libFuzzer binaries (fuzz/fuzz_targets/) and the corpus replay in `make test`
//! (tests/replay.rs) call the same functions.
//!
//! Adding a target: a module here
//! with `pub fn run(data: &[u8])`, a line in [`TARGETS`], a binary in fuzz/fuzz_targets/
//! and fuzz/Cargo.toml, and seeds in fuzz/corpus/<name>/.

pub mod bytes;
pub mod dt_platform;
pub mod fault_classify;
pub mod host_bundle;
pub mod host_dtb;
pub mod hypercalls;
pub mod pool;
pub mod stage2_ops;

/// A target: the fuzzer's bytes in, a panic on a broken invariant.
pub type Target = fn(&[u8]);

/// Every target by name (the name of its binary and of its corpus directory).
pub const TARGETS: &[(&str, Target)] = &[
    ("dt_platform", dt_platform::run),
    ("host_dtb", host_dtb::run),
    ("hypercalls", hypercalls::run),
    ("fault_classify", fault_classify::run),
    ("stage2_ops", stage2_ops::run),
    ("host_bundle", host_bundle::run),
];
