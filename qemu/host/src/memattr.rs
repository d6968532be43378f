//! Memory attributes as the Arm ARM combines them. The oracle's own copy of the host's
//! stage-2 MemAttr encodings (for HCR_EL2.FWB = 0 and = 1) and of the stage-1 + stage-2
//! combination rules, so a check never takes the hypervisor's word for what the hypervisor
//! should have done.
//!
//! Attributes are MAIR-format bytes (what PAR_EL1.ATTR reports): high nibble 0 = Device
//! (bits [3:2]: 00 nGnRnE, 01 nGnRE, 10 nGRE, 11 GRE); otherwise outer (high) and inner (low)
//! nibbles 0b0100 Non-cacheable, 0b00RW / 0b10RW Write-Through, 0b01RW / 0b11RW Write-Back.

use stile_hyp::mm::kind::MemoryKind;

/// HCR_EL2.FWB as the host runs with it: it changes both what a MemAttr value means and how
/// it combines with stage 1, so every encoding and rule below is per setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fwb {
    Off,
    On,
}

impl Fwb {
    /// The host contract (docs/HOST-PAYLOAD.md): Stile runs the host with FWB on exactly
    /// when the CPU has FEAT_S2FWB (ID_AA64MMFR2_EL1[43:40] != 0), because cacheable device
    /// memory has no safe FWB = 0 encoding.
    pub const fn for_host(feat_s2fwb: bool) -> Fwb {
        if feat_s2fwb {
            Fwb::On
        } else {
            Fwb::Off
        }
    }
}

/// FWB = 1 MemAttr: Device-nGnRE (0b00xx is Device, xx the type).
const FWB1_DEVICE_NGNRE: u8 = 0b0001;
/// FWB = 1 MemAttr: Normal Non-cacheable (stage-1 Device stays Device).
const FWB1_NORMAL_NC: u8 = 0b0101;
/// FWB = 1 MemAttr: Normal Write-Back, forced whatever stage 1 says.
const FWB1_FORCE_WB: u8 = 0b0110;
/// FWB = 1 MemAttr: use the stage-1 attributes.
const FWB1_STAGE1: u8 = 0b0111;

/// Stage-2 MemAttr[3:0] the host gets for `kind` (docs/ARCHITECTURE.md's table and
/// hyp's `host_leaf_attrs`, written out again here). `None`: the kind has no safe encoding
/// (cacheable device memory without FWB, refused NEEDS_FWB).
///
/// With FWB on, host RAM is 0b0111, not the guests' forced Write-Back 0b0110: the host owns
/// its RAM and its own stage 1 decides (a Non-cacheable buffer stays Non-cacheable).
pub const fn host_s2_memattr(kind: MemoryKind, fwb: Fwb) -> Option<u8> {
    match (kind, fwb) {
        (MemoryKind::Ram, Fwb::Off) => Some(0xf),
        (MemoryKind::Ram, Fwb::On) => Some(FWB1_STAGE1),
        (MemoryKind::Device, Fwb::Off) => Some(0x1),
        (MemoryKind::Device, Fwb::On) => Some(FWB1_DEVICE_NGNRE),
        (MemoryKind::DeviceNc, Fwb::Off) => Some(0x5),
        (MemoryKind::DeviceNc, Fwb::On) => Some(FWB1_NORMAL_NC),
        (MemoryKind::CacheableDevice, Fwb::Off) => None,
        (MemoryKind::CacheableDevice, Fwb::On) => Some(FWB1_FORCE_WB),
    }
}

/// The attribute PAR_EL1.ATTR reports after `AT S12E1R`: stage 1 (a MAIR byte) combined
/// with stage 2 (MemAttr) under HCR_EL2.FWB = `fwb`.
pub const fn combine(fwb: Fwb, s1: u8, s2_memattr: u8) -> u8 {
    match fwb {
        Fwb::Off => combine_fwb0(s1, s2_memattr),
        Fwb::On => combine_fwb1(s1, s2_memattr),
    }
}

const NC: u8 = 0b0100;

const fn is_device(attr: u8) -> bool {
    attr >> 4 == 0
}

/// Device type bits [3:2]: 0 = nGnRnE (most restrictive) .. 3 = GRE. Normal counts as 3.
const fn device_order(attr: u8) -> u8 {
    if is_device(attr) {
        (attr >> 2) & 3
    } else {
        3
    }
}

const fn is_write_through(nibble: u8) -> bool {
    matches!(nibble >> 2, 0b00 | 0b10)
}

/// Stage-2 MemAttr as a MAIR byte, read as FWB = 0 encodes it. Stage 2 has no allocation
/// hints; they read as read/write-allocate (as QEMU reports them).
pub const fn s2_as_mair(memattr: u8) -> u8 {
    let (outer, inner) = ((memattr >> 2) & 3, memattr & 3);
    if outer == 0 {
        return inner << 2;
    }
    const fn nibble(cache: u8) -> u8 {
        match cache {
            1 => NC,
            c => (c << 2) | 0b11,
        }
    }
    (nibble(outer) << 4) | nibble(inner)
}

/// One cacheability nibble of two Normal attributes: Non-cacheable wins, then
/// Write-Through, else Write-Back; allocation hints come from stage 1.
const fn combine_nibble(s1: u8, s2: u8) -> u8 {
    if s1 == NC || s2 == NC {
        NC
    } else if is_write_through(s1) {
        s1
    } else if is_write_through(s2) {
        0b1000 | (s1 & 0b11)
    } else {
        s1
    }
}

/// The attribute PAR_EL1.ATTR reports after `AT S12E1R` with FWB = 0: stage 1 (a MAIR byte)
/// combined with stage 2 (MemAttr). Device beats Normal, the more restrictive Device type
/// wins, and Normal cacheability is the weaker of the two, per nibble.
pub const fn combine_fwb0(s1: u8, s2_memattr: u8) -> u8 {
    let s2 = s2_as_mair(s2_memattr);
    if is_device(s1) || is_device(s2) {
        let o1 = device_order(s1);
        let o2 = device_order(s2);
        return (if o1 < o2 { o1 } else { o2 }) << 2;
    }
    (combine_nibble(s1 >> 4, s2 >> 4) << 4) | combine_nibble(s1 & 0xf, s2 & 0xf)
}

/// One cacheability nibble forced to Write-Back (FWB MemAttr 0b0110): a stage-1
/// Write-Through nibble becomes Write-Back keeping its transient and allocation hints; a
/// Non-cacheable one (or the unpredictable 0b0000) becomes Write-Back read/write-allocate.
const fn force_write_back(nibble: u8) -> u8 {
    match nibble {
        0b0000 | NC => 0xf,
        n => n | 0b0100,
    }
}

/// The attribute PAR_EL1.ATTR reports after `AT S12E1R` with FWB = 1 (FEAT_S2FWB): stage 2
/// no longer only restricts, it can force.
/// - 0b00xx: Device of type xx; over a stage-1 Device, the more restrictive type wins.
/// - 0b0101: Normal Non-cacheable, unless stage 1 is Device (then stage 1).
/// - 0b0110: Normal Write-Back whatever stage 1 says (stage-1 hints kept when it is
///   cacheable).
/// - 0b0111: stage 1's attribute, unchanged.
/// - Anything else is reserved; QEMU reads it as Device-nGnRnE (docs/ARCHITECTURE.md, "Arm facts": the FWB = 0
///   Write-Back encoding 0xF read with FWB = 1), and so does the oracle.
pub const fn combine_fwb1(s1: u8, s2_memattr: u8) -> u8 {
    match s2_memattr & 0xf {
        dev @ 0b0000..=0b0011 => {
            let o1 = device_order(s1);
            (if o1 < dev { o1 } else { dev }) << 2
        }
        FWB1_NORMAL_NC if is_device(s1) => s1,
        FWB1_NORMAL_NC => (NC << 4) | NC,
        FWB1_FORCE_WB if is_device(s1) => 0xff,
        FWB1_FORCE_WB => (force_write_back(s1 >> 4) << 4) | force_write_back(s1 & 0xf),
        FWB1_STAGE1 => s1,
        _ => 0x00,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WB: u8 = 0xff;
    const NORMAL_NC: u8 = 0x44;
    const DEV_NGNRE: u8 = 0x04;
    const DEV_NGNRNE: u8 = 0x00;

    const KINDS: [MemoryKind; 4] = [
        MemoryKind::Ram,
        MemoryKind::Device,
        MemoryKind::DeviceNc,
        MemoryKind::CacheableDevice,
    ];

    /// Stage-2 MemAttr, then PAR attr over a stage-1 Normal-WB and over a stage-1
    /// Device-nGnRE mapping (the payload's two), per kind.
    fn par_over_wb_and_device(kind: MemoryKind, fwb: Fwb) -> Option<(u8, u8, u8)> {
        let m = host_s2_memattr(kind, fwb)?;
        Some((m, combine(fwb, WB, m), combine(fwb, DEV_NGNRE, m)))
    }

    #[test]
    fn host_fwb_is_on_exactly_when_the_cpu_has_feat_s2fwb() {
        assert_eq!(Fwb::for_host(true), Fwb::On);
        assert_eq!(Fwb::for_host(false), Fwb::Off);
    }

    #[test]
    fn without_fwb_each_kind_is_encoded_and_combined_as_before() {
        let want = [
            Some((0xf, WB, DEV_NGNRE)),
            Some((0x1, DEV_NGNRE, DEV_NGNRE)),
            Some((0x5, NORMAL_NC, DEV_NGNRE)),
            None,
        ];
        for (kind, want) in KINDS.into_iter().zip(want) {
            assert_eq!(par_over_wb_and_device(kind, Fwb::Off), want, "{kind:?}");
        }
    }

    #[test]
    fn with_fwb_host_ram_passes_stage1_through_and_cacheable_device_is_forced_write_back() {
        let want = [
            Some((0b0111, WB, DEV_NGNRE)),
            Some((0b0001, DEV_NGNRE, DEV_NGNRE)),
            Some((0b0101, NORMAL_NC, DEV_NGNRE)),
            Some((0b0110, WB, WB)),
        ];
        for (kind, want) in KINDS.into_iter().zip(want) {
            assert_eq!(par_over_wb_and_device(kind, Fwb::On), want, "{kind:?}");
        }
    }

    #[test]
    fn cacheable_device_has_no_host_encoding_without_fwb() {
        assert_eq!(host_s2_memattr(MemoryKind::CacheableDevice, Fwb::Off), None);
    }

    #[test]
    fn device_ngnre_over_device_ngnre_stays_ngnre_not_ngnrne() {
        for fwb in [Fwb::Off, Fwb::On] {
            let m = host_s2_memattr(MemoryKind::Device, fwb).unwrap();
            assert_eq!(combine(fwb, DEV_NGNRE, m), DEV_NGNRE, "{fwb:?}");
        }
    }

    #[test]
    fn stage2_write_back_cannot_make_stage1_uncached_memory_cacheable() {
        assert_eq!(combine_fwb0(NORMAL_NC, 0xf), NORMAL_NC);
        assert_eq!(combine_fwb0(DEV_NGNRE, 0xf), DEV_NGNRE);
        // MMU off at EL1: stage 1 is Device-nGnRnE whatever stage 2 says (docs/ARCHITECTURE.md, "Arm facts").
        assert_eq!(combine_fwb0(DEV_NGNRNE, 0xf), DEV_NGNRNE);
    }

    #[test]
    fn the_more_restrictive_device_type_wins() {
        assert_eq!(combine_fwb0(0x0c, 0x1), DEV_NGNRE); // GRE + nGnRE
        assert_eq!(combine_fwb0(DEV_NGNRE, 0x0), DEV_NGNRNE);
        assert_eq!(combine_fwb0(0x08, 0x3), 0x08); // nGRE + GRE
    }

    #[test]
    fn write_through_beats_write_back_keeping_stage1_hints() {
        assert_eq!(combine_fwb0(WB, 0xa), 0xbb);
        assert_eq!(combine_fwb0(0xee, 0xa), 0xaa);
        assert_eq!(combine_fwb0(0xbb, 0xf), 0xbb);
    }

    #[test]
    fn stage2_encodings_read_as_mair_bytes() {
        assert_eq!(s2_as_mair(0xf), 0xff);
        assert_eq!(s2_as_mair(0x5), 0x44);
        assert_eq!(s2_as_mair(0x1), 0x04);
        assert_eq!(s2_as_mair(0x0), 0x00);
        assert_eq!(s2_as_mair(0xa), 0xbb);
    }

    #[test]
    fn fwb_pass_through_gives_stage1_unchanged() {
        for s1 in [WB, NORMAL_NC, 0xaa, 0xee, DEV_NGNRE, DEV_NGNRNE, 0x0c] {
            assert_eq!(combine_fwb1(s1, 0b0111), s1, "{s1:#x}");
        }
    }

    #[test]
    fn fwb_forced_write_back_wins_even_over_stage1_non_cacheable_and_device() {
        // MMU off at EL1 (Device-nGnRnE) too: the whole point of FWB (docs/ARCHITECTURE.md, "Arm facts").
        for s1 in [WB, NORMAL_NC, DEV_NGNRE, DEV_NGNRNE, 0x0c] {
            assert_eq!(combine_fwb1(s1, 0b0110), WB, "{s1:#x}");
        }
    }

    #[test]
    fn fwb_forced_write_back_turns_stage1_write_through_into_write_back_keeping_hints() {
        assert_eq!(combine_fwb1(0xaa, 0b0110), 0xee); // WT R-alloc -> WB R-alloc
        assert_eq!(combine_fwb1(0x88, 0b0110), 0xcc); // WT no-alloc -> WB no-alloc
        assert_eq!(combine_fwb1(0x22, 0b0110), 0x66); // transient WT -> transient WB
        assert_eq!(combine_fwb1(0x4e, 0b0110), 0xfe); // outer NC, inner WB
    }

    #[test]
    fn fwb_non_cacheable_makes_normal_stage1_non_cacheable_but_keeps_stage1_device() {
        assert_eq!(combine_fwb1(WB, 0b0101), NORMAL_NC);
        assert_eq!(combine_fwb1(0xaa, 0b0101), NORMAL_NC);
        assert_eq!(combine_fwb1(NORMAL_NC, 0b0101), NORMAL_NC);
        assert_eq!(combine_fwb1(DEV_NGNRE, 0b0101), DEV_NGNRE);
        assert_eq!(combine_fwb1(DEV_NGNRNE, 0b0101), DEV_NGNRNE);
    }

    #[test]
    fn fwb_device_stage2_makes_normal_stage1_that_device_type() {
        assert_eq!(combine_fwb1(WB, 0b0001), DEV_NGNRE);
        assert_eq!(combine_fwb1(NORMAL_NC, 0b0000), DEV_NGNRNE);
        assert_eq!(combine_fwb1(WB, 0b0011), 0x0c);
    }

    #[test]
    fn fwb_device_over_stage1_device_the_more_restrictive_type_wins() {
        assert_eq!(combine_fwb1(DEV_NGNRNE, 0b0001), DEV_NGNRNE);
        assert_eq!(combine_fwb1(DEV_NGNRE, 0b0011), DEV_NGNRE);
        assert_eq!(combine_fwb1(0x0c, 0b0010), 0x08); // GRE + nGRE
    }

    #[test]
    fn fwb0_write_back_encoding_read_with_fwb_is_device_ngnrne() {
        // A descriptor encoded for FWB = 0 in a VM run with FWB = 1 (docs/ARCHITECTURE.md, "Arm facts").
        assert_eq!(combine_fwb1(WB, 0xf), DEV_NGNRNE);
        assert_eq!(combine_fwb1(WB, 0b0100), DEV_NGNRNE); // reserved
    }

    #[test]
    fn the_same_memattr_means_different_things_with_and_without_fwb() {
        // 0x5 agrees, 0x1 agrees, 0xF does not: descriptors must match the VM's FWB.
        assert_eq!(combine(Fwb::Off, WB, 0x5), combine(Fwb::On, WB, 0x5));
        assert_eq!(combine(Fwb::Off, WB, 0x1), combine(Fwb::On, WB, 0x1));
        assert_ne!(combine(Fwb::Off, WB, 0xf), combine(Fwb::On, WB, 0xf));
    }
}
