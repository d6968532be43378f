//! PSCI over SMC, which Stile traps and relays: VERSION works, CPU_ON of a CPU the machine
//! does not have is refused (CPU_ON that works is the SMP check's, `smp`).

use crate::facts::Facts;
use crate::fail::Fail;
use crate::machine::Machine;
use crate::psci::{ret32, CPU_ON, INVALID_PARAMETERS, VERSION};
use crate::report::Report;
use core::fmt;

const PSCI_1_0: u64 = 0x1_0000;
/// Aff1 = 0xff: no qemu-virt (or board) this payload runs on has such a CPU.
const NO_SUCH_CPU: u64 = 0xff00;

pub(super) fn run<W: fmt::Write>(m: &mut impl Machine, facts: &Facts, report: &mut Report<W>) {
    report.check("host-psci-version", version(m));
    report.check("host-psci-cpu-on-no-such-cpu", cpu_on(m, facts));
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

/// A CPU that does not exist cannot be started: INVALID_PARAMETERS (PSCI), and we are still
/// here (the entry point is a `wfe` loop, in case it were started anyway).
fn cpu_on(m: &mut impl Machine, facts: &Facts) -> Result<(), Fail> {
    let x0 = m.smc([CPU_ON, NO_SUCH_CPU, facts.park_entry, 0])[0];
    if ret32(x0) == INVALID_PARAMETERS {
        Ok(())
    } else {
        Err(Fail::NotRefused {
            what: "CPU_ON of MPIDR 0xff00",
            x0,
        })
    }
}
