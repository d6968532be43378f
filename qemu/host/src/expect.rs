//! What TRANSLATE must answer at a region's probe address, decided from the oracle
//! (`oracle`), the CPU's features and the Arm combination rules (`memattr`).
//!
//! The host runs with HCR_EL2.FWB on exactly when the CPU has FEAT_S2FWB
//! ([`Fwb::for_host`]), so the expected stage-2 MemAttr and PAR attribute are per
//! (kind, FWB, the payload's own stage-1 attribute at the probe): [`expected_attrs`].

use crate::el1_attrs::El1Use;
use crate::el1_map;
use crate::memattr::{combine, host_s2_memattr, Fwb};
use crate::oracle::{RamRule, Region};
use stile_abi::{Reason, Status};
use stile_hyp::addr::PhysAddr;
use stile_hyp::mm::kind::MemoryKind;
use stile_hyp::mm::ranges::RangeSet;

/// What the machine is like, as far as the expectations depend on it.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    /// FEAT_S2FWB (ID_AA64MMFR2_EL1[43:40] != 0), and so HCR_EL2.FWB for the host.
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

/// What stage 2 should say about a mapped probe's memory type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attrs {
    /// The stage-2 leaf's MemAttr[3:0], encoded for `fwb`.
    pub memattr: u8,
    /// PAR_EL1.ATTR of `AT S12E1R` (a MAIR byte).
    pub par_attr: u8,
}

/// Stage-2 MemAttr and PAR attribute for memory of `kind` that the payload's stage 1 maps
/// with `stage1` (a MAIR byte), with the host run under HCR_EL2.FWB = `fwb`. `None`: the kind
/// has no encoding for that setting (NEEDS_FWB).
pub const fn expected_attrs(kind: MemoryKind, fwb: Fwb, stage1: u8) -> Option<Attrs> {
    match host_s2_memattr(kind, fwb) {
        Some(memattr) => Some(Attrs {
            memattr,
            par_attr: combine(fwb, stage1, memattr),
        }),
        None => None,
    }
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
    let fwb = Fwb::for_host(env.fwb);
    let Some(attrs) = expected_attrs(region.kind, fwb, stage1_attr(probe, env.ram)) else {
        return denied(Reason::NeedsFwb);
    };
    let xn = match region.kind {
        MemoryKind::Device | MemoryKind::DeviceNc => XnRule::Set,
        MemoryKind::Ram => XnRule::Clear,
        // Executable cacheable device memory needs CTR_EL0.DIC (abi Reason::NoDic).
        MemoryKind::CacheableDevice if env.dic => XnRule::Either,
        MemoryKind::CacheableDevice => XnRule::Set,
    };
    Expected::Mapped(MappedExpect {
        pa: probe,
        memattr: attrs.memattr,
        write: region.write,
        xn,
        par_attr: attrs.par_attr,
    })
}

/// Expected answers, shorter (for tests here and in compare.rs).
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub fn mapped(pa: u64, memattr: u8, write: bool, xn: XnRule, par_attr: u8) -> Expected {
        Expected::Mapped(MappedExpect {
            pa,
            memattr,
            write,
            xn,
            par_attr,
        })
    }

    pub fn denied(reason: Reason) -> Expected {
        Expected::Refused {
            status: Status::Denied,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{denied, mapped};
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

    #[test]
    fn with_fwb_host_ram_passes_stage1_through_and_the_aperture_is_forced_write_back() {
        let e = |name, probe| expect_at(name, probe, true, GIB);
        assert_eq!(
            e("host-ram", 0x4020_0000),
            mapped(0x4020_0000, 0b0111, true, XnRule::Clear, 0xff)
        );
        assert_eq!(e("flash", 0), mapped(0, 0b0001, false, XnRule::Set, 0x04));
        assert_eq!(
            e("virt-mmio", 0x0900_0000),
            mapped(0x0900_0000, 0b0001, true, XnRule::Set, 0x04)
        );
        assert_eq!(
            e("fb-nc", 0x7b00_0000),
            mapped(0x7b00_0000, 0b0101, true, XnRule::Set, 0x44)
        );
        assert_eq!(
            e("aperture", 0x7c00_0000),
            mapped(0x7c00_0000, 0b0110, true, XnRule::Either, 0xff)
        );
    }

    #[test]
    fn without_fwb_every_region_but_the_aperture_is_mapped_with_fwb0_encodings() {
        let e = |name, probe| expect_at(name, probe, false, GIB);
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
        assert_eq!(e("aperture", 0x7c00_0000), denied(Reason::NeedsFwb));
    }

    #[test]
    fn expected_attributes_per_kind_fwb_and_stage1_attribute() {
        const WB: u8 = 0xff;
        const NC: u8 = 0x44;
        const DEV: u8 = 0x04;
        let attrs = |memattr, par_attr| Some(Attrs { memattr, par_attr });
        // (kind, FWB, stage 1 at the probe) -> (MemAttr, PAR attr).
        let table = [
            (MemoryKind::Ram, Fwb::Off, WB, attrs(0xf, WB)),
            (MemoryKind::Ram, Fwb::Off, NC, attrs(0xf, NC)),
            (MemoryKind::Ram, Fwb::Off, DEV, attrs(0xf, DEV)),
            (MemoryKind::Ram, Fwb::On, WB, attrs(0b0111, WB)),
            (MemoryKind::Ram, Fwb::On, NC, attrs(0b0111, NC)),
            (MemoryKind::Ram, Fwb::On, DEV, attrs(0b0111, DEV)),
            (MemoryKind::Device, Fwb::Off, WB, attrs(0x1, DEV)),
            (MemoryKind::Device, Fwb::Off, DEV, attrs(0x1, DEV)),
            (MemoryKind::Device, Fwb::On, WB, attrs(0b0001, DEV)),
            (MemoryKind::Device, Fwb::On, NC, attrs(0b0001, DEV)),
            (MemoryKind::Device, Fwb::On, DEV, attrs(0b0001, DEV)),
            (MemoryKind::DeviceNc, Fwb::Off, WB, attrs(0x5, NC)),
            (MemoryKind::DeviceNc, Fwb::Off, DEV, attrs(0x5, DEV)),
            (MemoryKind::DeviceNc, Fwb::On, WB, attrs(0b0101, NC)),
            (MemoryKind::DeviceNc, Fwb::On, DEV, attrs(0b0101, DEV)),
            (MemoryKind::CacheableDevice, Fwb::Off, WB, None),
            (MemoryKind::CacheableDevice, Fwb::Off, DEV, None),
            (MemoryKind::CacheableDevice, Fwb::On, WB, attrs(0b0110, WB)),
            (MemoryKind::CacheableDevice, Fwb::On, NC, attrs(0b0110, WB)),
            (MemoryKind::CacheableDevice, Fwb::On, DEV, attrs(0b0110, WB)),
        ];
        for (kind, fwb, stage1, want) in table {
            assert_eq!(
                expected_attrs(kind, fwb, stage1),
                want,
                "{kind:?} {fwb:?} over {stage1:#x}"
            );
        }
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
