//! Board data. Each board lives in its own directory and is only data; shared code in
//! `stile-hyp` validates and uses it.
#![cfg_attr(not(test), no_std)]

#[cfg(feature = "qemu-virt")]
#[path = "qemu-virt/board.rs"]
mod board;

pub use board::BOARD;
