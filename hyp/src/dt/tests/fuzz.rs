//! Seeded mutations of every fixture: whatever the bytes, parsing returns, never panics.

use super::{header_field, parse, set_header_field};
use super::{BOARD_16550, QEMU_V2_SMP1_512M, QEMU_V3_SMP4_1G, TINY_LEGACY};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Knuth's MMIX LCG: deterministic, so a failure names a reproducible seed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 16
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Words that mean something to a DTB reader: tokens, sizes at the edges, all-ones.
const INTERESTING: [u32; 10] = [0, 1, 2, 3, 4, 9, 0x7fff_ffff, 0xffff_ffff, 0xd00d_feed, 40];

/// A QEMU dump without its 1 MiB of padding, so each mutation copies a few KiB.
fn compact(dtb: &[u8]) -> Vec<u8> {
    let end = (header_field(dtb, 3) + header_field(dtb, 8)) as usize;
    let mut out = dtb[..end].to_vec();
    set_header_field(&mut out, 1, end as u32);
    out
}

fn mutate(rng: &mut Lcg, dtb: &mut Vec<u8>) {
    let len = dtb.len();
    match rng.below(6) {
        0 => {
            let at = rng.below(len);
            dtb[at] ^= 1 << rng.below(8);
        }
        1 => {
            let at = rng.below(len);
            dtb[at] = rng.next() as u8;
        }
        2 | 3 => {
            // A whole aligned word: tokens, lengths and offsets live there.
            let at = rng.below(len / 4) * 4;
            let w = if rng.below(2) == 0 {
                INTERESTING[rng.below(INTERESTING.len())]
            } else {
                rng.next() as u32
            };
            dtb[at..at + 4].copy_from_slice(&w.to_be_bytes());
        }
        4 if len >= 40 => {
            let field = rng.below(10);
            set_header_field(dtb, field, INTERESTING[rng.below(INTERESTING.len())]);
        }
        _ => dtb.truncate(rng.below(len + 1)),
    }
}

fn survive(name: &str, original: &[u8], seed: u64, rounds: usize) {
    let mut rng = Lcg(seed);
    for round in 0..rounds {
        let mut dtb = original.to_vec();
        for _ in 0..1 + rng.below(4) {
            if dtb.len() < 8 {
                break;
            }
            mutate(&mut rng, &mut dtb);
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| parse(&dtb)));
        assert!(
            outcome.is_ok(),
            "{name}: parse panicked, seed {seed} round {round}"
        );
    }
}

#[test]
fn compacted_qemu_dumps_still_parse() {
    for dtb in [QEMU_V3_SMP4_1G, QEMU_V2_SMP1_512M] {
        assert!(parse(&compact(dtb)).is_ok());
    }
}

#[test]
fn mutated_board_never_panics() {
    survive("board-16550", BOARD_16550, 0x5717_e001, 4000);
}

#[test]
fn mutated_tiny_tree_never_panics() {
    survive("tiny-legacy", TINY_LEGACY, 0x5717_e002, 4000);
}

#[test]
fn mutated_qemu_dumps_never_panic() {
    survive("qemu-gicv3", &compact(QEMU_V3_SMP4_1G), 0x5717_e003, 1500);
    survive("qemu-gicv2", &compact(QEMU_V2_SMP1_512M), 0x5717_e004, 1500);
}

#[test]
fn every_cut_of_the_board_is_refused_cleanly() {
    for cut in 0..BOARD_16550.len() {
        assert!(parse(&BOARD_16550[..cut]).is_err(), "cut at {cut}");
    }
}
