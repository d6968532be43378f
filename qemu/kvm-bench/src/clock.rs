//! The generic timer, read from EL0 (Linux sets CNTKCTL_EL1.EL0VCTEN), and how many
//! instructions one CNTVCT tick is under `-icount shift=0` (one instruction per nanosecond):
//! 16 on QEMU 7.2 virt (62.5 MHz counter), 1 on QEMU 9 and later (1 GHz).

use core::arch::asm;

/// Counter frequencies whose tick is a whole number of nanoseconds (QEMU 7.2's 62.5 MHz,
/// QEMU 9+'s 1 GHz, and any other divisor of 1 GHz).
pub fn whole_nanosecond_ticks(freq: u64) -> bool {
    freq != 0 && 1_000_000_000 % freq == 0
}

/// Instructions per CNTVCT tick under `-icount shift=0`: the tick's length in nanoseconds
/// (16 at 62.5 MHz; 16 if the frequency cannot be used, so a broken clock is visible).
pub fn instructions_per_tick() -> u64 {
    let f = frequency();
    if whole_nanosecond_ticks(f) {
        1_000_000_000 / f
    } else {
        16
    }
}

/// CNTVCT_EL0 after an ISB, so that it is not read early.
#[inline(always)]
pub fn ticks() -> u64 {
    let t: u64;
    // SAFETY: reads a timer register Linux lets EL0 read; no memory is touched.
    unsafe { asm!("isb", "mrs {}, cntvct_el0", out(reg) t, options(nomem, nostack)) };
    t
}

pub fn frequency() -> u64 {
    let f: u64;
    // SAFETY: CNTFRQ_EL0 is readable at EL0 whenever the counter is; no memory is touched.
    unsafe { asm!("mrs {}, cntfrq_el0", out(reg) f, options(nomem, nostack)) };
    f
}

/// Instructions in one iteration of [`known_loop`]'s body.
pub const KNOWN_LOOP_BODY: u64 = 16;

/// Runs exactly `iterations * 16` instructions (14 `nop`s, `subs`, `b.ne`; plus two around it)
/// and returns the CNTVCT ticks they took. `iterations` must be at least 1.
pub fn known_loop(iterations: u64) -> u64 {
    let (t0, t1): (u64, u64);
    // SAFETY: pure register arithmetic and timer reads; x9 is declared clobbered.
    unsafe {
        asm!(
            "isb",
            "mrs {t0}, cntvct_el0",
            "2:",
            "nop", "nop", "nop", "nop", "nop", "nop", "nop",
            "nop", "nop", "nop", "nop", "nop", "nop", "nop",
            "subs {n}, {n}, #1",
            "b.ne 2b",
            "isb",
            "mrs {t1}, cntvct_el0",
            t0 = out(reg) t0,
            t1 = out(reg) t1,
            n = inout(reg) iterations => _,
            options(nomem, nostack),
        )
    };
    t1 - t0
}

/// CNTVCT_EL0 read after `k & 15` `nop`s (then an ISB): a read whose phase within the
/// 16-instruction tick the caller dithers, as Stile's host payload dithers its reads
/// (`timed_call` in qemu/host/src/arch/bench.rs: a branch into a 15-`nop` sled).
#[inline(always)]
pub fn dithered_ticks(k: u8) -> u64 {
    let t: u64;
    // SAFETY: the branch lands inside this asm's own sled (k <= 15); registers only.
    unsafe {
        asm!(
            "adr {tmp}, 4f",
            "sub {tmp}, {tmp}, {k}, lsl #2",
            "br {tmp}",
            ".rept 15",
            "nop",
            ".endr",
            "4:",
            "isb",
            "mrs {t}, cntvct_el0",
            k = in(reg) u64::from(k & 15),
            tmp = out(reg) _,
            t = out(reg) t,
            options(nomem, nostack),
        )
    };
    t
}
