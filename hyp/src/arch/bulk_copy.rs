//! The CPU's 64-byte block moves for mm/bulk_move.rs: four load pairs, then four store
//! pairs, through general registers (EL2 does not use FP/SIMD), ten instructions a block.

use crate::mm::bulk_move::{self, BlockMover};
use core::arch::asm;

pub struct ArchBlocks;

impl BlockMover for ArchBlocks {
    unsafe fn forward(&mut self, dst: *mut u8, src: *const u8, blocks: usize) {
        if blocks == 0 {
            return;
        }
        // SAFETY: the trait's contract: `blocks` blocks readable at `src`, writable at
        // `dst`, 16-byte aligned, overlapping only with `dst` below `src`; each block is
        // loaded whole before any of it is stored.
        unsafe {
            asm!(
                "2:",
                "ldp {a}, {b}, [{s}, #16]",
                "ldp {c}, {d}, [{s}, #32]",
                "ldp {e}, {f}, [{s}, #48]",
                "ldp {g}, {h}, [{s}], #64",
                "stp {a}, {b}, [{t}, #16]",
                "stp {c}, {d}, [{t}, #32]",
                "stp {e}, {f}, [{t}, #48]",
                "stp {g}, {h}, [{t}], #64",
                "subs {n}, {n}, #1",
                "b.ne 2b",
                s = inout(reg) src => _,
                t = inout(reg) dst => _,
                n = inout(reg) blocks => _,
                a = out(reg) _, b = out(reg) _, c = out(reg) _, d = out(reg) _,
                e = out(reg) _, f = out(reg) _, g = out(reg) _, h = out(reg) _,
                options(nostack),
            )
        };
    }

    unsafe fn backward(&mut self, dst: *mut u8, src: *const u8, blocks: usize) {
        if blocks == 0 {
            return;
        }
        // SAFETY: as `forward`, overlapping only with `dst` above `src`: from the top block
        // down, each loaded whole before it is stored.
        unsafe {
            asm!(
                "2:",
                "ldp {a}, {b}, [{s}, #-16]",
                "ldp {c}, {d}, [{s}, #-32]",
                "ldp {e}, {f}, [{s}, #-48]",
                "ldp {g}, {h}, [{s}, #-64]!",
                "stp {a}, {b}, [{t}, #-16]",
                "stp {c}, {d}, [{t}, #-32]",
                "stp {e}, {f}, [{t}, #-48]",
                "stp {g}, {h}, [{t}, #-64]!",
                "subs {n}, {n}, #1",
                "b.ne 2b",
                s = inout(reg) src.add(blocks * bulk_move::BLOCK) => _,
                t = inout(reg) dst.add(blocks * bulk_move::BLOCK) => _,
                n = inout(reg) blocks => _,
                a = out(reg) _, b = out(reg) _, c = out(reg) _, d = out(reg) _,
                e = out(reg) _, f = out(reg) _, g = out(reg) _, h = out(reg) _,
                options(nostack),
            )
        };
    }
}

/// `core::ptr::copy(src, dst, len)` with the bulk in 64-byte blocks (mm/bulk_move.rs).
///
/// # Safety
/// As `core::ptr::copy`.
pub unsafe fn move_bytes(dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: the caller's promise.
    unsafe { bulk_move::move_bytes(&mut ArchBlocks, dst, src, len) }
}
