//! Memory attributes as the Arm ARM combines them. The oracle's own copy of the stage-2
//! MemAttr encodings (HCR_EL2.FWB = 0) and of the stage-1 + stage-2 combination rules, so a
//! check never takes the hypervisor's word for what the hypervisor should have done.
//!
//! Attributes are MAIR-format bytes (what PAR_EL1.ATTR reports): high nibble 0 = Device
//! (bits [3:2]: 00 nGnRnE, 01 nGnRE, 10 nGRE, 11 GRE); otherwise outer (high) and inner (low)
//! nibbles 0b0100 Non-cacheable, 0b00RW / 0b10RW Write-Through, 0b01RW / 0b11RW Write-Back.

use stile_hyp::mm::kind::MemoryKind;

/// Stage-2 MemAttr[3:0] with FWB = 0, per memory kind (../shared/DESIGN.md's table; the
/// host runs with FWB off, so cacheable device memory is plain Normal-WB here).
pub const fn s2_memattr_fwb0(kind: MemoryKind) -> u8 {
    match kind {
        MemoryKind::Ram => 0xf,
        MemoryKind::Device => 0x1,
        MemoryKind::DeviceNc => 0x5,
        MemoryKind::CacheableDevice => 0xf,
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

/// Stage-2 MemAttr (FWB = 0) as a MAIR byte. Stage 2 has no allocation hints; they read as
/// read/write-allocate (as QEMU reports them).
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

#[cfg(test)]
mod tests {
    use super::*;

    const WB: u8 = 0xff;
    const NORMAL_NC: u8 = 0x44;
    const DEV_NGNRE: u8 = 0x04;
    const DEV_NGNRNE: u8 = 0x00;

    #[test]
    fn stage1_write_back_over_each_kind_gives_the_briefs_par_attributes() {
        assert_eq!(combine_fwb0(WB, s2_memattr_fwb0(MemoryKind::Ram)), WB);
        assert_eq!(
            combine_fwb0(WB, s2_memattr_fwb0(MemoryKind::DeviceNc)),
            NORMAL_NC
        );
        assert_eq!(
            combine_fwb0(WB, s2_memattr_fwb0(MemoryKind::CacheableDevice)),
            WB
        );
        assert_eq!(
            combine_fwb0(WB, s2_memattr_fwb0(MemoryKind::Device)),
            DEV_NGNRE
        );
    }

    #[test]
    fn device_ngnre_over_device_ngnre_stays_ngnre_not_ngnrne() {
        assert_eq!(
            combine_fwb0(DEV_NGNRE, s2_memattr_fwb0(MemoryKind::Device)),
            DEV_NGNRE
        );
    }

    #[test]
    fn stage2_write_back_cannot_make_stage1_uncached_memory_cacheable() {
        assert_eq!(combine_fwb0(NORMAL_NC, 0xf), NORMAL_NC);
        assert_eq!(combine_fwb0(DEV_NGNRE, 0xf), DEV_NGNRE);
        // MMU off at EL1: stage 1 is Device-nGnRnE whatever stage 2 says (arm-el2-notes).
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
}
