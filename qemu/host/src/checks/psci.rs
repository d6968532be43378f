//! PSCI over SMC, which Stile traps and relays: VERSION works, CPU_ON is refused.

use crate::facts::Facts;
use crate::fail::Fail;
use crate::machine::Machine;
use crate::psci::{ret32, CPU_ON, VERSION};
use crate::report::Report;
use core::fmt;

const PSCI_1_0: u64 = 0x1_0000;
/// A secondary CPU on every multi-CPU qemu-virt.
const CPU_ON_TARGET: u64 = 1;

pub(super) fn run<W: fmt::Write>(m: &mut impl Machine, facts: &Facts, report: &mut Report<W>) {
    report.check("host-psci-version", version(m));
    report.check("host-psci-cpu-on-refused", cpu_on(m, facts));
}

fn version(m: &mut impl Machine) -> Result<(), Fail> {
    let ret = ret32(m.smc([VERSION, 0, 0, 0])[0]);
    if ret < 0 {
        return Err(Fail::PsciError {
            what: "PSCI_VERSION",
            ret,
        });
    }
    let got = ret as u64;
    if got < PSCI_1_0 {
        return Err(Fail::Below {
            what: "PSCI version",
            got,
            min: PSCI_1_0,
        });
    }
    Ok(())
}

/// Stile does not start host CPUs (yet): any negative PSCI error, and we are still here.
fn cpu_on(m: &mut impl Machine, facts: &Facts) -> Result<(), Fail> {
    let x0 = m.smc([CPU_ON, CPU_ON_TARGET, facts.park_entry, 0])[0];
    if ret32(x0) < 0 {
        Ok(())
    } else {
        Err(Fail::NotRefused {
            what: "CPU_ON of MPIDR 1",
            x0,
        })
    }
}
