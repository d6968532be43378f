//! The bench scenarios (`make bench`, docs/PERFORMANCE.md): each is one tight loop of the
//! same trapping instruction, so the VMM can time whatever it does per exit (or, for
//! BenchTouch, the guest times itself: faults Stile resolves inside EL2 never reach the VMM).
//! Arch-free like the other scenarios; the loops themselves are [`Cpu`] methods.

use crate::cpu::Cpu;
use crate::device::Register;
use crate::ipa::{Ipa, IpaRange};
use crate::layout::{self, PAGE};
use crate::protocol::{BenchIrq, Report, Scenario, Verdict, BENCH_READ_PMU};

/// More iterations than any bench asks for: a VMM that asks for more gets BadArgument.
pub const MAX_COUNT: u64 = 1 << 24;

fn report(s: Scenario, v: Verdict, detail: [u64; 5]) -> Report {
    Report::new(s, v, detail)
}

const fn count_ok(count: u64) -> bool {
    count >= 1 && count <= MAX_COUNT
}

/// Runs bench scenario `s` (a `Bench*` one) with NEXT's x1..x3.
pub fn run(cpu: &mut impl Cpu, s: Scenario, args: [u64; 3]) -> Report {
    match s {
        Scenario::BenchPing => ping(cpu, args[0]),
        Scenario::BenchMmio => mmio(cpu, args[0], args[1]),
        Scenario::BenchReplay => replay(cpu, Ipa(args[0]), Ipa(args[1]), args[2]),
        Scenario::BenchTouch => touch(cpu, Ipa(args[0]), args[1], args[2]),
        Scenario::BenchIrq => irq(cpu, args),
        _ => report(s, Verdict::BadArgument, [0; 5]),
    }
}

fn ping(cpu: &mut impl Cpu, count: u64) -> Report {
    let s = Scenario::BenchPing;
    if !count_ok(count) {
        return report(s, Verdict::BadArgument, [count, 0, 0, 0, 0]);
    }
    cpu.ping_loop(count);
    report(s, Verdict::Pass, [count, 0, 0, 0, 0])
}

/// The loads read PATTERN; what they load is whatever the VMM answers (it judges). With
/// `mode` 2, `count` pairs of 8-byte loads: PATTERN, then the same offset in the page after
/// the device (the VMM's slot covers it too), so no two exits in a row are on one page. With
/// `mode` 3, `count` 4-byte loads of the vGIC's GICD_TYPER, which EL2 answers (no exit).
fn mmio(cpu: &mut impl Cpu, count: u64, mode: u64) -> Report {
    let s = Scenario::BenchMmio;
    if !count_ok(count) || mode > 3 {
        return report(s, Verdict::BadArgument, [count, 0, 0, 0, 0]);
    }
    let at = layout::DEVICE.base.add(Register::Pattern.offset());
    let last = match mode {
        2 => cpu.alternate_loop(at, at.add(PAGE), count),
        3 => cpu.mmio_loop(Ipa(layout::VGIC_GICD + GICD_TYPER), count),
        _ => cpu.mmio_loop(at, count),
    };
    report(s, Verdict::Pass, [count, last, 0, 0, 0])
}

/// GICD_TYPER's offset in the distributor frame.
const GICD_TYPER: u64 = 4;

/// Both addresses must end up backed by a page holding [`layout::REPLAY_VALUE`].
fn replay(cpu: &mut impl Cpu, a: Ipa, b: Ipa, count: u64) -> Report {
    let s = Scenario::BenchReplay;
    if !count_ok(count) || !a.is_aligned(8) || !b.is_aligned(8) {
        return report(s, Verdict::BadArgument, [count, 0, 0, 0, 0]);
    }
    let last = cpu.alternate_loop(a, b, count);
    let v = if last == layout::REPLAY_VALUE {
        Verdict::Pass
    } else {
        Verdict::WrongValue
    };
    report(s, v, [count, last, 0, 0, 0])
}

/// Two timed passes over the same addresses: the first takes every stage-2 fault, the
/// second none (its cost is the loop's own, which the VMM subtracts).
fn touch(cpu: &mut impl Cpu, first: Ipa, stride_and_flags: u64, count: u64) -> Report {
    let s = Scenario::BenchTouch;
    let pmu = stride_and_flags & BENCH_READ_PMU != 0;
    let stride = stride_and_flags & !BENCH_READ_PMU;
    let span = stride.checked_mul(count);
    let fits = span.is_some_and(|n| first.0.checked_add(n).is_some());
    if !count_ok(count) || stride == 0 || !stride.is_multiple_of(PAGE) || !fits {
        return report(s, Verdict::BadArgument, [0, 0, 0, 0, count]);
    }
    let range = IpaRange::new(first.0, span.unwrap_or(0));
    if range.overlaps(&layout::RAM) {
        // Our own image is in there: the first pass would not fault where it should.
        return report(s, Verdict::BadArgument, [0, 0, 0, 0, count]);
    }
    let (fresh, fresh_el2) = timed(cpu, pmu, |c| c.touch_loop(first, stride, count));
    let (again, again_el2) = timed(cpu, pmu, |c| c.touch_loop(first, stride, count));
    report(
        s,
        Verdict::Pass,
        [fresh, again, fresh_el2, again_el2, count],
    )
}

/// Interrupts on the vGIC: the loop is the CPU's (it owns the IRQ vector meanwhile).
fn irq(cpu: &mut impl Cpu, args: [u64; 3]) -> Report {
    let s = Scenario::BenchIrq;
    let (kind, count) = (BenchIrq::from_u64(args[0]), args[1]);
    let done = kind
        .filter(|_| count_ok(count))
        .and_then(|k| cpu.bench_irq(k, count, args[2]));
    match done {
        Some(d) => report(s, Verdict::Pass, d),
        None => report(s, Verdict::BadArgument, [args[0], count, 0, 0, 0]),
    }
}

/// Ticks (and EL2 instructions, if `pmu`) around `f`.
fn timed<C: Cpu>(cpu: &mut C, pmu: bool, f: impl FnOnce(&mut C)) -> (u64, u64) {
    let el2 = |c: &mut C| if pmu { c.el2_count() } else { 0 };
    let e0 = el2(cpu);
    let t0 = cpu.ticks();
    f(cpu);
    let t1 = cpu.ticks();
    let e1 = el2(cpu);
    (t1.wrapping_sub(t0), e1.wrapping_sub(e0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Load, Store, LOAD_PRESET};
    use crate::cpu::{Abort, Loaded, LoadedPair};
    use crate::protocol::Call;
    use std::vec::Vec;

    /// Counts what the loops do; the clock advances 1 tick per access, EL2 10 per access.
    #[derive(Default)]
    struct Counting {
        pings: u64,
        loads: Vec<u64>,
        now: u64,
        el2: u64,
    }

    impl Cpu for Counting {
        fn hvc(&mut self, x: [u64; 8]) -> [u64; 4] {
            if x[0] == Call::Ping as u64 {
                self.pings += 1;
            }
            [0; 4]
        }
        fn load(&mut self, _: Load, addr: Ipa) -> Loaded {
            self.loads.push(addr.0);
            self.now += 1;
            self.el2 += 10;
            Loaded {
                value: layout::REPLAY_VALUE,
                abort: None,
            }
        }
        fn store(&mut self, _: Store, _: Ipa, _: u64) -> Option<Abort> {
            None
        }
        fn load_pair(&mut self, _: Ipa) -> LoadedPair {
            LoadedPair {
                first: LOAD_PRESET,
                second: LOAD_PRESET,
                abort: None,
            }
        }
        fn ticks(&mut self) -> u64 {
            self.now
        }
        fn el2_count(&mut self) -> u64 {
            self.el2
        }
    }

    #[test]
    fn ping_and_mmio_loops_run_count_times() {
        let mut cpu = Counting::default();
        let r = run(&mut cpu, Scenario::BenchPing, [7, 0, 0]);
        assert_eq!((r.verdict, r.detail[0], cpu.pings), (0, 7, 7));
        let r = run(&mut cpu, Scenario::BenchMmio, [3, 0, 0]);
        assert_eq!(r.detail[..2], [3, layout::REPLAY_VALUE]);
        assert_eq!(cpu.loads, [0x0900_0010; 3]);
    }

    #[test]
    fn the_two_page_mmio_bench_alternates_pages_and_other_modes_are_refused() {
        let mut cpu = Counting::default();
        let r = run(&mut cpu, Scenario::BenchMmio, [2, 2, 0]);
        assert_eq!((r.verdict, r.detail[0]), (Verdict::Pass as u64, 2));
        assert_eq!(
            cpu.loads,
            [0x0900_0010, 0x0900_1010, 0x0900_0010, 0x0900_1010]
        );
        let r = run(&mut cpu, Scenario::BenchMmio, [2, 4, 0]);
        assert_eq!(r.verdict, Verdict::BadArgument as u64);
    }

    #[test]
    fn the_gicd_bench_reads_the_distributors_typer() {
        let mut cpu = Counting::default();
        let r = run(&mut cpu, Scenario::BenchMmio, [3, 3, 0]);
        assert_eq!((r.verdict, r.detail[0]), (Verdict::Pass as u64, 3));
        assert_eq!(cpu.loads, [0x0800_0004; 3]);
    }

    #[test]
    fn replay_alternates_and_wants_the_replay_value() {
        let mut cpu = Counting::default();
        let r = run(&mut cpu, Scenario::BenchReplay, [0x1000, 0x2000, 2]);
        assert_eq!(r.verdict, Verdict::Pass as u64);
        assert_eq!(cpu.loads, [0x1000, 0x2000, 0x1000, 0x2000]);
    }

    #[test]
    fn touch_times_two_passes_and_reads_the_pmu_only_when_asked() {
        let mut cpu = Counting::default();
        let args = [0x1_0000_0000, 0x1000 | BENCH_READ_PMU, 4];
        let r = run(&mut cpu, Scenario::BenchTouch, args);
        assert_eq!(r.verdict, Verdict::Pass as u64);
        assert_eq!(r.detail, [4, 4, 40, 40, 4]);
        assert_eq!(
            cpu.loads[..4],
            [0x1_0000_0000, 0x1_0000_1000, 0x1_0000_2000, 0x1_0000_3000]
        );
        let r = run(
            &mut cpu,
            Scenario::BenchTouch,
            [0x1_0000_0000, 0x20_0000, 2],
        );
        assert_eq!(r.detail, [2, 2, 0, 0, 2]);
    }

    #[test]
    fn nonsense_is_refused_before_any_access() {
        let mut cpu = Counting::default();
        for (s, args) in [
            (Scenario::BenchPing, [0, 0, 0]),
            (Scenario::BenchMmio, [MAX_COUNT + 1, 0, 0]),
            (Scenario::BenchReplay, [0x1001, 0x2000, 1]),
            (Scenario::BenchTouch, [0x1_0000_0000, 0x800, 1]),
            (Scenario::BenchTouch, [0x1_0000_0000, 0, 1]),
            (Scenario::BenchTouch, [u64::MAX - 0xfff, 0x1000, 2]),
            (Scenario::BenchTouch, [layout::RAM.base.0, 0x1000, 1]),
            (Scenario::BenchIrq, [0, 0, 64]),
            (Scenario::BenchIrq, [3, 1, 64]),
            // A CPU without a GIC (this fake) has nothing to run.
            (Scenario::BenchIrq, [0, 1, 64]),
        ] {
            let r = run(&mut cpu, s, args);
            assert_eq!(r.verdict, Verdict::BadArgument as u64, "{s:?} {args:?}");
        }
        assert!(cpu.loads.is_empty() && cpu.pings == 0);
    }
}
