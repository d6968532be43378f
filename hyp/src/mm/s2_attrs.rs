//! Stage-2 leaf attributes: THE one place that turns (memory kind, FWB, permissions) into
//! descriptor bits (docs/ARCHITECTURE.md: "Memory kinds", "Arm facts").
//!
//! FWB here means "this VM runs with HCR_EL2.FWB = 1". The same MemAttr value means different
//! things with FWB on and off (0xF read with FWB=1 is Device-nGnRnE), so a VM's descriptors
//! must all be encoded for the FWB setting it runs with.

use crate::mm::kind::{MemoryKind, Perms};

/// MemAttr[5:2].
const MEMATTR_SHIFT: u32 = 2;
const MEMATTR_MASK: u64 = 0xf << MEMATTR_SHIFT;
/// S2AP[7:6]: bit 6 allows reads, bit 7 allows writes.
pub const S2AP_READ: u64 = 1 << 6;
pub const S2AP_WRITE: u64 = 1 << 7;
/// SH[9:8] = 0b11: inner shareable.
pub const SH_INNER: u64 = 3 << 8;
const SH_MASK: u64 = 3 << 8;
/// AF[10]: set up front, so no access-flag faults (we do not track page age).
pub const AF: u64 = 1 << 10;
/// XN[54]. With FEAT_XNX the field is [54:53]; 0b10 (bit 54 set, bit 53 clear) still means
/// "never execute at EL1 or EL0", and without FEAT_XNX bit 53 is RES0, so setting bit 54
/// alone is right on every CPU.
pub const XN: u64 = 1 << 54;

/// Every bit this module may set (for tests and for callers that compare attributes).
pub const S2_ATTR_BITS: u64 = MEMATTR_MASK | S2AP_READ | S2AP_WRITE | SH_MASK | AF | XN;

/// Why a kind cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrError {
    /// Cacheable device memory without FEAT_S2FWB: with FWB=0 a stage-2 Normal-WB mapping
    /// does not make the guest's accesses cacheable, and the hypervisor has no VA to clean
    /// the memory with, so there is no safe encoding (the reason name in docs/ABI.md).
    NeedsFwb,
}

/// MemAttr[3:0] for `kind` (see the table in docs/ARCHITECTURE.md).
pub const fn memattr_for(kind: MemoryKind, fwb: bool) -> Result<u8, AttrError> {
    match (kind, fwb) {
        // FWB=0: outer WB | inner WB. FWB=1: 0b0110 forces Normal-WB whatever stage 1 says.
        (MemoryKind::Ram, false) => Ok(0xf),
        (MemoryKind::Ram, true) => Ok(0b0110),
        // Device-nGnRE: 0b0001 in both encodings (FWB=1 uses 0b00xx for Device).
        (MemoryKind::Device, _) => Ok(0b0001),
        // Normal-NC: outer NC | inner NC (FWB=0); 0b0101 with FWB=1.
        (MemoryKind::DeviceNc, _) => Ok(0b0101),
        (MemoryKind::CacheableDevice, true) => Ok(0b0110),
        (MemoryKind::CacheableDevice, false) => Err(AttrError::NeedsFwb),
    }
}

/// Whether a kind may ever be executable: Device and Normal-NC memory never are, whatever
/// the permissions asked for (docs/ARCHITECTURE.md invariant; speculative instruction fetch from MMIO
/// can have side effects).
const fn kind_may_execute(kind: MemoryKind) -> bool {
    match kind {
        MemoryKind::Ram | MemoryKind::CacheableDevice => true,
        MemoryKind::Device | MemoryKind::DeviceNc => false,
    }
}

/// Stage-2 leaf attribute bits (MemAttr, S2AP, SH, AF, XN) for `kind` mapped with `perms`
/// in a VM running with HCR_EL2.FWB = `fwb`. Not the valid/type bits or the address: the
/// table engine adds those.
pub const fn s2_leaf_attrs(kind: MemoryKind, fwb: bool, perms: Perms) -> Result<u64, AttrError> {
    match memattr_for(kind, fwb) {
        Ok(m) => Ok(leaf_bits(kind, m, perms)),
        Err(e) => Err(e),
    }
}

/// FWB=1 MemAttr 0b0111: "use the stage-1 attributes".
const MEMATTR_FWB_STAGE1: u8 = 0b0111;

/// As [`s2_leaf_attrs`], for the host VM: the host owns its RAM and keeps its caches
/// coherent itself (it has the VA), so with FWB on its RAM is mapped 0b0111 and its own
/// stage 1 decides (a host's Non-cacheable DMA buffer stays Non-cacheable) instead of being
/// forced Write-Back. Every other kind is encoded exactly as for a guest.
pub const fn host_leaf_attrs(kind: MemoryKind, fwb: bool, perms: Perms) -> Result<u64, AttrError> {
    match (kind, fwb) {
        (MemoryKind::Ram, true) => Ok(leaf_bits(kind, MEMATTR_FWB_STAGE1, perms)),
        _ => s2_leaf_attrs(kind, fwb, perms),
    }
}

const fn leaf_bits(kind: MemoryKind, memattr: u8, perms: Perms) -> u64 {
    let sh = match kind {
        // SH is ignored for Device memory (always treated as outer shareable); 0 keeps the
        // descriptor honest.
        MemoryKind::Device => 0,
        // Normal memory (WB or NC): inner shareable, like every other mapping in the system.
        MemoryKind::Ram | MemoryKind::DeviceNc | MemoryKind::CacheableDevice => SH_INNER,
    };
    let mut bits = (memattr as u64) << MEMATTR_SHIFT | sh | AF;
    if perms.read {
        bits |= S2AP_READ;
    }
    if perms.write {
        bits |= S2AP_WRITE;
    }
    if !(perms.exec && kind_may_execute(kind)) {
        bits |= XN;
    }
    bits
}

/// What the host gets for `kind` (see [`host_leaf_attrs`]).
pub const fn describe_host(kind: MemoryKind, fwb: bool) -> &'static str {
    match (kind, fwb) {
        (MemoryKind::Ram, true) => describe_memattr(MEMATTR_FWB_STAGE1, true),
        _ => describe(kind, fwb),
    }
}

/// MemAttr[3:0] of a descriptor (or of attribute bits).
pub const fn memattr(desc: u64) -> u8 {
    ((desc & MEMATTR_MASK) >> MEMATTR_SHIFT) as u8
}

/// The permissions a descriptor grants.
pub const fn perms(desc: u64) -> Perms {
    Perms {
        read: desc & S2AP_READ != 0,
        write: desc & S2AP_WRITE != 0,
        exec: desc & XN == 0,
    }
}

/// What the guest gets for `kind`, in the words the boot log and docs use.
pub const fn describe(kind: MemoryKind, fwb: bool) -> &'static str {
    match memattr_for(kind, fwb) {
        Ok(m) => describe_memattr(m, fwb),
        Err(AttrError::NeedsFwb) => "refused (needs FWB)",
    }
}

/// Name a MemAttr value as the CPU reads it under HCR_EL2.FWB = `fwb` (for logs of what a
/// descriptor really says, including values this module never writes).
pub const fn describe_memattr(memattr: u8, fwb: bool) -> &'static str {
    if fwb {
        match memattr & 0xf {
            0b0000 => "Device-nGnRnE",
            0b0001 => "Device-nGnRE",
            0b0010 => "Device-nGRE",
            0b0011 => "Device-GRE",
            0b0101 => "Normal-NC",
            0b0110 => "Normal-WB (forced by FWB)",
            0b0111 => "stage-1 attributes (FWB pass-through)",
            _ => "reserved (Device)",
        }
    } else {
        match memattr & 0xf {
            0x0 => "Device-nGnRnE",
            0x1 => "Device-nGnRE",
            0x2 => "Device-nGRE",
            0x3 => "Device-GRE",
            0x5 => "Normal-NC",
            0xf => "Normal-WB",
            _ => "Normal (mixed cacheability)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::pgtable::LEAF_ATTR_MASK;

    fn all_perms() -> impl Iterator<Item = Perms> {
        (0..8u8).map(|b| Perms {
            read: b & 1 != 0,
            write: b & 2 != 0,
            exec: b & 4 != 0,
        })
    }

    /// docs/ARCHITECTURE.md's table, row by row: (kind, fwb) -> (MemAttr, SH, may execute, name).
    /// `None` = refused.
    fn expected(kind: MemoryKind, fwb: bool) -> Option<(u8, u64, bool, &'static str)> {
        use MemoryKind::*;
        match (kind, fwb) {
            (Ram, false) => Some((0xf, 3, true, "Normal-WB")),
            (Ram, true) => Some((0b0110, 3, true, "Normal-WB (forced by FWB)")),
            (Device, false) => Some((0x1, 0, false, "Device-nGnRE")),
            (Device, true) => Some((0b0001, 0, false, "Device-nGnRE")),
            (DeviceNc, false) => Some((0x5, 3, false, "Normal-NC")),
            (DeviceNc, true) => Some((0b0101, 3, false, "Normal-NC")),
            (CacheableDevice, false) => None,
            (CacheableDevice, true) => Some((0b0110, 3, true, "Normal-WB (forced by FWB)")),
        }
    }

    #[test]
    fn every_kind_fwb_and_perms_combination_matches_the_design_table() {
        let mut checked = 0;
        for kind in MemoryKind::ALL {
            for fwb in [false, true] {
                for p in all_perms() {
                    let got = s2_leaf_attrs(kind, fwb, p);
                    let Some((ma, sh, may_exec, name)) = expected(kind, fwb) else {
                        assert_eq!(got, Err(AttrError::NeedsFwb), "{kind:?} fwb={fwb}");
                        assert_eq!(describe(kind, fwb), "refused (needs FWB)");
                        checked += 1;
                        continue;
                    };
                    let a = got.unwrap();
                    let what = format!("{kind:?} fwb={fwb} {p:?} -> {a:#x}");
                    assert_eq!(memattr(a), ma, "{what}");
                    assert_eq!(a >> 8 & 3, sh, "{what}");
                    assert_ne!(a & AF, 0, "{what}");
                    assert_eq!(a & S2AP_READ != 0, p.read, "{what}");
                    assert_eq!(a & S2AP_WRITE != 0, p.write, "{what}");
                    assert_eq!(a & XN == 0, p.exec && may_exec, "{what}");
                    assert_eq!(a & (1 << 53), 0, "{what}: XN[53] must stay clear");
                    assert_eq!(a & !S2_ATTR_BITS, 0, "{what}: stray bits");
                    assert_eq!(
                        a & !LEAF_ATTR_MASK,
                        0,
                        "{what}: outside the leaf attr field"
                    );
                    assert_eq!(describe(kind, fwb), name, "{what}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 4 * 2 * 8);
    }

    #[test]
    fn host_ram_with_fwb_lets_stage_1_decide_and_nothing_else_changes() {
        let ram = host_leaf_attrs(MemoryKind::Ram, true, Perms::RWX).unwrap();
        assert_eq!(memattr(ram), 0b0111);
        assert_eq!(
            ram & !MEMATTR_MASK,
            s2_leaf_attrs(MemoryKind::Ram, true, Perms::RWX).unwrap() & !MEMATTR_MASK
        );
        for kind in MemoryKind::ALL {
            for fwb in [false, true] {
                if kind == MemoryKind::Ram && fwb {
                    continue;
                }
                assert_eq!(
                    host_leaf_attrs(kind, fwb, Perms::RW),
                    s2_leaf_attrs(kind, fwb, Perms::RW)
                );
            }
        }
        assert_eq!(
            describe_host(MemoryKind::Ram, true),
            "stage-1 attributes (FWB pass-through)"
        );
    }

    #[test]
    fn device_is_never_executable_whatever_perms_say() {
        for fwb in [false, true] {
            for kind in [MemoryKind::Device, MemoryKind::DeviceNc] {
                let a = s2_leaf_attrs(kind, fwb, Perms::RWX).unwrap();
                assert_ne!(a & XN, 0, "{kind:?} fwb={fwb}");
                assert!(!perms(a).exec);
            }
        }
    }

    #[test]
    fn cacheable_device_is_refused_without_fwb() {
        assert_eq!(
            s2_leaf_attrs(MemoryKind::CacheableDevice, false, Perms::RW),
            Err(AttrError::NeedsFwb)
        );
        assert!(s2_leaf_attrs(MemoryKind::CacheableDevice, true, Perms::RW).is_ok());
    }

    #[test]
    fn executability_agrees_with_the_kind_table() {
        for kind in MemoryKind::ALL {
            assert_eq!(kind_may_execute(kind), kind.may_execute(), "{kind:?}");
        }
    }

    #[test]
    fn ram_attrs_differ_between_fwb_off_and_on() {
        // The FWB=0 encoding read with FWB=1 would be Device-nGnRnE: they must never be mixed.
        let off = s2_leaf_attrs(MemoryKind::Ram, false, Perms::RW).unwrap();
        let on = s2_leaf_attrs(MemoryKind::Ram, true, Perms::RW).unwrap();
        assert_ne!(memattr(off), memattr(on));
        assert_eq!(describe_memattr(memattr(off), true), "reserved (Device)");
    }

    #[test]
    fn perms_decode_round_trips() {
        for p in all_perms() {
            let a = s2_leaf_attrs(MemoryKind::Ram, true, p).unwrap();
            assert_eq!(perms(a), p);
        }
    }

    #[test]
    fn encoding_is_usable_in_const_context() {
        const A: u64 = match s2_leaf_attrs(MemoryKind::Ram, false, Perms::RWX) {
            Ok(a) => a,
            Err(_) => 0,
        };
        assert_eq!(A, 0xf << 2 | S2AP_READ | S2AP_WRITE | SH_INNER | AF);
    }
}
