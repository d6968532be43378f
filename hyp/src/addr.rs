//! Address newtypes: a function that wants a physical address cannot be handed an IPA.

use core::fmt;

/// A physical address as the CPU's memory system sees it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PhysAddr(pub u64);

impl PhysAddr {
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// `self + bytes`, or `None` on overflow (DT-derived sizes may be garbage).
    pub const fn checked_add(self, bytes: u64) -> Option<PhysAddr> {
        match self.0.checked_add(bytes) {
            Some(v) => Some(PhysAddr(v)),
            None => None,
        }
    }

    pub const fn is_aligned(self, align: u64) -> bool {
        self.0 & (align - 1) == 0
    }
}

impl fmt::Debug for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PA({:#x})", self.0)
    }
}

impl fmt::Display for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// An intermediate physical address: what a guest believes is physical. Kept apart from
/// `PhysAddr` by type.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ipa(pub u64);

impl Ipa {
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for Ipa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IPA({:#x})", self.0)
    }
}

impl fmt::Display for Ipa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// A half-open physical range `[base, base + size)`. `size` may be 0 only transiently.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PhysRange {
    pub base: PhysAddr,
    pub size: u64,
}

impl PhysRange {
    pub const fn new(base: u64, size: u64) -> Self {
        PhysRange {
            base: PhysAddr(base),
            size,
        }
    }

    /// One past the last byte, saturating at the top of the address space.
    pub const fn end(&self) -> u64 {
        self.base.0.saturating_add(self.size)
    }

    pub const fn contains(&self, addr: PhysAddr) -> bool {
        addr.0 >= self.base.0 && addr.0 < self.end()
    }

    pub const fn overlaps(&self, other: &PhysRange) -> bool {
        self.base.0 < other.end() && other.base.0 < self.end()
    }
}

impl fmt::Display for PhysRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}..{:#x})", self.base.0, self.end())
    }
}
