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
