//! TRANSLATE at a probe in every oracle region, and where it must be refused.

use crate::compare::compare;
use crate::expect::{expected, Env, Expected};
use crate::facts::Facts;
use crate::fail::Fail;
use crate::machine::Machine;
use crate::oracle::{Probe, Region};
use crate::report::Report;
use crate::translate::{decode, request, Translation};
use core::fmt;
use stile_abi::{Reason, Status};

/// The host's VM id.
const HOST: u64 = 0;
/// A VM id that does not exist.
const NO_SUCH_VM: u64 = 99;
/// Inside the IPA space of every CPU model, in no region.
pub const NO_MAPPING_ADDR: u64 = 0x50_0000_0000;

pub(super) fn run<W: fmt::Write>(m: &mut impl Machine, facts: &Facts, report: &mut Report<W>) {
    let env = Env {
        fwb: facts.fwb,
        dic: facts.dic,
        ram: &facts.ram,
    };
    match facts.machine {
        Some((_, regions)) => {
            for region in regions {
                report.check(
                    format_args!("host-translate-{}", region.name),
                    region_check(m, facts, region, &env),
                );
            }
        }
        None => report.check(
            "host-translate-regions",
            Err(Fail::Missing(
                "no region oracle for this machine's root compatible",
            )),
        ),
    }
    report.check("host-translate-hyp-memory", hyp_memory(m, facts));
    report.check(
        "host-translate-no-mapping",
        refused(m, HOST, NO_MAPPING_ADDR, Status::Denied, Reason::NoMapping),
    );
    report.check(
        "host-translate-no-such-vm",
        refused(
            m,
            NO_SUCH_VM,
            facts.image.base.0,
            Status::InvalidParameters,
            Reason::NoSuchVm,
        ),
    );
    report.check("host-translate-out-of-range", out_of_range(m));
}

fn probe_address(region: &Region, facts: &Facts) -> Result<u64, Fail> {
    match region.probe {
        Probe::Base => Ok(region.base),
        Probe::At(addr) => Ok(addr),
        Probe::PayloadImage if region.contains(facts.image.base.0) => Ok(facts.image.base.0),
        Probe::PayloadImage => Err(Fail::Setup(
            "the payload runs outside the region it probes (Stile placed it there)",
        )),
    }
}

fn region_check(
    m: &mut impl Machine,
    facts: &Facts,
    region: &Region,
    env: &Env<'_>,
) -> Result<(), Fail> {
    let probe = probe_address(region, facts)?;
    let want = expected(region, probe, env);
    let regs = m.hvc(request(HOST, probe));
    compare(&want, &decode(regs), regs).map_err(|mismatch| Fail::Translate { mismatch, regs })
}

fn refused(
    m: &mut impl Machine,
    vm: u64,
    addr: u64,
    status: Status,
    reason: Reason,
) -> Result<(), Fail> {
    let want = Expected::Refused { status, reason };
    let regs = m.hvc(request(vm, addr));
    compare(&want, &decode(regs), regs).map_err(|mismatch| Fail::Translate { mismatch, regs })
}

/// The base of Stile's own memory: never the host's.
fn hyp_memory(m: &mut impl Machine, facts: &Facts) -> Result<(), Fail> {
    let node = facts.stile_hyp.ok_or(Fail::Missing(
        "no /reserved-memory/stile-hyp node in the DTB",
    ))?;
    refused(
        m,
        HOST,
        node.range.base.0,
        Status::Denied,
        Reason::HypMemory,
    )
}

/// An address past any IPA size: any refusal will do, as long as Stile answers.
fn out_of_range(m: &mut impl Machine) -> Result<(), Fail> {
    let regs = m.hvc(request(HOST, u64::MAX));
    match decode(regs) {
        Translation::Refused {
            status: Status::Denied | Status::InvalidParameters,
            ..
        } => Ok(()),
        Translation::Mapped { .. } => Err(Fail::NotRefused {
            what: "TRANSLATE of 0xffffffffffffffff",
            x0: regs[0],
        }),
        Translation::Refused { .. } | Translation::BadStatus(_) => Err(Fail::Status {
            x0: regs[0],
            want: "DENIED or INVALID_PARAMETERS",
        }),
    }
}
