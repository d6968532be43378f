//! What happened while the guest ran one scenario: the exits the scenario is judged by, and
//! counters for the ones too many to keep.

use super::calls::{Refusal, Stats};
use super::exit::Exit;
use heapless::Vec;
use stile_guest::protocol::FpRegs;

/// Exits kept per scenario; more are counted in `dropped` (and fail the check).
pub const KEPT: usize = 12;

/// Counters at one end of the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Marks {
    /// The run page's `exit_count`.
    pub page_exits: u64,
    /// VCPU_RUN returns the VMM counted.
    pub vmm_exits: u64,
    /// STATS(vm), if it answered.
    pub stats: Option<Stats>,
}

#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// Exits other than the protocol's own HVCs, console characters and COUNTER reads.
    pub exits: Vec<Exit, KEPT>,
    pub dropped: u32,
    /// Every MMIO exit (COUNTER reads included).
    pub mmio: u64,
    /// COUNTER reads.
    pub counter_reads: u64,
    /// The replay slot the VMM added when the guest faulted for it.
    pub replay_slot: Option<Result<(), Refusal>>,
    /// The guest's FATAL: ESR, ELR, FAR.
    pub fatal: Option<[u64; 3]>,
    /// The first time VCPU_RUN and the run page disagreed, or the page skipped an exit.
    pub channel: Option<Channel>,
    /// GET_CAPS answered after the scenario (asked after the fault storm).
    pub caps_after: Option<bool>,
    /// FpState: the host's d0/v31 read while the guest waited in its ECHO, and at its REPORT.
    pub host_fp: [Option<FpRegs>; 2],
    /// VCPU_RUNs made with a marker in each of the host's x7..x30 (KeptRegisters), and the
    /// first register of x4..x30 that did not come back as the host left it: (n, got, want).
    pub marked_runs: u64,
    pub host_reg_lost: Option<(u8, u64, u64)>,
    pub start: Marks,
    pub end: Marks,
}

/// The exit channel itself misbehaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// VCPU_RUN's x1 is not the run page's exit_reason.
    ReasonMismatch { x1: u64, page: u32 },
    /// exit_count is not the number of exits the VMM saw.
    Count { page: u64, vmm: u64 },
    /// The run page's version is not RUN_PAGE_VERSION.
    Version(u32),
}

impl Trace {
    pub fn new(start: Marks) -> Trace {
        Trace {
            start,
            ..Trace::default()
        }
    }

    pub fn keep(&mut self, e: Exit) {
        if self.exits.push(e).is_err() {
            self.dropped += 1;
        }
    }
}
