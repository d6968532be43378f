//! Memslots: what part of a guest's IPA space is backed by what, as what kind of memory.
//! Every rule is checked when the slot is registered (so a well-behaved VMM learns up front
//! what Stile will not do, and why), and what of them can change since is checked again
//! when a fault would map it ([`recheck_backing`]).

use crate::addr::{PhysAddr, PhysRange};
use crate::mm::kind::{MemoryKind, Perms};
use core::cell::Cell;
use core::ops::{Deref, DerefMut};
use stile_abi::slot::{self, SlotKind};
use stile_abi::Reason;

pub const MAX_SLOTS: usize = 16;
const PAGE: u64 = 4096;
const BLOCK_2M: u64 = 2 << 20;

/// A registered slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub ipa: u64,
    /// Backing; unused for MMIO slots.
    pub pa: u64,
    pub size: u64,
    pub kind: SlotKind,
    /// [`Perms::bits`]: a fault tests its access against these and indexes the leaf
    /// attributes with them, without packing three flags each time.
    perms: u8,
    pub opted_in: bool,
    pub eager: bool,
    /// IPA and PA equally aligned within 2 MiB (`(ipa ^ pa) % 2 MiB == 0`): a fault may map
    /// a block wherever the slot covers one.
    congruent_2m: bool,
}

impl Slot {
    pub const fn new(
        ipa: u64,
        pa: u64,
        size: u64,
        kind: SlotKind,
        perms: Perms,
        opted_in: bool,
        eager: bool,
    ) -> Slot {
        Slot {
            ipa,
            pa,
            size,
            kind,
            perms: perms.bits(),
            opted_in,
            eager,
            congruent_2m: (ipa ^ pa) & (BLOCK_2M - 1) == 0,
        }
    }

    /// Whether its backing lies (partly) in `pa`: never for MMIO, which has none.
    pub fn backed_by(&self, pa: &PhysRange) -> bool {
        self.memory_kind().is_some() && PhysRange::new(self.pa, self.size).overlaps(pa)
    }

    /// Whether a 2 MiB block of IPA maps to a 2 MiB-aligned PA.
    #[inline]
    pub const fn congruent_2m(&self) -> bool {
        self.congruent_2m
    }

    #[inline]
    pub const fn perms(&self) -> Perms {
        Perms::from_bits(self.perms)
    }

    /// The permissions as [`Perms::bits`].
    #[inline]
    pub const fn perm_bits(&self) -> u8 {
        self.perms
    }

    /// Whether the slot's permissions allow `access` (`stile_abi::run_page::ACCESS_*`:
    /// read 0, write 1, exec 2, the bit numbers of [`Perms::bits`]).
    #[inline]
    pub const fn allows(&self, access: u8) -> bool {
        access < 3 && self.perms >> access & 1 != 0
    }

    #[inline]
    pub fn contains(&self, ipa: u64) -> bool {
        ipa >= self.ipa && ipa - self.ipa < self.size
    }

    pub fn ipa_range(&self) -> PhysRange {
        PhysRange::new(self.ipa, self.size)
    }

    /// The memory kind stage 2 maps it as (`None` for MMIO: never mapped).
    #[inline]
    pub fn memory_kind(&self) -> Option<MemoryKind> {
        match self.kind {
            SlotKind::Ram => Some(MemoryKind::Ram),
            SlotKind::Device => Some(MemoryKind::Device),
            SlotKind::DeviceNc => Some(MemoryKind::DeviceNc),
            SlotKind::CacheableDevice => Some(MemoryKind::CacheableDevice),
            SlotKind::Mmio => None,
        }
    }

    /// PA backing `ipa` (which must be inside the slot).
    #[inline]
    pub fn pa_of(&self, ipa: u64) -> PhysAddr {
        PhysAddr(self.pa + (ipa - self.ipa))
    }
}

/// A VM's slots by number (index = slot number), and which one the last lookup found:
/// faults come in runs on one slot, so a lookup tries that one first. Only a hint, checked
/// each time; slots never overlap, so the slot holding an IPA is the same whichever way it
/// is found.
pub struct Slots {
    slots: [Option<Slot>; MAX_SLOTS],
    last: Cell<u8>,
    /// Bit `i`: slot `i`'s board region was revoked behind the VMM's back (vm/revoke.rs),
    /// so a fault on it is SLOT_CHANGED until the slot is registered again. Beside the
    /// slots, not in them: a flag in `Slot` itself cost `make bench`'s fault + MEMSLOT_SET +
    /// replay about 400 instructions (measured, not traced), and the lazy map nothing here.
    changed: u16,
}

impl Slots {
    pub const fn new() -> Slots {
        Slots {
            slots: [None; MAX_SLOTS],
            last: Cell::new(0),
            changed: 0,
        }
    }

    /// Slot `i` registered (or cleared) anew: whatever its region went through before, it is
    /// not changed now.
    pub fn put(&mut self, i: usize, slot: Option<Slot>) {
        if let Some(s) = self.slots.get_mut(i) {
            *s = slot;
            self.changed &= !(1 << i);
        }
    }

    /// Whether slot `i`'s region was revoked since it was registered.
    #[inline(always)]
    pub fn changed(&self, i: usize) -> bool {
        self.changed >> (i % MAX_SLOTS) & 1 != 0
    }

    pub fn mark_changed(&mut self, i: usize) {
        self.changed |= 1 << (i % MAX_SLOTS);
    }

    /// The slot holding `ipa` and its number. Runs on every fault; looks at the slots in
    /// place (no copies).
    #[inline]
    pub fn find(&self, ipa: u64) -> Option<(usize, &Slot)> {
        self.find_last(ipa).or_else(|| self.search(ipa))
    }

    /// [`Slots::find`] if the slot it found last holds `ipa`; else None, without a search.
    #[inline(always)]
    pub fn find_last(&self, ipa: u64) -> Option<(usize, &Slot)> {
        let last = self.last.get() as usize % MAX_SLOTS;
        match &self.slots[last] {
            Some(s) if s.contains(ipa) => Some((last, s)),
            _ => None,
        }
    }

    /// [`Slots::find`] when the last slot is not it: every slot in turn.
    #[inline(never)]
    fn search(&self, ipa: u64) -> Option<(usize, &Slot)> {
        let (i, s) = self
            .slots
            .iter()
            .enumerate()
            .find_map(|(i, s)| s.as_ref().filter(|s| s.contains(ipa)).map(|s| (i, s)))?;
        self.last.set(i as u8);
        Some((i, s))
    }
}

impl Default for Slots {
    fn default() -> Self {
        Slots::new()
    }
}

impl Deref for Slots {
    type Target = [Option<Slot>; MAX_SLOTS];

    fn deref(&self) -> &Self::Target {
        &self.slots
    }
}

impl DerefMut for Slots {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.slots
    }
}

/// What a slot may be backed by, besides the VM's own donated RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignable {
    pub range: PhysRange,
    pub kind: MemoryKind,
}

/// The facts registration checks against.
#[derive(Clone, Copy)]
pub struct SlotWorld<'a> {
    /// The VM's donated RAM.
    pub donated: PhysRange,
    /// Board regions marked assignable (and accepted at boot on this CPU).
    pub assignable: &'a [Assignable],
    /// FEAT_S2FWB: the CACHEABLE_DEVICE capability.
    pub fwb: bool,
    /// One past the highest IPA the VM's stage 2 translates.
    pub ipa_limit: u64,
}

/// A MEMSLOT_SET request as the registers carried it.
#[derive(Debug, Clone, Copy)]
pub struct SlotRequest {
    pub index: u64,
    pub ipa: u64,
    pub pa: u64,
    pub size: u64,
    pub word: u64,
}

fn inside(outer: &PhysRange, base: u64, size: u64) -> bool {
    base >= outer.base.0 && base.checked_add(size).is_some_and(|e| e <= outer.end())
}

/// Decode and check a request against `world` and the VM's other slots (`others`, without
/// the slot being replaced). Returns the slot, or the first rule it breaks.
pub fn validate(req: &SlotRequest, others: &[Slot], world: &SlotWorld) -> Result<Slot, Reason> {
    if req.index >= MAX_SLOTS as u64 {
        return Err(Reason::Limit);
    }
    if req.word & !slot::KNOWN_BITS != 0 {
        return Err(Reason::BadArgument);
    }
    let kind = SlotKind::from_u8(req.word as u8).ok_or(Reason::BadArgument)?;
    let perms = Perms {
        read: req.word & slot::PERM_READ != 0,
        write: req.word & slot::PERM_WRITE != 0,
        exec: req.word & slot::PERM_EXEC != 0,
    };
    let s = Slot::new(
        req.ipa,
        if kind == SlotKind::Mmio { 0 } else { req.pa },
        req.size,
        kind,
        perms,
        req.word & slot::FLAG_CACHEABLE_OPT_IN != 0,
        req.word & slot::FLAG_EAGER != 0,
    );
    if s.size == 0 || (s.ipa | s.pa | s.size) & (PAGE - 1) != 0 {
        return Err(Reason::Misaligned);
    }
    if s.ipa
        .checked_add(s.size)
        .is_none_or(|end| end > world.ipa_limit)
    {
        return Err(Reason::OutOfRange);
    }
    if others
        .iter()
        .any(|o| o.ipa_range().overlaps(&s.ipa_range()))
    {
        return Err(Reason::Overlap);
    }
    check_backing(&s, world)?;
    Ok(s)
}

/// The rules that depend on the backing and the CPU, not on the other slots: checked at
/// registration, and what of them can change again at fault time ([`recheck_backing`]).
pub fn check_backing(s: &Slot, world: &SlotWorld) -> Result<(), Reason> {
    // Guest RAM, every lazy map's case, passes on its own: no need to search the regions.
    if s.kind == SlotKind::Ram && inside(&world.donated, s.pa, s.size) {
        return Ok(());
    }
    check_backing_in_regions(s, world)
}

/// [`check_backing`] as a fault repeats it before mapping: a slot that no longer passes is
/// not mapped. A RAM slot passed at registration by lying inside the VM's donated RAM, and
/// neither can change after: a slot is replaced only by MEMSLOT_SET, which validates again,
/// and a VM keeps its donated RAM for its life. So a RAM slot is not checked again; the
/// other kinds are, against the board's regions and the CPU, and against a revocation of
/// their region (SLOT_CHANGED).
///
/// `changed` says whether the slot's region was revoked since, and `world` gives the facts
/// to check against; both are asked for only by the kinds that have a region, so the lazy
/// map of RAM pays for neither.
#[inline(always)]
pub fn recheck_backing<'w>(
    s: &Slot,
    changed: impl FnOnce() -> bool,
    world: impl FnOnce() -> SlotWorld<'w>,
) -> Result<(), Reason> {
    if s.kind == SlotKind::Ram {
        return Ok(());
    }
    if changed() {
        return Err(Reason::SlotChanged);
    }
    check_backing_in_regions(s, &world())
}

/// [`check_backing`] for everything but RAM inside the donated RAM.
fn check_backing_in_regions(s: &Slot, world: &SlotWorld) -> Result<(), Reason> {
    let Some(kind) = s.memory_kind() else {
        return Ok(()); // MMIO: nothing behind it
    };
    let in_ram = inside(&world.donated, s.pa, s.size);
    let region = world
        .assignable
        .iter()
        .find(|a| inside(&a.range, s.pa, s.size));
    match (kind, in_ram, region) {
        (MemoryKind::Ram, true, _) => Ok(()),
        (MemoryKind::Ram, false, Some(_)) => Err(Reason::BadKind),
        (_, true, _) => Err(Reason::BadKind),
        (_, false, None) => Err(Reason::NotOwned),
        (kind, false, Some(a)) if a.kind != kind => Err(Reason::BadKind),
        (MemoryKind::CacheableDevice, false, Some(_)) if !world.fwb => Err(Reason::NeedsFwb),
        (MemoryKind::CacheableDevice, false, Some(_)) if !s.opted_in => Err(Reason::NotOptedIn),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[path = "memslot_edge_tests.rs"]
mod edge_tests;

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const RAM: PhysRange = PhysRange::new(0x4400_0000, 0x40_0000);
    const APERTURE: Assignable = Assignable {
        range: PhysRange::new(0x7c00_0000, 0x400_0000),
        kind: MemoryKind::CacheableDevice,
    };
    pub(super) const FB: Assignable = Assignable {
        range: PhysRange::new(0x7b00_0000, 0x100_0000),
        kind: MemoryKind::DeviceNc,
    };
    const RWX: u64 = slot::PERM_READ | slot::PERM_WRITE | slot::PERM_EXEC;

    pub(super) fn world(fwb: bool) -> SlotWorld<'static> {
        SlotWorld {
            donated: RAM,
            assignable: &[APERTURE, FB],
            fwb,
            ipa_limit: 1 << 40,
        }
    }

    pub(super) fn req(ipa: u64, pa: u64, size: u64, word: u64) -> SlotRequest {
        SlotRequest {
            index: 0,
            ipa,
            pa,
            size,
            word,
        }
    }

    pub(super) fn ram(ipa: u64, pa: u64, size: u64) -> SlotRequest {
        req(ipa, pa, size, slot::word(SlotKind::Ram, RWX, 0))
    }

    #[test]
    fn ram_slot_over_donated_ram_is_accepted() {
        let s = validate(&ram(0x4000_0000, RAM.base.0, 0x20_0000), &[], &world(false)).unwrap();
        assert_eq!((s.kind, s.perms()), (SlotKind::Ram, Perms::RWX));
        assert_eq!(s.pa_of(0x4000_1000), PhysAddr(RAM.base.0 + 0x1000));
    }

    #[test]
    fn every_rule_has_its_reason() {
        let w = world(true);
        let cases = [
            (
                SlotRequest {
                    index: 16,
                    ..ram(0, RAM.base.0, 0x1000)
                },
                Reason::Limit,
            ),
            (req(0, RAM.base.0, 0x1000, 9), Reason::BadArgument),
            (req(0, RAM.base.0, 0x1000, 1 << 40), Reason::BadArgument),
            (ram(0x800, RAM.base.0, 0x1000), Reason::Misaligned),
            (ram(0, RAM.base.0, 0), Reason::Misaligned),
            (ram(1 << 40, RAM.base.0, 0x1000), Reason::OutOfRange),
            (ram(!0xfff, RAM.base.0, 0x2000), Reason::OutOfRange),
            (ram(0, 0x4000_0000, 0x1000), Reason::NotOwned),
            (ram(0, RAM.base.0, 0x80_0000), Reason::NotOwned),
            (ram(0, APERTURE.range.base.0, 0x1000), Reason::BadKind),
            (
                req(
                    0,
                    RAM.base.0,
                    0x1000,
                    slot::word(SlotKind::Device, slot::PERM_READ, 0),
                ),
                Reason::BadKind,
            ),
            (
                req(
                    0,
                    FB.range.base.0,
                    0x1000,
                    slot::word(SlotKind::CacheableDevice, 0, slot::FLAG_CACHEABLE_OPT_IN),
                ),
                Reason::BadKind,
            ),
            (
                req(
                    0,
                    APERTURE.range.base.0,
                    0x1000,
                    slot::word(SlotKind::CacheableDevice, RWX, 0),
                ),
                Reason::NotOptedIn,
            ),
        ];
        for (r, want) in cases {
            assert_eq!(validate(&r, &[], &w), Err(want), "{r:?}");
        }
    }

    #[test]
    fn cacheable_device_needs_fwb_then_opt_in() {
        let opted = req(
            0x1_0000_0000,
            APERTURE.range.base.0,
            0x20_0000,
            slot::word(SlotKind::CacheableDevice, RWX, slot::FLAG_CACHEABLE_OPT_IN),
        );
        assert_eq!(validate(&opted, &[], &world(false)), Err(Reason::NeedsFwb));
        let s = validate(&opted, &[], &world(true)).unwrap();
        assert!(s.opted_in);
        // The same rule again at fault time: a CPU without FWB would refuse to map it.
        assert_eq!(check_backing(&s, &world(false)), Err(Reason::NeedsFwb));
    }

    #[test]
    fn overlapping_slots_are_refused_but_mmio_needs_no_backing() {
        let first = validate(&ram(0x4000_0000, RAM.base.0, 0x20_0000), &[], &world(false)).unwrap();
        assert_eq!(
            validate(
                &ram(0x401f_f000, RAM.base.0, 0x1000),
                &[first],
                &world(false)
            ),
            Err(Reason::Overlap)
        );
        let mmio = req(
            0x0900_0000,
            0xdead_0000,
            0x1000,
            slot::word(SlotKind::Mmio, slot::PERM_READ | slot::PERM_WRITE, 0),
        );
        let s = validate(&mmio, &[first], &world(false)).unwrap();
        assert_eq!((s.pa, s.memory_kind()), (0, None));
    }

    #[test]
    fn a_lookup_checks_its_hint_so_a_cleared_or_replaced_slot_is_not_found() {
        let mut slots = Slots::new();
        slots[0] = Some(Slot::new(
            0x1000,
            RAM.base.0,
            0x1000,
            SlotKind::Ram,
            Perms::R,
            false,
            false,
        ));
        slots[3] = Some(Slot::new(
            0x8000,
            RAM.base.0,
            0x2000,
            SlotKind::Ram,
            Perms::R,
            false,
            false,
        ));
        assert_eq!(slots.find(0x9fff).map(|(i, _)| i), Some(3));
        assert_eq!(slots.find(0x1000).map(|(i, _)| i), Some(0));
        assert_eq!(slots.find(0x8000).map(|(i, _)| i), Some(3));
        slots[3] = None;
        assert_eq!(slots.find(0x8000), None);
        slots[0] = Some(Slot::new(
            0x2000,
            RAM.base.0,
            0x1000,
            SlotKind::Ram,
            Perms::R,
            false,
            false,
        ));
        assert_eq!(slots.find(0x1000), None);
        assert_eq!(
            slots.find(0x2fff).map(|(i, s)| (i, s.ipa)),
            Some((0, 0x2000))
        );
        assert_eq!(slots.find(0x3000), None);
    }

    #[test]
    fn perms_and_block_congruence_are_what_the_slot_was_made_with() {
        let s = Slot::new(
            0x20_0000,
            RAM.base.0,
            0x20_0000,
            SlotKind::Ram,
            Perms::RX,
            false,
            false,
        );
        assert_eq!(s.perms(), Perms::RX);
        assert!(s.allows(stile_abi::run_page::ACCESS_READ));
        assert!(!s.allows(stile_abi::run_page::ACCESS_WRITE));
        assert!(s.allows(stile_abi::run_page::ACCESS_EXEC));
        assert!(!s.allows(3));
        assert!(s.congruent_2m());
        let off = Slot::new(
            0x20_0000,
            RAM.base.0 + 0x1000,
            0x1000,
            SlotKind::Ram,
            Perms::R,
            false,
            false,
        );
        assert!(!off.congruent_2m());
    }

    #[test]
    fn a_fault_rechecks_the_device_kinds_but_not_ram_whose_verdict_cannot_change() {
        let ram = validate(&ram(0x4000_0000, RAM.base.0, 0x20_0000), &[], &world(false)).unwrap();
        assert_eq!(recheck_backing(&ram, || false, || world(false)), Ok(()));
        assert_eq!(
            recheck_backing(&ram, || true, || world(false)),
            Ok(()),
            "RAM has no region"
        );
        let opted = req(
            0x1_0000_0000,
            APERTURE.range.base.0,
            0x20_0000,
            slot::word(SlotKind::CacheableDevice, RWX, slot::FLAG_CACHEABLE_OPT_IN),
        );
        let s = validate(&opted, &[], &world(true)).unwrap();
        assert_eq!(recheck_backing(&s, || false, || world(true)), Ok(()));
        assert_eq!(
            recheck_backing(&s, || false, || world(false)),
            Err(Reason::NeedsFwb)
        );
        assert_eq!(
            recheck_backing(&s, || true, || world(true)),
            Err(Reason::SlotChanged)
        );
    }

    #[test]
    fn device_nc_slot_over_the_fb_region_is_accepted_without_fwb() {
        let r = req(
            0x1_0000_0000,
            FB.range.base.0,
            0x1000,
            slot::word(SlotKind::DeviceNc, slot::PERM_READ | slot::PERM_WRITE, 0),
        );
        assert!(validate(&r, &[], &world(false)).is_ok());
    }
}
