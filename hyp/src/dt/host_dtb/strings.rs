//! The host DTB's strings block: the original block verbatim (so every copied property
//! keeps its `nameoff`), then the names the edits need that it lacks.
//!
//! Which names get appended is a pure function of the edits, so each name's offset can be
//! computed when a property is written, before the strings block is, with no table in
//! memory: a name already in the original block is pointed at there, a new one at its
//! place in the appended list.

use super::{HostDtbEdits, HostDtbError};

/// Names a carve-out may need: its own `reg` and `no-map`, and a new or completed
/// /reserved-memory's cells and `ranges`.
const CARVE_OUT_NAMES: [&str; 5] = ["reg", "no-map", "#address-cells", "#size-cells", "ranges"];

/// Names the added `/psci` node needs.
const PSCI_NAMES: [&str; 2] = ["compatible", "method"];

#[derive(Clone, Copy)]
pub(super) struct Strings<'a> {
    original: &'a [u8],
    edits: &'a HostDtbEdits<'a>,
}

impl<'a> Strings<'a> {
    pub fn new(original: &'a [u8], edits: &'a HostDtbEdits<'a>) -> Strings<'a> {
        Strings { original, edits }
    }

    /// Every name the edits may write, in a fixed order (repeats possible).
    fn planned(&self) -> impl Iterator<Item = &'a str> + 'a {
        let carve: &'static [&'static str] = if self.edits.carve_outs.is_empty() {
            &[]
        } else {
            &CARVE_OUT_NAMES
        };
        let bootargs = self.edits.bootargs.map(|_| "bootargs");
        let extra = self.edits.extra_chosen.iter().map(|(name, _)| *name);
        let enable = self.edits.spin_table_to_psci.then_some("enable-method");
        let psci: &'static [&'static str] = if self.edits.add_psci_hvc {
            &PSCI_NAMES
        } else {
            &[]
        };
        carve
            .iter()
            .copied()
            .chain(bootargs)
            .chain(extra)
            .chain(enable)
            .chain(psci.iter().copied())
    }

    /// Offset of `name` NUL-terminated anywhere in the original block. A match inside a
    /// longer string is fine: a reader stops at the same NUL (dtc shares suffixes so too).
    fn find(&self, name: &str) -> Option<usize> {
        let name = name.as_bytes();
        self.original
            .windows(name.len() + 1)
            .position(|w| w.ends_with(&[0]) && w.starts_with(name))
    }

    /// The names appended after the original block, each once, in planned order.
    fn appended(&self) -> impl Iterator<Item = &'a str> + 'a {
        let this = *self;
        self.planned()
            .enumerate()
            .filter(move |&(i, name)| {
                this.find(name).is_none() && !this.planned().take(i).any(|p| p == name)
            })
            .map(|(_, name)| name)
    }

    /// `nameoff` for `name`. Names outside the plan would land past the appended list;
    /// callers only ask for planned ones.
    pub fn offset(&self, name: &str) -> Result<u32, HostDtbError> {
        let off = match self.find(name) {
            Some(off) => off,
            None => {
                let mut off = self.original.len();
                for appended in self.appended() {
                    if appended == name {
                        break;
                    }
                    off += appended.len() + 1;
                }
                off
            }
        };
        u32::try_from(off).map_err(|_| HostDtbError::TooLarge)
    }

    /// Writes the whole block: original bytes, then each appended name and its NUL.
    pub fn write(&self, out: &mut super::out::Out<'_>) -> Result<(), HostDtbError> {
        out.bytes(self.original)?;
        for name in self.appended() {
            out.bytes(name.as_bytes())?;
            out.bytes(&[0])?;
        }
        Ok(())
    }
}
