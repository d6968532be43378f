//! What the VMM does with each exit (docs/ABI.md, "Running a vCPU"): decided here from the
//! run page alone, carried out by main.rs. Every exit kind has an answer; the ones a user
//! must know about come with a message naming Stile's reason.

use crate::slots::{SlotSpec, SlotTable, SLOTS};
use stile_abi::run_page::{HostAction, ACCESS_EXEC, ACCESS_WRITE, MMIO_WRITE};
use stile_abi::{ExitReason, Reason, RunPage};

pub const PSCI_CPU_OFF: u64 = 0x8400_0002;
pub const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;
pub const PSCI_SYSTEM_RESET: u64 = 0x8400_0009;

/// The devices and the guest-to-host calls of one VM.
pub trait Bus {
    /// A load of `size` bytes at `ipa` in an `mmio` slot: the value, or `None` if no
    /// device is there.
    fn mmio_read(&mut self, vcpu: u32, ipa: u64, size: u8) -> Option<u64>;
    /// A store; `false` if no device is there.
    fn mmio_write(&mut self, vcpu: u32, ipa: u64, size: u8, value: u64) -> bool;
    /// An access without a syndrome (NISV): what to do with the instruction.
    fn nisv(&mut self, _vcpu: u32, _ipa: u64) -> HostAction {
        HostAction::InjectAbort
    }
    /// A memory fault the VMM does not fix (PERMISSION, NOT_OPTED_IN, ...): inject an
    /// abort (the default) or step over the instruction.
    fn refused_access(&mut self, _vcpu: u32, _ipa: u64, _reason: u64) -> HostAction {
        HostAction::InjectAbort
    }
    /// A guest HVC or SMC that is not PSCI (x0..x7): its x0..x3.
    fn hvc(&mut self, vcpu: u32, x: &[u64; 8]) -> [u64; 4];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    SystemOff,
    SystemReset,
    CpuOff,
    /// The VMM cannot go on (an UNKNOWN exit, a refused call): why.
    Error(String),
}

impl Stop {
    /// The process exit status: 0 for a guest that powered off.
    pub fn exit_code(&self) -> i32 {
        match self {
            Stop::SystemOff | Stop::CpuOff => 0,
            Stop::SystemReset => 2,
            Stop::Error(_) => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Write these host fields and run again.
    Resume {
        action: HostAction,
        data: u64,
        hvc: [u64; 4],
        note: Option<String>,
    },
    /// Register configured slot `index` (again), then run again: the access is replayed.
    AddSlot {
        index: u32,
        spec: SlotSpec,
        note: String,
    },
    Stop(Stop),
}

fn resume(action: HostAction, note: Option<String>) -> Decision {
    Decision::Resume {
        action,
        data: 0,
        hvc: [0; 4],
        note,
    }
}

fn reason_name(code: u64) -> String {
    match Reason::from_u64(code) {
        Some(r) => r.name().to_string(),
        None => format!("reason {code}"),
    }
}

/// What a reason means for the user, in a few words.
fn explain(code: u64) -> &'static str {
    match Reason::from_u64(code) {
        Some(Reason::NeedsFwb) => "cacheable device memory needs FEAT_S2FWB, which this CPU lacks",
        Some(Reason::NotOptedIn) => {
            "a cacheable-device slot without the opt-in (add opt-in to its --slot)"
        }
        Some(Reason::Permission) => "the slot's permissions forbid this access",
        Some(Reason::NoSlot) => "no slot covers it",
        Some(Reason::SlotChanged) => "the slot's backing changed behind the VMM's back",
        Some(Reason::Revoked) => "its board region is revoked until REGION_RESTORE",
        Some(Reason::NotOwned) => "the slot's backing is not this VM's to use",
        Some(Reason::BadKind) => "the slot's kind is not allowed over its backing",
        _ => "not mapped",
    }
}

fn access_name(p: &RunPage) -> &'static str {
    match p.access {
        ACCESS_WRITE => "write",
        ACCESS_EXEC => "instruction fetch",
        _ => "read",
    }
}

/// Decides the answer to the exit in `p`. `registered[i]` says whether slot `i` is in
/// Stile now (an `on-fault` slot is not until its first fault).
pub fn decide(
    vcpu: u32,
    p: &RunPage,
    bus: &mut impl Bus,
    slots: &SlotTable,
    registered: &[bool; SLOTS as usize],
) -> Decision {
    match ExitReason::from_u32(p.exit_reason) {
        Some(ExitReason::Mmio) => {
            if p.flags & MMIO_WRITE != 0 {
                if bus.mmio_write(vcpu, p.ipa, p.size, p.data) {
                    return resume(HostAction::Complete, None);
                }
            } else if let Some(v) = bus.mmio_read(vcpu, p.ipa, p.size) {
                return Decision::Resume {
                    action: HostAction::Complete,
                    data: v,
                    hvc: [0; 4],
                    note: None,
                };
            }
            let note = format!(
                "vcpu {vcpu}: {} of {} bytes at IPA {:#x} (pc {:#x}): no device there: abort injected",
                access_name(p), p.size, p.ipa, p.pc
            );
            resume(HostAction::InjectAbort, Some(note))
        }
        Some(ExitReason::Nisv) => {
            let action = bus.nisv(vcpu, p.ipa);
            let note = (action == HostAction::InjectAbort).then(|| {
                format!(
                    "vcpu {vcpu}: access at IPA {:#x} without a syndrome (NISV, ESR {:#x}, pc {:#x}): abort injected",
                    p.ipa, p.esr, p.pc
                )
            });
            resume(action, note)
        }
        Some(ExitReason::MemoryFault) => memory_fault(vcpu, p, bus, slots, registered),
        Some(ExitReason::Hvc) => Decision::Resume {
            action: HostAction::Complete,
            data: 0,
            hvc: bus.hvc(vcpu, &p.hvc),
            note: None,
        },
        Some(ExitReason::SystemEvent) => Decision::Stop(match p.system_event {
            PSCI_SYSTEM_OFF => Stop::SystemOff,
            PSCI_SYSTEM_RESET => Stop::SystemReset,
            PSCI_CPU_OFF => Stop::CpuOff,
            other => Stop::Error(format!(
                "vcpu {vcpu}: system event {other:#x} the VMM does not know"
            )),
        }),
        // The driver takes host interrupts itself; should one reach us, just run again.
        // WFI (a vGIC guest with nothing pending): the vCPU thread waited already.
        Some(ExitReason::Irq | ExitReason::None | ExitReason::Wfi) => {
            resume(HostAction::Complete, None)
        }
        Some(ExitReason::Unknown) | None => Decision::Stop(Stop::Error(format!(
            "vcpu {vcpu}: exit {} (ESR {:#x}, pc {:#x}): the VMM cannot handle it",
            ExitReason::from_u32(p.exit_reason).map_or("?", |e| e.name()),
            p.esr,
            p.pc
        ))),
    }
}

fn memory_fault(
    vcpu: u32,
    p: &RunPage,
    bus: &mut impl Bus,
    slots: &SlotTable,
    registered: &[bool; SLOTS as usize],
) -> Decision {
    let what = format!(
        "vcpu {vcpu}: {} at IPA {:#x} (pc {:#x}, ESR {:#x})",
        access_name(p),
        p.ipa,
        p.pc,
        p.esr
    );
    let reason = Reason::from_u64(p.fault_reason);
    if matches!(reason, Some(Reason::NoSlot) | Some(Reason::SlotChanged)) {
        if let Some((index, spec)) = slots.covering(p.ipa) {
            let fresh = !registered[index as usize];
            if fresh || reason == Some(Reason::SlotChanged) {
                // The rest of the syndrome, for the fault nobody on this side caused.
                let more = match reason {
                    Some(Reason::SlotChanged) => {
                        format!("; FAR {:#x}, HPFAR {:#x}, {} bytes", p.far, p.hpfar, p.size)
                    }
                    _ => String::new(),
                };
                let note = format!(
                    "{what}: {} ({}{more}): registering slot {index} and replaying",
                    reason_name(p.fault_reason),
                    explain(p.fault_reason)
                );
                return Decision::AddSlot { index, spec, note };
            }
        }
    }
    if reason == Some(Reason::ExecNotAllowed) {
        // Stile has injected the abort already; the action is ignored.
        let note = format!("{what}: EXEC_NOT_ALLOWED: abort injected by Stile");
        return resume(HostAction::Complete, Some(note));
    }
    let action = bus.refused_access(vcpu, p.ipa, p.fault_reason);
    let done = if action == HostAction::Skip {
        "instruction skipped"
    } else {
        "abort injected"
    };
    let note = format!(
        "{what}: {} ({}): {done}",
        reason_name(p.fault_reason),
        explain(p.fault_reason)
    );
    resume(action, Some(note))
}

#[cfg(test)]
mod tests {
    use super::*;
    use stile_abi::run_page::MMIO_SIGN_EXTEND;

    #[derive(Default)]
    struct FakeBus {
        writes: Vec<(u64, u8, u64)>,
    }

    impl Bus for FakeBus {
        fn mmio_read(&mut self, _: u32, ipa: u64, size: u8) -> Option<u64> {
            (ipa == 0x0900_0010).then_some(0x80 + u64::from(size))
        }
        fn mmio_write(&mut self, _: u32, ipa: u64, size: u8, value: u64) -> bool {
            self.writes.push((ipa, size, value));
            ipa == 0x0900_0000
        }
        fn hvc(&mut self, _: u32, x: &[u64; 8]) -> [u64; 4] {
            [x[1] + 1, 2, 3, 4]
        }
    }

    fn page(reason: ExitReason) -> RunPage {
        RunPage {
            exit_reason: reason as u32,
            ..RunPage::default()
        }
    }

    fn table() -> SlotTable {
        SlotTable::new(&[
            SlotSpec::parse("slot=0,ipa=0x80000000,size=3M,kind=ram").unwrap(),
            SlotSpec::parse("slot=2,ipa=0x90000000,size=4K,kind=ram,backing=0x300000,on-fault")
                .unwrap(),
        ])
        .unwrap()
    }

    fn regs(on: &[u32]) -> [bool; 16] {
        let mut r = [false; 16];
        for &i in on {
            r[i as usize] = true;
        }
        r
    }

    #[test]
    fn mmio_reads_load_the_device_value_and_writes_reach_it() {
        let mut bus = FakeBus::default();
        let mut p = page(ExitReason::Mmio);
        p.ipa = 0x0900_0010;
        p.size = 2;
        p.flags = MMIO_SIGN_EXTEND;
        let d = decide(0, &p, &mut bus, &table(), &regs(&[0]));
        assert!(matches!(
            d,
            Decision::Resume {
                action: HostAction::Complete,
                data: 0x82,
                ..
            }
        ));
        p.ipa = 0x0900_0000;
        p.flags = MMIO_WRITE;
        p.data = 0x41;
        let d = decide(0, &p, &mut bus, &table(), &regs(&[0]));
        assert!(matches!(
            d,
            Decision::Resume {
                action: HostAction::Complete,
                note: None,
                ..
            }
        ));
        assert_eq!(bus.writes, [(0x0900_0000, 2, 0x41)]);
    }

    #[test]
    fn mmio_where_no_device_is_gets_an_abort_and_a_message() {
        let mut p = page(ExitReason::Mmio);
        p.ipa = 0x0900_0100;
        match decide(0, &p, &mut FakeBus::default(), &table(), &regs(&[0])) {
            Decision::Resume {
                action: HostAction::InjectAbort,
                note: Some(n),
                ..
            } => {
                assert!(n.contains("no device"), "{n}")
            }
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn no_slot_in_a_configured_on_fault_slot_adds_it_and_replays() {
        let mut p = page(ExitReason::MemoryFault);
        p.ipa = 0x9000_0008;
        p.fault_reason = Reason::NoSlot as u64;
        match decide(0, &p, &mut FakeBus::default(), &table(), &regs(&[0])) {
            Decision::AddSlot {
                index: 2,
                spec,
                note,
            } => {
                assert_eq!(spec.backing, 0x30_0000);
                assert!(note.contains("NO_SLOT"), "{note}");
            }
            d => panic!("{d:?}"),
        }
        // Registered already and still NO_SLOT: not a loop of replays, an abort.
        let d = decide(0, &p, &mut FakeBus::default(), &table(), &regs(&[0, 2]));
        assert!(matches!(
            d,
            Decision::Resume {
                action: HostAction::InjectAbort,
                ..
            }
        ));
    }

    #[test]
    fn slot_changed_re_registers_the_slot_and_replays() {
        let mut p = page(ExitReason::MemoryFault);
        p.ipa = 0x9000_0000;
        p.fault_reason = Reason::SlotChanged as u64;
        (p.esr, p.far, p.hpfar, p.size) = (0x9300_0007, 0x9000_0018, 0x90_0000, 8);
        let d = decide(0, &p, &mut FakeBus::default(), &table(), &regs(&[0, 2]));
        let Decision::AddSlot { index: 2, note, .. } = d else {
            panic!("{d:?}")
        };
        assert!(note.contains("ESR 0x93000007"), "{note}");
        assert!(
            note.contains(
                "SLOT_CHANGED (the slot's backing changed behind the VMM's back; \
                 FAR 0x90000018, HPFAR 0x900000, 8 bytes): registering slot 2"
            ),
            "{note}"
        );
    }

    #[test]
    fn refusals_name_their_reason_and_inject_an_abort() {
        for (r, words) in [
            (
                Reason::NeedsFwb,
                "NEEDS_FWB (cacheable device memory needs FEAT_S2FWB",
            ),
            (
                Reason::NotOptedIn,
                "NOT_OPTED_IN (a cacheable-device slot without the opt-in",
            ),
            (Reason::Permission, "PERMISSION (the slot's permissions"),
            (Reason::NoSlot, "NO_SLOT (no slot covers it)"),
        ] {
            let mut p = page(ExitReason::MemoryFault);
            p.ipa = 0x4000_0000;
            p.access = ACCESS_WRITE;
            p.esr = 0x9200_0047;
            p.fault_reason = r as u64;
            match decide(1, &p, &mut FakeBus::default(), &table(), &regs(&[0])) {
                Decision::Resume {
                    action: HostAction::InjectAbort,
                    note: Some(n),
                    ..
                } => {
                    assert!(n.contains(words), "{n}");
                    assert!(n.starts_with("vcpu 1: write at IPA 0x40000000"), "{n}");
                    assert!(n.contains("ESR 0x92000047"), "{n}");
                }
                d => panic!("{r:?}: {d:?}"),
            }
        }
    }

    #[test]
    fn exec_not_allowed_is_already_injected() {
        let mut p = page(ExitReason::MemoryFault);
        p.fault_reason = Reason::ExecNotAllowed as u64;
        let d = decide(0, &p, &mut FakeBus::default(), &table(), &regs(&[0]));
        assert!(matches!(
            d,
            Decision::Resume {
                action: HostAction::Complete,
                note: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn hvc_results_come_from_the_bus() {
        let mut p = page(ExitReason::Hvc);
        p.hvc[1] = 41;
        let d = decide(0, &p, &mut FakeBus::default(), &table(), &regs(&[0]));
        assert!(
            matches!(
                d,
                Decision::Resume {
                    hvc: [42, 2, 3, 4],
                    ..
                }
            ),
            "{d:?}"
        );
    }

    #[test]
    fn system_events_stop_with_an_exit_status() {
        for (id, stop, code) in [
            (PSCI_SYSTEM_OFF, Stop::SystemOff, 0),
            (PSCI_SYSTEM_RESET, Stop::SystemReset, 2),
            (PSCI_CPU_OFF, Stop::CpuOff, 0),
        ] {
            let mut p = page(ExitReason::SystemEvent);
            p.system_event = id;
            let d = decide(0, &p, &mut FakeBus::default(), &table(), &regs(&[0]));
            assert_eq!(d, Decision::Stop(stop.clone()));
            assert_eq!(stop.exit_code(), code);
        }
    }

    #[test]
    fn unknown_exits_stop_the_vmm_with_the_syndrome() {
        let mut p = page(ExitReason::Unknown);
        p.esr = 0x0200_0000;
        match decide(0, &p, &mut FakeBus::default(), &table(), &regs(&[0])) {
            Decision::Stop(Stop::Error(m)) => {
                assert!(m.contains("UNKNOWN") && m.contains("0x2000000"), "{m}")
            }
            d => panic!("{d:?}"),
        }
        p.exit_reason = 99;
        assert!(matches!(
            decide(0, &p, &mut FakeBus::default(), &table(), &regs(&[0])),
            Decision::Stop(Stop::Error(_))
        ));
    }

    #[test]
    fn nisv_asks_the_bus() {
        struct Skipper;
        impl Bus for Skipper {
            fn mmio_read(&mut self, _: u32, _: u64, _: u8) -> Option<u64> {
                None
            }
            fn mmio_write(&mut self, _: u32, _: u64, _: u8, _: u64) -> bool {
                false
            }
            fn nisv(&mut self, _: u32, _: u64) -> HostAction {
                HostAction::Skip
            }
            fn hvc(&mut self, _: u32, _: &[u64; 8]) -> [u64; 4] {
                [0; 4]
            }
        }
        let p = page(ExitReason::Nisv);
        assert!(matches!(
            decide(0, &p, &mut Skipper, &table(), &regs(&[0])),
            Decision::Resume {
                action: HostAction::Skip,
                note: None,
                ..
            }
        ));
        assert!(matches!(
            decide(0, &p, &mut FakeBus::default(), &table(), &regs(&[0])),
            Decision::Resume {
                action: HostAction::InjectAbort,
                note: Some(_),
                ..
            }
        ));
    }
}
