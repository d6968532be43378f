//! The MEMSLOT_SET descriptor word (x6): kind in bits [7:0], permissions in [10:8], flags
//! from bit 16.

/// Slot kinds. `Mmio` slots have no backing: every access exits to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SlotKind {
    Ram = 0,
    Device = 1,
    DeviceNc = 2,
    CacheableDevice = 3,
    Mmio = 4,
}

impl SlotKind {
    pub const fn from_u8(v: u8) -> Option<SlotKind> {
        match v {
            0 => Some(SlotKind::Ram),
            1 => Some(SlotKind::Device),
            2 => Some(SlotKind::DeviceNc),
            3 => Some(SlotKind::CacheableDevice),
            4 => Some(SlotKind::Mmio),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            SlotKind::Ram => "ram",
            SlotKind::Device => "device",
            SlotKind::DeviceNc => "device-nc",
            SlotKind::CacheableDevice => "cacheable-device",
            SlotKind::Mmio => "mmio",
        }
    }
}

pub const PERM_READ: u64 = 1 << 8;
pub const PERM_WRITE: u64 = 1 << 9;
pub const PERM_EXEC: u64 = 1 << 10;
/// The host buys in to cacheable device memory for this slot (refused NOT_OPTED_IN
/// without it, even where the capability is on).
pub const FLAG_CACHEABLE_OPT_IN: u64 = 1 << 16;
/// Map the whole slot at MEMSLOT_SET instead of on first touch.
pub const FLAG_EAGER: u64 = 1 << 17;
/// Bits that mean something; anything else set is refused (BAD_ARGUMENT).
pub const KNOWN_BITS: u64 =
    0xff | PERM_READ | PERM_WRITE | PERM_EXEC | FLAG_CACHEABLE_OPT_IN | FLAG_EAGER;

/// Build the descriptor word.
pub const fn word(kind: SlotKind, perms: u64, flags: u64) -> u64 {
    kind as u64 | perms | flags
}
