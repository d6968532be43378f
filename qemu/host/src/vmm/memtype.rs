//! What memory type a guest gets, by the Arm rules: the oracle's own copy of the guests'
//! stage-2 encodings (docs/ABI.md's kinds table), combined with the guest's stage 1 by
//! `memattr::combine`. The guest runs with its MMU off, so its stage 1 is Device-nGnRnE for
//! every data access: without FWB nothing can make its memory cacheable; with FWB, stage 2
//! can force Write-Back (0b0110), and Normal-NC (0b0101) still yields to a stage-1 Device.

use crate::expect::{Expected, MappedExpect, XnRule};
use crate::memattr::{combine, Fwb};
use stile_hyp::mm::kind::MemoryKind;

/// The guest's stage-1 attribute with its MMU off (MAIR encoding of Device-nGnRnE).
pub const MMU_OFF: u8 = 0x00;

/// Guests run with HCR_EL2.FWB = 1 exactly when the CPU has FEAT_S2FWB (cap FWB_GUESTS).
pub const fn guest_fwb(feat_s2fwb: bool) -> Fwb {
    if feat_s2fwb {
        Fwb::On
    } else {
        Fwb::Off
    }
}

/// Stage-2 MemAttr[3:0] of a guest slot of `kind`. `None`: no encoding (cacheable device
/// memory without FWB is refused NEEDS_FWB). Unlike the host's RAM (0b0111, stage 1
/// decides), guest RAM is forced Write-Back under FWB.
pub const fn guest_s2_memattr(kind: MemoryKind, fwb: Fwb) -> Option<u8> {
    match (kind, fwb) {
        (MemoryKind::Ram, Fwb::Off) => Some(0xf),
        (MemoryKind::Ram, Fwb::On) => Some(0b0110),
        (MemoryKind::Device, _) => Some(0b0001),
        (MemoryKind::DeviceNc, _) => Some(0b0101),
        (MemoryKind::CacheableDevice, Fwb::Off) => None,
        (MemoryKind::CacheableDevice, Fwb::On) => Some(0b0110),
    }
}

/// What TRANSLATE(vm, ipa) must answer for a mapped guest page backed at `pa`: MemAttr for
/// the kind, PAR attribute of that combined with the MMU-off stage 1, write permission, and
/// XN (`exec`: the slot asks for it and the kind allows it).
pub fn expected_guest(kind: MemoryKind, fwb: Fwb, pa: u64, write: bool, exec: bool) -> Expected {
    let Some(memattr) = guest_s2_memattr(kind, fwb) else {
        return Expected::Refused {
            status: stile_abi::Status::Denied,
            reason: stile_abi::Reason::NeedsFwb,
        };
    };
    let executable = exec && matches!(kind, MemoryKind::Ram | MemoryKind::CacheableDevice);
    Expected::Mapped(MappedExpect {
        pa,
        memattr,
        write,
        xn: if executable {
            XnRule::Clear
        } else {
            XnRule::Set
        },
        par_attr: combine(fwb, MMU_OFF, memattr),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn par(kind: MemoryKind, fwb: Fwb) -> Option<u8> {
        guest_s2_memattr(kind, fwb).map(|m| combine(fwb, MMU_OFF, m))
    }

    #[test]
    fn with_fwb_ram_and_cacheable_device_are_write_back_even_with_the_mmu_off() {
        assert_eq!(par(MemoryKind::Ram, Fwb::On), Some(0xff));
        assert_eq!(par(MemoryKind::CacheableDevice, Fwb::On), Some(0xff));
    }

    #[test]
    fn without_fwb_the_mmu_off_stage1_makes_everything_device_ngnrne() {
        assert_eq!(par(MemoryKind::Ram, Fwb::Off), Some(0x00));
        assert_eq!(par(MemoryKind::DeviceNc, Fwb::Off), Some(0x00));
        assert_eq!(par(MemoryKind::CacheableDevice, Fwb::Off), None);
    }

    #[test]
    fn normal_nc_yields_to_the_mmu_off_device_stage1_even_with_fwb() {
        // Arm ARM (FWB, MemAttr 0b0101): Normal-NC unless stage 1 is Device. So device-nc
        // reads 0x00 for a guest whose MMU is off; 0x44 needs the guest's own Normal map.
        assert_eq!(par(MemoryKind::DeviceNc, Fwb::On), Some(0x00));
        assert_eq!(combine(Fwb::On, 0xff, 0b0101), 0x44);
    }

    #[test]
    fn only_ram_and_cacheable_device_can_be_executable() {
        let xn = |kind| match expected_guest(kind, Fwb::On, 0, true, true) {
            Expected::Mapped(m) => m.xn,
            Expected::Refused { .. } => unreachable!(),
        };
        assert_eq!(xn(MemoryKind::Ram), XnRule::Clear);
        assert_eq!(xn(MemoryKind::CacheableDevice), XnRule::Clear);
        assert_eq!(xn(MemoryKind::DeviceNc), XnRule::Set);
        assert_eq!(xn(MemoryKind::Device), XnRule::Set);
    }
}
