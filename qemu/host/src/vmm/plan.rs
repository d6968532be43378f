//! The scenarios the VMM hands the guest, in order, and the check each one decides.

use core::fmt;
use heapless::Vec;
use stile_guest::layout;
use stile_guest::protocol::{FpRegs, PairMode, Scenario};

/// The host's own d0/v31 for the FpState step: [0] set before the guest runs it, [1] set
/// while the guest waits in its ECHO ("hostfp-A", "hostv31A", ... ; "hostfp-B", ...).
pub const HOST_FP: [FpRegs; 2] = [
    FpRegs {
        d0: 0x686f_7374_6670_2d41,
        v31: [0x686f_7374_7633_3141, 0x484f_5354_6869_2141],
    },
    FpRegs {
        d0: 0x686f_7374_6670_2d42,
        v31: [0x686f_7374_7633_3142, 0x484f_5354_6869_2142],
    },
];

/// MMIO reads the fault storm makes.
pub const STORM: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// cacheable-device over the board's aperture.
    Cacheable,
    /// device-nc over the board's fb-nc.
    Nc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    MmioRead(u8),
    MmioWrite(u8),
    SignExtend,
    LoadPair(PairMode),
    LazyRam,
    NoSlotReplay,
    ReadOnlyWrite,
    Window(Window),
    Probe,
    FaultStorm,
    HvcEcho,
    FpState,
    KeptRegisters,
}

pub const MAX_STEPS: usize = 24;

/// Every step, windows only where their slot was accepted.
pub fn plan(cacheable: bool, nc: bool) -> Vec<Step, MAX_STEPS> {
    let mut steps: Vec<Step, MAX_STEPS> = Vec::new();
    let mut add = |s| {
        // At most 22 of 24: cannot fail.
        let _ = steps.push(s);
    };
    for size in [1, 2, 4, 8] {
        add(Step::MmioRead(size));
    }
    for size in [1, 2, 4, 8] {
        add(Step::MmioWrite(size));
    }
    add(Step::SignExtend);
    add(Step::LoadPair(PairMode::Skip));
    add(Step::LoadPair(PairMode::Abort));
    add(Step::LazyRam);
    add(Step::NoSlotReplay);
    add(Step::ReadOnlyWrite);
    if cacheable {
        add(Step::Window(Window::Cacheable));
    }
    if nc {
        add(Step::Window(Window::Nc));
    }
    add(Step::Probe);
    add(Step::FaultStorm);
    add(Step::HvcEcho);
    add(Step::FpState);
    add(Step::KeptRegisters);
    steps
}

impl Step {
    /// NEXT's answer: the scenario and x1..x3. `probes` are the Probe step's addresses.
    pub fn request(&self, probes: [u64; 3]) -> (Scenario, [u64; 3]) {
        match *self {
            Step::MmioRead(size) => (Scenario::MmioRead, [size.into(), 0, 0]),
            Step::MmioWrite(size) => (Scenario::MmioWrite, [size.into(), 0, 0]),
            Step::SignExtend => (Scenario::SignExtend, [0; 3]),
            Step::LoadPair(mode) => (Scenario::LoadPair, [mode as u64, 0, 0]),
            Step::LazyRam => (
                Scenario::LazyRam,
                [layout::LAZY_SCRATCH.0, layout::LAZY_PAGES, 0],
            ),
            Step::NoSlotReplay => (Scenario::NoSlotReplay, [layout::REPLAY.base.0, 0, 0]),
            Step::ReadOnlyWrite => (Scenario::ReadOnlyWrite, [layout::READ_ONLY.base.0, 0, 0]),
            Step::Window(w) => {
                let r = w.range();
                (Scenario::Window, [r.base.0, r.size, 0])
            }
            Step::Probe => (Scenario::Probe, probes),
            Step::FaultStorm => (Scenario::FaultStorm, [STORM, 0, 0]),
            Step::HvcEcho => (Scenario::HvcEcho, [0; 3]),
            Step::FpState => (Scenario::FpState, [0; 3]),
            Step::KeptRegisters => (
                Scenario::KeptRegisters,
                [
                    layout::MARKED_SCRATCH.0,
                    layout::READ_ONLY.base.0,
                    layout::HOLE.0,
                ],
            ),
        }
    }

    /// The check this step decides.
    pub fn check(&self) -> CheckName {
        CheckName(*self)
    }
}

impl Window {
    pub const fn range(self) -> stile_guest::ipa::IpaRange {
        match self {
            Window::Cacheable => layout::CACHEABLE_WINDOW,
            Window::Nc => layout::NC_WINDOW,
        }
    }

    /// `guest-<prefix>-...` in check names.
    pub const fn prefix(self) -> &'static str {
        match self {
            Window::Cacheable => "cacheable-device",
            Window::Nc => "device-nc",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckName(pub Step);

impl fmt::Display for CheckName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Step::MmioRead(n) => write!(f, "guest-mmio-read-{n}"),
            Step::MmioWrite(n) => write!(f, "guest-mmio-write-{n}"),
            Step::SignExtend => f.write_str("guest-mmio-sign-extend"),
            Step::LoadPair(PairMode::Skip) => f.write_str("guest-mmio-load-pair-nisv"),
            Step::LoadPair(PairMode::Abort) => f.write_str("guest-mmio-nisv-inject-abort"),
            Step::LazyRam => f.write_str("guest-lazy-ram-handled-in-hyp"),
            Step::NoSlotReplay => f.write_str("guest-no-slot-fault-then-replay"),
            Step::ReadOnlyWrite => f.write_str("guest-readonly-slot-write-permission"),
            Step::Window(w) => write!(f, "guest-{}-guest-access", w.prefix()),
            Step::Probe => f.write_str("guest-probe-host-and-hyp-memory"),
            Step::FaultStorm => write!(f, "guest-fault-storm-{STORM}"),
            Step::HvcEcho => f.write_str("guest-hvc-forwarded"),
            Step::FpState => f.write_str("guest-fp-state-isolated"),
            Step::KeptRegisters => f.write_str("guest-registers-kept-across-aborts"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_plan_names_every_check_once() {
        let names: std::vec::Vec<String> = plan(true, true)
            .iter()
            .map(|s| s.check().to_string())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        assert_eq!(names[0], "guest-mmio-read-1");
        assert!(names.contains(&"guest-fault-storm-10000".to_string()));
        assert!(names.contains(&"guest-cacheable-device-guest-access".to_string()));
        assert_eq!(plan(false, false).len(), names.len() - 2);
    }

    #[test]
    fn requests_carry_the_layouts_addresses() {
        assert_eq!(
            Step::NoSlotReplay.request([0; 3]),
            (Scenario::NoSlotReplay, [0x9000_0000, 0, 0])
        );
        assert_eq!(Step::Probe.request([1, 2, 3]), (Scenario::Probe, [1, 2, 3]));
        assert_eq!(Step::LoadPair(PairMode::Abort).request([0; 3]).1, [1, 0, 0]);
    }
}
