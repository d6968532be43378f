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
