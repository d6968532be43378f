//! PSCI over SMC, which Stile traps and relays: VERSION works, CPU_ON is refused.

use crate::facts::Facts;
use crate::fail::Fail;
use crate::machine::Machine;
use crate::psci::{ret32, CPU_ON, VERSION};
use crate::report::Report;
use core::fmt;

const PSCI_1_0: u64 = 0x1_0000;
const NOT_SUPPORTED: i32 = -1;
/// A secondary CPU on every multi-CPU qemu-virt.
const CPU_ON_TARGET: u64 = 1;

pub(super) fn run<W: fmt::Write>(m: &mut impl Machine, facts: &Facts, report: &mut Report<W>) {
    if facts.psci {
        report.check("host-psci-version", version(m));
    } else {
        report.check("host-psci-version-without-firmware", no_firmware(m));
    }
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

/// With no PSCI in the DT, Stile answers a relayed call NOT_SUPPORTED itself (an SMC with
/// nothing at EL3 would be undefined).
fn no_firmware(m: &mut impl Machine) -> Result<(), Fail> {
    let ret = ret32(m.smc([VERSION, 0, 0, 0])[0]);
    if ret == NOT_SUPPORTED {
        Ok(())
    } else {
        Err(Fail::PsciError {
            what: "PSCI_VERSION without PSCI firmware (want NOT_SUPPORTED)",
            ret,
        })
    }
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
