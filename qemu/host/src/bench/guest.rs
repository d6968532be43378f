//! The guest half of the bench: a VM laid out for it ([`super::layout`]), the guest payload
//! run through its bench scenarios (`stile_guest::bench`), and the figures only a guest
//! gives: VCPU_RUN round trips, MMIO exits, memory faults the VMM fixes with a memslot,
//! stage-2 faults Stile resolves by itself.
//!
//! Each metric starts and ends with the guest waiting in NEXT. The first exit of each loop
//! is a warm-up (it runs the guest's scenario code); the measured iterations are the same
//! exit again and again.

use super::layout::{
    BenchLayout, BLOCK, LAZY_2M_IPA, LAZY_4K_IPA, RAM_IPA, RAM_SIZE, REPLAY_IPAS, SLOT_2M, SLOT_4K,
    SLOT_DEVICE, SLOT_RAM, SLOT_REPLAY,
};
use super::machine::{BenchMachine, CallLoop};
use super::measure::{self, Dither, PerOp, Tally};
use super::{loop_figure, Out};
use crate::facts::Facts;
use crate::fail::Fail;
use crate::vmm::calls::{self, Request, SlotRequest};
use crate::vmm::device::{Event, TestDevice};
use crate::vmm::exit::{decode, Exit, Reply};
use crate::vmm::image;
use crate::vmm::slots::{RW, RWX};
use core::fmt;
use stile_abi::slot::{word, SlotKind, PERM_READ};
use stile_abi::{ExitReason, Reason, RunPage};
use stile_guest::device::Register;
use stile_guest::ipa::Ipa;
use stile_guest::layout::{self as guest_layout, PAGE};
use stile_guest::protocol::{
    Call, Report as GuestReport, Scenario, Verdict, BOOT_X0, PSCI_SYSTEM_OFF,
};
use stile_hyp::addr::{PhysAddr, PhysRange};

mod mmio;

/// What the VMM answers every MMIO read of the mmio bench with.
pub const MMIO_VALUE: u64 = 0x600d_f00d;

/// A metric that stopped; its failure is printed already (`host: bench: <what>: FAIL ..`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stopped;

pub(super) type Step<T> = Result<T, Stopped>;

/// The guest as created for the bench.
pub(super) struct BenchGuest {
    pub(super) vm: u64,
    pub(super) vcpu: u64,
    block: PhysRange,
    layout: BenchLayout,
}

/// Builds the bench VM, runs every guest metric, destroys the VM.
pub fn run<M: BenchMachine, W: fmt::Write>(
    m: &mut M,
    facts: &Facts,
    image: &[u8],
    n: u64,
    out: &mut Out<W>,
) {
    let layout = BenchLayout::new(n);
    let (vm, block, entry) = match create(m, facts, image, &layout) {
        Ok(v) => v,
        Err(f) => return out.fail("guest-setup", f),
    };
    let g = match setup(m, vm, block, entry, layout) {
        Ok(g) => g,
        Err(f) => {
            out.fail("guest-setup", f);
            let _ = calls::vm_destroy(m, vm);
            return;
        }
    };
    out.note(format_args!(
        "guest: vm {vm} on {} MiB of host RAM at {}: {} fresh 4 KiB pages at {}, {} x {} \
         fresh 2 MiB blocks at {} (the slot re-armed by MEMSLOT_SET between rounds)",
        block.size >> 20,
        block.base,
        layout.pages_4k,
        LAZY_4K_IPA,
        layout.rounds_2m,
        layout.blocks_2m,
        LAZY_2M_IPA
    ));
    let mut s = Session {
        m,
        g: &g,
        out,
        device: TestDevice::new(),
        dither: Dither::new(0x5374_696c_6542_6e63),
    };
    // A failure is printed where it happens; the VM is destroyed either way.
    let _ = s.all(n);
    if let Err(r) = calls::vm_destroy(s.m, g.vm) {
        s.out.fail(
            "guest-teardown",
            Fail::Refused {
                call: "VM_DESTROY",
                refusal: r,
            },
        );
    }
    super::vgic::run(s.m, facts, image, n, s.out);
}

/// The image and the replay page written, the block donated: (vm, block, entry).
pub(super) fn create<M: BenchMachine>(
    m: &mut M,
    facts: &Facts,
    image: &[u8],
    layout: &BenchLayout,
) -> Result<(u64, PhysRange, Ipa), Fail> {
    let p = image::place(image).map_err(Fail::Image)?;
    let block = crate::vmm::pick_memory(facts, layout.donated).ok_or(Fail::Setup(
        "no free 2 MiB-aligned block of host RAM large enough for the bench guest",
    ))?;
    let pa_at = |off: u64| PhysAddr(block.base.0 + off);
    // SAFETY: pick_memory chose the block clear of everything the payload and Stile use, and
    // it is not donated yet; the image fits below RAM_SIZE (place() checks IMAGE_LIMIT) and
    // the replay page lies inside the block (layout).
    unsafe {
        m.write_ram(pa_at(p.offset), image);
        m.write_ram(
            pa_at(layout.replay_backing()),
            &guest_layout::REPLAY_VALUE.to_le_bytes(),
        );
    }
    let vm = calls::vm_create(m, block.base, block.size).map_err(|refusal| Fail::Refused {
        call: "VM_CREATE",
        refusal,
    })?;
    Ok((vm, block, p.entry))
}

pub(super) fn refused(call: &'static str) -> impl Fn(calls::Refusal) -> Fail {
    move |refusal| Fail::Refused { call, refusal }
}

pub(super) fn setup<M: BenchMachine>(
    m: &mut M,
    vm: u64,
    block: PhysRange,
    entry: Ipa,
    layout: BenchLayout,
) -> Result<BenchGuest, Fail> {
    let run_page = m.run_page_pa();
    let vcpu =
        calls::vcpu_create(m, vm, entry, run_page, BOOT_X0).map_err(refused("VCPU_CREATE"))?;
    let pa = |off: u64| block.base.0 + off;
    let slots = [
        (
            SLOT_RAM,
            RAM_IPA,
            pa(0),
            RAM_SIZE,
            word(SlotKind::Ram, RWX, 0),
        ),
        (
            // The device and the page after it (mmio-read-exit-2pages).
            SLOT_DEVICE,
            guest_layout::DEVICE.base,
            0,
            guest_layout::DEVICE.size + PAGE,
            word(SlotKind::Mmio, RW, 0),
        ),
        (
            SLOT_4K,
            LAZY_4K_IPA,
            pa(layout.lazy_4k_backing()),
            layout.pages_4k * PAGE,
            word(SlotKind::Ram, RW, 0),
        ),
        (
            SLOT_2M,
            LAZY_2M_IPA,
            pa(layout.lazy_2m_backing),
            layout.blocks_2m * BLOCK,
            word(SlotKind::Ram, RW, 0),
        ),
    ];
    for (slot, ipa, pa, size, word) in slots {
        let req = SlotRequest {
            slot,
            ipa,
            pa,
            size,
            word,
        };
        calls::memslot_set(m, vm, &req).map_err(refused("MEMSLOT_SET"))?;
    }
    Ok(BenchGuest {
        vm,
        vcpu,
        block,
        layout,
    })
}

pub(super) struct Session<'a, M, W> {
    pub(super) m: &'a mut M,
    pub(super) g: &'a BenchGuest,
    pub(super) out: &'a mut Out<W>,
    pub(super) device: TestDevice,
    pub(super) dither: Dither,
}

impl<M: BenchMachine, W: fmt::Write> Session<'_, M, W> {
    /// Prints `what` failing with `why`.
    pub(super) fn fail(&mut self, what: &str, why: impl fmt::Display) -> Stopped {
        self.out.fail(what, why);
        Stopped
    }

    pub(super) fn value(
        &mut self,
        what: &'static str,
        of: &'static str,
        got: u64,
        want: u64,
    ) -> Step<()> {
        if got == want {
            Ok(())
        } else {
            Err(self.fail(
                what,
                Fail::Value {
                    what: of,
                    got,
                    want,
                },
            ))
        }
    }

    fn all(&mut self, n: u64) -> Step<()> {
        let hello = self.call("guest-boot", Reply::COMPLETE)?;
        if hello[0] != Call::Hello as u64 {
            return Err(self.fail("guest-boot", Fail::UnexpectedExit(Exit::Hvc(hello))));
        }
        self.expect_call("guest-boot", Reply::hvc([0; 4]), Call::Next)?;
        self.ping(n)?;
        self.mmio(n)?;
        self.mmio_two_pages(n)?;
        self.replay(n)?;
        self.lazy_4k()?;
        self.lazy_2m()?;
        let what = "guest-power-off";
        match self.resume(what, Reply::hvc([Scenario::Done as u64, 0, 0, 0]))? {
            (Exit::SystemEvent(PSCI_SYSTEM_OFF), _) => Ok(()),
            (other, _) => Err(self.fail(what, Fail::UnexpectedExit(other))),
        }
    }

    pub(super) fn vcpu_run(&self) -> [u64; 7] {
        Request::vcpu_run(self.g.vm, self.g.vcpu).regs()
    }

    /// One VCPU_RUN with `reply` to the last exit, going on through the guest's console
    /// writes (printed as `guest: <line>`): the first other exit and its run page.
    pub(super) fn resume(&mut self, what: &'static str, reply: Reply) -> Step<(Exit, RunPage)> {
        let mut reply = reply;
        loop {
            self.m.write_host_fields(&reply.fields());
            if let Err(r) = calls::call(self.m, &Request::vcpu_run(self.g.vm, self.g.vcpu)) {
                return Err(self.fail(what, refused("VCPU_RUN")(r)));
            }
            let page = self.m.read_run_page();
            let exit = decode(&page);
            let console = guest_layout::DEVICE.base.add(Register::Console.offset());
            match exit {
                Exit::Mmio(mm) if mm.write && mm.ipa == console => {
                    if let (_, Event::Line(l)) = self.device.access(&mm) {
                        self.out.line(format_args!("guest: {l}"));
                    }
                    reply = Reply::COMPLETE;
                }
                Exit::Hvc(x) if x[0] == Call::Fatal as u64 => {
                    let (esr, elr, far) = (x[1], x[2], x[3]);
                    return Err(self.fail(what, Fail::GuestFatal { esr, elr, far }));
                }
                _ => return Ok((exit, page)),
            }
        }
    }

    /// Runs on to the guest's next protocol call (x0..x7).
    pub(super) fn call(&mut self, what: &'static str, reply: Reply) -> Step<[u64; 8]> {
        match self.resume(what, reply)? {
            (Exit::Hvc(x), _) => Ok(x),
            (other, _) => Err(self.fail(what, Fail::UnexpectedExit(other))),
        }
    }

    pub(super) fn expect_call(
        &mut self,
        what: &'static str,
        reply: Reply,
        c: Call,
    ) -> Step<[u64; 8]> {
        let x = self.call(what, reply)?;
        if x[0] != c as u64 {
            return Err(self.fail(what, Fail::UnexpectedExit(Exit::Hvc(x))));
        }
        Ok(x)
    }

    /// Runs on to the REPORT of `s` (which must pass), then answers it and runs on to the
    /// next NEXT.
    pub(super) fn report(
        &mut self,
        what: &'static str,
        reply: Reply,
        s: Scenario,
    ) -> Step<GuestReport> {
        let x = self.expect_call(what, reply, Call::Report)?;
        let r = GuestReport::from_regs(&x);
        if r.scenario != s as u64 || r.verdict != Verdict::Pass as u64 {
            return Err(self.fail(
                what,
                Fail::Guest {
                    verdict: r.verdict,
                    detail: r.detail,
                },
            ));
        }
        self.expect_call(what, Reply::hvc([0; 4]), Call::Next)?;
        Ok(r)
    }

    fn exit_count(&mut self) -> u64 {
        self.m.read_run_page().exit_count
    }

    /// A measured loop of VCPU_RUNs, each ending in an exit with reason `reason`.
    fn run_loop(
        &mut self,
        what: &'static str,
        reason: ExitReason,
        data: u64,
        n: u64,
    ) -> Step<(PerOp, Option<PerOp>)> {
        let r = self.vcpu_run();
        let l = CallLoop {
            call: [r[0], r[1], r[2]],
            expect: [0, reason as u64],
            data,
            n,
        };
        let before = self.exit_count();
        let (per_op, el2, _) = match loop_figure(self.m, &l) {
            Ok(f) => f,
            Err(e) => return Err(self.fail(what, e)),
        };
        let exits = self.exit_count().wrapping_sub(before);
        if exits != n {
            return Err(self.fail(
                what,
                Fail::Value {
                    what: "run page exit_count growth over the loop",
                    got: exits,
                    want: n,
                },
            ));
        }
        Ok((per_op, el2))
    }

    /// VCPU_RUN round trips, each ending in the guest's next PING (HVC exit).
    fn ping(&mut self, n: u64) -> Step<()> {
        let what = "vcpu-run-hvc-exit";
        let first = Reply::hvc([Scenario::BenchPing as u64, n + 1, 0, 0]);
        match self.resume(what, first)? {
            (Exit::Hvc(x), _) if x[0] == Call::Ping as u64 => {}
            (other, _) => return Err(self.fail(what, Fail::UnexpectedExit(other))),
        }
        let (per_op, el2) = self.run_loop(what, ExitReason::Hvc, 0, n)?;
        let r = self.report(what, Reply::COMPLETE, Scenario::BenchPing)?;
        self.value(what, "PINGs the guest made", r.detail[0], n + 1)?;
        self.out.metric_el2(what, per_op, el2);
        Ok(())
    }

    /// MEMSLOT_SET of the replay slot over `ipa` (the replay page, read-only).
    fn replay_slot(&self, ipa: Ipa) -> [u64; 7] {
        let req = SlotRequest {
            slot: SLOT_REPLAY,
            ipa,
            pa: self.g.block.base.0 + self.g.layout.replay_backing(),
            size: PAGE,
            word: word(SlotKind::Ram, PERM_READ, 0),
        };
        Request::memslot_set(self.g.vm, &req).regs()
    }

    fn memslot_clear(&self) -> [u64; 7] {
        Request::new(
            stile_abi::Function::MemslotClear,
            [self.g.vm, SLOT_REPLAY, 0, 0, 0, 0],
        )
        .regs()
    }

    /// One call (or the bracket alone) bracketed by counter reads after a dither: x0..x3,
    /// ticks, EL2 instructions.
    fn timed(&mut self, call: Option<[u64; 7]>) -> ([u64; 4], u64, u64) {
        let k = self.dither.next_phase();
        let e0 = self.m.el2_instructions();
        let (x, t) = self.m.timed_call(call, k);
        let e1 = self.m.el2_instructions();
        let el2 = match (e0, e1) {
            (Some(a), Some(b)) => b.wrapping_sub(a),
            _ => 0,
        };
        (x, t, el2)
    }

    /// Whether the last exit is the MEMORY_FAULT (NO_SLOT) of a load from `ipa`.
    fn no_slot_fault_at(exit: &Exit, ipa: Ipa) -> bool {
        matches!(*exit, Exit::MemoryFault { ipa: at, reason, .. }
            if at == ipa && reason == Reason::NoSlot as u64)
    }

    /// The guest loads from two IPAs in turn, neither in a slot: each load exits
    /// MEMORY_FAULT (NO_SLOT); the VMM drops the slot it set for the other IPA
    /// (MEMSLOT_CLEAR) and sets one over this one (MEMSLOT_SET, 4 KiB), and VCPU_RUN replays
    /// the load (which Stile then maps on the fault it takes). Each call is timed on its
    /// own, the bracket dithered so the counter's 16-instruction steps average out.
    fn replay(&mut self, n: u64) -> Step<()> {
        let what = "memory-fault-slot-replay";
        let ipas = REPLAY_IPAS;
        let pairs = n / 2 + 1;
        let first = Reply::hvc([Scenario::BenchReplay as u64, ipas[0].0, ipas[1].0, pairs]);
        let (exit, _) = self.resume(what, first)?;
        if !Self::no_slot_fault_at(&exit, ipas[0]) {
            return Err(self.fail(what, Fail::UnexpectedExit(exit)));
        }
        let set = self.replay_slot(ipas[0]);
        if let Err(r) = calls::decode(self.m.call(set)) {
            return Err(self.fail(what, refused("MEMSLOT_SET")(r)));
        }
        let (mut replay, mut clear, mut empty) =
            (Tally::default(), Tally::default(), Tally::default());
        let mut next = 1;
        for _ in 0..n {
            let (x, t, e) = self.timed(Some(self.vcpu_run()));
            replay.add(t, e);
            let exit = decode(&self.m.read_run_page());
            if x[..2] != [0, ExitReason::MemoryFault as u64]
                || !Self::no_slot_fault_at(&exit, ipas[next])
            {
                return Err(self.fail(what, Fail::UnexpectedExit(exit)));
            }
            let (x, t, e) = self.timed(Some(self.memslot_clear()));
            clear.add(t, e);
            if let Err(r) = calls::decode(x) {
                return Err(self.fail("memslot-clear", refused("MEMSLOT_CLEAR")(r)));
            }
            let (x, t, e) = self.timed(Some(self.replay_slot(ipas[next])));
            replay.add(t, e);
            if let Err(r) = calls::decode(x) {
                return Err(self.fail(what, refused("MEMSLOT_SET")(r)));
            }
            let (_, t, _) = self.timed(None);
            empty.add(t, 0);
            next ^= 1;
        }
        // The guest's remaining loads, untimed, up to its REPORT.
        loop {
            match self.resume(what, Reply::COMPLETE)? {
                (exit, _) if Self::no_slot_fault_at(&exit, ipas[next]) => {
                    for call in [self.memslot_clear(), self.replay_slot(ipas[next])] {
                        if let Err(r) = calls::decode(self.m.call(call)) {
                            return Err(self.fail(what, refused("MEMSLOT_SET/CLEAR")(r)));
                        }
                    }
                    next ^= 1;
                }
                (Exit::Hvc(x), _) if x[0] == Call::Report as u64 => {
                    let r = GuestReport::from_regs(&x);
                    if r.verdict != Verdict::Pass as u64 {
                        let (verdict, detail) = (r.verdict, r.detail);
                        return Err(self.fail(what, Fail::Guest { verdict, detail }));
                    }
                    break;
                }
                (other, _) => return Err(self.fail(what, Fail::UnexpectedExit(other))),
            }
        }
        self.expect_call(what, Reply::hvc([0; 4]), Call::Next)?;
        let el2 = |t: &Tally| Some(PerOp::of(t.el2.into(), n));
        let replay_ticks = i128::from(replay.ticks) - 2 * i128::from(empty.ticks);
        self.out.metric_el2(
            what,
            PerOp::of(measure::instructions(replay_ticks), n),
            el2(&replay),
        );
        let clear_ticks = i128::from(clear.ticks) - i128::from(empty.ticks);
        self.out.metric_el2(
            "memslot-clear",
            PerOp::of(measure::instructions(clear_ticks), n),
            el2(&clear),
        );
        Ok(())
    }

    /// STATS(vm).x1: stage-2 faults Stile resolved itself.
    fn resolved(&mut self, what: &'static str) -> Step<u64> {
        match calls::stats(self.m, self.g.vm) {
            Ok(s) => Ok(s.resolved),
            Err(r) => Err(self.fail(what, refused("STATS")(r))),
        }
    }

    /// One BenchTouch: `count` fresh addresses `stride` apart, each a stage-2 fault Stile
    /// maps by itself (no exit). Returns the guest's two passes and EL2's instructions:
    /// (fresh ticks, again ticks, EL2 in this run, EL2 in the same run again). A guest cannot
    /// read the PMU (MDCR_EL2.TPM, docs/ISOLATION.md), so EL2's share is counted here, around
    /// VCPU_RUN: the run is made twice, the second time over pages already mapped, and the
    /// difference is the faults alone (entry, exit and the guest's passes cancel out).
    fn touch(&mut self, what: &'static str, first: Ipa, stride: u64, count: u64) -> Step<[u64; 4]> {
        let before = self.resolved(what)?;
        let ask = Reply::hvc([Scenario::BenchTouch as u64, first.0, stride, count]);
        let e0 = self.m.el2_instructions();
        let r = self.report(what, ask, Scenario::BenchTouch)?;
        let e1 = self.m.el2_instructions();
        let resolved = self.resolved(what)?.wrapping_sub(before);
        self.value(what, "faults resolved in EL2 (STATS x1)", resolved, count)?;
        let e2 = self.m.el2_instructions();
        self.report(what, ask, Scenario::BenchTouch)?;
        let e3 = self.m.el2_instructions();
        let run = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => b.wrapping_sub(a),
            _ => 0,
        };
        let d = r.detail;
        Ok([d[0], d[1], run(e0, e1), run(e2, e3)])
    }

    fn lazy_4k(&mut self) -> Step<()> {
        let what = "lazy-map-4k";
        let pages = self.g.layout.pages_4k;
        let [fresh, again, e_fresh, e_again] = self.touch(what, LAZY_4K_IPA, PAGE, pages)?;
        let el2 = PerOp::of(i128::from(e_fresh) - i128::from(e_again), pages);
        self.out
            .metric_el2(what, PerOp::from_ticks(fresh, again, pages), Some(el2));
        Ok(())
    }

    /// Rounds of `blocks_2m` fresh blocks; between rounds MEMSLOT_SET re-arms the slot (a
    /// slot set again loses its mappings), outside the guest's timing.
    fn lazy_2m(&mut self) -> Step<()> {
        let what = "lazy-map-2m";
        let l = self.g.layout;
        let mut sum = [0u64; 4];
        for round in 0..l.rounds_2m {
            if round > 0 {
                let req = SlotRequest {
                    slot: SLOT_2M,
                    ipa: LAZY_2M_IPA,
                    pa: self.g.block.base.0 + l.lazy_2m_backing,
                    size: l.blocks_2m * BLOCK,
                    word: word(SlotKind::Ram, RW, 0),
                };
                if let Err(r) = calls::memslot_set(self.m, self.g.vm, &req) {
                    return Err(self.fail(what, refused("MEMSLOT_SET")(r)));
                }
            }
            let d = self.touch(what, LAZY_2M_IPA, BLOCK, l.blocks_2m)?;
            for (s, v) in sum.iter_mut().zip(d) {
                *s += v;
            }
        }
        let touches = l.touches_2m();
        let el2 = PerOp::of(i128::from(sum[2]) - i128::from(sum[3]), touches);
        self.out
            .metric_el2(what, PerOp::from_ticks(sum[0], sum[1], touches), Some(el2));
        Ok(())
    }
}
