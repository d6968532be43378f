//! `make bench-driver` (docs/PERFORMANCE.md, "Linux userspace VMM"): the guest /mmio-bench.bin
//! times N MMIO reads of the PL011 with CNTVCT and reports them with one HVC; the VMM times
//! each RUN ioctl that ends in an MMIO exit with the same counter. Under `-icount shift=0`
//! QEMU runs one instruction per nanosecond, so a tick is 1e9 / CNTFRQ instructions: the
//! guest's figure is the whole round trip, the VMM's the part inside the ioctl (kernel,
//! driver, EL2 and the guest's load), the difference the VMM's own userspace.

/// The guest's report: x0 of its HVC; x1 = round trips, x2 = CNTVCT ticks they took.
pub const BENCH_REPORT: u64 = 0xC600_BE0C;

/// CNTVCT_EL0 after an ISB (Linux lets EL0 read it); 0 where there is none.
#[inline]
pub fn counter() -> u64 {
    #[cfg(target_arch = "aarch64")]
    {
        let t: u64;
        // SAFETY: reads a system register EL0 may read (CNTKCTL_EL1.EL0VCTEN, set by Linux).
        unsafe {
            core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) t, options(nomem, nostack))
        };
        t
    }
    #[cfg(not(target_arch = "aarch64"))]
    0
}

/// CNTFRQ_EL0; 0 where there is none.
pub fn frequency() -> u64 {
    #[cfg(target_arch = "aarch64")]
    {
        let f: u64;
        // SAFETY: as counter().
        unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) f, options(nomem, nostack)) };
        f
    }
    #[cfg(not(target_arch = "aarch64"))]
    0
}

/// RUN ioctls that ended in an MMIO exit: their ticks and how many.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Spans {
    pub ticks: u64,
    pub runs: u64,
}

/// Instructions per operation, two decimals: `ticks` over `n` operations at `freq` Hz.
fn per_op(ticks: u64, n: u64, freq: u64) -> String {
    if n == 0 || freq == 0 {
        return "?".into();
    }
    // Hundredths of an instruction, in integers: ticks * 1e9 / freq / n.
    let hundredths = (u128::from(ticks) * 100_000_000_000 / u128::from(freq)) / u128::from(n);
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

/// The two `bench:` lines bench-driver.sh reads.
pub fn report(round_trips: u64, guest_ticks: u64, spans: Spans, freq: u64) -> [String; 2] {
    [
        format!(
            "bench: mmio-read-round-trip {} ({round_trips} round trips in {guest_ticks} ticks, CNTFRQ {freq} Hz)",
            per_op(guest_ticks, round_trips, freq)
        ),
        format!(
            "bench: run-ioctl-span {} ({} RUN ioctls ending in MMIO exits, {} ticks); userspace {}",
            per_op(spans.ticks, spans.runs, freq),
            spans.runs,
            spans.ticks,
            per_op(
                guest_ticks.saturating_sub(spans.ticks),
                round_trips,
                freq
            )
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_become_instructions_at_one_per_nanosecond() {
        // QEMU 7.2: 62.5 MHz, 16 instructions a tick.
        let [total, span] = report(
            10_000,
            1_277_746,
            Spans {
                ticks: 1_000_000,
                runs: 10_000,
            },
            62_500_000,
        );
        assert_eq!(
            total,
            "bench: mmio-read-round-trip 2044.39 (10000 round trips in 1277746 ticks, CNTFRQ 62500000 Hz)"
        );
        assert!(
            span.starts_with("bench: run-ioctl-span 1600.00 (10000 RUN ioctls"),
            "{span}"
        );
        assert!(span.ends_with("userspace 444.39"), "{span}");
        assert!(report(0, 5, Spans::default(), 0)[0].contains(" ? "));
    }
}
