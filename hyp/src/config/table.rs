//! The boot report's region table: one line per region, so a user can see at a glance what
//! the host got and with which stage-2 memory type.
//!
//! The memory-type column comes from the caller (`mm::s2_attrs::describe(kind, fwb)` in the
//! boot code): `mm::s2_attrs` is the one place that knows MemAttr encodings.

use super::boot_check::{Accepted, Refused, RegionCheck};
use crate::mm::kind::{MemoryKind, Perms};
use core::fmt;

/// One line of the table (no `stile: ` prefix, no newline):
///
/// ```text
/// host-ram  ram               rwx  Normal-WB (forced by FWB) [0x40000000..0x40200000) [0x40a00000..0x7b000000)
/// aperture  cacheable-device  rw-  Normal-WB (forced by FWB) [0x7c000000..0x80000000) exec dropped (NO_DIC)
/// fb-nc     device-nc         rw-  refused (OUTSIDE_RAM)     [0x7b000000..0x7c000000)
/// ```
///
/// Accepted regions show the ranges actually mapped and the permissions they get; refused
/// ones their declared range and permissions.
pub struct RegionLine<'a> {
    entry: Entry<'a>,
    name_width: usize,
    type_width: usize,
}

enum Entry<'a> {
    Accepted(&'a Accepted, &'static str),
    Refused(&'a Refused),
}

/// The table for `check`: accepted regions first, then refused ones, columns aligned.
/// `describe` names the stage-2 memory type a kind gets on this CPU.
pub fn region_table<'a, D>(check: &'a RegionCheck, describe: D) -> RegionTable<'a, D>
where
    D: Fn(MemoryKind) -> &'static str,
{
    let mut table = RegionTable {
        check,
        describe,
        next: 0,
        name_width: 0,
        type_width: 0,
    };
    for i in 0..table.len() {
        if let Some(entry) = table.entry(i) {
            table.name_width = table.name_width.max(entry.name().len());
            table.type_width = table.type_width.max(entry.type_len());
        }
    }
    table
}

/// The iterator [`region_table`] returns.
pub struct RegionTable<'a, D> {
    check: &'a RegionCheck,
    describe: D,
    next: usize,
    name_width: usize,
    type_width: usize,
}

impl<'a, D: Fn(MemoryKind) -> &'static str> RegionTable<'a, D> {
    fn len(&self) -> usize {
        self.check.accepted.len() + self.check.refused.len()
    }

    fn entry(&self, i: usize) -> Option<Entry<'a>> {
        let accepted = self.check.accepted.len();
        match self.check.accepted.get(i) {
            Some(a) => Some(Entry::Accepted(a, (self.describe)(a.region.kind))),
            None => self.check.refused.get(i - accepted).map(Entry::Refused),
        }
    }
}

impl<'a, D: Fn(MemoryKind) -> &'static str> Iterator for RegionTable<'a, D> {
    type Item = RegionLine<'a>;

    fn next(&mut self) -> Option<RegionLine<'a>> {
        let entry = self.entry(self.next)?;
        self.next += 1;
        Some(RegionLine {
            entry,
            name_width: self.name_width,
            type_width: self.type_width,
        })
    }
}

impl Entry<'_> {
    fn name(&self) -> &str {
        match self {
            Entry::Accepted(a, _) => a.region.name,
            Entry::Refused(r) => r.region.name,
        }
    }

    fn type_len(&self) -> usize {
        match self {
            Entry::Accepted(_, attr) => attr.len(),
            Entry::Refused(r) => "refused ()".len() + r.reason.name().len(),
        }
    }
}

impl fmt::Display for RegionLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (region, perms) = match self.entry {
            Entry::Accepted(a, _) => (&a.region, a.perms),
            Entry::Refused(r) => (&r.region, r.region.perms),
        };
        write!(
            f,
            "{:<nw$}  {:<kw$}  {}  ",
            region.name,
            region.kind.name(),
            PermsText(perms),
            nw = self.name_width,
            kw = KIND_WIDTH,
        )?;
        match self.entry {
            Entry::Accepted(a, attr) => {
                write!(f, "{attr:<w$}", w = self.type_width)?;
                for r in a.ranges.iter() {
                    write!(f, " {r}")?;
                }
                if let Some(reason) = a.exec_dropped {
                    write!(f, " exec dropped ({reason})")?;
                }
                if a.pieces_dropped {
                    f.write_str(" (some pieces dropped: too many holes)")?;
                }
                Ok(())
            }
            Entry::Refused(r) => {
                let text_len = self.entry.type_len();
                write!(f, "refused ({})", r.reason)?;
                write!(
                    f,
                    "{:w$} {}",
                    "",
                    r.region.range,
                    w = self.type_width - text_len
                )
            }
        }
    }
}

/// The longest kind name ("cacheable-device").
const KIND_WIDTH: usize = {
    let mut width = 0;
    let mut i = 0;
    while i < MemoryKind::ALL.len() {
        let len = MemoryKind::ALL[i].name().len();
        if len > width {
            width = len;
        }
        i += 1;
    }
    width
};

/// `rwx`, `rw-`, `r--`: the spelling regions.toml uses.
struct PermsText(Perms);

impl fmt::Display for PermsText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bit = |on: bool, c: char| if on { c } else { '-' };
        write!(
            f,
            "{}{}{}",
            bit(self.0.read, 'r'),
            bit(self.0.write, 'w'),
            bit(self.0.exec, 'x')
        )
    }
}
