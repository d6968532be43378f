//! IPIs between two vCPUs running on two host CPUs at once (docs/VGIC.md, "The kick"): the
//! arch-free half of the `vgic-ipi-*` checks. arch/vgic_ipi.rs holds the guest (a few dozen
//! instructions), starts the second CPU and runs one vCPU on each; this module says what
//! each exit means, when the checks cannot run, and carries what each CPU saw. The verdict
//! is vgic_judge.rs's [`super::vgic_judge::judge_ipi`].
//!
//! The guest: both vCPUs open their virtual CPU interface and enable SGI [`SGI`]; vCPU 1
//! routes SPI [`SPI`] to itself. Then [`ROUND_TRIPS`] times vCPU 0 sends vCPU 1 the SGI and
//! waits (spinning, IRQs unmasked) until its handler has taken vCPU 1's answer, the same SGI
//! back. After the last, vCPU 1 waits for the SPI, which the host raises with IRQ_LINE on the
//! first CPU (cued by vCPU 0's [`CALL_SPI`]) while vCPU 1 runs on the second. Every wait is
//! bounded by one second of the guest's counter; then each vCPU reports with [`CALL_REPORT`].
//! In [`Mode::AtTraps`], vCPU 1 traps to EL2 on every turn of its waits (a GICD_TYPER read,
//! handled in EL2) and exits to the host every [`TRAP_EXIT_EVERY`] of them ([`CALL_TRAP`]),
//! so the kicks land while it is in EL2 or on its way out or in.

use crate::facts::HostGic;
use stile_abi::run_page::HostAction;
use stile_abi::ExitReason;

/// Round trips (vCPU 0 -> vCPU 1 -> vCPU 0) the guest makes.
pub const ROUND_TRIPS: u64 = 100;
/// The SGI both ways (below 4: the guest sets the priorities of SGIs 0..3 in one word).
pub const SGI: u64 = 3;
/// The SPI the host raises for vCPU 1 (edge-triggered, routed to vCPU 1 by the guest).
pub const SPI: u64 = 40;
/// vCPU 1's traps per exit to the host in [`Mode::AtTraps`] (a power of two).
pub const TRAP_EXIT_EVERY: u64 = 64;
/// VCPU_RUN calls one CPU may make for its vCPU before the check gives up on the guest.
pub const MAX_EXITS: u32 = 100_000;
/// Seconds of the host's counter one CPU may spend on its vCPU (the guest's own waits end
/// after about 3 s in all; this only catches a guest that never reports).
pub const MAX_SECONDS: u64 = 30;

/// The guest's calls to the host (HVC exits): vendor-specific hypervisor service numbers
/// that are neither Stile's own nor the guest payload's protocol.
pub const CALL_TRAP: u64 = 0xC6FF_1001;
/// vCPU 0: vCPU 1 now waits for the SPI: raise it.
pub const CALL_SPI: u64 = 0xC6FF_1002;
/// x1 = vCPU, x2 = round trips, x3 = SGIs taken, x4 = SPIs taken, x5 = other interrupts
/// taken, x6 = traps made.
pub const CALL_REPORT: u64 = 0xC6FF_1003;
/// An exception the guest does not expect: x1 = ESR_EL1, x2 = ELR_EL1, x3 = FAR_EL1.
pub const CALL_FATAL: u64 = 0xC6FF_1004;

/// The two checks: the guest's x0 at VCPU_CREATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Both vCPUs wait spinning, never trapping: only a kick gets an interrupt to them.
    Plain = 0,
    /// vCPU 1 traps to EL2 (and exits to the host) all the time while the IPIs fly.
    AtTraps = 1,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Plain, Mode::AtTraps];

    pub const fn check_name(self) -> &'static str {
        match self {
            Mode::Plain => "vgic-ipi-across-cpus",
            Mode::AtTraps => "vgic-ipi-at-traps-across-cpus",
        }
    }
}

/// One vCPU's REPORT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GuestReport {
    pub vcpu: u64,
    pub round_trips: u64,
    pub sgis: u64,
    pub spis: u64,
    pub others: u64,
    pub traps: u64,
}

impl GuestReport {
    /// From the guest's x0..x7 of a [`CALL_REPORT`].
    pub const fn from_hvc(x: &[u64; 8]) -> GuestReport {
        GuestReport {
            vcpu: x[1],
            round_trips: x[2],
            sgis: x[3],
            spis: x[4],
            others: x[5],
            traps: x[6],
        }
    }
}

/// How one CPU's run of its vCPU ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Never got going (the CPU did not start, or the setup failed).
    NotRun(&'static str),
    Reported(GuestReport),
    /// VCPU_RUN refused: x0, x1.
    Refused(u64, u64),
    /// The guest's [`CALL_FATAL`]: ESR_EL1, ELR_EL1.
    Fatal(u64, u64),
    /// An exit the guest never makes: the reason, the guest's x0 (HVC) or PC.
    Unexpected(u64, u64),
    TooManyExits,
    OutOfTime,
}

/// What one CPU saw while it ran its vCPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Side {
    pub end: End,
    /// VCPU_RUN calls.
    pub exits: u32,
    /// [`CALL_TRAP`] exits.
    pub trap_exits: u32,
    /// IRQ exits (a physical interrupt for the host while the guest ran).
    pub irq_exits: u32,
}

impl Side {
    pub const NOT_RUN: Side = Side {
        end: End::NotRun("the CPU never ran its vCPU"),
        exits: 0,
        trap_exits: 0,
        irq_exits: 0,
    };
}

/// What the host does after one exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// VCPU_RUN again with this action.
    Resume(HostAction),
    /// Raise the SPI (a rising edge), then VCPU_RUN again.
    RaiseSpi,
    /// The run is over.
    Stop(End),
}

/// The host's answer to an exit: `reason` as VCPU_RUN returned it, `hvc` the run page's
/// x0..x7, `pc` the run page's PC. Counts go into `side`.
pub fn step(side: &mut Side, reason: u64, hvc: &[u64; 8], pc: u64) -> Step {
    side.exits += 1;
    if reason == ExitReason::Irq as u64 {
        side.irq_exits += 1;
        return Step::Resume(HostAction::Complete);
    }
    if reason != ExitReason::Hvc as u64 {
        return Step::Stop(End::Unexpected(reason, pc));
    }
    match hvc[0] {
        // SKIP: the guest's registers stay as they were (it keeps its state in x0..x3 too).
        CALL_TRAP => {
            side.trap_exits += 1;
            Step::Resume(HostAction::Skip)
        }
        CALL_SPI => Step::RaiseSpi,
        CALL_REPORT => Step::Stop(End::Reported(GuestReport::from_hvc(hvc))),
        CALL_FATAL => Step::Stop(End::Fatal(hvc[1], hvc[2])),
        x0 => Step::Stop(End::Unexpected(reason, x0)),
    }
}

/// The check's verdict from what the two CPUs saw (vgic_judge.rs).
pub fn verdict(mode: Mode, cpu0: &Side, cpu1: &Side) -> Result<(), crate::fail::Fail> {
    super::vgic_judge::judge_ipi(mode, cpu0, cpu1)
}

/// Why the checks cannot run on this machine (they are skipped, with this said), or None.
pub fn skip_reason(
    gic: Option<HostGic>,
    vgic_cap: bool,
    virq_wired: bool,
    other_cpus: usize,
    psci: bool,
) -> Option<&'static str> {
    if other_cpus == 0 {
        return Some("one CPU in the DT");
    }
    if !psci {
        return Some("no PSCI in the DT to start a second CPU");
    }
    match gic {
        Some(HostGic::V3(..)) => {}
        Some(HostGic::V2(..)) => return Some(
            "GICv2: its vGIC has no kick (a vCPU running elsewhere takes an IPI at its next trap)",
        ),
        None => return Some("no GIC in the DT"),
    }
    if !vgic_cap {
        return Some("GET_CAPS says no VGIC");
    }
    if !virq_wired {
        return Some("vgic.no-virq: this machine does not wire the GIC's virtual IRQ to its CPUs");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hvc(x0: u64) -> [u64; 8] {
        [x0, 1, 2, 3, 4, 5, 6, 7]
    }

    #[test]
    fn each_exit_gets_its_answer_and_is_counted() {
        let mut s = Side::NOT_RUN;
        let h = ExitReason::Hvc as u64;
        assert_eq!(
            step(&mut s, h, &hvc(CALL_TRAP), 0),
            Step::Resume(HostAction::Skip)
        );
        assert_eq!(
            step(&mut s, ExitReason::Irq as u64, &hvc(0), 0),
            Step::Resume(HostAction::Complete)
        );
        assert_eq!(step(&mut s, h, &hvc(CALL_SPI), 0), Step::RaiseSpi);
        let report = GuestReport {
            vcpu: 1,
            round_trips: 2,
            sgis: 3,
            spis: 4,
            others: 5,
            traps: 6,
        };
        assert_eq!(
            step(&mut s, h, &hvc(CALL_REPORT), 0),
            Step::Stop(End::Reported(report))
        );
        assert_eq!(
            step(&mut s, h, &hvc(CALL_FATAL), 0),
            Step::Stop(End::Fatal(1, 2))
        );
        assert_eq!((s.exits, s.trap_exits, s.irq_exits), (5, 1, 1));
    }

    #[test]
    fn exits_the_guest_never_makes_stop_the_run() {
        let mut s = Side::NOT_RUN;
        let mmio = ExitReason::Mmio as u64;
        assert_eq!(
            step(&mut s, mmio, &hvc(CALL_TRAP), 0x4000_0100),
            Step::Stop(End::Unexpected(mmio, 0x4000_0100))
        );
        let h = ExitReason::Hvc as u64;
        assert_eq!(
            step(&mut s, h, &hvc(0x8400_0008), 0),
            Step::Stop(End::Unexpected(h, 0x8400_0008))
        );
    }

    #[test]
    fn run_only_where_a_kick_can_reach_a_second_cpu() {
        let v3 = Some(HostGic::V3(0x800_0000, 0x80a_0000));
        let v2 = Some(HostGic::V2(0x800_0000, 0x801_0000));
        assert_eq!(skip_reason(v3, true, true, 1, true), None);
        assert_eq!(
            skip_reason(v3, true, true, 0, true),
            Some("one CPU in the DT")
        );
        assert!(skip_reason(v3, true, true, 1, false).is_some());
        assert!(skip_reason(v2, true, true, 3, true)
            .unwrap()
            .starts_with("GICv2"));
        assert!(skip_reason(None, true, true, 3, true).is_some());
        assert!(skip_reason(v3, false, true, 3, true).is_some());
        assert!(skip_reason(v3, true, false, 3, true)
            .unwrap()
            .starts_with("vgic.no-virq"));
    }

    #[test]
    fn the_checks_have_distinct_names_and_guest_modes() {
        assert_ne!(Mode::Plain.check_name(), Mode::AtTraps.check_name());
        assert_eq!(Mode::Plain as u64, 0);
        assert_eq!(Mode::AtTraps as u64, 1);
    }
}
