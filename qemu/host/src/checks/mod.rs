//! The checks, in the order they run and print. Each is a function of the [`Machine`] and the
//! [`Facts`] returning `Result<(), Fail>`; the report prints and counts it.

pub mod bundle;
pub(crate) mod hyp_memory;
mod psci;
mod smccc;
mod translate;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use crate::facts::Facts;
use crate::machine::Machine;
use crate::report::Report;
use core::fmt;

/// Runs every check; the caller prints the summary.
pub fn run_all<W: fmt::Write>(m: &mut impl Machine, facts: &Facts, report: &mut Report<W>) {
    report.check("host-dtb-stile-hyp", hyp_memory::dtb_node(facts));
    smccc::run(m, report);
    translate::run(m, facts, report);
    hyp_memory::run(m, facts, report);
    hyp_memory::gic_frames(m, facts, report);
    psci::run(m, facts, report);
}
