//! What the bench needs from the CPU beyond the VMM's [`VmmMachine`]: the counters, and the
//! measured loops, which must be fixed instruction sequences (`arch` writes them in asm) so
//! that the loop minus its empty twin is exactly the operation.

use crate::vmm::machine::VmmMachine;

/// `n` times: `hvc #0` with x0..x2 = `call`; then x0, x1 must equal `expect` (else the loop
/// stops), and `data` is stored into the run page's `data` field (what a VMM answering an
/// MMIO read does). The HVC-less twin runs the same instructions without the `hvc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLoop {
    pub call: [u64; 3],
    pub expect: [u64; 2],
    pub data: u64,
    pub n: u64,
}

impl CallLoop {
    /// The loop's empty twin: the same loop without the HVC (x0, x1 then keep what the loop
    /// loads into them, so that is what it expects).
    pub const fn empty(&self) -> CallLoop {
        CallLoop {
            expect: [self.call[0], self.call[1]],
            ..*self
        }
    }
}

/// How a [`CallLoop`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopEnd {
    /// Iterations whose answer was the expected one.
    pub done: u64,
    /// x0, x1 of the last iteration.
    pub last: [u64; 2],
}

pub trait BenchMachine: VmmMachine {
    /// CNTVCT_EL0.
    fn ticks(&mut self) -> u64;
    /// PMU event counter 0: INST_RETIRED at EL2 only, if the PMU could be programmed.
    fn el2_instructions(&mut self) -> Option<u64>;
    /// PMU event counter 1: INST_RETIRED at every EL, if the PMU could be programmed.
    fn all_instructions(&mut self) -> Option<u64>;
    /// Runs `l`, with its HVC (`hvc`) or as its empty twin (pass [`CallLoop::empty`]).
    fn call_loop(&mut self, l: &CallLoop, hvc: bool) -> LoopEnd;
    /// `dither` (0..16) NOPs, CNTVCT, `hvc #0` with x0..x6 = `call` (`None`: nothing, the
    /// bracket alone), CNTVCT. Returns x0..x3 (zeros for `None`) and the ticks between the
    /// two counter reads.
    fn timed_call(&mut self, call: Option<[u64; 7]>, dither: u8) -> ([u64; 4], u64);
}
