//! The bench mode of the host payload (`-append bench`, docs/PERFORMANCE.md): instead of its
//! checks, the payload times Stile's hot paths and prints one line per metric,
//! `bench: <name> <instructions per operation>`, then powers off.
//!
//! Every figure is CNTVCT_EL0 ticks x (1 GHz / CNTFRQ_EL0), e.g. x 16 on QEMU 7.2 (QEMU `-icount shift=0`: one instruction = 1 ns at
//! any EL, 62.5 MHz counter) over the iterations, minus the same loop without the operation
//! (its empty twin). Where the PMU counts INST_RETIRED per EL, `bench: <name>.el2 <n>` is
//! the part of it spent at EL2.
//!
//! Arch-free over [`BenchMachine`]; the tests run it against the VMM's fake Stile.

pub mod guest;
pub mod layout;
pub mod machine;
pub mod measure;
pub mod mode;
pub mod table;
mod vgic;

#[cfg(test)]
mod tests;

use crate::facts::Facts;
use core::fmt;
use machine::{BenchMachine, CallLoop};
use measure::{PerOp, RamLabel};
use mode::Mode;
use stile_abi::{Function, FN_REVISION};

/// The bench's output: metric lines, notes (`host: bench: ...`) and failures
/// (`host: bench: <what>: FAIL <why>`, which the harness forbids like a failed check).
pub struct Out<W> {
    w: W,
    metrics: u32,
    failed: u32,
    /// Print `.el2` lines (the PMU counts EL2 on its own).
    pub el2: bool,
}

impl<W: fmt::Write> Out<W> {
    pub fn new(w: W) -> Out<W> {
        Out {
            w,
            metrics: 0,
            failed: 0,
            el2: false,
        }
    }

    /// `bench: <name> <value>`.
    pub fn metric(&mut self, name: impl fmt::Display, value: impl fmt::Display) {
        self.metrics += 1;
        let _ = writeln!(self.w, "bench: {name} {value}");
    }

    /// The metric, and its EL2 part when the PMU counts it.
    pub fn metric_el2(&mut self, name: &str, value: PerOp, el2: Option<PerOp>) {
        self.metric(name, value);
        if let Some(e) = el2.filter(|_| self.el2) {
            let _ = writeln!(self.w, "bench: {name}.el2 {e}");
        }
    }

    pub fn note(&mut self, line: fmt::Arguments<'_>) {
        let _ = writeln!(self.w, "host: bench: {line}");
    }

    /// A line as it is (the guest's console).
    pub fn line(&mut self, line: fmt::Arguments<'_>) {
        let _ = writeln!(self.w, "{line}");
    }

    pub fn fail(&mut self, what: &str, why: impl fmt::Display) {
        self.failed += 1;
        let _ = writeln!(self.w, "host: bench: {what}: FAIL {why}");
    }

    pub fn failed(&self) -> u32 {
        self.failed
    }

    pub fn into_inner(self) -> W {
        self.w
    }
}

/// The whole bench for `mode` (not [`Mode::Checks`]). `entry_ticks` is CNTVCT_EL0 as the
/// payload's second instruction read it.
pub fn run<M: BenchMachine, W: fmt::Write>(
    m: &mut M,
    facts: &Facts,
    image: &[u8],
    mode: Mode,
    entry_ticks: u64,
    out: &mut Out<W>,
) {
    let ram: u64 = facts.ram.iter().map(|r| r.size).sum();
    let name = BootName(RamLabel(ram));
    out.metric(name, measure::instructions(entry_ticks.into()));
    let Mode::Bench { iterations: n } = mode else {
        out.note(format_args!("boot figure only (bench=boot): done"));
        return;
    };
    out.note(format_args!(
        "{n} iterations per metric; figures are CNTVCT_EL0 ticks x {} per operation, minus \
         the loop without the operation",
        measure::per_tick()
    ));
    out.el2 = pmu_check(m, out);
    host_calls(m, n, out);
    guest::run(m, facts, image, n, out);
    let (metrics, failed) = (out.metrics, out.failed);
    out.note(format_args!("done: {metrics} metrics, {failed} failed"));
}

/// `boot-to-host-entry-<ram>`.
struct BootName(RamLabel);

impl fmt::Display for BootName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "boot-to-host-entry-{}", self.0)
    }
}

/// One measured loop: ticks and EL2 instructions around it, and how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub ticks: u64,
    pub el2: Option<u64>,
    pub all: Option<u64>,
    pub done: u64,
    pub last: [u64; 2],
}

pub fn sample<M: BenchMachine>(m: &mut M, l: &CallLoop, hvc: bool) -> Sample {
    let (a0, e0) = (m.all_instructions(), m.el2_instructions());
    let t0 = m.ticks();
    let end = m.call_loop(l, hvc);
    let t1 = m.ticks();
    let (e1, a1) = (m.el2_instructions(), m.all_instructions());
    let delta = |a: Option<u64>, b: Option<u64>| Some(b?.wrapping_sub(a?));
    Sample {
        ticks: t1.wrapping_sub(t0),
        el2: delta(e0, e1),
        all: delta(a0, a1),
        done: end.done,
        last: end.last,
    }
}

/// A measured loop that stopped before its last iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopFailed {
    pub l: CallLoop,
    pub end: Sample,
}

impl fmt::Display for LoopFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "iteration {} of {} answered x0={:#x} x1={:#x}, want x0={:#x} x1={:#x}",
            self.end.done + 1,
            self.l.n,
            self.end.last[0],
            self.end.last[1],
            self.l.expect[0],
            self.l.expect[1]
        )
    }
}

/// A loop and its empty twin, as a figure per iteration and its EL2 part (and the empty
/// twin's sample).
pub fn loop_figure<M: BenchMachine>(
    m: &mut M,
    l: &CallLoop,
) -> Result<(PerOp, Option<PerOp>, Sample), LoopFailed> {
    let full = sample(m, l, true);
    if full.done != l.n {
        return Err(LoopFailed { l: *l, end: full });
    }
    let empty = sample(m, &l.empty(), false);
    let per_op = PerOp::from_ticks(full.ticks, empty.ticks, l.n);
    let el2 = match (full.el2, empty.el2) {
        (Some(f), Some(e)) => Some(PerOp::of(i128::from(f) - i128::from(e), l.n)),
        _ => None,
    };
    Ok((per_op, el2, empty))
}

/// Whether the PMU counts INST_RETIRED at EL2 apart from EL1 (then `.el2` lines print).
fn pmu_check<M: BenchMachine, W: fmt::Write>(m: &mut M, out: &mut Out<W>) -> bool {
    if m.el2_instructions().is_none() || m.all_instructions().is_none() {
        out.note(format_args!(
            "pmu: no event counters to program (PMUVer or PMCR_EL0.N): no EL2 share"
        ));
        return false;
    }
    const N: u64 = 1000;
    let fid = FN_REVISION.into();
    let first = m.call([fid, 0, 0, 0, 0, 0, 0]);
    let revision = CallLoop {
        call: [fid, 0, 0],
        expect: [first[0], first[1]],
        data: 0,
        n: N,
    };
    let empty = sample(m, &revision.empty(), false);
    let full = sample(m, &revision, true);
    let (el2_empty, all_empty, el2_full) = (
        empty.el2.unwrap_or(0),
        empty.all.unwrap_or(0),
        full.el2.unwrap_or(0),
    );
    let ok = el2_empty == 0 && all_empty > 0 && el2_full > 0 && full.done == N;
    out.note(format_args!(
        "pmu: INST_RETIRED, counter 0 EL2 only (P, U, NSH), counter 1 every EL (NSH): \
         {N} empty loop iterations: {el2_empty} at EL2, {all_empty} at every EL \
         (CNTVCT: {}); {N} REVISION calls: {el2_full} at EL2 -> {}",
        measure::instructions(empty.ticks.into()),
        if ok {
            "EL2 share reported as <name>.el2"
        } else {
            "the counters do not tell EL2 apart (is QEMU run with -icount?): no EL2 share"
        }
    ));
    ok
}

/// The host's own calls: the empty loop, REVISION (the null hypercall) and GET_CAPS.
fn host_calls<M: BenchMachine, W: fmt::Write>(m: &mut M, n: u64, out: &mut Out<W>) {
    let calls: [(&str, u64); 2] = [
        ("null-hypercall", FN_REVISION.into()),
        ("get-caps", Function::GetCaps as u64),
    ];
    for (i, (name, fid)) in calls.into_iter().enumerate() {
        let first = m.call([fid, 0, 0, 0, 0, 0, 0]);
        let l = CallLoop {
            call: [fid, 0, 0],
            expect: [first[0], first[1]],
            data: 0,
            n,
        };
        let (per_op, el2, empty) = match loop_figure(m, &l) {
            Ok(f) => f,
            Err(e) => {
                out.fail(name, e);
                continue;
            }
        };
        if i == 0 {
            out.metric("empty-loop", PerOp::from_ticks(empty.ticks, 0, n));
        }
        out.metric_el2(name, per_op, el2);
    }
}
