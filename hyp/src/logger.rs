//! The `log` facade over the console: every line is `stile: <message>`, errors are
//! `stile: error: <message>` (the boot-log contract in docs/).
//!
//! Before the MMU is on, exclusive-access instructions may not work on the (device-typed)
//! memory, so the console is used without a lock while only the boot CPU runs; `enable_locking`
//! switches to a spin lock once normal memory exists.

use crate::console::Console;
use core::cell::UnsafeCell;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};
use log::{Level, LevelFilter, Log, Metadata, Record};

struct ConsoleCell {
    console: UnsafeCell<Option<Console>>,
    locking: AtomicBool,
    lock: AtomicBool,
}

// SAFETY: access to `console` is serialised by `lock` once `locking` is set; before that only
// the boot CPU runs, with exceptions masked, so there is no concurrent access.
unsafe impl Sync for ConsoleCell {}

static CONSOLE: ConsoleCell = ConsoleCell {
    console: UnsafeCell::new(None),
    locking: AtomicBool::new(false),
    lock: AtomicBool::new(false),
};

static LOGGER: Logger = Logger;

struct Logger;

/// Install the console and the logger. Call once, on the boot CPU, before anything else prints.
pub fn init(console: Console, level: LevelFilter) {
    with_console(|slot| *slot = Some(console));
    // SAFETY: called once on the boot CPU before any other CPU runs or any logging happens,
    // which is the condition `set_logger_racy` needs.
    unsafe {
        let _ = log::set_logger_racy(&LOGGER);
        log::set_max_level_racy(level);
    }
}

/// Switch to locked access; only valid once the MMU maps RAM as normal memory.
pub fn enable_locking() {
    CONSOLE.locking.store(true, Ordering::Release);
}

/// Whether a console is installed.
pub fn has_console() -> bool {
    let mut present = false;
    with_console(|slot| present = slot.is_some());
    present
}

fn with_console(f: impl FnOnce(&mut Option<Console>)) {
    let locking = CONSOLE.locking.load(Ordering::Acquire);
    if locking {
        // Bounded spin: a CPU that died holding the lock must not silence everyone forever.
        let mut spins = 0u32;
        while CONSOLE
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spins += 1;
            if spins > 10_000_000 {
                break;
            }
            core::hint::spin_loop();
        }
    }
    // SAFETY: either we hold the lock, or only one CPU runs (see ConsoleCell's Sync impl), or
    // the lock holder is presumed dead after the bounded spin (output may interleave then).
    f(unsafe { &mut *CONSOLE.console.get() });
    if locking {
        CONSOLE.lock.store(false, Ordering::Release);
    }
}

/// Print without taking the lock: for the fatal-exception path, where the lock may be held by
/// the very code that faulted.
pub fn emergency_print(args: fmt::Arguments) {
    // SAFETY: only used on the way to powering off; interleaving with a half-written line is
    // the lesser evil compared to printing nothing.
    if let Some(c) = unsafe { &mut *CONSOLE.console.get() } {
        let _ = c.write_fmt(args);
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        with_console(|slot| {
            if let Some(c) = slot {
                let _ = match record.level() {
                    Level::Error => writeln!(c, "stile: error: {}", record.args()),
                    Level::Warn => writeln!(c, "stile: warning: {}", record.args()),
                    Level::Info => writeln!(c, "stile: {}", record.args()),
                    Level::Debug | Level::Trace => writeln!(c, "stile: debug: {}", record.args()),
                };
            }
        });
    }

    fn flush(&self) {}
}

/// A budget for lines a caller outside EL2 can make EL2 print (refusals): at most `burst`
/// per `window` ticks. What does not fit is counted, and said: one line when dropping
/// starts, the count before the next line that fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    burst: u32,
    start: u64,
    used: u32,
    dropped: u64,
    started: bool,
}

/// What [`RateLimit::admit`] allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Print the line; `dropped` lines were dropped since the last one printed.
    Log { dropped: u64 },
    /// Drop it; `first`: the first dropped since a line was printed (say so once).
    Drop { first: bool },
}

impl RateLimit {
    pub const fn new(burst: u32) -> RateLimit {
        RateLimit {
            burst,
            start: 0,
            used: 0,
            dropped: 0,
            started: false,
        }
    }

    /// One more line at time `now` (ticks of a counter that runs `window` ticks a window).
    pub fn admit(&mut self, now: u64, window: u64) -> Admit {
        if !self.started || now.wrapping_sub(self.start) >= window {
            self.started = true;
            self.start = now;
            self.used = 0;
        }
        if self.used < self.burst {
            self.used += 1;
            return Admit::Log {
                dropped: core::mem::take(&mut self.dropped),
            };
        }
        self.dropped = self.dropped.saturating_add(1);
        Admit::Drop {
            first: self.dropped == 1,
        }
    }
}

/// Who makes a refusal line: each has its own budget, so a guest cannot hide the host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Host,
    Guest,
}

impl Source {
    const fn name(self) -> &'static str {
        match self {
            Source::Host => "host",
            Source::Guest => "guest",
        }
    }
}

/// Refusal lines per source and second.
pub const REFUSALS_PER_SECOND: u32 = 32;

static REFUSALS: [spin::Mutex<RateLimit>; 2] = [
    spin::Mutex::new(RateLimit::new(REFUSALS_PER_SECOND)),
    spin::Mutex::new(RateLimit::new(REFUSALS_PER_SECOND)),
];

/// Now and ticks per second for the refusal budget: the CPU's counter at EL2; a clock that
/// never moves elsewhere (unit tests, which print nothing anyway).
fn clock() -> (u64, u64) {
    #[cfg(all(target_arch = "aarch64", feature = "el2"))]
    let c = crate::arch::sysreg::counter();
    #[cfg(not(all(target_arch = "aarch64", feature = "el2")))]
    let c = (0, 1);
    c
}

/// Log a refusal `source` caused, within its budget (docs/ISOLATION.md, "Refusal lines"):
/// a host or guest that loops on refused requests cannot keep EL2 printing.
pub fn refusal(source: Source, level: Level, args: fmt::Arguments) {
    let (now, ticks_per_second) = clock();
    let admit = REFUSALS[source as usize]
        .lock()
        .admit(now, ticks_per_second.max(1));
    let who = source.name();
    match admit {
        Admit::Log { dropped } => {
            if dropped > 0 {
                log::warn!("log: {dropped} {who} refusal lines dropped (rate limit)");
            }
            log::log!(level, "{args}");
        }
        Admit::Drop { first: true } => log::warn!(
            "log: more than {REFUSALS_PER_SECOND} {who} refusals a second: dropping lines \
             (rate limit), the count follows"
        ),
        Admit::Drop { first: false } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1000;

    #[test]
    fn a_burst_fits_then_lines_drop_and_the_first_drop_says_so() {
        let mut r = RateLimit::new(3);
        for t in 0..3 {
            assert_eq!(r.admit(t, SECOND), Admit::Log { dropped: 0 });
        }
        assert_eq!(r.admit(3, SECOND), Admit::Drop { first: true });
        for t in 4..100 {
            assert_eq!(r.admit(t, SECOND), Admit::Drop { first: false });
        }
    }

    #[test]
    fn the_next_window_reports_how_many_were_dropped() {
        let mut r = RateLimit::new(2);
        for t in 0..10 {
            r.admit(t, SECOND);
        }
        assert_eq!(r.admit(SECOND, SECOND), Admit::Log { dropped: 8 });
        assert_eq!(r.admit(SECOND + 1, SECOND), Admit::Log { dropped: 0 });
        assert_eq!(r.admit(SECOND + 2, SECOND), Admit::Drop { first: true });
    }

    #[test]
    fn one_window_is_one_window_even_when_the_counter_wraps() {
        let mut r = RateLimit::new(1);
        assert_eq!(r.admit(u64::MAX - 10, SECOND), Admit::Log { dropped: 0 });
        assert_eq!(r.admit(u64::MAX, SECOND), Admit::Drop { first: true });
        // 989 ticks later (wrapped): still the same window.
        assert_eq!(r.admit(978, SECOND), Admit::Drop { first: false });
        assert_eq!(r.admit(990, SECOND), Admit::Log { dropped: 2 });
    }

    #[test]
    fn a_flood_costs_one_line_per_window_beyond_the_burst() {
        let mut r = RateLimit::new(REFUSALS_PER_SECOND);
        let mut printed = 0;
        // 100,000 refusals over 10 seconds.
        for i in 0..100_000u64 {
            match r.admit(i * 10 * SECOND / 100_000, SECOND) {
                Admit::Log { dropped } => printed += 1 + u64::from(dropped > 0),
                Admit::Drop { first } => printed += u64::from(first),
            }
        }
        // Each second: the burst, one "dropping" line, one count (in the next second).
        assert!(
            printed <= 10 * (u64::from(REFUSALS_PER_SECOND) + 2),
            "{printed}"
        );
    }
}
