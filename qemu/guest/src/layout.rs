//! The guest's machine: its IPA map and how its RAM is carved from the memory the VMM
//! donates (docs/GUEST-PAYLOAD.md draws it). The VMM builds the memslots from this; the guest
//! itself only needs the test device's address and gets every other address from the VMM
//! with each scenario.
//!
//! Every host RAM address (0x4000_0000..0x7B00_0000 on qemu-virt with 1 GiB) is a hole here,
//! so a guest read of one of them must reach no memory at all.

use crate::ipa::{Ipa, IpaRange};

pub const KIB: u64 = 1 << 10;
pub const MIB: u64 = 1 << 20;
pub const PAGE: u64 = 4 * KIB;

/// The emulated test device (an MMIO slot: every access exits to the VMM).
pub const DEVICE: IpaRange = IpaRange::new(0x0900_0000, PAGE);
/// Guest RAM (slot 0), backed by the first [`RAM_SIZE`] bytes of the donated memory.
pub const RAM: IpaRange = IpaRange::new(0x8000_0000, 3 * MIB);
/// The image must end below here: the second 2 MiB of RAM is left for the lazy-mapping
/// scenario, untouched until then (so even a hypervisor that maps 2 MiB blocks on first
/// touch must fault again there).
pub const IMAGE_LIMIT: u64 = 2 * MIB;
/// Pages the lazy-mapping scenario touches first, in the second 2 MiB of RAM.
pub const LAZY_SCRATCH: Ipa = Ipa(RAM.base.0 + 2 * MIB);
pub const LAZY_PAGES: u64 = 16;
/// The two pages after them, untouched until the kept-registers scenario stores to them
/// (lazy maps in EL2).
pub const MARKED_SCRATCH: Ipa = Ipa(LAZY_SCRATCH.0 + LAZY_PAGES * PAGE);
pub const MARKED_PAGES: u64 = 2;
/// In no slot until the guest faults on it; then the VMM adds a RAM slot there.
pub const REPLAY: IpaRange = IpaRange::new(0x9000_0000, PAGE);
/// A read-only RAM slot.
pub const READ_ONLY: IpaRange = IpaRange::new(0x9010_0000, PAGE);
/// In no slot, ever: a load from it is a MEMORY_FAULT the VMM answers SKIP.
pub const HOLE: Ipa = Ipa(0x9020_0000);
/// A cacheable-device slot over the board's `aperture` (with the opt-in, where FWB allows).
pub const CACHEABLE_WINDOW: IpaRange = IpaRange::new(0xA000_0000, 64 * KIB);
/// A device-nc slot over the board's `fb-nc`.
pub const NC_WINDOW: IpaRange = IpaRange::new(0xA100_0000, 64 * KIB);

/// What the VMM donates at VM_CREATE (2 MiB aligned in host RAM).
pub const DONATED_SIZE: u64 = 4 * MIB;
pub const DONATED_ALIGN: u64 = 2 * MIB;
/// Offsets into the donated memory of the pages behind [`REPLAY`] and [`READ_ONLY`],
/// pre-filled by the VMM before it donates them.
pub const REPLAY_BACKING: u64 = RAM.size;
pub const READ_ONLY_BACKING: u64 = RAM.size + PAGE;

/// Memslot numbers.
pub const SLOT_RAM: u64 = 0;
pub const SLOT_DEVICE: u64 = 1;
pub const SLOT_REPLAY: u64 = 2;
pub const SLOT_READ_ONLY: u64 = 3;
pub const SLOT_CACHEABLE: u64 = 4;
pub const SLOT_NC: u64 = 5;
/// A slot number the VMM uses for requests that must be refused.
pub const SLOT_SCRATCH: u64 = 6;

// The backing pages lie after guest RAM, apart, inside the donated memory; RAM is 2 MiB
// aligned (so the hypervisor may map it in blocks).
const _: () = assert!(REPLAY_BACKING >= RAM.size);
const _: () = assert!(REPLAY_BACKING + REPLAY.size <= READ_ONLY_BACKING);
const _: () = assert!(READ_ONLY_BACKING + READ_ONLY.size <= DONATED_SIZE);
const _: () = assert!(RAM.base.is_aligned(2 * MIB));
const _: () = assert!(MARKED_SCRATCH.0 + MARKED_PAGES * PAGE <= RAM.base.0 + RAM.size);

/// Words the VMM writes into the backing pages before donation.
pub const REPLAY_VALUE: u64 = 0x5245_504c_4159_2121; // "REPLAY!!"
pub const READ_ONLY_VALUE: u64 = 0x5245_4144_4f4e_4c59; // "READONLY"

/// Where the VMM puts the vGIC of the vGIC checks (VGIC_CONFIG): the distributor frame and
/// the redistributors (128 KiB per vCPU). No memslot covers them.
pub const VGIC_GICD: u64 = 0x0800_0000;
pub const VGIC_GICR: u64 = 0x080a_0000;
/// On a GICv2 machine, the guest's GICC frame instead of the redistributors (Stile maps
/// the hardware's GICV there).
pub const VGIC_GICC: u64 = 0x0801_0000;

#[cfg(test)]
mod tests {
    use super::*;

    const SLOTS: [IpaRange; 6] = [DEVICE, RAM, REPLAY, READ_ONLY, CACHEABLE_WINDOW, NC_WINDOW];

    #[test]
    fn slots_do_not_overlap_and_are_page_aligned() {
        for (i, a) in SLOTS.iter().enumerate() {
            assert!(a.base.is_aligned(PAGE) && a.size % PAGE == 0, "{a}");
            for b in &SLOTS[i + 1..] {
                assert!(!a.overlaps(b), "{a} overlaps {b}");
            }
        }
    }

    #[test]
    fn lazy_scratch_is_ram_past_the_image_in_its_own_2m_block() {
        let end = LAZY_SCRATCH.0 + LAZY_PAGES * PAGE;
        assert!(RAM.contains(LAZY_SCRATCH) && end <= RAM.end());
        assert_eq!(LAZY_SCRATCH.0 - RAM.base.0, IMAGE_LIMIT);
        assert!(LAZY_SCRATCH.is_aligned(2 * MIB));
    }

    #[test]
    fn host_ram_of_qemu_virt_is_a_hole() {
        let host_ram = IpaRange::new(0x4000_0000, 0x4000_0000);
        for s in SLOTS {
            assert!(!s.overlaps(&host_ram), "{s}");
        }
    }
}
