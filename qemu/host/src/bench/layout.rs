//! The bench guest's memory: its IPA map and how the donated block is carved, sized for the
//! number of iterations. (The guest learns every address with its scenario.)
//!
//! | IPA | slot | kind | backing (offset into the donated block) |
//! |---|---|---|---|
//! | `0x0900_0000` + 8 KiB | 1 | mmio | none: the test device, and the page after it (`mmio-read-exit-2pages`) |
//! | `0x8000_0000` + 2 MiB | 0 | ram, rwx | 0: the guest image |
//! | `0x1_0000_0000` + pages x 4 KiB | 2 | ram, rw | 2 MiB + 4 KiB: IPA and PA are not equally 2 MiB aligned, so every fault maps a 4 KiB page |
//! | `0x2_0000_0000` + blocks x 2 MiB | 3 | ram, rw | the next 2 MiB boundary: every fault maps a 2 MiB block |
//! | `0x3_0000_0000`, `0x3_0000_1000` | 4 | ram, r (one at a time) | 2 MiB: one page holding `REPLAY_VALUE` |

use stile_guest::ipa::Ipa;
use stile_guest::layout::{IMAGE_LIMIT, MIB, PAGE, RAM};

pub const BLOCK: u64 = 2 * MIB;

pub const SLOT_RAM: u64 = stile_guest::layout::SLOT_RAM;
pub const SLOT_DEVICE: u64 = stile_guest::layout::SLOT_DEVICE;
pub const SLOT_4K: u64 = 2;
pub const SLOT_2M: u64 = 3;
pub const SLOT_REPLAY: u64 = 4;

pub const RAM_IPA: Ipa = RAM.base;
pub const RAM_SIZE: u64 = IMAGE_LIMIT;
pub const LAZY_4K_IPA: Ipa = Ipa(0x1_0000_0000);
pub const LAZY_2M_IPA: Ipa = Ipa(0x2_0000_0000);
/// The two IPAs the replay bench alternates between, in one 2 MiB block (one L3 table).
pub const REPLAY_IPAS: [Ipa; 2] = [Ipa(0x3_0000_0000), Ipa(0x3_0000_1000)];

/// 2 MiB blocks touched per round of the lazy-map-2m bench (200 MiB): each round re-arms
/// the slot with MEMSLOT_SET, so rounds x blocks fresh blocks fit in little memory.
pub const BLOCKS_PER_ROUND: u64 = 100;

const REPLAY_BACKING: u64 = RAM_SIZE;
const LAZY_4K_BACKING: u64 = REPLAY_BACKING + PAGE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchLayout {
    /// Fresh 4 KiB pages the lazy-map-4k bench touches (= iterations).
    pub pages_4k: u64,
    /// 2 MiB blocks per lazy-map-2m round, and rounds: blocks x rounds touches in all.
    pub blocks_2m: u64,
    pub rounds_2m: u64,
    /// Offset of the 2 MiB slot's backing in the donated block.
    pub lazy_2m_backing: u64,
    /// Bytes to donate (a multiple of 2 MiB).
    pub donated: u64,
}

const fn align_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

impl BenchLayout {
    pub const fn new(iterations: u64) -> BenchLayout {
        let pages_4k = if iterations == 0 { 1 } else { iterations };
        let blocks_2m = if pages_4k < BLOCKS_PER_ROUND {
            pages_4k
        } else {
            BLOCKS_PER_ROUND
        };
        let rounds_2m = pages_4k / blocks_2m;
        let lazy_2m_backing = align_up(LAZY_4K_BACKING + pages_4k * PAGE, BLOCK);
        BenchLayout {
            pages_4k,
            blocks_2m,
            rounds_2m,
            lazy_2m_backing,
            donated: lazy_2m_backing + blocks_2m * BLOCK,
        }
    }

    pub const fn replay_backing(&self) -> u64 {
        REPLAY_BACKING
    }

    pub const fn lazy_4k_backing(&self) -> u64 {
        LAZY_4K_BACKING
    }

    pub const fn touches_2m(&self) -> u64 {
        self.blocks_2m * self.rounds_2m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bench_donates_a_quarter_of_a_gib() {
        let l = BenchLayout::new(10_000);
        assert_eq!((l.pages_4k, l.blocks_2m, l.rounds_2m), (10_000, 100, 100));
        assert_eq!(l.touches_2m(), 10_000);
        assert_eq!(l.donated % BLOCK, 0);
        assert!(l.donated < 256 * MIB, "{:#x}", l.donated);
    }

    #[test]
    fn the_4k_slot_cannot_use_blocks_and_the_2m_slot_can() {
        let l = BenchLayout::new(10_000);
        assert!(LAZY_4K_IPA.is_aligned(BLOCK));
        assert_eq!(l.lazy_4k_backing() % BLOCK, PAGE);
        assert_eq!(l.lazy_2m_backing % BLOCK, 0);
        assert!(LAZY_2M_IPA.is_aligned(BLOCK));
        assert!(l.lazy_4k_backing() + l.pages_4k * PAGE <= l.lazy_2m_backing);
        assert!(l.replay_backing() >= RAM_SIZE && l.replay_backing() < l.lazy_4k_backing());
    }

    #[test]
    fn a_quick_bench_is_small() {
        let l = BenchLayout::new(100);
        assert_eq!((l.pages_4k, l.blocks_2m, l.rounds_2m), (100, 100, 1));
        let l = BenchLayout::new(7);
        assert_eq!((l.blocks_2m, l.rounds_2m, l.touches_2m()), (7, 1, 7));
        let l = BenchLayout::new(250);
        assert_eq!((l.blocks_2m, l.rounds_2m, l.touches_2m()), (100, 2, 200));
    }

    #[test]
    fn replay_ipas_share_a_table_and_miss_every_slot() {
        let [a, b] = REPLAY_IPAS;
        assert_eq!(a.0 / BLOCK, b.0 / BLOCK);
        assert_ne!(a, b);
        assert!(a.0 >= LAZY_2M_IPA.0 + 1000 * BLOCK);
    }
}
