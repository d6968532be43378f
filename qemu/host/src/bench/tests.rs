//! The bench end to end against the VMM's fake Stile (with the real guest code on a
//! thread), on a clock that advances a fixed amount per call: every metric line is printed,
//! in order, with the figure the arithmetic must give.

use super::machine::{BenchMachine, CallLoop, LoopEnd};
use super::mode::Mode;
use super::{run, Out};
use crate::machine::{Access, Machine};
use crate::vmm::fake::FakeStile;
use crate::vmm::machine::{HostFields, VmmMachine};
use crate::vmm::tests::{facts, guest_image};
use stile_abi::RunPage;
use stile_hyp::addr::PhysAddr;

/// Ticks each call to Stile takes on the fake clock, and EL2 instructions it counts.
const TICKS_PER_CALL: u64 = 10;
const EL2_PER_CALL: u64 = 5;

/// The fake Stile on a clock: 10 ticks (160 instructions) and 5 EL2 instructions per call.
struct Clocked {
    s: FakeStile,
    now: u64,
    el2: u64,
    /// Reads of the every-EL counter (each counts as one instruction).
    reads: u64,
    pmu: bool,
}

impl Clocked {
    fn new(pmu: bool) -> Clocked {
        Clocked {
            s: FakeStile::new(true),
            now: 0,
            el2: 0,
            reads: 0,
            pmu,
        }
    }
}

impl Machine for Clocked {
    fn hvc(&mut self, r: [u64; 4]) -> [u64; 4] {
        self.call([r[0], r[1], r[2], r[3], 0, 0, 0])
    }
    fn smc(&mut self, r: [u64; 4]) -> [u64; 4] {
        self.s.smc(r)
    }
    unsafe fn read32(&mut self, addr: u64) -> Access {
        // SAFETY: the fake's memory is a map; the caller's contract passes through.
        unsafe { self.s.read32(addr) }
    }
    unsafe fn write32(&mut self, addr: u64, value: u32) -> Access {
        // SAFETY: as for `read32`.
        unsafe { self.s.write32(addr, value) }
    }
}

impl VmmMachine for Clocked {
    fn call(&mut self, x: [u64; 7]) -> [u64; 4] {
        self.now += TICKS_PER_CALL;
        self.el2 += EL2_PER_CALL;
        self.s.call(x)
    }
    fn run_page_pa(&self) -> PhysAddr {
        self.s.run_page_pa()
    }
    fn read_run_page(&mut self) -> RunPage {
        self.s.read_run_page()
    }
    fn write_host_fields(&mut self, f: &HostFields) {
        self.s.write_host_fields(f)
    }
    fn plant_secret(&mut self, value: u64) -> PhysAddr {
        self.s.plant_secret(value)
    }
    unsafe fn write_ram(&mut self, pa: PhysAddr, bytes: &[u8]) {
        // SAFETY: the fake's memory is a map; the caller's contract passes through.
        unsafe { self.s.write_ram(pa, bytes) }
    }
    fn set_fp(&mut self, fp: stile_guest::protocol::FpRegs) {
        self.s.set_fp(fp)
    }
    fn get_fp(&mut self) -> stile_guest::protocol::FpRegs {
        self.s.get_fp()
    }
}

impl BenchMachine for Clocked {
    fn ticks(&mut self) -> u64 {
        self.now
    }
    fn el2_instructions(&mut self) -> Option<u64> {
        self.pmu.then_some(self.el2)
    }
    fn all_instructions(&mut self) -> Option<u64> {
        self.reads += 1;
        self.pmu.then_some(self.now * 16 + self.reads)
    }
    fn call_loop(&mut self, l: &CallLoop, hvc: bool) -> LoopEnd {
        for i in 0..l.n {
            let x = if hvc {
                self.call([l.call[0], l.call[1], l.call[2], 0, 0, 0, 0])
            } else {
                [l.call[0], l.call[1], l.call[2], 0]
            };
            if [x[0], x[1]] != l.expect {
                return LoopEnd {
                    done: i,
                    last: [x[0], x[1]],
                };
            }
            let p = self.read_run_page();
            self.write_host_fields(&HostFields {
                host_action: p.host_action,
                data: l.data,
                hvc: [p.hvc[0], p.hvc[1], p.hvc[2], p.hvc[3]],
            });
        }
        LoopEnd {
            done: l.n,
            last: l.expect,
        }
    }
    fn timed_call(&mut self, call: Option<[u64; 7]>, _dither: u8) -> ([u64; 4], u64) {
        let t0 = self.now;
        let x = call.map_or([0; 4], |c| self.call(c));
        (x, self.now - t0)
    }
}

fn bench(m: &mut Clocked, mode: Mode) -> String {
    let mut out = Out::new(String::new());
    run(m, &facts(true), &guest_image(), mode, 1000, &mut out);
    out.into_inner()
}

fn metrics(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("bench: ")).collect()
}

#[test]
fn every_metric_prints_with_the_figure_the_clock_gives() {
    let out = bench(&mut Clocked::new(true), Mode::Bench { iterations: 3 });
    // One call is 10 ticks = 160 instructions (5 of them at EL2); the empty loops make none.
    // The replay is two calls per fault (VCPU_RUN and MEMSLOT_SET); the fake guest's own
    // clock reads 0, so the lazy maps are 0.
    assert_eq!(
        metrics(&out),
        [
            "bench: boot-to-host-entry-1g 16000",
            "bench: empty-loop 0",
            "bench: null-hypercall 160",
            "bench: null-hypercall.el2 5",
            "bench: get-caps 160",
            "bench: get-caps.el2 5",
            "bench: vcpu-run-hvc-exit 160",
            "bench: vcpu-run-hvc-exit.el2 5",
            "bench: mmio-read-exit 160",
            "bench: mmio-read-exit.el2 5",
            "bench: mmio-read-exit-2pages 160",
            "bench: mmio-read-exit-2pages.el2 5",
            "bench: memory-fault-slot-replay 320",
            "bench: memory-fault-slot-replay.el2 10",
            "bench: memslot-clear 160",
            "bench: memslot-clear.el2 5",
            "bench: lazy-map-4k 0",
            "bench: lazy-map-4k.el2 0",
            "bench: lazy-map-2m 0",
            "bench: lazy-map-2m.el2 0",
        ],
        "{out}"
    );
    assert!(!out.contains("FAIL"), "{out}");
    assert!(
        out.contains("host: bench: done: 11 metrics, 0 failed"),
        "{out}"
    );
    assert!(out.contains("guest: stile-guest 0.1.0 at EL1"), "{out}");
}

#[test]
fn without_a_pmu_there_are_no_el2_lines() {
    let out = bench(&mut Clocked::new(false), Mode::Bench { iterations: 2 });
    assert!(metrics(&out).iter().all(|l| !l.contains(".el2")), "{out}");
    assert_eq!(metrics(&out).len(), 11, "{out}");
    assert!(out.contains("host: bench: pmu: no event counters"), "{out}");
}

#[test]
fn lazy_2m_rounds_re_arm_the_slot_between_rounds() {
    // 250 iterations: 2 rounds of 100 fresh blocks (the second round faults again only if
    // re-setting the slot dropped the first round's mappings).
    let out = bench(&mut Clocked::new(true), Mode::Bench { iterations: 250 });
    assert!(!out.contains("FAIL"), "{out}");
    assert!(out.contains("bench: lazy-map-2m 0"), "{out}");
    assert!(out.contains("2 x 100 fresh 2 MiB blocks"), "{out}");
}

#[test]
fn boot_only_prints_the_boot_figure_and_stops() {
    let mut m = Clocked::new(true);
    let out = bench(&mut m, Mode::BootOnly);
    assert_eq!(metrics(&out), ["bench: boot-to-host-entry-1g 16000"]);
    assert_eq!(m.now, 0, "no call made");
}

#[test]
fn a_loop_that_stops_early_is_a_failure_with_the_answer() {
    let mut m = Clocked::new(true);
    let l = CallLoop {
        call: [stile_abi::FN_REVISION.into(), 0, 0],
        expect: [0, 2],
        data: 0,
        n: 2,
    };
    // The fake answers REVISION NOT_SUPPORTED.
    let e = super::loop_figure(&mut m, &l).unwrap_err();
    assert_eq!(
        e.to_string(),
        "iteration 1 of 2 answered x0=0xffffffffffffffff x1=0x0, want x0=0x0 x1=0x2"
    );
}

#[test]
fn a_stile_without_guests_fails_the_guest_metrics_only() {
    let mut m = Clocked::new(true);
    m.s.no_guests = true;
    let out = bench(&mut m, Mode::Bench { iterations: 2 });
    assert!(out.contains("bench: null-hypercall 160"), "{out}");
    assert!(out.contains("host: bench: guest-setup: FAIL"), "{out}");
    assert!(!out.contains("bench: vcpu-run-hvc-exit"), "{out}");
}
