//! The vGIC checks (docs/VGIC.md), each a `check vgic-<name>` line: first a guest on a VM
//! without a vGIC (the calls are refused, its SGI write is UNDEFINED), then one with a vGIC
//! at `layout::VGIC_GICD`/`VGIC_GICR` (GICv2: `VGIC_GICC`) and two vCPUs (the second is
//! never run: VCPU_PENDING shows what reached it), running the guest's vGIC cases. The
//! machine's GIC decides which vGIC the guest gets (the same checks on GICv2 and GICv3).

use super::calls::{self, Request};
use super::device::{Event, TestDevice};
use super::exit::{decode, Exit, Reply};
use super::image::Placement;
use super::machine::VmmMachine;
use super::slots;
use super::vgic_judge::judge;
use crate::facts::HostGic;
use crate::fail::Fail;
use crate::report::Report;
use core::fmt;
use stile_abi::slot::{word, SlotKind};
use stile_abi::{caps, Function, Reason};
use stile_guest::ipa::Ipa;
use stile_guest::layout::{VGIC_GICC as GICC, VGIC_GICD as GICD, VGIC_GICR as GICR};
use stile_guest::protocol::{
    Call, Report as GuestReport, Scenario, VgicCase, BOOT_X0, ECHO_RESULTS,
};
use stile_hyp::addr::PhysRange;

/// Exits one vGIC guest may take: its banner, a few cases, WFI exits, with room.
const MAX_EXITS: u32 = 3000;
/// The SPI the host raises, the SGIs the guest sends, the timer's delay in ms.
pub(super) const SPI: u64 = 40;
pub(super) const SGI_SELF: u64 = 5;
pub(super) const SGI_OTHER: u64 = 3;
const TIMER_MS: u64 = 10;
/// Accesses each way in the cost measurement.
pub(super) const COST_LOOPS: u64 = 1000;
/// VCPU_PENDING calls a WFI exit waits for the vCPU to become runnable.
const WFI_POLLS: u32 = 200_000;

fn req(f: Function, args: [u64; 3]) -> Request {
    Request::new(f, [args[0], args[1], args[2], 0, 0, 0])
}

/// `r` must be refused with `want`.
fn refused(r: calls::Answer, call: &'static str, want: Reason) -> Result<(), Fail> {
    match r {
        Err(e) if e.is(want) => Ok(()),
        Err(got) => Err(Fail::WrongRefusal { got, want }),
        Ok(_) => Err(Fail::Accepted { call, want }),
    }
}

pub(super) fn all(results: &[Result<(), Fail>]) -> Result<(), Fail> {
    results
        .iter()
        .copied()
        .find(|r| r.is_err())
        .unwrap_or(Ok(()))
}

/// The second frame VGIC_CONFIG takes: the GICRs (GICv3) or the GICC (GICv2).
fn cpu_frames(gic: HostGic) -> u64 {
    match gic {
        HostGic::V3(..) => GICR,
        HostGic::V2(..) => GICC,
    }
}

pub(super) fn value(what: &'static str, got: u64, want: u64) -> Result<(), Fail> {
    match got == want {
        true => Ok(()),
        false => Err(Fail::Value { what, got, want }),
    }
}

pub fn run<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    report: &mut Report<W>,
    block: PhysRange,
    p: &Placement,
    image: &[u8],
    gic: Option<HostGic>,
    virq_wired: bool,
) {
    if m.spare_run_page().is_none() {
        // The build machine's fake Stile (vmm/fake.rs) has no vGIC.
        report.note(format_args!(
            "vmm: vgic: this machine has no second run page: checks skipped"
        ));
        return;
    }
    let version = match gic {
        Some(HostGic::V2(..)) => 2,
        _ => 3,
    };
    let plain = [(VgicCase::SgiNoVgic, 0)];
    if let Err(why) = guest(m, report, block, p, image, (None, version), &plain) {
        report.check("vgic-sgi-without-vgic-undefined", Err(Fail::NotRun(why)));
    }
    let cap = calls::call(m, &Request::get_caps()).is_ok_and(|x| x[0] & caps::VGIC != 0);
    let Some(gic) = gic.filter(|_| cap) else {
        // No vGIC to give (a GICv2 without virtualization frames): refused, and so said.
        report.note(format_args!("vmm: vgic: GET_CAPS says no VGIC"));
        let r = calls::vm_create(m, block.base, block.size).map(|vm| {
            let r = calls::call(m, &req(Function::VgicConfig, [vm, GICD, GICR]));
            let _ = calls::vm_destroy(m, vm);
            r
        });
        let result = match r {
            Ok(r) => refused(r, "VGIC_CONFIG", Reason::NoVgic),
            Err(refusal) => Err(Fail::Refused {
                call: "VM_CREATE",
                refusal,
            }),
        };
        report.check("vgic-config-refused-without-vgic-cap", result);
        return;
    };
    let all = [
        (VgicCase::Registers, 0),
        (VgicCase::SgiSelf, SGI_SELF),
        (VgicCase::SgiOther, SGI_OTHER),
        (VgicCase::Spi, SPI),
        (VgicCase::Timer, TIMER_MS),
        (VgicCase::Cost, COST_LOOPS),
        (VgicCase::TimerRunning, TIMER_MS),
        (VgicCase::LeavePending, SPI),
    ];
    // Where the machine cannot deliver a virtual interrupt at all, only what needs none.
    let undelivered = [
        (VgicCase::Registers, 0),
        (VgicCase::SgiOther, SGI_OTHER),
        (VgicCase::Cost, COST_LOOPS),
        (VgicCase::LeavePending, SPI),
    ];
    let cases: &[(VgicCase, u64)] = if virq_wired { &all } else { &undelivered };
    if !virq_wired {
        report.note(format_args!(
            "vmm: vgic: vgic.no-virq: this machine does not wire the GIC's virtual IRQ to its \
             CPUs (QEMU's imx8mp-evk): the checks that take a virtual interrupt are skipped"
        ));
    }
    if let Err(why) = guest(m, report, block, p, image, (Some(gic), version), cases) {
        for c in cases {
            report.check(CheckName(c.0), Err(Fail::NotRun(why)));
        }
    }
    // The vGIC guest set its priority mask and group enable and left an SPI pending in a
    // list register; the next guest, without a vGIC, must take no interrupt and find the
    // interface as reset (GICv3), or not find it at all (GICv2: its GICC accesses fault to
    // this VMM, no GICV is mapped).
    let after = [(VgicCase::Leftover, 0)];
    if let Err(why) = guest(m, report, block, p, image, (None, version), &after) {
        report.check(CheckName(VgicCase::Leftover), Err(Fail::NotRun(why)));
    }
}

struct CheckName(VgicCase);

impl fmt::Display for CheckName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            VgicCase::Registers => "vgic-gicd-gicr-handled-in-el2",
            VgicCase::Spi => "vgic-spi-from-host-reaches-handler",
            VgicCase::Timer => "vgic-virtual-timer-on-time",
            VgicCase::SgiSelf => "vgic-sgi-to-self",
            VgicCase::SgiOther => "vgic-sgi-to-other-vcpu",
            VgicCase::SgiNoVgic => "vgic-sgi-without-vgic-undefined",
            VgicCase::Cost => "vgic-gicd-access-cheaper-than-an-exit",
            VgicCase::TimerRunning => "vgic-virtual-timer-while-running-injected-in-el2",
            VgicCase::Leftover => "vgic-nothing-left-for-the-next-guest",
            VgicCase::LeavePending => "vgic-spi-left-pending-at-exit",
        })
    }
}

/// The refusals around VGIC_CONFIG, on VM `vm` (with slot 0 at guest RAM): then it is
/// configured, with its second frame at `cpu` (GICR or GICC).
fn config<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    report: &mut Report<W>,
    vm: u64,
    cpu: u64,
) -> bool {
    let ram = stile_guest::layout::RAM.base.0;
    let cfg = |m: &mut M, gicd: u64, gicr: u64| {
        calls::call(m, &req(Function::VgicConfig, [vm, gicd, gicr]))
    };
    let vgic = Function::VgicConfig.name();
    let checks = [
        refused(
            calls::call(m, &req(Function::VgicConfig, [77, GICD, cpu])),
            vgic,
            Reason::NoSuchVm,
        ),
        refused(cfg(m, GICD + 0x1000, cpu), vgic, Reason::Misaligned),
        refused(cfg(m, 1 << 40, cpu), vgic, Reason::OutOfRange),
        refused(cfg(m, GICD, GICD), vgic, Reason::Overlap),
        refused(cfg(m, ram, cpu), vgic, Reason::Overlap),
    ];
    report.check("vgic-config-refusals", all(&checks));
    let ok = match cfg(m, GICD, cpu) {
        Ok(_) => Ok(()),
        Err(refusal) => Err(Fail::Refused {
            call: "VGIC_CONFIG",
            refusal,
        }),
    };
    let configured = ok.is_ok();
    let over_gicd = calls::SlotRequest {
        slot: 6,
        ipa: Ipa(GICD),
        pa: 0,
        size: 0x1000,
        word: word(SlotKind::Mmio, slots::RW, 0),
    };
    let line = |m: &mut M, intid: u64, level: u64| {
        calls::call(m, &req(Function::IrqLine, [vm, intid, level]))
    };
    let irq = Function::IrqLine.name();
    let checks = [
        ok,
        refused(cfg(m, GICD, cpu), vgic, Reason::Busy),
        refused(
            calls::call(m, &Request::memslot_set(vm, &over_gicd)),
            "MEMSLOT_SET",
            Reason::Overlap,
        ),
        refused(line(m, 27, 1), irq, Reason::OutOfRange),
        refused(line(m, 96, 1), irq, Reason::OutOfRange),
        refused(line(m, SPI, 2), irq, Reason::BadArgument),
        refused(
            calls::call(m, &req(Function::VcpuPending, [vm, 3, 0])),
            "VCPU_PENDING",
            Reason::NoSuchVcpu,
        ),
    ];
    report.check("vgic-config", all(&checks));
    configured
}

/// One guest on a fresh VM (with a vGIC or not) running `cases`.
fn guest<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    report: &mut Report<W>,
    block: PhysRange,
    p: &Placement,
    image: &[u8],
    (gic, version): (Option<HostGic>, u64),
    cases: &[(VgicCase, u64)],
) -> Result<(), &'static str> {
    super::load(m, report, block, p, image);
    let vm = calls::vm_create(m, block.base, block.size).map_err(|_| "VM_CREATE refused")?;
    // The calls' refusals are checked once, with the first guest without a vGIC.
    let check_calls = cases.iter().any(|c| c.0 == VgicCase::SgiNoVgic);
    let made = setup(m, report, vm, block, p, gic.map(cpu_frames), check_calls);
    let outcome = made.map(|vcpu| {
        report.note(format_args!(
            "vmm: vgic: vm {vm}, vcpu {vcpu}, vGIC {}",
            match gic {
                Some(HostGic::V3(..)) => "v3 at 0x8000000/0x80a0000",
                Some(HostGic::V2(..)) => "v2 at 0x8000000/0x8010000",
                None => "none",
            }
        ));
        drive(m, report, vm, vcpu, cases, (gic, version));
    });
    let _ = calls::vm_destroy(m, vm);
    outcome
}

fn setup<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    report: &mut Report<W>,
    vm: u64,
    block: PhysRange,
    p: &Placement,
    cpu_frames: Option<u64>,
    check_calls: bool,
) -> Result<u64, &'static str> {
    let with_vgic = cpu_frames.is_some();
    let run_page = m.run_page_pa();
    let vcpu =
        calls::vcpu_create(m, vm, p.entry, run_page, BOOT_X0).map_err(|_| "VCPU_CREATE refused")?;
    for s in slots::initial(block.base) {
        calls::memslot_set(m, vm, &s.req).map_err(|_| "MEMSLOT_SET refused")?;
    }
    if !with_vgic && !check_calls {
        return Ok(vcpu);
    }
    if !with_vgic {
        let checks = [
            refused(
                calls::call(m, &req(Function::IrqLine, [vm, SPI, 1])),
                "IRQ_LINE",
                Reason::NoVgic,
            ),
            refused(
                calls::call(m, &req(Function::VcpuPending, [vm, vcpu, 0])),
                "VCPU_PENDING",
                Reason::NoVgic,
            ),
        ];
        report.check("vgic-calls-without-vgic-refused", all(&checks));
        return Ok(vcpu);
    }
    let second = m.spare_run_page().ok_or("no second run page")?;
    calls::vcpu_create(m, vm, p.entry, second, BOOT_X0).map_err(|_| "VCPU_CREATE refused")?;
    match config(m, report, vm, cpu_frames.unwrap_or(GICR)) {
        true => Ok(vcpu),
        false => Err("VGIC_CONFIG refused"),
    }
}

/// What the VMM saw while one case ran.
#[derive(Default)]
pub(super) struct Seen {
    /// Exits at the vGIC's frames (there must be none).
    pub(super) gic_exits: u32,
    /// WFI exits, and the deadline the first one carried.
    pub(super) wfis: u32,
    pub(super) deadline: u64,
    /// VCPU_PENDING of the vCPU that never runs, before the case.
    pub(super) other_before: [u64; 3],
    /// IRQ exits before the case, and during it.
    pub(super) irqs_before: u32,
    pub(super) irqs: u32,
}

pub(super) fn pending<M: VmmMachine>(m: &mut M, vm: u64, vcpu: u64) -> [u64; 3] {
    calls::call(m, &req(Function::VcpuPending, [vm, vcpu, 0])).unwrap_or([u64::MAX; 3])
}

/// The VCPU_RUN loop: NEXT hands out `cases`, each REPORT is judged.
fn drive<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    report: &mut Report<W>,
    vm: u64,
    vcpu: u64,
    cases: &[(VgicCase, u64)],
    (gic, version): (Option<HostGic>, u64),
) {
    let mut device = TestDevice::new();
    let mut irq_exits = 0u32;
    let mut next = 0;
    let mut timer_tries = 0;
    let mut current: Option<(VgicCase, Seen)> = None;
    let mut reply = Reply::COMPLETE;
    let mut exits = 0;
    let end = loop {
        exits += 1;
        if exits > MAX_EXITS {
            break "the guest would not stop";
        }
        m.write_host_fields(&reply.fields());
        if calls::call(m, &Request::vcpu_run(vm, vcpu)).is_err() {
            break "VCPU_RUN was refused";
        }
        let page = m.read_run_page();
        reply = match decode(&page) {
            Exit::Hvc(x) => match Call::from_u64(x[0]) {
                Some(Call::Next) => match cases.get(next) {
                    Some(&(case, arg)) => {
                        next += 1;
                        let seen = Seen {
                            other_before: pending(m, vm, 1),
                            irqs_before: irq_exits,
                            ..Seen::default()
                        };
                        if case == VgicCase::TimerRunning {
                            if let Some(g) = gic {
                                m.timer_ppi(g, true);
                            }
                        }
                        current = Some((case, seen));
                        Reply::hvc([Scenario::Vgic as u64, case as u64, arg, version])
                    }
                    None => Reply::hvc([Scenario::Done as u64, 0, 0, 0]),
                },
                Some(Call::Echo) => {
                    // The SPI case's cue: a rising edge on the line, then low again.
                    let _ = calls::call(m, &req(Function::IrqLine, [vm, SPI, 1]));
                    let _ = calls::call(m, &req(Function::IrqLine, [vm, SPI, 0]));
                    Reply::hvc(ECHO_RESULTS)
                }
                Some(Call::Report) => {
                    let r = GuestReport::from_regs(&x);
                    if let Some((case, mut seen)) = current.take() {
                        if case == VgicCase::TimerRunning {
                            if let Some(g) = gic {
                                m.timer_ppi(g, false);
                            }
                        }
                        seen.irqs = irq_exits - seen.irqs_before;
                        if case == VgicCase::Cost {
                            let d = r.detail;
                            report.note(format_args!(
                                "vmm: vgic: cost: {} GICD_TYPER reads (in EL2) {} ticks, {} \
                                 test-device reads (MMIO exits to this VMM) {} ticks, {} \
                                 GICD_ISENABLER1 writes (in EL2, LRs synced) {} ticks ({} a \
                                 second)",
                                d[0], d[1], d[0], d[2], d[0], d[4], d[3]
                            ));
                        }
                        if matches!(case, VgicCase::Timer | VgicCase::TimerRunning) {
                            let d = r.detail;
                            report.note(format_args!(
                                "vmm: vgic: timer due at {:#x}, handler at {:#x} ({} ticks \
                                 later, {} a second), {} WFI exits",
                                d[2],
                                d[3],
                                d[3].wrapping_sub(d[2]),
                                d[4],
                                seen.wfis
                            ));
                        }
                        // The WFI case needs the guest to reach its WFI before the deadline
                        // (10 ms): on a loaded machine QEMU may not run its CPU thread that
                        // long, and the interrupt is then taken without a WFI. Run it again
                        // (twice at most) rather than judge a path it never took.
                        let beaten = case == VgicCase::Timer && seen.wfis == 0 && r.detail[0] == 1;
                        if beaten && timer_tries < 2 {
                            timer_tries += 1;
                            next -= 1;
                            report.note(format_args!(
                                "vmm: vgic: the timer fired before the guest's WFI: again"
                            ));
                        } else {
                            let result = judge(m, (vm, version), case, &seen, &r);
                            report.check(CheckName(case), result);
                        }
                    }
                    Reply::hvc([0; 4])
                }
                Some(Call::Fatal) => {
                    report.note(format_args!(
                        "vmm: vgic: guest FATAL: ESR {:#x} ELR {:#x} FAR {:#x}",
                        x[1], x[2], x[3]
                    ));
                    if let Some((case, _)) = current.take() {
                        let fail = Fail::GuestFatal {
                            esr: x[1],
                            elr: x[2],
                            far: x[3],
                        };
                        report.check(CheckName(case), Err(fail));
                    }
                    Reply::hvc([0; 4])
                }
                _ => Reply::hvc([stile_abi::Status::NotSupported.as_u64(), 0, 0, 0]),
            },
            Exit::Mmio(mm) if mm.ipa.0 >= GICD && mm.ipa.0 < GICR + 0x8_0000 => {
                if let Some((_, seen)) = &mut current {
                    seen.gic_exits += 1;
                }
                Reply::SKIP
            }
            Exit::Mmio(mm) => {
                let (value, event) = device.access(&mm);
                if let Event::Line(line) = event {
                    report.note(format_args!("guest: {line}"));
                }
                match mm.write {
                    true => Reply::COMPLETE,
                    false => Reply::read(value),
                }
            }
            Exit::Wfi { deadline } => {
                if let Some((_, seen)) = &mut current {
                    seen.wfis += 1;
                    // The first WFI after the guest armed its timer carries the deadline; a
                    // later one (after a late interrupt, on a loaded machine) may find the
                    // timer already handled and disarmed (seen once on QEMU 10: 0).
                    if seen.wfis == 1 {
                        seen.deadline = deadline;
                    }
                }
                // Wait until Stile says the vCPU has something to do (the guest's timer
                // is 10 ms away at most; this is hundreds of ms).
                if !(0..WFI_POLLS).any(|_| pending(m, vm, vcpu)[0] != 0) {
                    break "the vCPU waits (WFI) and VCPU_PENDING never says it may run";
                }
                Reply::COMPLETE
            }
            Exit::MemoryFault { ipa, .. } if ipa.0 >= GICD && ipa.0 < GICR + 0x8_0000 => {
                if let Some((_, seen)) = &mut current {
                    seen.gic_exits += 1;
                }
                Reply::SKIP
            }
            Exit::SystemEvent(_) => break "the guest powered off",
            Exit::Irq => {
                irq_exits += 1;
                Reply::COMPLETE
            }
            other => {
                report.note(format_args!("vmm: vgic: unexpected {other}: SKIP"));
                Reply::SKIP
            }
        };
    };
    if let Some((case, _)) = current {
        report.check(CheckName(case), Err(Fail::NotRun(end)));
    }
    for &(case, _) in cases.iter().skip(next) {
        report.check(CheckName(case), Err(Fail::NotRun(end)));
    }
}
