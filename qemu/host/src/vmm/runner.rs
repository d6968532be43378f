//! The VCPU_RUN loop: reply to the last exit, run, decode the next one, route it: the guest's
//! protocol calls (HELLO, NEXT, REPORT, ECHO, FATAL), the test device, and the faults each
//! scenario provokes. One `vmm:` line per event worth reading; the fault storm is counted.

use super::calls::{self, Refusal, Request};
use super::device::{Event, TestDevice};
use super::exit::{access_name, bytes, decode, Exit, Mmio, Reply};
use super::judge::{judge, window_of, Context};
use super::machine::VmmMachine;
use super::plan::{Step, HOST_FP};
use super::slots;
use super::trace::{Channel, Marks, Trace};
use super::windows;
use super::Guest;
use crate::fail::Fail;
use crate::report::Report;
use core::fmt;
use stile_abi::run_page::{HostAction, RUN_PAGE_VERSION};
use stile_abi::{Reason, RunPage, Status};
use stile_guest::device::Register;
use stile_guest::layout;
use stile_guest::protocol::{Call, PairMode, Report as GuestReport, Scenario, ECHO_RESULTS};

/// Far more exits than the plan needs (about 10,400): a guest or Stile gone wrong stops here.
pub const MAX_EXITS: u64 = 50_000;
/// The host's markers around the KeptRegisters step's VCPU_RUNs ("HOST", the exit count,
/// the register).
const HOST_MARKERS: u64 = 0x484f_5354_0000_0000;
/// A host_action value no revision defines.
pub const BAD_HOST_ACTION: u32 = 7;

/// Why the loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The guest's PSCI call (SYSTEM_OFF or SYSTEM_RESET).
    SystemEvent(u64),
    /// VCPU_RUN refused.
    Refused(Refusal),
    TooManyExits,
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::SystemEvent(fid) => write!(f, "SYSTEM_EVENT {fid:#x}"),
            End::Refused(r) => write!(f, "VCPU_RUN refused: {r}"),
            End::TooManyExits => write!(f, "more than {MAX_EXITS} exits"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub end: End,
    /// VCPU_RUN calls that returned an exit.
    pub exits: u64,
    /// The run page's exit_count at the last exit.
    pub page_exits: u64,
}

/// VCPU_RUN with a host_action no revision defines, made at the last scenario's REPORT
/// (where a Stile that wrongly takes it as COMPLETE or SKIP changes nothing for the guest).
const BAD_ACTION: Garbage = (
    "hypercall-garbage-vcpu-run-bad-host-action",
    BAD_HOST_ACTION,
);
/// VCPU_RUN with INJECT_ABORT after an HVC exit, made at the last NEXT (a Stile that
/// wrongly injects kills a guest that was about to power off anyway).
const INJECT_AFTER_HVC: Garbage = (
    "hypercall-garbage-vcpu-run-inject-abort-after-hvc",
    HostAction::InjectAbort as u32,
);

/// A VCPU_RUN garbage check: (check name, host_action to write).
type Garbage = (&'static str, u32);

struct Runner<'a, M, W> {
    m: &'a mut M,
    report: &'a mut Report<W>,
    g: &'a Guest,
    cx: Context,
    steps: &'a [Step],
    next: usize,
    current: Option<(Step, Trace)>,
    device: TestDevice,
    exits: u64,
    page_exits: u64,
    channel_noted: bool,
    /// A VCPU_RUN garbage check to make before the real reply.
    garbage: Option<Garbage>,
    /// Garbage checks made (or failed), so none is reported twice or forgotten.
    garbage_done: [bool; 2],
    reply: Reply,
}

/// Runs the guest's vCPU through `steps` until it stops, printing a check per step.
pub fn run<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    report: &mut Report<W>,
    g: &Guest,
    cx: Context,
    steps: &[Step],
) -> Outcome {
    let r = Runner {
        m,
        report,
        g,
        cx,
        steps,
        next: 0,
        current: None,
        device: TestDevice::new(),
        exits: 0,
        page_exits: 0,
        channel_noted: false,
        garbage: None,
        garbage_done: [false; 2],
        reply: Reply::COMPLETE,
    };
    r.run()
}

impl<M: VmmMachine, W: fmt::Write> Runner<'_, M, W> {
    fn run(mut self) -> Outcome {
        let end = loop {
            if self.exits >= MAX_EXITS {
                break End::TooManyExits;
            }
            let garbage = self.garbage.take();
            let mut fields = self.reply.fields();
            if let Some((_, action)) = garbage {
                fields.host_action = action;
            }
            self.m.write_host_fields(&fields);
            let r = self.vcpu_run();
            if let Some((name, _)) = garbage {
                if self.garbage_outcome(name, r) {
                    continue;
                }
            }
            let x1 = match r {
                Ok(x) => x[0],
                Err(e) => break End::Refused(e),
            };
            self.exits += 1;
            let page = self.m.read_run_page();
            self.check_channel(x1, &page);
            self.page_exits = page.exit_count;
            self.reply = match decode(&page) {
                Exit::Hvc(x) => self.on_hvc(x),
                Exit::Mmio(mm) => self.on_mmio(mm),
                Exit::SystemEvent(fid) => break End::SystemEvent(fid),
                Exit::Irq => Reply::COMPLETE,
                other => self.on_fault(other, &page),
            };
        };
        self.finish(end)
    }

    /// Judges a VCPU_RUN made with a bad host_action; true if it was refused (so the real
    /// reply still has to be given), false if the vCPU ran (its exit is handled as usual).
    fn garbage_outcome(&mut self, name: &'static str, r: calls::Answer) -> bool {
        let result = match r {
            Err(e) if !e.is(Reason::BadArgument) => Err(Fail::WrongRefusal {
                got: e,
                want: Reason::BadArgument,
            }),
            Err(_) => {
                let page = self.m.read_run_page();
                if page.exit_count == self.page_exits {
                    Ok(())
                } else {
                    Err(Fail::Value {
                        what: "exit_count after the refused VCPU_RUN",
                        got: page.exit_count,
                        want: self.page_exits,
                    })
                }
            }
            Ok(_) => Err(Fail::Accepted {
                call: "VCPU_RUN",
                want: Reason::BadArgument,
            }),
        };
        self.report.check(name, result);
        r.is_err()
    }

    /// Queues garbage check `i` of [BAD_ACTION, INJECT_AFTER_HVC] for the next VCPU_RUN.
    fn queue_garbage(&mut self, i: usize) {
        if let Some(done) = self.garbage_done.get_mut(i) {
            if !*done {
                *done = true;
                self.garbage = [BAD_ACTION, INJECT_AFTER_HVC].get(i).copied();
            }
        }
    }

    fn check_channel(&mut self, x1: u64, page: &RunPage) {
        let problem = if x1 != u64::from(page.exit_reason) {
            Some(Channel::ReasonMismatch {
                x1,
                page: page.exit_reason,
            })
        } else if page.exit_count != self.exits {
            Some(Channel::Count {
                page: page.exit_count,
                vmm: self.exits,
            })
        } else if page.version != RUN_PAGE_VERSION {
            Some(Channel::Version(page.version))
        } else {
            None
        };
        let Some(p) = problem else {
            return;
        };
        if let Some((_, t)) = &mut self.current {
            t.channel.get_or_insert(p);
        }
        if !self.channel_noted {
            self.channel_noted = true;
            self.report.note(format_args!(
                "vmm: run page disagrees with VCPU_RUN at exit {}: {p:?}",
                self.exits
            ));
        }
    }

    fn marks(&mut self) -> Marks {
        Marks {
            page_exits: self.page_exits,
            vmm_exits: self.exits,
            stats: calls::stats(self.m, self.g.vm).ok(),
        }
    }

    fn keep(&mut self, e: Exit) {
        if let Some((_, t)) = &mut self.current {
            t.keep(e);
        }
    }

    fn step(&self) -> Option<Step> {
        self.current.as_ref().map(|c| c.0)
    }

    fn on_hvc(&mut self, x: [u64; 8]) -> Reply {
        match Call::from_u64(x[0]) {
            Some(Call::Hello) => {
                super::checks::hello(self.m, self.report, self.g, x[1], x[2]);
                Reply::hvc([0; 4])
            }
            Some(Call::Next) => self.on_next(),
            Some(Call::Report) => {
                self.on_report(GuestReport::from_regs(&x));
                Reply::hvc([0; 4])
            }
            Some(Call::Echo) => {
                if self.step() == Some(Step::FpState) {
                    self.fp_swap();
                } else {
                    self.keep(Exit::Hvc(x));
                }
                self.report.note(format_args!(
                    "vmm: guest HVC {:#x} (ECHO) with x1..x7 {:#x} .. {:#x} -> x0..x3 {:#x} .. {:#x}",
                    x[0], x[1], x[7], ECHO_RESULTS[0], ECHO_RESULTS[3]
                ));
                Reply::hvc(ECHO_RESULTS)
            }
            Some(Call::Fatal) => {
                self.report.note(format_args!(
                    "vmm: guest FATAL: ESR {:#x} ELR {:#x} FAR {:#x} vector {:#x}",
                    x[1], x[2], x[3], x[4]
                ));
                if let Some((_, t)) = &mut self.current {
                    t.fatal = Some([x[1], x[2], x[3]]);
                }
                Reply::hvc([0; 4])
            }
            // PING is the bench's: no scenario of the checks makes it.
            Some(Call::Ping) | None => {
                self.keep(Exit::Hvc(x));
                self.report.note(format_args!(
                    "vmm: guest HVC {:#x}: not a call this VMM knows -> NOT_SUPPORTED",
                    x[0]
                ));
                Reply::hvc([Status::NotSupported.as_u64(), 0, 0, 0])
            }
        }
    }

    /// FpState's ECHO: the host's d0/v31 must be as the VMM set them at NEXT (the guest's own
    /// were loaded and put away again around the exit); then the VMM changes them, so a Stile
    /// that gave the guest the host's registers back shows in the guest's REPORT.
    fn fp_swap(&mut self) {
        let held = self.m.get_fp();
        self.m.set_fp(HOST_FP[1]);
        if let Some((_, t)) = &mut self.current {
            t.host_fp[0] = Some(held);
        }
        self.report.note(format_args!(
            "vmm: guest ECHO in fp-state: host d0 {:#x}, v31 {:#x}:{:#x} (set {:#x}); now d0 {:#x}",
            held.d0, held.v31[1], held.v31[0], HOST_FP[0].d0, HOST_FP[1].d0
        ));
    }

    fn on_next(&mut self) -> Reply {
        if let Some((step, _)) = self.current.take() {
            self.report.check(
                step.check(),
                Err(Fail::MissingExit("REPORT before the next NEXT")),
            );
        }
        let Some(&step) = self.steps.get(self.next) else {
            self.queue_garbage(1);
            self.report.note(format_args!(
                "vmm: all {} scenarios handed out: guest, power off",
                self.steps.len()
            ));
            return Reply::hvc([Scenario::Done as u64, 0, 0, 0]);
        };
        self.next += 1;
        self.device.reset_counter();
        if step == Step::FpState {
            self.m.set_fp(HOST_FP[0]);
        }
        let start = self.marks();
        self.current = Some((step, Trace::new(start)));
        let (s, a) = step.request(self.cx.probes);
        self.report.note(format_args!(
            "vmm: scenario {}: {}({:#x}, {:#x}, {:#x}) for {}",
            self.next,
            s.name(),
            a[0],
            a[1],
            a[2],
            step.check()
        ));
        Reply::hvc([s as u64, a[0], a[1], a[2]])
    }

    /// VCPU_RUN; in the KeptRegisters step with a marker in each of the host's x7..x30 (x4..x6
    /// are the call's unused arguments, 0), which must all come back as they were: Stile
    /// restores the host's registers whatever the guest did with its own.
    fn vcpu_run(&mut self) -> calls::Answer {
        let req = Request::vcpu_run(self.g.vm, self.g.vcpu);
        if self.step() != Some(Step::KeptRegisters) {
            return calls::call(self.m, &req);
        }
        let base = HOST_MARKERS | self.exits << 8;
        let mut x: [u64; 31] = core::array::from_fn(|n| base | n as u64);
        x[..7].copy_from_slice(&req.regs());
        let out = self.m.call_marked(x);
        if let Some((_, t)) = &mut self.current {
            t.marked_runs += 1;
            let lost = (4..31).find(|&n| out[n] != x[n]);
            if let (None, Some(n)) = (t.host_reg_lost, lost) {
                t.host_reg_lost = Some((n as u8, out[n], x[n]));
                self.report.note(format_args!(
                    "vmm: after VCPU_RUN the host's x{n} is {:#x}, not its {:#x}",
                    out[n], x[n]
                ));
            }
        }
        let mut results = [0; 4];
        results.copy_from_slice(&out[..4]);
        calls::decode(results)
    }

    fn on_report(&mut self, r: GuestReport) {
        let Some((step, mut trace)) = self.current.take() else {
            self.report.note(format_args!(
                "vmm: guest REPORT for scenario {} that was not handed out",
                r.scenario
            ));
            return;
        };
        trace.end = self.marks();
        if step == Step::FpState {
            let fp = self.m.get_fp();
            trace.host_fp[1] = Some(fp);
            self.report.note(format_args!(
                "vmm: fp-state REPORT: guest d0 {:#x}, v31 {:#x}:{:#x}; host d0 {:#x}, v31 {:#x}:{:#x}",
                r.detail[0], r.detail[2], r.detail[1], fp.d0, fp.v31[1], fp.v31[0]
            ));
        }
        if step == Step::FaultStorm {
            trace.caps_after = Some(calls::call(self.m, &Request::get_caps()).is_ok());
            self.report.note(format_args!(
                "vmm: fault storm: {} MMIO exits ({} COUNTER reads), run page exit_count +{}, \
                 VMM exits +{}; GET_CAPS afterwards: {}",
                trace.mmio,
                trace.counter_reads,
                trace.end.page_exits.wrapping_sub(trace.start.page_exits),
                trace.end.vmm_exits.wrapping_sub(trace.start.vmm_exits),
                if trace.caps_after == Some(true) {
                    "SUCCESS"
                } else {
                    "no answer"
                }
            ));
        }
        if step == Step::LazyRam {
            if let (Some(a), Some(b)) = (trace.start.stats, trace.end.stats) {
                self.report.note(format_args!(
                    "vmm: STATS x1 (faults resolved in EL2): {} -> {} while the guest touched \
                     {} new pages",
                    a.resolved,
                    b.resolved,
                    layout::LAZY_PAGES
                ));
            }
        }
        let result = judge(step, &r, &trace, &self.cx);
        self.report.check(step.check(), result);
        if self.next == self.steps.len() {
            self.queue_garbage(0);
        }
        if let Some(w) = window_of(step) {
            windows::translate_check(self.m, self.report, self.g, w);
        }
    }

    fn on_mmio(&mut self, mm: Mmio) -> Reply {
        let (value, event) = self.device.access(&mm);
        let in_storm = self.step() == Some(Step::FaultStorm);
        if !matches!(event, Event::Console | Event::Line(_)) {
            if let Some((_, t)) = &mut self.current {
                t.mmio += 1;
            }
        }
        match event {
            Event::Console => {}
            Event::Line(line) => self.report.note(format_args!("guest: {line}")),
            Event::Read {
                reg: Register::Counter,
                ..
            } if in_storm => {
                if let Some((_, t)) = &mut self.current {
                    t.counter_reads += 1;
                }
            }
            Event::Read { reg, value } => {
                self.keep(Exit::Mmio(mm));
                self.report.note(format_args!(
                    "vmm: guest MMIO read of {} at {} ({}, x{}) -> {value:#x}",
                    bytes(mm.size),
                    mm.ipa,
                    reg.name(),
                    mm.srt
                ));
            }
            Event::Write { reg, value } => {
                self.keep(Exit::Mmio(mm));
                self.report.note(format_args!(
                    "vmm: guest MMIO write of {} at {} ({}, x{}) <- {value:#x}",
                    bytes(mm.size),
                    mm.ipa,
                    reg.name(),
                    mm.srt
                ));
            }
            Event::Stray { offset } => {
                self.keep(Exit::Mmio(mm));
                self.report.note(format_args!(
                    "vmm: guest MMIO {} at device offset {offset:#x}: no register there",
                    if mm.write { "write" } else { "read" }
                ));
            }
        }
        if mm.write {
            Reply::COMPLETE
        } else {
            Reply::read(value)
        }
    }

    fn on_fault(&mut self, e: Exit, page: &RunPage) -> Reply {
        let (reply, why) = match (self.step(), e) {
            (Some(Step::LoadPair(PairMode::Abort)), Exit::Nisv { .. }) => {
                (Reply::INJECT_ABORT, "INJECT_ABORT")
            }
            (Some(Step::NoSlotReplay), Exit::MemoryFault { ipa, reason, .. })
                if ipa == layout::REPLAY.base && reason == Reason::NoSlot as u64 =>
            {
                self.add_replay_slot()
            }
            _ => (Reply::SKIP, "SKIP"),
        };
        self.keep(e);
        match e {
            Exit::MemoryFault {
                ipa,
                access,
                reason,
                ..
            } => self.report.note(format_args!(
                "vmm: guest MEMORY_FAULT ({}): {} at IPA {ipa} (pc {:#x}) -> {why}",
                crate::translate::reason_name(reason),
                access_name(access),
                page.pc
            )),
            Exit::Nisv { ipa, esr, .. } => self.report.note(format_args!(
                "vmm: guest NISV at IPA {ipa} (ESR {esr:#x}, ISV {}, pc {:#x}) -> {why}",
                (esr >> 24) & 1,
                page.pc
            )),
            other => self.report.note(format_args!(
                "vmm: guest {other} (pc {:#x}) -> {why}",
                page.pc
            )),
        }
        reply
    }

    /// The guest faulted on the replay page: add its slot (once) and replay the load.
    fn add_replay_slot(&mut self) -> (Reply, &'static str) {
        if let Some((_, t)) = &self.current {
            if t.replay_slot.is_some() {
                return (Reply::SKIP, "SKIP (the slot is there already)");
            }
        }
        let named = slots::replay(self.g.donated);
        let r = calls::memslot_set(self.m, self.g.vm, &named.req);
        if let Some((_, t)) = &mut self.current {
            t.replay_slot = Some(r);
        }
        match r {
            Ok(()) => (
                Reply::COMPLETE,
                "slot 2 (replay page, pre-filled before donation) added, COMPLETE (replay)",
            ),
            Err(_) => (Reply::SKIP, "MEMSLOT_SET of the replay page refused, SKIP"),
        }
    }

    fn finish(mut self, end: End) -> Outcome {
        self.report.note(format_args!(
            "vmm: vCPU stopped after {} exits: {end}",
            self.exits
        ));
        let why = match end {
            End::SystemEvent(_) => "the guest powered off before it",
            End::Refused(_) => "VCPU_RUN was refused before it",
            End::TooManyExits => "the VMM gave up on a guest that would not stop",
        };
        if let Some((step, t)) = self.current.take() {
            let fail = match t.fatal {
                Some([esr, elr, far]) => Fail::GuestFatal { esr, elr, far },
                None => Fail::NotRun(why),
            };
            self.report.check(step.check(), Err(fail));
        }
        for step in self.steps.iter().skip(self.next) {
            self.report.check(step.check(), Err(Fail::NotRun(why)));
        }
        for (i, (name, _)) in [BAD_ACTION, INJECT_AFTER_HVC].iter().enumerate() {
            if !self.garbage_done[i] {
                self.report.check(name, Err(Fail::NotRun(why)));
            }
        }
        Outcome {
            end,
            exits: self.exits,
            page_exits: self.page_exits,
        }
    }
}
