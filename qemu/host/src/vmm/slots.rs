//! The guest's memslots, built from its layout (`stile_guest::layout`) and the donated block.

use super::calls::SlotRequest;
use stile_abi::slot::{word, SlotKind, FLAG_CACHEABLE_OPT_IN, PERM_EXEC, PERM_READ, PERM_WRITE};
use stile_guest::ipa::IpaRange;
use stile_guest::layout;
use stile_hyp::addr::PhysAddr;

pub const RW: u64 = PERM_READ | PERM_WRITE;
pub const RWX: u64 = PERM_READ | PERM_WRITE | PERM_EXEC;

/// A slot with the name the narration uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Named {
    pub name: &'static str,
    pub req: SlotRequest,
}

const fn slot(n: u64, ipa: IpaRange, pa: u64, w: u64) -> SlotRequest {
    SlotRequest {
        slot: n,
        ipa: ipa.base,
        pa,
        size: ipa.size,
        word: w,
    }
}

/// The slots set before the vCPU first runs: RAM (lazy), the test device, the read-only page.
pub fn initial(donated: PhysAddr) -> [Named; 3] {
    [
        Named {
            name: "guest RAM",
            req: slot(
                layout::SLOT_RAM,
                layout::RAM,
                donated.0,
                word(SlotKind::Ram, RWX, 0),
            ),
        },
        Named {
            name: "test device",
            req: slot(
                layout::SLOT_DEVICE,
                layout::DEVICE,
                0,
                word(SlotKind::Mmio, RW, 0),
            ),
        },
        Named {
            name: "read-only page",
            req: slot(
                layout::SLOT_READ_ONLY,
                layout::READ_ONLY,
                donated.0 + layout::READ_ONLY_BACKING,
                word(SlotKind::Ram, PERM_READ, 0),
            ),
        },
    ]
}

/// The slot the VMM adds when the guest faults on [`layout::REPLAY`].
pub fn replay(donated: PhysAddr) -> Named {
    Named {
        name: "replay page",
        req: slot(
            layout::SLOT_REPLAY,
            layout::REPLAY,
            donated.0 + layout::REPLAY_BACKING,
            word(SlotKind::Ram, RW, 0),
        ),
    }
}

/// The cacheable-device window over `aperture_pa`, with or without the opt-in flag.
pub fn cacheable_window(aperture_pa: u64, opt_in: bool) -> SlotRequest {
    let flags = if opt_in { FLAG_CACHEABLE_OPT_IN } else { 0 };
    slot(
        layout::SLOT_CACHEABLE,
        layout::CACHEABLE_WINDOW,
        aperture_pa,
        word(SlotKind::CacheableDevice, RW, flags),
    )
}

/// The device-nc window over `fb_pa`.
pub fn nc_window(fb_pa: u64) -> SlotRequest {
    slot(
        layout::SLOT_NC,
        layout::NC_WINDOW,
        fb_pa,
        word(SlotKind::DeviceNc, RW, 0),
    )
}

/// `r`, `w`, `x` or `-` per permission bit, for the narration.
pub fn perms(word: u64) -> [u8; 3] {
    let bit = |b: u64, c: u8| if word & b != 0 { c } else { b'-' };
    [
        bit(PERM_READ, b'r'),
        bit(PERM_WRITE, b'w'),
        bit(PERM_EXEC, b'x'),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backing_pages_follow_the_layout() {
        let base = PhysAddr(0x7ac0_0000);
        let [ram, dev, ro] = initial(base);
        assert_eq!((ram.req.pa, ram.req.size), (0x7ac0_0000, 3 << 20));
        assert_eq!(dev.req.word & 0xff, SlotKind::Mmio as u64);
        assert_eq!(ro.req.pa, 0x7af0_1000);
        assert_eq!(ro.req.word, SlotKind::Ram as u64 | PERM_READ);
        assert_eq!(replay(base).req.pa, 0x7af0_0000);
        assert_eq!(&perms(ram.req.word), b"rwx");
        assert_eq!(&perms(ro.req.word), b"r--");
    }

    #[test]
    fn the_opt_in_flag_is_the_only_difference_between_the_two_cacheable_requests() {
        let a = cacheable_window(0x7c00_0000, false);
        let b = cacheable_window(0x7c00_0000, true);
        assert_eq!(a.word ^ b.word, FLAG_CACHEABLE_OPT_IN);
        assert_eq!(a.word & 0xff, SlotKind::CacheableDevice as u64);
    }
}
