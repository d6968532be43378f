//! Stile's QEMU harness: boots the image under `qemu-system-aarch64` once per case and checks
//! what it prints.
//!
//! One file per job: [`cases`] is the table of boots, [`runner`] spawns a program with a hard
//! timeout, [`expect`] matches its output, [`check`] glues one case together, [`pool`] runs
//! cases in parallel and [`report`] formats what a person (or CI) reads.

pub mod bundle_cases;
pub mod bundles;
pub mod cases;
pub mod check;
pub mod expect;
pub mod pool;
pub mod report;
pub mod runner;
