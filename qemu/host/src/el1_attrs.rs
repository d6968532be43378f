//! EL1 stage-1 leaf attributes (EL1&0 regime, 4 KiB granule): the one place that decides how
//! the payload maps memory for itself. MAIR_EL1 must hold [`MAIR_EL1`].

/// MAIR index 0: Device-nGnRE; 1: Normal write-back RA/WA; 2: Normal non-cacheable.
pub const MAIR_EL1: u64 = 0x04 | 0xff << 8 | 0x44 << 16;

const ATTR_IDX_SHIFT: u32 = 2;
/// AP[2:1] = 00: read/write at EL1, no EL0 access.
const AP_EL1_RW: u64 = 0;
const SH_INNER: u64 = 3 << 8;
const AF: u64 = 1 << 10;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;

/// How the payload maps a piece of its (identity) address space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum El1Use {
    /// RAM: Normal write-back, read/write/execute at EL1 (our code lives in it).
    Ram,
    /// Everything that is not RAM: Device-nGnRE, never executable.
    Device,
    /// Normal non-cacheable, never executable (in MAIR for completeness; unused by the map).
    NormalNc,
}

impl El1Use {
    pub const ALL: [El1Use; 3] = [El1Use::Ram, El1Use::Device, El1Use::NormalNc];

    const fn attr_index(self) -> u64 {
        match self {
            El1Use::Device => 0,
            El1Use::Ram => 1,
            El1Use::NormalNc => 2,
        }
    }

    /// The MAIR attribute byte this use selects (what PAR_EL1.ATTR shows for stage 1 alone).
    pub const fn mair_byte(self) -> u8 {
        (MAIR_EL1 >> (self.attr_index() * 8)) as u8
    }

    /// Leaf descriptor attribute bits (for `stile_hyp::mm::pgtable::PageTable::map`).
    pub const fn leaf_attrs(self) -> u64 {
        let base = AF | AP_EL1_RW | UXN | (self.attr_index() << ATTR_IDX_SHIFT);
        match self {
            El1Use::Ram => base | SH_INNER,
            El1Use::Device => base | PXN,
            El1Use::NormalNc => base | SH_INNER | PXN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ram_is_executable_at_el1_and_nothing_at_el0() {
        for u in El1Use::ALL {
            let a = u.leaf_attrs();
            assert_eq!(a & PXN == 0, u == El1Use::Ram, "{u:?}");
            assert_ne!(a & UXN, 0, "{u:?}");
            assert_eq!(a & (1 << 6), 0, "{u:?}: AP[1] would let EL0 in");
        }
    }

    #[test]
    fn mair_slots_are_device_ngnre_normal_wb_and_normal_nc() {
        assert_eq!(El1Use::Device.mair_byte(), 0x04);
        assert_eq!(El1Use::Ram.mair_byte(), 0xff);
        assert_eq!(El1Use::NormalNc.mair_byte(), 0x44);
    }

    #[test]
    fn every_leaf_has_the_access_flag_and_stays_in_the_leaf_attribute_bits() {
        for u in El1Use::ALL {
            let a = u.leaf_attrs();
            assert_ne!(a & AF, 0);
            assert_eq!(a & !stile_hyp::mm::pgtable::LEAF_ATTR_MASK, 0, "{u:?}");
        }
    }
}
