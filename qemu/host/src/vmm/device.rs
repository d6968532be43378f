//! The test device the VMM emulates for the guest (`stile_guest::device` defines it): answers
//! reads, records writes, and assembles console characters into lines.

use super::exit::Mmio;
use heapless::String;
use stile_guest::device::{mask, read_pattern, Register};
use stile_guest::layout;

/// Longest console line kept; longer ones are printed in pieces.
const LINE: usize = 120;

/// What one access amounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A console character that completed nothing yet.
    Console,
    /// A whole console line (without its newline).
    Line(String<LINE>),
    /// A read answered with `value`.
    Read { reg: Register, value: u64 },
    /// A write of `value` (as the exit carried it).
    Write { reg: Register, value: u64 },
    /// An access to no register (offset into the device page).
    Stray { offset: u64 },
}

#[derive(Debug, Default)]
pub struct TestDevice {
    line: String<LINE>,
    /// COUNTER reads since [`TestDevice::reset_counter`].
    counter: u64,
}

impl TestDevice {
    pub fn new() -> TestDevice {
        TestDevice::default()
    }

    /// COUNTER counts from 0 again (at the start of each scenario).
    pub fn reset_counter(&mut self) {
        self.counter = 0;
    }

    /// COUNTER reads so far.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// Handles one MMIO exit inside the device; returns the value a read loads (0 for a
    /// write) and what happened.
    pub fn access(&mut self, m: &Mmio) -> (u64, Event) {
        let offset = m.ipa.0.wrapping_sub(layout::DEVICE.base.0);
        let Some(reg) = Register::at(offset) else {
            return (0, Event::Stray { offset });
        };
        if m.write {
            let event = match reg {
                Register::Console => self.console(m.data as u8),
                _ => Event::Write { reg, value: m.data },
            };
            return (0, event);
        }
        let value = match reg {
            Register::Pattern | Register::Signed => read_pattern(m.size),
            Register::Counter => {
                let v = self.counter;
                self.counter += 1;
                v & mask(m.size)
            }
            Register::Console | Register::Sink | Register::Pair => 0,
        };
        (value, Event::Read { reg, value })
    }

    fn console(&mut self, b: u8) -> Event {
        if b == b'\n' {
            return Event::Line(core::mem::take(&mut self.line));
        }
        let c = if b.is_ascii_graphic() || b == b' ' {
            b as char
        } else {
            '?'
        };
        if self.line.push(c).is_err() {
            let full = core::mem::take(&mut self.line);
            // Empty after the take: the push cannot fail.
            let _ = self.line.push(c);
            return Event::Line(full);
        }
        Event::Console
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stile_guest::ipa::Ipa;

    fn mmio(offset: u64, write: bool, size: u8, data: u64) -> Mmio {
        Mmio {
            ipa: Ipa(layout::DEVICE.base.0 + offset),
            write,
            size,
            srt: 1,
            flags: u8::from(write),
            data,
        }
    }

    #[test]
    fn pattern_reads_return_the_pattern_of_their_size() {
        let mut d = TestDevice::new();
        for size in [1u8, 2, 4, 8] {
            let off = Register::Pattern.offset();
            assert_eq!(d.access(&mmio(off, false, size, 0)).0, read_pattern(size));
        }
    }

    #[test]
    fn the_counter_counts_reads_and_restarts_per_scenario() {
        let mut d = TestDevice::new();
        let off = Register::Counter.offset();
        for want in 0..3 {
            assert_eq!(d.access(&mmio(off, false, 4, 0)).0, want);
        }
        assert_eq!(d.counter(), 3);
        d.reset_counter();
        assert_eq!(d.access(&mmio(off, false, 4, 0)).0, 0);
    }

    #[test]
    fn console_bytes_become_lines() {
        let mut d = TestDevice::new();
        let off = Register::Console.offset();
        for b in b"hi\x01" {
            assert_eq!(
                d.access(&mmio(off, true, 1, u64::from(*b))).1,
                Event::Console
            );
        }
        let (_, e) = d.access(&mmio(off, true, 1, u64::from(b'\n')));
        assert_eq!(e, Event::Line(String::try_from("hi?").unwrap()));
    }

    #[test]
    fn an_overlong_line_is_cut_not_lost() {
        let mut d = TestDevice::new();
        let off = Register::Console.offset();
        let mut lines = 0;
        for _ in 0..LINE + 5 {
            if let (_, Event::Line(l)) = d.access(&mmio(off, true, 1, u64::from(b'a'))) {
                assert_eq!(l.len(), LINE);
                lines += 1;
            }
        }
        assert_eq!(lines, 1);
    }

    #[test]
    fn writes_and_strays_are_reported_as_such() {
        let mut d = TestDevice::new();
        let sink = Register::Sink.offset();
        assert_eq!(
            d.access(&mmio(sink, true, 2, 0x6b7c)).1,
            Event::Write {
                reg: Register::Sink,
                value: 0x6b7c
            }
        );
        assert_eq!(
            d.access(&mmio(0x808, false, 4, 0)),
            (0, Event::Stray { offset: 0x808 })
        );
    }
}
