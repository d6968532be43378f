//! Build-time validation: what can be said about a config without the machine in front of
//! us. platform/build.rs runs it on every regions.toml and fails the build on any error.

use super::region::{Region, MAX_REGIONS};
use crate::addr::PhysRange;
use crate::mm::kind::MemoryKind;
use crate::mm::pgtable::PAGE_SIZE;
use core::fmt;

/// One thing wrong with one region. [`ConfigError::reason`] is the short stable text
/// docs/CONFIG.md lists; `Display` adds the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    EmptyName,
    /// Names are how logs and memslots refer to regions, so they must be unique.
    DuplicateName {
        /// Index of the earlier region with that name.
        first: usize,
    },
    /// More than [`MAX_REGIONS`]: the boot-time check has no room for it.
    TooMany,
    ZeroSize,
    /// Stage 2 maps whole 4 KiB pages: an unaligned edge would hand out a neighbour's bytes.
    BaseMisaligned {
        base: u64,
    },
    SizeMisaligned {
        size: u64,
    },
    /// `base + size` does not fit in 64 bits.
    SizeOverflow {
        base: u64,
        size: u64,
    },
    /// `device` and `device-nc` are never executable (docs/ARCHITECTURE.md, "Invariants").
    ExecutableDevice {
        kind: MemoryKind,
    },
    /// Two regions claim the same bytes: which kind would they have?
    Overlap {
        other: &'static str,
        other_range: PhysRange,
    },
}

impl ConfigError {
    pub const fn reason(&self) -> &'static str {
        match self {
            ConfigError::EmptyName => "empty name",
            ConfigError::DuplicateName { .. } => "duplicate name",
            ConfigError::TooMany => "too many regions",
            ConfigError::ZeroSize => "zero size",
            ConfigError::BaseMisaligned { .. } => "base not 4 KiB aligned",
            ConfigError::SizeMisaligned { .. } => "size not a multiple of 4 KiB",
            ConfigError::SizeOverflow { .. } => "base + size wraps",
            ConfigError::ExecutableDevice { .. } => "executable device memory",
            ConfigError::Overlap { .. } => "overlapping regions",
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ConfigError::EmptyName => f.write_str("name is empty"),
            ConfigError::DuplicateName { first } => {
                write!(f, "name is already used by region #{}", first + 1)
            }
            ConfigError::TooMany => write!(f, "more than {MAX_REGIONS} regions (MAX_REGIONS)"),
            ConfigError::ZeroSize => f.write_str("size is 0"),
            ConfigError::BaseMisaligned { base } => {
                write!(f, "base {base:#x} is not 4 KiB aligned")
            }
            ConfigError::SizeMisaligned { size } => {
                write!(f, "size {size:#x} is not a multiple of 4 KiB")
            }
            ConfigError::SizeOverflow { base, size } => write!(
                f,
                "base {base:#x} + size {size:#x} wraps past the top of the address space"
            ),
            ConfigError::ExecutableDevice { kind } => write!(
                f,
                "{} memory is never executable: perms must not contain 'x'",
                kind.name()
            ),
            ConfigError::Overlap { other, other_range } => {
                write!(f, "overlaps region '{other}' {other_range}")
            }
        }
    }
}

/// An error and the region it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionError {
    /// Position in the file, from 0 (shown from 1: `#1` is the first `[[region]]`).
    pub index: usize,
    pub name: &'static str,
    pub error: ConfigError,
}

/// `region 'aperture': base 0x7c000800 is not 4 KiB aligned` (build.rs prefixes the file).
impl fmt::Display for RegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            write!(f, "region #{}: {}", self.index + 1, self.error)
        } else {
            write!(f, "region '{}': {}", self.name, self.error)
        }
    }
}

/// Every error in `regions`, in file order, each reported once (an overlap or a duplicate
/// name is reported on the later of the two regions).
pub fn static_errors(regions: &[Region], mut report: impl FnMut(RegionError)) {
    for (index, region) in regions.iter().enumerate() {
        let mut say = |error| {
            report(RegionError {
                index,
                name: region.name,
                error,
            })
        };
        if index == MAX_REGIONS {
            say(ConfigError::TooMany);
        }
        if region.name.is_empty() {
            say(ConfigError::EmptyName);
        } else if let Some(first) = regions[..index].iter().position(|r| r.name == region.name) {
            say(ConfigError::DuplicateName { first });
        }
        range_errors(region.range, &mut say);
        if region.perms.exec && !region.kind.may_execute() {
            say(ConfigError::ExecutableDevice { kind: region.kind });
        }
        // A broken range has been reported already; comparing it would only add noise.
        if range_is_sound(region.range) {
            let earlier = regions[..index]
                .iter()
                .filter(|r| range_is_sound(r.range))
                .find(|r| r.range.overlaps(&region.range));
            if let Some(other) = earlier {
                say(ConfigError::Overlap {
                    other: other.name,
                    other_range: other.range,
                });
            }
        }
    }
}

/// The first error in `regions`, if any.
pub fn validate(regions: &[Region]) -> Result<(), RegionError> {
    let mut first = None;
    static_errors(regions, |e| {
        first.get_or_insert(e);
    });
    first.map_or(Ok(()), Err)
}

/// What is wrong with a range on its own. A zero size says it all; the others are
/// independent, so each is reported (one build, every fix).
fn range_errors(range: PhysRange, say: &mut impl FnMut(ConfigError)) {
    let (base, size) = (range.base.0, range.size);
    if size == 0 {
        say(ConfigError::ZeroSize);
        return;
    }
    if !range.base.is_aligned(PAGE_SIZE) {
        say(ConfigError::BaseMisaligned { base });
    }
    if size % PAGE_SIZE != 0 {
        say(ConfigError::SizeMisaligned { size });
    }
    if base.checked_add(size).is_none() {
        say(ConfigError::SizeOverflow { base, size });
    }
}

fn range_is_sound(range: PhysRange) -> bool {
    let mut sound = true;
    range_errors(range, &mut |_| sound = false);
    sound
}
