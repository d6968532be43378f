//! Guest-physical addresses. The guest runs with its MMU off, so its addresses are IPAs;
//! the VMM keeps them apart from the host's physical addresses by type.

use core::fmt;

/// An intermediate physical address: what a guest address means before stage 2.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ipa(pub u64);

impl Ipa {
    /// `self + bytes`, wrapping never (the layout's addresses are far from the top).
    pub const fn add(self, bytes: u64) -> Ipa {
        Ipa(self.0.saturating_add(bytes))
    }

    pub const fn is_aligned(self, align: u64) -> bool {
        self.0 & (align - 1) == 0
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

/// A half-open IPA range `[base, base + size)`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct IpaRange {
    pub base: Ipa,
    pub size: u64,
}

impl IpaRange {
    pub const fn new(base: u64, size: u64) -> Self {
        IpaRange {
            base: Ipa(base),
            size,
        }
    }

    pub const fn end(&self) -> u64 {
        self.base.0.saturating_add(self.size)
    }

    pub const fn contains(&self, ipa: Ipa) -> bool {
        ipa.0 >= self.base.0 && ipa.0 < self.end()
    }

    pub const fn overlaps(&self, other: &IpaRange) -> bool {
        self.base.0 < other.end() && other.base.0 < self.end()
    }
}

impl fmt::Display for IpaRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}..{:#x})", self.base.0, self.end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_half_open() {
        let r = IpaRange::new(0x8000_0000, 0x1000);
        assert!(r.contains(Ipa(0x8000_0000)));
        assert!(r.contains(Ipa(0x8000_0fff)));
        assert!(!r.contains(Ipa(0x8000_1000)));
        assert!(r.overlaps(&IpaRange::new(0x8000_0fff, 1)));
        assert!(!r.overlaps(&IpaRange::new(0x8000_1000, 0x1000)));
        assert_eq!(r.to_string(), "[0x80000000..0x80001000)");
    }
}
