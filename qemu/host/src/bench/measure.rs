//! The arithmetic of the bench: counter ticks to instructions, and instructions per
//! operation with one decimal.
//!
//! Under QEMU's `-icount shift=0` one instruction (at any EL) is 1 ns of virtual time. QEMU
//! 7.2's virt runs CNTVCT_EL0 at 62.5 MHz (one tick is 16 instructions); from QEMU 9 on its
//! virt machine runs it at 1 GHz (one tick, one instruction): the rate is read from
//! CNTFRQ_EL0 ([`set_counter_hz`]).

use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};

/// Instructions per CNTVCT_EL0 tick under `-icount shift=0` with QEMU 7.2's 62.5 MHz counter,
/// until [`set_counter_hz`] says otherwise.
pub const INSTRUCTIONS_PER_TICK: i128 = 16;

static PER_TICK: AtomicU32 = AtomicU32::new(INSTRUCTIONS_PER_TICK as u32);

/// Takes the counter's rate (CNTFRQ_EL0): a whole number of nanoseconds per tick (1 GHz or
/// an exact divisor of it) sets the instructions per tick; any other rate is refused
/// (`false`) and the default stays.
pub fn set_counter_hz(hz: u64) -> bool {
    const NS: u64 = 1_000_000_000;
    match u32::try_from(NS / hz.max(1)) {
        Ok(per_tick) if hz != 0 && NS.is_multiple_of(hz) => {
            PER_TICK.store(per_tick, Ordering::Relaxed);
            true
        }
        _ => false,
    }
}

/// Instructions per tick now in use.
pub fn per_tick() -> i128 {
    PER_TICK.load(Ordering::Relaxed).into()
}

/// Instructions in `ticks` ticks (may be negative: a difference of two measurements).
pub fn instructions(ticks: i128) -> i128 {
    ticks * per_tick()
}

/// A figure per operation in tenths of an instruction, rounded to the nearest tenth (halves
/// away from zero). Prints as an integer when the tenths are 0 (`37`), else with one
/// decimal (`37.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PerOp(pub i64);

impl PerOp {
    /// `instructions` spread over `ops` operations (`ops` = 0 counts as 1).
    pub fn of(instructions: i128, ops: u64) -> PerOp {
        let ops = i128::from(ops.max(1));
        let tenths_x2 = instructions * 20;
        let rounded = if tenths_x2 >= 0 {
            (tenths_x2 + ops) / (2 * ops)
        } else {
            -((-tenths_x2 + ops) / (2 * ops))
        };
        PerOp(rounded.clamp(i64::MIN.into(), i64::MAX.into()) as i64)
    }

    /// `(ticks - empty_ticks)` ticks of `ops` operations, per operation: the figure of a
    /// loop whose empty twin (the same loop without the operation) took `empty_ticks`.
    pub fn from_ticks(ticks: u64, empty_ticks: u64, ops: u64) -> PerOp {
        PerOp::of(
            instructions(i128::from(ticks) - i128::from(empty_ticks)),
            ops,
        )
    }

    /// Whole instructions, rounded.
    pub const fn rounded(self) -> i64 {
        let t = self.0;
        if t >= 0 {
            (t + 5) / 10
        } else {
            -((-t + 5) / 10)
        }
    }
}

impl fmt::Display for PerOp {
    /// Honours width and alignment (`{:>15}`), for tables.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        let sign = if self.0 < 0 { "-" } else { "" };
        let t = self.0.unsigned_abs();
        let mut s: heapless::String<32> = heapless::String::new();
        let _ = match t % 10 {
            0 => write!(s, "{sign}{}", t / 10),
            d => write!(s, "{sign}{}.{d}", t / 10),
        };
        f.pad(&s)
    }
}

/// Sums of bracketed measurements (ticks between two counter reads, EL2 instructions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub ticks: u64,
    pub el2: u64,
    pub samples: u64,
}

impl Tally {
    pub fn add(&mut self, ticks: u64, el2: u64) {
        self.ticks += ticks;
        self.el2 += el2;
        self.samples += 1;
    }
}

/// `1g`, `4g`, `512m`: a RAM size as the metric names say it.
pub struct RamLabel(pub u64);

impl fmt::Display for RamLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MIB: u64 = 1 << 20;
        const GIB: u64 = 1 << 30;
        match self.0 {
            b if b >= GIB && b % GIB == 0 => write!(f, "{}g", b / GIB),
            b => write!(f, "{}m", b / MIB),
        }
    }
}

/// A deterministic pseudo-random sequence (PCG's LCG step, the top bits out): the dither
/// of bracketed measurements.
#[derive(Debug, Clone, Copy)]
pub struct Dither(u64);

impl Dither {
    pub const fn new(seed: u64) -> Dither {
        Dither(seed)
    }

    /// The next value in `0..16`.
    pub fn next_phase(&mut self) -> u8 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 60) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_is_sixteen_instructions() {
        assert_eq!(instructions(18_750), 300_000);
        assert_eq!(instructions(-2), -32);
    }

    #[test]
    fn per_op_rounds_to_the_nearest_tenth() {
        assert_eq!(PerOp::of(370_000, 10_000), PerOp(370));
        assert_eq!(PerOp::of(370_400, 10_000), PerOp(370));
        assert_eq!(PerOp::of(370_500, 10_000), PerOp(371));
        assert_eq!(PerOp::of(-370_500, 10_000), PerOp(-371));
        assert_eq!(PerOp::of(5, 0), PerOp(50));
    }

    #[test]
    fn a_loop_minus_its_empty_twin() {
        // 10,000 iterations: 25,000 ticks with the HVC, 6,250 without (10 instructions each).
        let p = PerOp::from_ticks(25_000, 6_250, 10_000);
        assert_eq!(p, PerOp(300));
        assert_eq!(p.to_string(), "30");
        assert_eq!(PerOp::from_ticks(100, 101, 16), PerOp(-10));
    }

    #[test]
    fn prints_integers_plainly_and_fractions_with_one_decimal() {
        assert_eq!(PerOp(370).to_string(), "37");
        assert_eq!(PerOp(375).to_string(), "37.5");
        assert_eq!(PerOp(5).to_string(), "0.5");
        assert_eq!(PerOp(-15).to_string(), "-1.5");
        assert_eq!(PerOp(0).to_string(), "0");
        assert_eq!(format!("[{:>6}]", PerOp(375)), "[  37.5]");
        assert_eq!((PerOp(375).rounded(), PerOp(374).rounded()), (38, 37));
    }

    #[test]
    fn ram_sizes_are_named_like_the_metrics() {
        assert_eq!(RamLabel(1 << 30).to_string(), "1g");
        assert_eq!(RamLabel(4 << 30).to_string(), "4g");
        assert_eq!(RamLabel(512 << 20).to_string(), "512m");
    }

    #[test]
    fn the_dither_is_deterministic_and_covers_every_phase() {
        let mut a = Dither::new(1);
        let mut b = Dither::new(1);
        let mut seen = [0u32; 16];
        for _ in 0..1600 {
            let v = a.next_phase();
            assert_eq!(v, b.next_phase());
            seen[usize::from(v)] += 1;
        }
        assert!(seen.iter().all(|&n| (60..=140).contains(&n)), "{seen:?}");
    }

    #[test]
    fn counter_rates_give_instructions_per_tick() {
        // One test touches the global rate, and puts the default back.
        assert!(set_counter_hz(1_000_000_000));
        assert_eq!(per_tick(), 1);
        assert!(!set_counter_hz(0));
        assert!(!set_counter_hz(24_000_000 * 7));
        assert_eq!(per_tick(), 1, "a refused rate keeps the last one");
        assert!(set_counter_hz(62_500_000));
        assert_eq!(per_tick(), INSTRUCTIONS_PER_TICK);
    }
}
