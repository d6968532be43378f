//! EL2 stage-1 leaf attributes (non-VHE EL2 regime): the one place that decides how the
//! hypervisor maps its own image, RAM and devices. MAIR_EL2 must hold [`MAIR_EL2`].

/// MAIR index 0: Device-nGnRE; 1: Normal write-back RA/WA; 2: Normal non-cacheable.
pub const MAIR_EL2: u64 = 0x04 | 0xff << 8 | 0x44 << 16;

const ATTR_IDX_DEVICE: u64 = 0 << 2;
const ATTR_IDX_NORMAL: u64 = 1 << 2;
/// AP[1]: RES1 in a one-privilege-level regime (Linux sets it for hyp mappings too).
const AP1: u64 = 1 << 6;
/// AP[2]: read-only.
const AP_RO: u64 = 1 << 7;
const SH_INNER: u64 = 3 << 8;
const AF: u64 = 1 << 10;
/// XN in the EL2 regime is bit 54.
const XN: u64 = 1 << 54;

/// How EL2 uses a piece of its address space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum El2Use {
    /// Hypervisor text: read + execute.
    Text,
    /// Read-only data.
    ReadOnly,
    /// Data, BSS, stacks, heap, RAM the hypervisor manages: read + write, never execute.
    ReadWrite,
    /// MMIO: Device-nGnRE, read + write, never execute.
    Device,
}

pub const fn el2_leaf_attrs(use_: El2Use) -> u64 {
    let base = AF | AP1;
    match use_ {
        El2Use::Text => base | ATTR_IDX_NORMAL | SH_INNER | AP_RO,
        El2Use::ReadOnly => base | ATTR_IDX_NORMAL | SH_INNER | AP_RO | XN,
        El2Use::ReadWrite => base | ATTR_IDX_NORMAL | SH_INNER | XN,
        El2Use::Device => base | ATTR_IDX_DEVICE | XN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [El2Use; 4] = [
        El2Use::Text,
        El2Use::ReadOnly,
        El2Use::ReadWrite,
        El2Use::Device,
    ];

    #[test]
    fn only_text_is_executable() {
        for u in ALL {
            assert_eq!(el2_leaf_attrs(u) & XN == 0, u == El2Use::Text, "{u:?}");
        }
    }

    #[test]
    fn nothing_is_both_writable_and_executable() {
        for u in ALL {
            let a = el2_leaf_attrs(u);
            assert!(a & AP_RO != 0 || a & XN != 0, "{u:?} is W+X");
        }
    }

    #[test]
    fn device_uses_the_device_mair_slot_and_normal_is_write_back() {
        assert_eq!(el2_leaf_attrs(El2Use::Device) >> 2 & 7, 0);
        assert_eq!(MAIR_EL2 & 0xff, 0x04);
        for u in [El2Use::Text, El2Use::ReadOnly, El2Use::ReadWrite] {
            let idx = el2_leaf_attrs(u) >> 2 & 7;
            assert_eq!(MAIR_EL2 >> (idx * 8) & 0xff, 0xff);
        }
    }

    #[test]
    fn every_leaf_has_the_access_flag() {
        for u in ALL {
            assert!(el2_leaf_attrs(u) & AF != 0);
        }
    }
}
