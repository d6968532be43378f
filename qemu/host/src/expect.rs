//! What TRANSLATE must answer at a region's probe address, decided from the oracle
//! (`oracle`), the CPU's features and the Arm combination rules (`memattr`).

use crate::el1_attrs::El1Use;
use crate::el1_map;
use crate::memattr::{combine_fwb0, s2_memattr_fwb0};
use crate::oracle::{RamRule, Region};
use stile_abi::{Reason, Status};
use stile_hyp::addr::PhysAddr;
use stile_hyp::mm::kind::MemoryKind;
use stile_hyp::mm::ranges::RangeSet;

/// What the machine is like, as far as the expectations depend on it.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    /// FEAT_S2FWB (ID_AA64MMFR2_EL1[43:40] != 0).
    pub fwb: bool,
    /// CTR_EL0.DIC.
    pub dic: bool,
    /// The DT's RAM as the payload's stage 1 maps it (`el1_map::ram_set`).
    pub ram: &'a RangeSet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XnRule {
    Set,
    Clear,
    /// Either is fine.
    Either,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappedExpect {
    pub pa: u64,
    pub memattr: u8,
    pub write: bool,
    pub xn: XnRule,
    pub par_attr: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Mapped(MappedExpect),
    Refused { status: Status, reason: Reason },
}

/// Whether `region` counts as inside the DT's RAM (its [`RamRule`] says how to tell).
pub fn in_ram(region: &Region, probe: u64, ram: &RangeSet) -> bool {
    match region.ram {
        RamRule::NotRam => false,
        RamRule::ClippedToRam => ram.iter().any(|r| r.contains(PhysAddr(probe))),
        RamRule::CarvedFromRam => ram
            .iter()
            .any(|r| r.base.0 <= region.base && region.end() <= r.end()),
    }
}

/// The stage-1 attribute the payload's own map gives `addr` (a MAIR byte).
fn stage1_attr(addr: u64, ram: &RangeSet) -> u8 {
    // Every oracle region lies below el1_map::VA_LIMIT (tested), so `None` cannot happen;
    // Device would be the map's answer for any non-RAM address anyway.
    el1_map::use_at(addr, ram)
        .unwrap_or(El1Use::Device)
        .mair_byte()
}

/// The answer a correct Stile gives to TRANSLATE(host, `probe`) for `region`.
/// OUTSIDE_RAM wins over NEEDS_FWB: a region that is not there needs no feature.
pub fn expected(region: &Region, probe: u64, env: &Env<'_>) -> Expected {
    let denied = |reason| Expected::Refused {
        status: Status::Denied,
        reason,
    };
    if region.ram != RamRule::NotRam && !in_ram(region, probe, env.ram) {
        return denied(Reason::OutsideRam);
    }
    if region.kind == MemoryKind::CacheableDevice && !env.fwb {
        return denied(Reason::NeedsFwb);
    }
    let memattr = s2_memattr_fwb0(region.kind);
    let xn = match region.kind {
        MemoryKind::Device | MemoryKind::DeviceNc => XnRule::Set,
        MemoryKind::Ram => XnRule::Clear,
        // Executable cacheable device memory needs CTR_EL0.DIC (abi Reason::NoDic).
        MemoryKind::CacheableDevice if env.dic => XnRule::Either,
        MemoryKind::CacheableDevice => XnRule::Set,
    };
    Expected::Mapped(MappedExpect {
        pa: probe,
        memattr,
        write: region.write,
        xn,
        par_attr: combine_fwb0(stage1_attr(probe, env.ram), memattr),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::QEMU_VIRT;
    use stile_hyp::addr::PhysRange;

    const GIB: u64 = 1 << 30;

    fn ram(size: u64) -> RangeSet {
        el1_map::ram_set(&[PhysRange::new(GIB, size)]).unwrap()
    }

    fn region(name: &str) -> Region {
        *QEMU_VIRT.iter().find(|r| r.name == name).unwrap()
    }

    fn expect_at(name: &str, probe: u64, fwb: bool, ram_size: u64) -> Expected {
        let ram = ram(ram_size);
        let env = Env {
            fwb,
            dic: true,
            ram: &ram,
        };
        expected(&region(name), probe, &env)
    }

    fn mapped(pa: u64, memattr: u8, write: bool, xn: XnRule, par_attr: u8) -> Expected {
        Expected::Mapped(MappedExpect {
            pa,
            memattr,
            write,
            xn,
            par_attr,
        })
    }

    fn denied(reason: Reason) -> Expected {
        Expected::Refused {
            status: Status::Denied,
            reason,
        }
    }

    #[test]
    fn every_region_with_1g_of_ram_and_fwb_is_mapped_as_the_brief_says() {
        let e = |name, probe| expect_at(name, probe, true, GIB);
        assert_eq!(
            e("host-ram", 0x4020_0000),
            mapped(0x4020_0000, 0xf, true, XnRule::Clear, 0xff)
        );
        assert_eq!(e("flash", 0), mapped(0, 0x1, false, XnRule::Set, 0x04));
        assert_eq!(
            e("virt-mmio", 0x0900_0000),
            mapped(0x0900_0000, 0x1, true, XnRule::Set, 0x04)
        );
        assert_eq!(
            e("fb-nc", 0x7b00_0000),
            mapped(0x7b00_0000, 0x5, true, XnRule::Set, 0x44)
        );
        assert_eq!(
            e("aperture", 0x7c00_0000),
            mapped(0x7c00_0000, 0xf, true, XnRule::Either, 0xff)
        );
    }

    #[test]
    fn cacheable_device_aperture_needs_fwb() {
        assert_eq!(
            expect_at("aperture", 0x7c00_0000, false, GIB),
            denied(Reason::NeedsFwb)
        );
    }

    #[test]
    fn cacheable_device_without_dic_must_not_be_executable() {
        let ram = ram(GIB);
        let env = Env {
            fwb: true,
            dic: false,
            ram: &ram,
        };
        let Expected::Mapped(m) = expected(&region("aperture"), 0x7c00_0000, &env) else {
            panic!("aperture refused");
        };
        assert_eq!(m.xn, XnRule::Set);
    }

    #[test]
    fn carve_outs_outside_512m_of_ram_are_outside_ram_and_that_beats_needs_fwb() {
        for fwb in [true, false] {
            let e = |name, probe| expect_at(name, probe, fwb, GIB / 2);
            assert_eq!(e("fb-nc", 0x7b00_0000), denied(Reason::OutsideRam));
            assert_eq!(e("aperture", 0x7c00_0000), denied(Reason::OutsideRam));
            assert!(matches!(e("host-ram", 0x4020_0000), Expected::Mapped(_)));
            assert!(matches!(e("virt-mmio", 0x0900_0000), Expected::Mapped(_)));
        }
    }

    #[test]
    fn a_carve_out_only_partly_in_ram_is_outside_ram() {
        // RAM ends at 0x7e00_0000, inside the aperture.
        let e = expect_at("aperture", 0x7c00_0000, true, 0x3e00_0000);
        assert_eq!(e, denied(Reason::OutsideRam));
    }

    #[test]
    fn every_oracle_region_is_below_the_stage1_limit() {
        for r in QEMU_VIRT {
            assert!(r.end() <= el1_map::VA_LIMIT, "{}", r.name);
        }
    }
}
