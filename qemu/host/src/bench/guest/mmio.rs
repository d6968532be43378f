//! The MMIO exit figures: VCPU_RUN round trips, each completing the guest's load from the
//! test device (the VMM stores the value into the run page) and ending at its next one.
//! `mmio-read-exit` loads from one page again and again; `mmio-read-exit-2pages` alternates
//! between two, which is what Stile's lazy-map entry has to remember (it sends the last two
//! MMIO pages of a vCPU straight to the full trap path: docs/PERFORMANCE.md).

use super::{Session, Step, MMIO_VALUE};
use crate::bench::machine::BenchMachine;
use crate::fail::Fail;
use crate::vmm::exit::{Exit, Reply};
use core::fmt;
use stile_abi::ExitReason;
use stile_guest::device::Register;
use stile_guest::layout::{self as guest_layout, PAGE};
use stile_guest::protocol::Scenario;

impl<M: BenchMachine, W: fmt::Write> Session<'_, M, W> {
    /// `mmio-read-exit`: n + 1 four-byte loads from PATTERN, the first a warm-up.
    pub(super) fn mmio(&mut self, n: u64) -> Step<()> {
        let what = "mmio-read-exit";
        let first = Reply::hvc([Scenario::BenchMmio as u64, n + 1, 0, 0]);
        self.mmio_loads(what, first, 4, n, n + 1)
    }

    /// `mmio-read-exit-2pages`: pairs of eight-byte loads from PATTERN and from the same
    /// offset a page on, at least n + 1 of them (the first a warm-up, the ones after the
    /// measured n completed before the report).
    pub(super) fn mmio_two_pages(&mut self, n: u64) -> Step<()> {
        let what = "mmio-read-exit-2pages";
        let pairs = n / 2 + 1;
        let first = Reply::hvc([Scenario::BenchMmio as u64, pairs, 2, 0]);
        self.mmio_loads(what, first, 8, n, 2 * pairs)
    }

    /// Starts the guest's loads with `first`, checks the first exit (a `size`-byte read of
    /// PATTERN), measures `n` exits, completes the rest of the `loads`, and checks the
    /// guest's report.
    fn mmio_loads(
        &mut self,
        what: &'static str,
        first: Reply,
        size: u8,
        n: u64,
        loads: u64,
    ) -> Step<()> {
        let pattern = guest_layout::DEVICE.base.add(Register::Pattern.offset());
        match self.resume(what, first)? {
            (Exit::Mmio(mm), _) if !mm.write && mm.ipa == pattern && mm.size == size => {}
            (other, _) => return Err(self.fail(what, Fail::UnexpectedExit(other))),
        }
        self.m.write_host_fields(&Reply::read(MMIO_VALUE).fields());
        let (per_op, el2) = self.run_loop(what, ExitReason::Mmio, MMIO_VALUE, n)?;
        for _ in n + 1..loads {
            match self.resume(what, Reply::read(MMIO_VALUE))? {
                (Exit::Mmio(mm), _)
                    if !mm.write && mm.ipa.0 & (PAGE - 1) == pattern.0 & (PAGE - 1) => {}
                (other, _) => return Err(self.fail(what, Fail::UnexpectedExit(other))),
            }
        }
        let r = self.report(what, Reply::read(MMIO_VALUE), Scenario::BenchMmio)?;
        self.value(what, "the guest's last load", r.detail[1], MMIO_VALUE)?;
        self.out.metric_el2(what, per_op, el2);
        Ok(())
    }
}
