//! The vGIC rows of the bench (docs/PERFORMANCE.md): a second bench VM, this one with a
//! vGIC, whose guest times interrupts to the first instruction of its IRQ vector: its
//! virtual timer (injected by EL2 without an exit), an SPI this VMM raises with IRQ_LINE
//! before VCPU_RUN, an SGI it sends itself. Each figure is averaged over the iterations with
//! the counter reads' phase dithered, so the 16-instruction ticks average out.

use super::guest::{create, refused, setup, Session, Step};
use super::layout::BenchLayout;
use super::machine::BenchMachine;
use super::measure::{self, Dither, PerOp};
use super::Out;
use crate::facts::{Facts, HostGic};
use crate::fail::Fail;
use crate::vmm::calls::{self, Request};
use crate::vmm::device::TestDevice;
use crate::vmm::exit::{decode, Exit, Reply};
use core::fmt;
use stile_abi::{Function, Reason};
use stile_guest::layout::{VGIC_GICD, VGIC_GICR};
use stile_guest::protocol::{BenchIrq, Call, Scenario, PSCI_SYSTEM_OFF};

/// The guest vector's instructions before its counter read (the dither's jump).
const VECTOR_JUMP: i128 = 3;
/// The SPI the VMM raises, the SGI the guest sends, the timer's delay in ticks.
const SPI: u64 = 40;
const SGI: u64 = 5;
const TIMER_DELAY: u64 = 64;
/// BenchMmio's x2 for loads of the vGIC's GICD_TYPER.
const GICD_MODE: u64 = 3;

pub fn run<M: BenchMachine, W: fmt::Write>(
    m: &mut M,
    facts: &Facts,
    image: &[u8],
    n: u64,
    out: &mut Out<W>,
) {
    // The bench guest speaks GICv3 only.
    let v3 = |g: &HostGic| matches!(g, HostGic::V3(..));
    let Some(gic) = facts.gic.filter(|g| v3(g) && facts.virq_wired) else {
        out.note(format_args!(
            "vgic: no GICv3 with a wired virtual IRQ: no vGIC rows"
        ));
        return;
    };
    let layout = BenchLayout::new(n);
    let (vm, block, entry) = match create(m, facts, image, &layout) {
        Ok(v) => v,
        Err(f) => return out.fail("vgic-setup", f),
    };
    let configured = setup(m, vm, block, entry, layout).and_then(|g| {
        let cfg = Request::new(Function::VgicConfig, [vm, VGIC_GICD, VGIC_GICR, 0, 0, 0]);
        calls::call(m, &cfg)
            .map(|_| g)
            .map_err(|r| match r.is(Reason::NoVgic) {
                true => Fail::NotRun("VGIC_CONFIG: no vGIC on this Stile"),
                false => refused("VGIC_CONFIG")(r),
            })
    });
    match configured {
        Ok(g) => {
            let mut s = Session {
                m,
                g: &g,
                out,
                device: TestDevice::new(),
                dither: Dither::new(0x7669_7271_4265_6e63),
            };
            // A failure is printed where it happens.
            let _ = s.vgic_all(gic, n);
            let _ = calls::vm_destroy(s.m, vm);
        }
        Err(Fail::NotRun(why)) => {
            out.note(format_args!("vgic: {why}: no vGIC rows"));
            let _ = calls::vm_destroy(m, vm);
        }
        Err(f) => {
            out.fail("vgic-setup", f);
            let _ = calls::vm_destroy(m, vm);
        }
    }
}

/// `sum` ticks over `n` interrupts, each read 3 instructions into the vector: instructions
/// to the vector's first one, per interrupt.
fn per_irq(sum: i128, n: u64) -> PerOp {
    PerOp::of(measure::instructions(sum) - VECTOR_JUMP * i128::from(n), n)
}

impl<M: BenchMachine, W: fmt::Write> Session<'_, M, W> {
    fn vgic_all(&mut self, gic: HostGic, n: u64) -> Step<()> {
        let what = "vgic-guest-boot";
        self.expect_call(what, Reply::COMPLETE, Call::Hello)?;
        self.expect_call(what, Reply::hvc([0; 4]), Call::Next)?;
        // The guest's timer reaches EL2 only through this CPU's PPI 27 (as in the checks).
        self.m.timer_ppi(gic, true);
        let timer = self.guest_timed("vtimer-delivery", BenchIrq::Timer, TIMER_DELAY, n);
        self.m.timer_ppi(gic, false);
        timer?;
        self.spi(n)?;
        self.guest_timed("sgi-self-round-trip", BenchIrq::SgiSelf, SGI, n)?;
        self.gicd_read(n)?;
        let what = "vgic-guest-power-off";
        match self.resume(what, Reply::hvc([Scenario::Done as u64, 0, 0, 0]))? {
            (Exit::SystemEvent(PSCI_SYSTEM_OFF), _) => Ok(()),
            (other, _) => Err(self.fail(what, Fail::UnexpectedExit(other))),
        }
    }

    /// A GICD_TYPER read, which EL2 answers with the guest's registers as the trap left
    /// them (no exit): the instructions (all, and EL2's where the PMU counts them; else the
    /// counter's ticks) around a run of `n` reads and one of `2n` (the BenchMmio loop,
    /// which REPORTs and asks NEXT after it). The difference is `n` reads alone.
    fn gicd_read(&mut self, n: u64) -> Step<()> {
        let what = "vgic-gicd-read";
        let mut at = [[None; 3]; 3];
        for (i, reads) in [0, n, 2 * n].into_iter().enumerate() {
            if i > 0 {
                let ask = Reply::hvc([Scenario::BenchMmio as u64, reads, GICD_MODE, 0]);
                let r = self.report(what, ask, Scenario::BenchMmio)?;
                self.value(what, "GICD_TYPER reads", r.detail[0], reads)?;
            }
            let ticks = self.m.ticks();
            at[i] = [
                self.m.all_instructions(),
                self.m.el2_instructions(),
                Some(ticks),
            ];
        }
        // The second run's count less the first's, less the first's own: n reads.
        let reads = |k: usize| -> Option<i128> {
            let [a, b, c] = [at[0][k]?, at[1][k]?, at[2][k]?].map(i128::from);
            Some((c - b) - (b - a))
        };
        let all = match (reads(0), reads(2)) {
            (Some(all), _) => all,
            (None, ticks) => measure::instructions(ticks.unwrap_or(0)),
        };
        let el2 = reads(1).map(|e| PerOp::of(e, n));
        self.out.metric_el2(what, PerOp::of(all, n), el2);
        Ok(())
    }

    /// A loop the guest times itself (timer: from CNTV_CVAL; SGI: from its counter read
    /// just before the ICC_SGI1R_EL1 write).
    fn guest_timed(&mut self, what: &'static str, kind: BenchIrq, arg: u64, n: u64) -> Step<()> {
        let ask = Reply::hvc([Scenario::BenchIrq as u64, kind as u64, n, arg]);
        let r = self.report(what, ask, Scenario::BenchIrq)?;
        self.value(what, "interrupts the guest took", r.detail[2], n)?;
        self.out.metric(what, per_irq(r.detail[1].into(), n));
        Ok(())
    }

    /// Each iteration: a dithered counter read, IRQ_LINE (raise), VCPU_RUN; the guest's
    /// vector reads the counter and its loop PINGs it back. The line is lowered untimed.
    fn spi(&mut self, n: u64) -> Step<()> {
        let what = "spi-injection";
        let ask = Reply::hvc([Scenario::BenchIrq as u64, BenchIrq::Spi as u64, n, SPI]);
        self.expect_call(what, ask, Call::Ping)?;
        let vm = self.g.vm;
        let line = |level: u64| Request::new(Function::IrqLine, [vm, SPI, level, 0, 0, 0]).regs();
        let run = self.vcpu_run();
        let mut sum: i128 = 0;
        for _ in 0..n {
            self.m.write_host_fields(&Reply::hvc([0; 4]).fields());
            let k = self.dither.next_phase();
            let _ = self.m.timed_call(None, k);
            let t0 = self.m.ticks();
            let raised = calls::decode(self.m.call(line(1)));
            let ran = calls::decode(self.m.call(run));
            if let Err(r) = raised {
                return Err(self.fail(what, refused("IRQ_LINE")(r)));
            }
            if let Err(r) = ran {
                return Err(self.fail(what, refused("VCPU_RUN")(r)));
            }
            let t1 = match decode(&self.m.read_run_page()) {
                Exit::Hvc(x) if x[0] == Call::Ping as u64 && x[1] != 0 => x[1],
                other => return Err(self.fail(what, Fail::UnexpectedExit(other))),
            };
            sum += i128::from(t1) - i128::from(t0);
            if let Err(r) = calls::decode(self.m.call(line(0))) {
                return Err(self.fail(what, refused("IRQ_LINE")(r)));
            }
        }
        let r = self.report(what, Reply::hvc([0; 4]), Scenario::BenchIrq)?;
        self.value(what, "interrupts the guest took", r.detail[2], n)?;
        self.out.metric(what, per_irq(sum, n));
        Ok(())
    }
}
