//! The guest's life: say hello, run what NEXT hands out and REPORT each, power off.

use crate::access::Store;
use crate::cpu::Cpu;
use crate::device::Register;
use crate::ipa::Ipa;
use crate::layout;
use crate::protocol::{Call, Report, Scenario, Verdict, PSCI_SYSTEM_OFF};
use crate::scenarios;
use core::fmt::{self, Write};

/// More NEXT answers than any plan has: a VMM that never says Done does not keep the guest
/// forever.
const MAX_SCENARIOS: u32 = 1000;

/// The test device's console register, as `core::fmt::Write`: one 1-byte store per
/// character (each an MMIO exit the VMM assembles into `guest: ...` lines).
pub struct Console<'a, C: Cpu>(pub &'a mut C);

impl<C: Cpu> Write for Console<'_, C> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let at = layout::DEVICE.base.add(Register::Console.offset());
        for b in s.bytes() {
            if self.0.store(Store::B, at, u64::from(b)).is_some() {
                return Err(fmt::Error);
            }
        }
        Ok(())
    }
}

fn call(cpu: &mut impl Cpu, c: Call, args: [u64; 7]) -> [u64; 4] {
    let a = args;
    cpu.hvc([c as u64, a[0], a[1], a[2], a[3], a[4], a[5], a[6]])
}

/// Runs the guest from entry (`x0` as the VMM passed it, `entry` where the image runs) to
/// its PSCI SYSTEM_OFF, which returns only if Stile lets it.
pub fn main(cpu: &mut impl Cpu, x0: u64, entry: Ipa) {
    let _ = writeln!(
        Console(cpu),
        "stile-guest {} at EL1, MMU off: entry {entry}, x0 {x0:#x}",
        env!("CARGO_PKG_VERSION")
    );
    call(cpu, Call::Hello, [x0, entry.0, 0, 0, 0, 0, 0]);
    let mut ran = 0u32;
    while ran < MAX_SCENARIOS {
        let next = call(cpu, Call::Next, [0; 7]);
        let report = match Scenario::from_u64(next[0]) {
            Some(Scenario::Done) => break,
            Some(s) => scenarios::run(cpu, s, [next[1], next[2], next[3]]),
            None => Report {
                scenario: next[0],
                verdict: Verdict::UnknownScenario as u64,
                detail: [0; 5],
            },
        };
        cpu.hvc(report.to_regs());
        ran += 1;
    }
    let _ = writeln!(Console(cpu), "{ran} scenarios reported; PSCI SYSTEM_OFF");
    cpu.hvc([PSCI_SYSTEM_OFF, 0, 0, 0, 0, 0, 0, 0]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Load, LOAD_PRESET};
    use crate::cpu::{Abort, Loaded, LoadedPair};
    use std::string::String;
    use std::vec::Vec;

    /// Records HVCs and console bytes; NEXT hands out `plan`, then Done.
    struct Recorder {
        calls: Vec<u64>,
        console: String,
        plan: Vec<[u64; 4]>,
    }

    impl Cpu for Recorder {
        fn hvc(&mut self, x: [u64; 8]) -> [u64; 4] {
            self.calls.push(x[0]);
            if x[0] == Call::Next as u64 && !self.plan.is_empty() {
                return self.plan.remove(0);
            }
            [0; 4]
        }

        fn load(&mut self, _: Load, _: Ipa) -> Loaded {
            Loaded {
                value: LOAD_PRESET,
                abort: None,
            }
        }

        fn store(&mut self, _: Store, _: Ipa, value: u64) -> Option<Abort> {
            self.console.push(value as u8 as char);
            None
        }

        fn load_pair(&mut self, _: Ipa) -> LoadedPair {
            LoadedPair {
                first: LOAD_PRESET,
                second: LOAD_PRESET,
                abort: None,
            }
        }
    }

    #[test]
    fn hello_then_next_and_report_until_done_then_system_off() {
        let mut cpu = Recorder {
            calls: Vec::new(),
            console: String::new(),
            plan: std::vec![[Scenario::HvcEcho as u64, 0, 0, 0], [99, 0, 0, 0]],
        };
        main(&mut cpu, 0x1234, Ipa(0x8008_0000));
        let hello = Call::Hello as u64;
        let next = Call::Next as u64;
        let report = Call::Report as u64;
        let echo = Call::Echo as u64;
        assert_eq!(
            cpu.calls,
            [
                hello,
                next,
                echo,
                report,
                next,
                report,
                next,
                PSCI_SYSTEM_OFF
            ]
        );
        assert!(cpu
            .console
            .starts_with("stile-guest 0.1.0 at EL1, MMU off: entry 0x80080000, x0 0x1234\n"));
        assert!(cpu
            .console
            .ends_with("2 scenarios reported; PSCI SYSTEM_OFF\n"));
    }
}
