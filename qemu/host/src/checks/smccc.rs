//! The standard vendor-hypervisor queries and the SMCCC rule for unknown calls.

use crate::fail::Fail;
use crate::machine::Machine;
use crate::report::Report;
use core::fmt;
use stile_abi::{FN_CALL_UID, FN_REVISION, REVISION, UID};

/// An SMC64 fast call in Stile's range that Stile does not implement.
pub const UNKNOWN_FUNCTION: u64 = 0xC600_00FF;
/// SMCCC: NOT_SUPPORTED for an unknown function ID is 0xFFFF_FFFF in w0.
const NOT_SUPPORTED_W0: u64 = 0xFFFF_FFFF;

pub(super) fn run<W: fmt::Write>(m: &mut impl Machine, report: &mut Report<W>) {
    report.check("host-uid", uid(m));
    report.check("host-revision", revision(m));
    report.check("host-unknown-function", unknown_function(m));
}

/// w0..w3 = the UID words. (Both queries are SMC32 calls: results live in w0..w3.)
fn uid(m: &mut impl Machine) -> Result<(), Fail> {
    let got = m.hvc([FN_CALL_UID.into(), 0, 0, 0]);
    const WORD: [&str; 4] = [
        "UID word 0 (w0)",
        "UID word 1 (w1)",
        "UID word 2 (w2)",
        "UID word 3 (w3)",
    ];
    for (i, what) in WORD.into_iter().enumerate() {
        w32(what, got[i], UID[i])?;
    }
    Ok(())
}

fn revision(m: &mut impl Machine) -> Result<(), Fail> {
    let got = m.hvc([FN_REVISION.into(), 0, 0, 0]);
    w32("major (w0)", got[0], REVISION.0)?;
    w32("minor (w1)", got[1], REVISION.1)
}

fn unknown_function(m: &mut impl Machine) -> Result<(), Fail> {
    let got = m.hvc([UNKNOWN_FUNCTION, 0, 0, 0]);
    w32("w0", got[0], NOT_SUPPORTED_W0 as u32)
}

fn w32(what: &'static str, x: u64, want: u32) -> Result<(), Fail> {
    let got = x & 0xFFFF_FFFF;
    if got == u64::from(want) {
        Ok(())
    } else {
        Err(Fail::Value {
            what,
            got,
            want: want.into(),
        })
    }
}
