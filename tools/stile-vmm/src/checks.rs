//! `--checks`: run the repo's guest payload (qemu/guest, `make guest`) and serve its
//! protocol (docs/GUEST-PAYLOAD.md): hand out scenarios with NEXT, judge each REPORT, and
//! emulate its test device. Prints `check <name>: ok|FAIL <why>` per scenario, as the
//! bare-metal host payload does, so the same harness can read both.

use crate::exits::Bus;
use crate::slots::SlotSpec;
use stile_abi::run_page::HostAction;
use stile_abi::slot::{SlotKind, PERM_EXEC, PERM_READ, PERM_WRITE};
use stile_abi::Reason;
use stile_guest::device::{mask, read_pattern, write_pattern, Register};
use stile_guest::layout;
use stile_guest::protocol::{Call, PairMode, Report, Scenario, Verdict, BOOT_X0, ECHO_RESULTS};

/// Host RAM the guest must never reach (qemu virt's RAM starts here): a probe target.
pub const HOST_RAM_PROBE: u64 = 0x4000_0000;
pub const STORM: u64 = 1000;

/// The guest payload's machine: its memory size, slots and boot x0.
pub struct Setup {
    pub mem_size: u64,
    pub ram_ipa: u64,
    pub slots: Vec<SlotSpec>,
    pub x0: u64,
    /// (offset into the VM's memory, word) written before donation.
    pub prefill: Vec<(u64, u64)>,
}

fn spec(
    index: u32,
    ipa: u64,
    size: u64,
    kind: SlotKind,
    backing: u64,
    perms: u64,
    on_fault: bool,
) -> SlotSpec {
    SlotSpec {
        index: Some(index),
        ipa,
        size,
        kind,
        backing,
        perms,
        opt_in: false,
        eager: false,
        on_fault,
    }
}

pub fn setup() -> Setup {
    let rw = PERM_READ | PERM_WRITE;
    Setup {
        mem_size: layout::DONATED_SIZE,
        ram_ipa: layout::RAM.base.0,
        slots: vec![
            spec(
                layout::SLOT_RAM as u32,
                layout::RAM.base.0,
                layout::RAM.size,
                SlotKind::Ram,
                0,
                rw | PERM_EXEC,
                false,
            ),
            spec(
                layout::SLOT_DEVICE as u32,
                layout::DEVICE.base.0,
                layout::DEVICE.size,
                SlotKind::Mmio,
                0,
                rw,
                false,
            ),
            spec(
                layout::SLOT_REPLAY as u32,
                layout::REPLAY.base.0,
                layout::REPLAY.size,
                SlotKind::Ram,
                layout::REPLAY_BACKING,
                rw,
                true,
            ),
            spec(
                layout::SLOT_READ_ONLY as u32,
                layout::READ_ONLY.base.0,
                layout::READ_ONLY.size,
                SlotKind::Ram,
                layout::READ_ONLY_BACKING,
                PERM_READ,
                false,
            ),
        ],
        x0: BOOT_X0,
        prefill: vec![
            (layout::REPLAY_BACKING, layout::REPLAY_VALUE),
            (layout::READ_ONLY_BACKING, layout::READ_ONLY_VALUE),
        ],
    }
}

/// The scenarios, in order, with their NEXT arguments.
pub fn plan() -> Vec<(Scenario, [u64; 3])> {
    let mut p = Vec::new();
    for size in [1, 2, 4, 8] {
        p.push((Scenario::MmioRead, [size, 0, 0]));
    }
    for size in [1, 2, 4, 8] {
        p.push((Scenario::MmioWrite, [size, 0, 0]));
    }
    p.push((Scenario::SignExtend, [0; 3]));
    p.push((Scenario::LoadPair, [PairMode::Skip as u64, 0, 0]));
    p.push((Scenario::LoadPair, [PairMode::Abort as u64, 0, 0]));
    p.push((
        Scenario::LazyRam,
        [layout::LAZY_SCRATCH.0, layout::LAZY_PAGES, 0],
    ));
    p.push((Scenario::NoSlotReplay, [layout::REPLAY.base.0, 0, 0]));
    p.push((Scenario::ReadOnlyWrite, [layout::READ_ONLY.base.0, 0, 0]));
    p.push((Scenario::Probe, [HOST_RAM_PROBE, 0, 0]));
    p.push((Scenario::FaultStorm, [STORM, 0, 0]));
    p.push((Scenario::HvcEcho, [0; 3]));
    p.push((Scenario::FpState, [0; 3]));
    p.push((
        Scenario::KeptRegisters,
        [
            layout::MARKED_SCRATCH.0,
            layout::READ_ONLY.base.0,
            layout::HOLE.0,
        ],
    ));
    p
}

/// The name a scenario's check prints under (`check vmm-<name>[-<arg>]`).
fn check_name(s: Scenario, args: [u64; 3]) -> String {
    match s {
        Scenario::MmioRead | Scenario::MmioWrite => format!("vmm-{}-{}", s.name(), args[0]),
        Scenario::LoadPair if args[0] == PairMode::Abort as u64 => "vmm-load-pair-abort".into(),
        Scenario::LoadPair => "vmm-load-pair-skip".into(),
        _ => format!("vmm-{}", s.name()),
    }
}

#[derive(Debug, Default)]
pub struct Checks {
    plan: Vec<(Scenario, [u64; 3])>,
    /// Index of the scenario NEXT handed out last (+1); 0 before the first.
    next: usize,
    counter: u64,
    sink: Option<u64>,
    line: String,
    /// Lines to print, in order (console lines and check lines).
    pub out: Vec<String>,
    pub passed: u32,
    pub failed: u32,
}

impl Checks {
    pub fn new() -> Checks {
        Checks {
            plan: plan(),
            ..Checks::default()
        }
    }

    fn current(&self) -> Option<(Scenario, [u64; 3])> {
        self.next
            .checked_sub(1)
            .and_then(|i| self.plan.get(i).copied())
    }

    fn check(&mut self, name: &str, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.passed += 1;
                self.out.push(format!("check {name}: ok"));
            }
            Err(why) => {
                self.failed += 1;
                self.out.push(format!("check {name}: FAIL {why}"));
            }
        }
    }

    /// Every scenario reported, and each passed.
    pub fn all_passed(&self) -> bool {
        self.failed == 0 && self.passed as usize == self.plan.len() + 1
    }

    fn judge(&mut self, r: Report) {
        let Some((s, args)) = self.current() else {
            return self.check("vmm-report", Err("REPORT before any NEXT".into()));
        };
        let name = check_name(s, args);
        if r.scenario != s as u64 {
            return self.check(
                &name,
                Err(format!(
                    "report for scenario {}, handed out {}",
                    r.scenario, s as u64
                )),
            );
        }
        if r.verdict != Verdict::Pass as u64 {
            let v = Verdict::from_u64(r.verdict).map_or("?", |v| v.name());
            return self.check(
                &name,
                Err(format!("guest says {v}: details {:#x?}", r.detail)),
            );
        }
        let d = r.detail;
        let extra = match s {
            Scenario::MmioWrite => {
                let want = write_pattern(args[0] as u8);
                match self.sink {
                    Some(v) if v == want => Ok(()),
                    got => Err(format!("SINK got {got:#x?}, want {want:#x}")),
                }
            }
            Scenario::FaultStorm if self.counter != args[0] => {
                Err(format!("{} COUNTER reads, want {}", self.counter, args[0]))
            }
            Scenario::Probe if d[3] != 1 => Err(format!(
                "host RAM at {HOST_RAM_PROBE:#x} did not abort (mask {:#x})",
                d[3]
            )),
            _ => Ok(()),
        };
        self.check(&name, extra);
    }
}

impl Bus for Checks {
    fn mmio_read(&mut self, _vcpu: u32, ipa: u64, size: u8) -> Option<u64> {
        let reg = Register::at(ipa.checked_sub(layout::DEVICE.base.0)?)?;
        Some(match reg {
            Register::Pattern | Register::Signed => read_pattern(size),
            Register::Counter => {
                let v = self.counter;
                self.counter += 1;
                v & mask(size)
            }
            Register::Console | Register::Sink | Register::Pair => 0,
        })
    }

    fn mmio_write(&mut self, _vcpu: u32, ipa: u64, _size: u8, value: u64) -> bool {
        match ipa
            .checked_sub(layout::DEVICE.base.0)
            .and_then(Register::at)
        {
            Some(Register::Console) => {
                match value as u8 {
                    b'\n' => {
                        let line = std::mem::take(&mut self.line);
                        self.out.push(format!("guest: {line}"));
                    }
                    b if b.is_ascii_graphic() || b == b' ' => self.line.push(b as char),
                    _ => self.line.push('?'),
                }
                true
            }
            Some(Register::Sink) => {
                self.sink = Some(value);
                true
            }
            _ => false,
        }
    }

    fn nisv(&mut self, _vcpu: u32, _ipa: u64) -> HostAction {
        match self.current() {
            Some((Scenario::LoadPair, [mode, ..])) if mode == PairMode::Skip as u64 => {
                HostAction::Skip
            }
            _ => HostAction::InjectAbort,
        }
    }

    fn refused_access(&mut self, _vcpu: u32, _ipa: u64, reason: u64) -> HostAction {
        // The protocol: the VMM steps over the store a read-only slot refuses, and in
        // kept-registers over the load from no slot too.
        let permission = reason == Reason::Permission as u64;
        match self.current() {
            Some((Scenario::ReadOnlyWrite, _)) if permission => HostAction::Skip,
            Some((Scenario::KeptRegisters, _)) if permission || reason == Reason::NoSlot as u64 => {
                HostAction::Skip
            }
            _ => HostAction::InjectAbort,
        }
    }

    fn hvc(&mut self, _vcpu: u32, x: &[u64; 8]) -> [u64; 4] {
        match Call::from_u64(x[0]) {
            Some(Call::Hello) => {
                let r = if x[1] == BOOT_X0 {
                    Ok(())
                } else {
                    Err(format!("x0 at entry {:#x}, want {BOOT_X0:#x}", x[1]))
                };
                self.check("vmm-hello", r);
                [0; 4]
            }
            Some(Call::Next) => {
                self.counter = 0;
                self.sink = None;
                self.next += 1;
                match self.current() {
                    Some((s, a)) => [s as u64, a[0], a[1], a[2]],
                    None => [Scenario::Done as u64, 0, 0, 0],
                }
            }
            Some(Call::Report) => {
                self.judge(Report::from_regs(x));
                [0; 4]
            }
            Some(Call::Echo) => ECHO_RESULTS,
            Some(Call::Fatal) => {
                let why = format!(
                    "ESR_EL1 {:#x} ELR {:#x} FAR {:#x} vector {}",
                    x[1], x[2], x[3], x[4]
                );
                self.check("vmm-guest-fatal", Err(why));
                [0; 4]
            }
            Some(Call::Ping) => [0; 4],
            None => [u64::MAX, 0, 0, 0], // SMCCC NOT_SUPPORTED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stile_guest::protocol::{Call, ECHO_ARGS};

    fn call(c: &mut Checks, x: [u64; 8]) -> [u64; 4] {
        c.hvc(0, &x)
    }

    #[test]
    fn the_plan_is_handed_out_then_done() {
        let mut c = Checks::new();
        let n = plan().len();
        for (s, a) in plan() {
            assert_eq!(
                call(&mut c, [Call::Next as u64, 0, 0, 0, 0, 0, 0, 0]),
                [s as u64, a[0], a[1], a[2]]
            );
        }
        assert_eq!(
            call(&mut c, [Call::Next as u64, 0, 0, 0, 0, 0, 0, 0])[0],
            Scenario::Done as u64
        );
        assert!(n >= 15);
    }

    #[test]
    fn a_passing_guest_passes_every_check() {
        let mut c = Checks::new();
        call(
            &mut c,
            [Call::Hello as u64, BOOT_X0, 0x8000_0000, 0, 0, 0, 0, 0],
        );
        for (s, a) in plan() {
            call(&mut c, [Call::Next as u64, 0, 0, 0, 0, 0, 0, 0]);
            let mut detail = [0u64; 5];
            match s {
                Scenario::MmioWrite => {
                    let size = a[0] as u8;
                    assert!(c.mmio_write(
                        0,
                        layout::DEVICE.base.0 + Register::Sink.offset(),
                        size,
                        write_pattern(size)
                    ));
                }
                Scenario::FaultStorm => {
                    for i in 0..a[0] {
                        assert_eq!(
                            c.mmio_read(0, layout::DEVICE.base.0 + Register::Counter.offset(), 4),
                            Some(i)
                        );
                    }
                }
                Scenario::Probe => detail[3] = 1,
                _ => {}
            }
            call(&mut c, Report::new(s, Verdict::Pass, detail).to_regs());
        }
        assert!(c.all_passed(), "{:?}", c.out);
        assert!(c.out.iter().all(|l| l.ends_with(": ok")), "{:?}", c.out);
    }

    #[test]
    fn a_guest_verdict_or_a_wrong_sink_fails_its_check() {
        let mut c = Checks::new();
        call(&mut c, [Call::Next as u64, 0, 0, 0, 0, 0, 0, 0]);
        call(
            &mut c,
            Report::new(Scenario::MmioRead, Verdict::WrongValue, [1, 2, 0, 0, 0]).to_regs(),
        );
        assert!(
            c.out[0].starts_with("check vmm-mmio-read-1: FAIL guest says wrong value"),
            "{:?}",
            c.out
        );
        for _ in 0..4 {
            call(&mut c, [Call::Next as u64, 0, 0, 0, 0, 0, 0, 0]);
        }
        // mmio-write-1 with a store that carried junk above its byte
        c.mmio_write(
            0,
            layout::DEVICE.base.0 + Register::Sink.offset(),
            1,
            0xbad0_005a,
        );
        call(
            &mut c,
            Report::new(Scenario::MmioWrite, Verdict::Pass, [0; 5]).to_regs(),
        );
        assert!(
            c.out[1].contains("vmm-mmio-write-1: FAIL SINK got"),
            "{:?}",
            c.out
        );
        assert!(!c.all_passed());
    }

    #[test]
    fn a_probe_that_did_not_abort_fails() {
        let mut c = Checks::new();
        let at = plan()
            .iter()
            .position(|(s, _)| *s == Scenario::Probe)
            .unwrap();
        for _ in 0..=at {
            call(&mut c, [Call::Next as u64, 0, 0, 0, 0, 0, 0, 0]);
        }
        call(
            &mut c,
            Report::new(Scenario::Probe, Verdict::Pass, [0; 5]).to_regs(),
        );
        assert!(c.out[0].contains("FAIL host RAM"), "{:?}", c.out);
    }

    #[test]
    fn console_bytes_become_guest_lines_and_echo_answers() {
        let mut c = Checks::new();
        for b in b"hi\x01\n" {
            assert!(c.mmio_write(0, layout::DEVICE.base.0, 1, u64::from(*b)));
        }
        assert_eq!(c.out, ["guest: hi?"]);
        let mut x = [Call::Echo as u64, 0, 0, 0, 0, 0, 0, 0];
        x[1..].copy_from_slice(&ECHO_ARGS);
        assert_eq!(call(&mut c, x), ECHO_RESULTS);
        assert_eq!(
            call(&mut c, [0x8400_0000, 0, 0, 0, 0, 0, 0, 0])[0],
            u64::MAX
        );
    }

    #[test]
    fn the_pair_is_skipped_or_aborted_as_the_scenario_says() {
        let mut c = Checks::new();
        let at = plan()
            .iter()
            .position(|(s, _)| *s == Scenario::LoadPair)
            .unwrap();
        for _ in 0..=at {
            call(&mut c, [Call::Next as u64, 0, 0, 0, 0, 0, 0, 0]);
        }
        assert_eq!(c.nisv(0, 0), HostAction::Skip);
        call(&mut c, [Call::Next as u64, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(c.nisv(0, 0), HostAction::InjectAbort);
    }

    #[test]
    fn the_refused_store_to_the_read_only_slot_is_skipped() {
        let mut c = Checks::new();
        let perm = Reason::Permission as u64;
        assert_eq!(c.refused_access(0, 0, perm), HostAction::InjectAbort);
        let at = plan()
            .iter()
            .position(|(s, _)| *s == Scenario::ReadOnlyWrite)
            .unwrap();
        for _ in 0..=at {
            call(&mut c, [Call::Next as u64, 0, 0, 0, 0, 0, 0, 0]);
        }
        assert_eq!(c.refused_access(0, 0, perm), HostAction::Skip);
        assert_eq!(
            c.refused_access(0, 0, Reason::NotOptedIn as u64),
            HostAction::InjectAbort
        );
    }

    #[test]
    fn kept_registers_has_its_permission_and_no_slot_faults_skipped() {
        let mut c = Checks::new();
        let (perm, no_slot) = (Reason::Permission as u64, Reason::NoSlot as u64);
        assert_eq!(c.refused_access(0, 0, no_slot), HostAction::InjectAbort);
        let at = plan()
            .iter()
            .position(|(s, _)| *s == Scenario::KeptRegisters)
            .unwrap();
        for _ in 0..=at {
            call(&mut c, [Call::Next as u64, 0, 0, 0, 0, 0, 0, 0]);
        }
        assert_eq!(c.refused_access(0, 0, perm), HostAction::Skip);
        assert_eq!(c.refused_access(0, 0, no_slot), HostAction::Skip);
        assert_eq!(
            c.refused_access(0, 0, Reason::NotOptedIn as u64),
            HostAction::InjectAbort
        );
    }
}
