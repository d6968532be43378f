//! Each scenario's verdict: the guest's own REPORT held together with what the VMM saw of
//! it (the exit records: address, size, register, flags, reason), by the protocol.

use super::exit::{Exit, Mmio};
use super::plan::{Step, Window, HOST_FP, STORM};
use super::trace::{Channel, Trace};
use crate::fail::Fail;
use stile_abi::run_page::{ACCESS_READ, ACCESS_WRITE};
use stile_abi::Reason;
use stile_guest::access::{Load, Store, LOAD_PRESET};
use stile_guest::device::{write_pattern, Register};
use stile_guest::ipa::Ipa;
use stile_guest::layout;
use stile_guest::protocol::{Call, FpRegs, PairMode, Report, Verdict, ECHO_ARGS, FP_GUEST};
use stile_hyp::esr::Esr;

/// ESR class of a data abort from a lower EL (what EL2 saw), and of one taken at the same
/// EL (what the guest's vector sees when the VMM has an abort injected).
const EC_DABT_LOWER: u8 = 0x24;
const EC_DABT_SAME: u8 = 0x25;

/// What the judgement needs besides the step and its trace.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// The Probe step's addresses (0 = unused).
    pub probes: [u64; 3],
    /// The value the VMM planted at the first probe address.
    pub secret: u64,
}

const fn reg(r: Register) -> Ipa {
    layout::DEVICE.base.add(r.offset())
}

fn value(what: &'static str, got: u64, want: u64) -> Result<(), Fail> {
    if got == want {
        Ok(())
    } else {
        Err(Fail::Value { what, got, want })
    }
}

/// The guest said Pass.
fn guest_passed(r: &Report) -> Result<(), Fail> {
    if r.verdict == Verdict::Pass as u64 {
        Ok(())
    } else {
        Err(Fail::Guest {
            verdict: r.verdict,
            detail: r.detail,
        })
    }
}

/// The trace's exits are exactly `n`, nothing dropped; returns them.
fn exactly<'t>(t: &'t Trace, n: usize, what: &'static str) -> Result<&'t [Exit], Fail> {
    if t.dropped > 0 || t.exits.len() > n {
        let extra = t.exits.get(n).copied();
        return Err(extra.map_or(
            Fail::Value {
                what: "exits dropped",
                got: t.dropped.into(),
                want: 0,
            },
            Fail::UnexpectedExit,
        ));
    }
    if t.exits.len() < n {
        return Err(Fail::MissingExit(what));
    }
    Ok(&t.exits)
}

/// One MMIO exit for the plain or sign-extending `load` from `at`.
fn mmio_load(e: &Exit, load: Load, at: Ipa) -> Result<(), Fail> {
    let Exit::Mmio(m) = *e else {
        return Err(Fail::UnexpectedExit(*e));
    };
    mmio_fields(&m, at, false, load.size(), load.srt(), load.flags())
}

fn mmio_fields(m: &Mmio, at: Ipa, write: bool, size: u8, srt: u8, flags: u8) -> Result<(), Fail> {
    value("MMIO IPA", m.ipa.0, at.0)?;
    value("MMIO direction (1 = write)", m.write.into(), write.into())?;
    value("MMIO size", m.size.into(), size.into())?;
    value("MMIO srt", m.srt.into(), srt.into())?;
    value("MMIO flags", m.flags.into(), flags.into())
}

fn memory_fault(e: &Exit, at: u64, access: u8, reason: Reason) -> Result<(), Fail> {
    let Exit::MemoryFault {
        ipa,
        access: a,
        reason: r,
        ..
    } = *e
    else {
        return Err(Fail::UnexpectedExit(*e));
    };
    value("MEMORY_FAULT fault_reason", r, reason as u64)?;
    value("MEMORY_FAULT IPA", ipa.0, at)?;
    value("MEMORY_FAULT access", a.into(), access.into())
}

/// The verdict on `step`, given the guest's `report` and the `trace` of its run.
pub fn judge(step: Step, report: &Report, t: &Trace, cx: &Context) -> Result<(), Fail> {
    if let Some([esr, elr, far]) = t.fatal {
        return Err(Fail::GuestFatal { esr, elr, far });
    }
    match t.channel {
        Some(Channel::ReasonMismatch { x1, page }) => {
            return value("VCPU_RUN x1 vs run page exit_reason", x1, page.into())
        }
        Some(Channel::Count { page, vmm }) => return value("run page exit_count", page, vmm),
        Some(Channel::Version(v)) => {
            return value(
                "run page version",
                v.into(),
                stile_abi::run_page::RUN_PAGE_VERSION.into(),
            )
        }
        None => {}
    }
    let (scenario, _) = step.request(cx.probes);
    value("REPORT scenario", report.scenario, scenario as u64)?;
    match step {
        Step::MmioRead(size) => {
            let load = Load::of_size(size).ok_or(Fail::Setup("no load of that size"))?;
            mmio_load(&exactly(t, 1, "MMIO")?[0], load, reg(Register::Pattern))?;
            guest_passed(report)
        }
        Step::MmioWrite(size) => {
            let store = Store::of_size(size).ok_or(Fail::Setup("no store of that size"))?;
            let e = exactly(t, 1, "MMIO")?[0];
            let Exit::Mmio(m) = e else {
                return Err(Fail::UnexpectedExit(e));
            };
            mmio_fields(
                &m,
                reg(Register::Sink),
                true,
                size,
                store.srt(),
                store.flags(),
            )?;
            value("MMIO write data", m.data, write_pattern(size))?;
            guest_passed(report)
        }
        Step::SignExtend => {
            // The guest stops at the first wrong value: judge the exits it made, then its
            // verdict, then that it made all five.
            for (e, load) in t.exits.iter().zip(Load::SIGNED) {
                mmio_load(e, load, reg(Register::Signed))?;
            }
            guest_passed(report)?;
            exactly(t, Load::SIGNED.len(), "MMIO").map(|_| ())
        }
        Step::LoadPair(mode) => load_pair(mode, report, t),
        Step::LazyRam => {
            exactly(t, 0, "")?;
            resolved_in_el2(t)?;
            guest_passed(report)
        }
        Step::NoSlotReplay => {
            let e = exactly(t, 1, "MEMORY_FAULT")?[0];
            memory_fault(&e, layout::REPLAY.base.0, ACCESS_READ, Reason::NoSlot)?;
            match t.replay_slot {
                Some(Ok(())) => {}
                Some(Err(refusal)) => {
                    return Err(Fail::Refused {
                        call: "MEMSLOT_SET (replay page)",
                        refusal,
                    })
                }
                None => return Err(Fail::Missing("the replay slot was never added")),
            }
            guest_passed(report)
        }
        Step::ReadOnlyWrite => {
            let e = exactly(t, 1, "MEMORY_FAULT")?[0];
            memory_fault(
                &e,
                layout::READ_ONLY.base.0,
                ACCESS_WRITE,
                Reason::Permission,
            )?;
            guest_passed(report)
        }
        Step::Window(_) => {
            exactly(t, 0, "")?;
            guest_passed(report)
        }
        Step::Probe => probe(report, t, cx),
        Step::FaultStorm => storm(report, t),
        Step::HvcEcho => {
            let e = exactly(t, 1, "HVC")?[0];
            let Exit::Hvc(x) = e else {
                return Err(Fail::UnexpectedExit(e));
            };
            value("HVC x0", x[0], Call::Echo as u64)?;
            for (i, (&got, want)) in x[1..].iter().zip(ECHO_ARGS).enumerate() {
                const WHAT: [&str; 7] = [
                    "HVC x1", "HVC x2", "HVC x3", "HVC x4", "HVC x5", "HVC x6", "HVC x7",
                ];
                value(WHAT[i], got, want)?;
            }
            // The guest compares x0..x3 after the call with ECHO_RESULTS.
            guest_passed(report)
        }
        Step::FpState => fp_state(report, t),
        Step::KeptRegisters => kept_registers(report, t),
    }
}

/// STATS x1 (faults resolved in EL2) grew during the step.
fn resolved_in_el2(t: &Trace) -> Result<(), Fail> {
    let (Some(a), Some(b)) = (t.start.stats, t.end.stats) else {
        return Err(Fail::Missing("STATS did not answer"));
    };
    if b.resolved <= a.resolved {
        return Err(Fail::Below {
            what: "STATS x1 (faults resolved in EL2) after",
            got: b.resolved,
            min: a.resolved + 1,
        });
    }
    Ok(())
}

/// The stores to the untouched pages were mapped in EL2; the two PATTERN reads exited to
/// the VMM, then the read-only store and the hole's load as MEMORY_FAULTs it answered SKIP,
/// then the ECHO. Whether every register came back is the guest's to say (only it can see
/// them), and a guest that stopped at a lost register made fewer accesses: its verdict
/// comes first.
fn kept_registers(report: &Report, t: &Trace) -> Result<(), Fail> {
    guest_passed(report)?;
    let exits = exactly(t, 5, "MMIO, MEMORY_FAULT and HVC")?;
    for e in &exits[..2] {
        let Exit::Mmio(m) = *e else {
            return Err(Fail::UnexpectedExit(*e));
        };
        value("MMIO IPA", m.ipa.0, reg(Register::Pattern).0)?;
        value("MMIO direction (1 = write)", m.write.into(), 0)?;
        value("MMIO size", m.size.into(), 8)?;
    }
    memory_fault(
        &exits[2],
        layout::READ_ONLY.base.0,
        ACCESS_WRITE,
        Reason::Permission,
    )?;
    memory_fault(&exits[3], layout::HOLE.0, ACCESS_READ, Reason::NoSlot)?;
    let Exit::Hvc(x) = exits[4] else {
        return Err(Fail::UnexpectedExit(exits[4]));
    };
    value("HVC x0", x[0], Call::Echo as u64)?;
    resolved_in_el2(t)?;
    // The host's side: each VCPU_RUN of the step (one per exit, the REPORT's included) had
    // x7..x30 marked, and x4..x30 came back as they were (the runner notes which did not).
    value(
        "VCPU_RUNs with the host's registers marked",
        t.marked_runs,
        6,
    )?;
    match t.host_reg_lost {
        Some((_, got, want)) => Err(Fail::Value {
            what: "a host register (x4..x30) after VCPU_RUN",
            got,
            want,
        }),
        None => Ok(()),
    }
}

/// d0 and v31 as read (`None`: never read) against what they must hold.
fn fp_regs(what: [&'static str; 3], got: Option<FpRegs>, want: FpRegs) -> Result<(), Fail> {
    let got = got.ok_or(Fail::MissingExit("the guest's ECHO"))?;
    value(what[0], got.d0, want.d0)?;
    value(what[1], got.v31[0], want.v31[0])?;
    value(what[2], got.v31[1], want.v31[1])
}

/// The guest's FP registers survived its HVC round trip (its REPORT), and the host's were
/// never the guest's: as the host left them while the guest waited, and at the REPORT.
fn fp_state(report: &Report, t: &Trace) -> Result<(), Fail> {
    let d = report.detail;
    let guest = Some(FpRegs {
        d0: d[0],
        v31: [d[1], d[2]],
    });
    fp_regs(
        [
            "guest d0 after its HVC",
            "guest v31 low after its HVC",
            "guest v31 high after its HVC",
        ],
        guest,
        FP_GUEST,
    )?;
    fp_regs(
        [
            "host d0 at the guest's ECHO",
            "host v31 low at the guest's ECHO",
            "host v31 high at the guest's ECHO",
        ],
        t.host_fp[0],
        HOST_FP[0],
    )?;
    fp_regs(
        [
            "host d0 at the guest's REPORT",
            "host v31 low at the guest's REPORT",
            "host v31 high at the guest's REPORT",
        ],
        t.host_fp[1],
        HOST_FP[1],
    )?;
    guest_passed(report)
}

fn load_pair(mode: PairMode, report: &Report, t: &Trace) -> Result<(), Fail> {
    let e = exactly(t, 1, "NISV")?[0];
    let Exit::Nisv { ipa, esr, access } = e else {
        return Err(Fail::UnexpectedExit(e));
    };
    value("NISV IPA", ipa.0, reg(Register::Pair).0)?;
    value("NISV access", access.into(), ACCESS_READ.into())?;
    let esr = Esr(esr);
    value("NISV ESR.EC", esr.ec_raw().into(), EC_DABT_LOWER.into())?;
    value("NISV ESR.ISV", esr.isv().into(), 0)?;
    guest_passed(report)?;
    let d = report.detail;
    match mode {
        PairMode::Skip => {
            value("x2 after the skipped ldp", d[0], LOAD_PRESET)?;
            value("x3 after the skipped ldp", d[1], LOAD_PRESET)
        }
        PairMode::Abort => {
            value("guest took the abort", d[2], 1)?;
            value(
                "guest ESR_EL1.EC",
                Esr(d[3]).ec_raw().into(),
                EC_DABT_SAME.into(),
            )?;
            value("guest FAR_EL1", d[4], reg(Register::Pair).0)?;
            if let (Some(a), Some(b)) = (t.start.stats, t.end.stats) {
                value(
                    "STATS x3 (aborts injected) increase",
                    b.injected.wrapping_sub(a.injected),
                    1,
                )?;
            }
            Ok(())
        }
    }
}

fn probe(report: &Report, t: &Trace, cx: &Context) -> Result<(), Fail> {
    let targets: heapless::Vec<u64, 3> = cx.probes.iter().copied().filter(|&p| p != 0).collect();
    if targets.is_empty() {
        return Err(Fail::Setup("no addresses to probe"));
    }
    let exits = exactly(t, targets.len(), "MEMORY_FAULT")?;
    for (e, &at) in exits.iter().zip(targets.iter()) {
        memory_fault(e, at, ACCESS_READ, Reason::NoSlot)?;
    }
    for (i, &p) in cx.probes.iter().enumerate() {
        if p == 0 {
            continue;
        }
        let got = report.detail[i];
        if got == cx.secret {
            return Err(Fail::Value {
                what: "the guest read the host's secret at",
                got: p,
                want: 0,
            });
        }
        value(
            "probe register (the load must be skipped)",
            got,
            LOAD_PRESET,
        )?;
    }
    guest_passed(report)
}

fn storm(report: &Report, t: &Trace) -> Result<(), Fail> {
    exactly(t, 0, "")?;
    value("COUNTER reads (MMIO exits)", t.counter_reads, STORM)?;
    value("MMIO exits", t.mmio, STORM)?;
    let page = t.end.page_exits.wrapping_sub(t.start.page_exits);
    let vmm = t.end.vmm_exits.wrapping_sub(t.start.vmm_exits);
    value("run page exit_count increase", page, vmm)?;
    value("guest loads done", report.detail[0], STORM)?;
    guest_passed(report)?;
    match t.caps_after {
        Some(true) => Ok(()),
        _ => Err(Fail::Missing("GET_CAPS did not answer after the storm")),
    }
}

/// Windows are judged by access here; TRANSLATE is `windows::translate_check`.
pub const fn window_of(step: Step) -> Option<Window> {
    match step {
        Step::Window(w) => Some(w),
        _ => None,
    }
}
