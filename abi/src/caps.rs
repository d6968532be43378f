//! GET_CAPS: what this Stile on this CPU supports, and for each thing it does not, why.
//!
//! x1 = the bits below; x2 = the [`crate::Reason`] for bit n in byte n when bit n is off
//! (so a VMM can tell a user *why* cacheable device memory is unavailable).

/// Cacheable device memory may be given to guests (memslot kind cacheable-device, with the
/// opt-in flag). Needs FEAT_S2FWB (else NEEDS_FWB).
pub const CACHEABLE_DEVICE: u64 = 1 << 0;
/// ... and may be executable. Needs CTR_EL0.DIC too (else NO_DIC: mapped never-executable).
pub const CACHEABLE_DEVICE_EXEC: u64 = 1 << 1;
/// Memslot kind device-nc (Normal-NC, never executable).
pub const DEVICE_NC: u64 = 1 << 2;
/// Guest accesses to MMIO slots with a valid syndrome exit with an MMIO record.
pub const MMIO_EXITS: u64 = 1 << 3;
/// Accesses without a valid syndrome (ISV=0) exit as NISV with the raw ESR.
pub const NISV_EXITS: u64 = 1 << 4;
/// RAM slots are mapped on first touch inside EL2 (counted by STATS).
pub const LAZY_MAPPING: u64 = 1 << 5;
/// Guests run with HCR_EL2.FWB = 1: stage 2 decides cacheability even with the guest's
/// MMU off. Needs FEAT_S2FWB.
pub const FWB_GUESTS: u64 = 1 << 6;
/// VGIC_CONFIG can give a VM a virtual GIC: the machine has a GICv3, or a GICv2 with its
/// virtualization frames (GICH, GICV) in the DT (else NO_VGIC).
pub const VGIC: u64 = 1 << 7;

pub const ALL: [(u64, &str); 8] = [
    (CACHEABLE_DEVICE, "CACHEABLE_DEVICE"),
    (CACHEABLE_DEVICE_EXEC, "CACHEABLE_DEVICE_EXEC"),
    (DEVICE_NC, "DEVICE_NC"),
    (MMIO_EXITS, "MMIO_EXITS"),
    (NISV_EXITS, "NISV_EXITS"),
    (LAZY_MAPPING, "LAZY_MAPPING"),
    (FWB_GUESTS, "FWB_GUESTS"),
    (VGIC, "VGIC"),
];

/// The reason byte for capability bit `bit` out of GET_CAPS' x2.
pub const fn reason_of(x2: u64, bit: u64) -> u8 {
    let n = bit.trailing_zeros();
    if n >= 8 {
        return 0;
    }
    (x2 >> (8 * n)) as u8
}
