//! A memmove for the megabytes the boot moves (the host's kernel and initramfs out of its
//! bundle): the bulk in 64-byte blocks, each read whole before it is written, in the
//! direction that never overwrites a source byte before it is read; the few bytes left
//! over through `core::ptr::copy`. The blocks themselves are the CPU's (arch/bulk_copy.rs:
//! four load pairs, four store pairs); this part only decides the split and the order, so
//! the host's tests run it over overlapping buffers with a block mover of their own.
//!
//! Why: `core::ptr::copy` (compiler-builtins' memmove) moves 8 bytes in 4 instructions;
//! the 33 MB of Debian's kernel cost the boot about 17 M instructions that way
//! (docs/PERFORMANCE.md, "Linux as the host").

/// Bytes in one block.
pub const BLOCK: usize = 64;

/// Moves `blocks` whole blocks from `src` to `dst`: forward (lowest block first) or
/// backward (highest first), each block loaded whole before it is stored.
pub trait BlockMover {
    /// # Safety
    /// `src` and `dst` are 16-byte aligned, `blocks * BLOCK` bytes readable at `src` and
    /// writable at `dst`; they may overlap only as the direction allows (see [`move_bytes`]).
    unsafe fn forward(&mut self, dst: *mut u8, src: *const u8, blocks: usize);
    /// # Safety
    /// As [`BlockMover::forward`].
    unsafe fn backward(&mut self, dst: *mut u8, src: *const u8, blocks: usize);
}

/// `core::ptr::copy(src, dst, len)`, with the 16-byte-aligned bulk moved by `mover`.
///
/// # Safety
/// As `core::ptr::copy`: `len` bytes readable at `src` and writable at `dst` (they may
/// overlap).
pub unsafe fn move_bytes(mover: &mut impl BlockMover, dst: *mut u8, src: *const u8, len: usize) {
    let aligned = (dst as usize | src as usize).is_multiple_of(16);
    let blocks = len / BLOCK;
    if !aligned || blocks == 0 {
        // SAFETY: the caller's promise.
        unsafe { core::ptr::copy(src, dst, len) };
        return;
    }
    let bulk = blocks * BLOCK;
    let (d, s) = (dst as usize, src as usize);
    // SAFETY (both arms): the caller's promise covers `[src, src + len)` and `[dst, dst +
    // len)`, and the bulk and the tail are inside them.
    unsafe {
        if d <= s || d >= s + len {
            // Forward: a block's stores end below the next unread source byte when dst is
            // below src (and anywhere when they are apart); the tail's source lies above
            // every store of the bulk.
            mover.forward(dst, src, blocks);
            core::ptr::copy(src.add(bulk), dst.add(bulk), len - bulk);
        } else {
            // dst above src, overlapping: the tail first (its stores lie above the bulk's
            // source), then the blocks from the top down.
            core::ptr::copy(src.add(bulk), dst.add(bulk), len - bulk);
            mover.backward(dst, src, blocks);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;
    use std::vec::Vec;

    /// Blocks moved as the CPU does: each loaded whole, then stored; counts the bytes.
    #[derive(Default)]
    struct Blocks {
        moved: usize,
    }

    impl BlockMover for Blocks {
        unsafe fn forward(&mut self, dst: *mut u8, src: *const u8, blocks: usize) {
            assert!((dst as usize | src as usize).is_multiple_of(16));
            for i in 0..blocks {
                // SAFETY: the trait's contract.
                unsafe { block(dst.add(i * BLOCK), src.add(i * BLOCK)) };
            }
            self.moved += blocks * BLOCK;
        }

        unsafe fn backward(&mut self, dst: *mut u8, src: *const u8, blocks: usize) {
            assert!((dst as usize | src as usize).is_multiple_of(16));
            for i in (0..blocks).rev() {
                // SAFETY: the trait's contract.
                unsafe { block(dst.add(i * BLOCK), src.add(i * BLOCK)) };
            }
            self.moved += blocks * BLOCK;
        }
    }

    /// # Safety
    /// One block readable at `src`, writable at `dst`.
    unsafe fn block(dst: *mut u8, src: *const u8) {
        let mut b = [0u8; BLOCK];
        // SAFETY: the caller's promise; `b` is ours.
        unsafe {
            core::ptr::copy_nonoverlapping(src, b.as_mut_ptr(), BLOCK);
            core::ptr::copy_nonoverlapping(b.as_ptr(), dst, BLOCK);
        }
    }

    /// Move `len` bytes from offset `from` to offset `to` of one buffer; returns it and the
    /// bytes the blocks moved. The expectation is the same move through a separate copy.
    fn run(from: usize, to: usize, len: usize) -> (Vec<u8>, Vec<u8>, usize) {
        let size = from.max(to) + len + 64;
        // 16-aligned base: the offsets decide the alignment.
        let mut store = std::vec![0u128; size / 16 + 2];
        let buf = store.as_mut_ptr().cast::<u8>();
        for i in 0..size {
            // SAFETY: inside `store`.
            unsafe { buf.add(i).write((i * 7 + 3) as u8) };
        }
        // SAFETY: inside `store`.
        let before: Vec<u8> = (0..size).map(|i| unsafe { buf.add(i).read() }).collect();
        let mut want = before.clone();
        let moved_src = before[from..from + len].to_vec();
        want[to..to + len].copy_from_slice(&moved_src);
        let mut blocks = Blocks::default();
        // SAFETY: both ranges inside `store`.
        unsafe { move_bytes(&mut blocks, buf.add(to), buf.add(from), len) };
        // SAFETY: inside `store`.
        let got: Vec<u8> = (0..size).map(|i| unsafe { buf.add(i).read() }).collect();
        (got, want, blocks.moved)
    }

    #[test]
    fn overlapping_moves_either_way_end_as_a_move_through_a_copy() {
        // dst below src, dst above src, apart; whole blocks and a tail; overlap by less
        // and by more than a block.
        let cases = [
            (64, 0, 640),
            (0, 64, 640),
            (16, 48, 1000),
            (48, 16, 1000),
            (0, 4096, 4096 + 63),
            (4096, 0, 4096 + 1),
            (32, 32, 200),
        ];
        for (from, to, len) in cases {
            let (got, want, moved) = run(from, to, len);
            assert_eq!(got, want, "{from} -> {to}, {len} bytes");
            assert_eq!(moved, len / BLOCK * BLOCK, "{from} -> {to}, {len} bytes");
        }
    }

    #[test]
    fn misaligned_or_short_moves_take_the_plain_copy() {
        for (from, to, len) in [(1, 64, 640), (64, 8, 640), (0, 32, 63)] {
            let (got, want, moved) = run(from, to, len);
            assert_eq!(got, want);
            assert_eq!(moved, 0, "{from} -> {to}, {len} bytes");
        }
    }

    #[test]
    fn random_moves_match_a_copy() {
        let mut rng = Rng(0x5eed_0b07);
        for _ in 0..400 {
            let from = rng.below(40) as usize * 16;
            let to = rng.below(40) as usize * 16 + if rng.chance(10) { 4 } else { 0 };
            let len = rng.below(2000) as usize;
            let (got, want, _) = run(from, to, len);
            assert_eq!(got, want, "{from} -> {to}, {len} bytes");
        }
    }
}
