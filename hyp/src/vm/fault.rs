//! A guest's stage-2 abort, decoded once and classified: resolve it in EL2 (lazy map),
//! or stop the vCPU and tell the host (with the reason), or also inject an abort.

use crate::addr::PhysAddr;
use crate::esr::{ec, Esr};
use crate::mm::kind::MemoryKind;
use crate::vm::memslot::{recheck_backing, Slot, SlotWorld, Slots};
use crate::vm::mmio::MmioAccess;
use stile_abi::Reason;

pub const BLOCK_2M: u64 = 2 << 20;
const PAGE: u64 = 4096;

/// The abort as EL2 saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abort {
    pub esr: Esr,
    pub far: u64,
    pub ipa: u64,
}

impl Abort {
    pub fn is_fetch(&self) -> bool {
        self.esr.ec_raw() == ec::INST_ABORT_LOWER
    }

    /// `stile_abi::run_page::ACCESS_*`.
    pub fn access(&self) -> u8 {
        if self.is_fetch() {
            stile_abi::run_page::ACCESS_EXEC
        } else if self.esr.wnr() {
            stile_abi::run_page::ACCESS_WRITE
        } else {
            stile_abi::run_page::ACCESS_READ
        }
    }
}

/// What to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Map `[ipa, ipa + size)` of `slot` (a page, or the 2 MiB block around the fault when
    /// the slot covers it and both sides are aligned) and re-run the instruction: to `pa`,
    /// as `kind` with the slot's permissions (`Perms::bits`), so the map need not look the
    /// slot up again.
    Map {
        slot: usize,
        ipa: u64,
        size: u64,
        pa: PhysAddr,
        kind: MemoryKind,
        perm_bits: u8,
    },
    /// An access to an MMIO slot with a valid syndrome.
    Mmio(MmioAccess),
    /// An access to an MMIO slot without one.
    Nisv,
    /// Stop and report a memory fault with this reason.
    Fault(Reason),
    /// Inject an abort into the guest and report a memory fault with this reason.
    InjectAndFault(Reason),
    /// Not a fault we know how to reason about (external abort, alignment...): report it raw.
    Unknown,
}

/// Decide for `abort` in a VM whose slots are `slots`. The fault path: compiled into the
/// trap entry (docs/PERFORMANCE.md, "Optimisation level").
#[inline(always)]
pub fn classify(abort: &Abort, slots: &Slots, world: &SlotWorld) -> Outcome {
    classify_lazily(abort, slots, || *world)
}

/// [`classify`], with the slot world built only if a slot needs it (device memory: RAM's
/// backing is not checked again).
#[inline(always)]
pub fn classify_lazily<'w>(
    abort: &Abort,
    slots: &Slots,
    world: impl FnOnce() -> SlotWorld<'w>,
) -> Outcome {
    classify_with(
        abort,
        |ipa| slots.find(ipa),
        |index, slot| recheck_backing(slot, || slots.changed(index), world),
    )
}

/// [`classify`] with the slot of `ipa` from `find`, and `recheck` standing for
/// [`recheck_backing`] (the lazy-map entry passes narrower ones: vm/dispatch/lazy.rs).
#[inline(always)]
pub fn classify_with<'s>(
    abort: &Abort,
    find: impl FnOnce(u64) -> Option<(usize, &'s Slot)>,
    recheck: impl FnOnce(usize, &Slot) -> Result<(), Reason>,
) -> Outcome {
    let fsc = abort.esr.fsc();
    // Translation (0x04..=0x07), access flag (0x08..=0x0b) or permission (0x0c..=0x0f).
    if !(0x04..=0x0f).contains(&fsc) {
        return Outcome::Unknown;
    }
    let permission = fsc >= 0x0c;
    let Some((index, slot)) = find(abort.ipa) else {
        return Outcome::Fault(Reason::NoSlot);
    };
    let fetch = abort.is_fetch();
    let Some(kind) = slot.memory_kind() else {
        // MMIO: nothing behind it to map.
        if fetch {
            return Outcome::InjectAndFault(Reason::ExecNotAllowed);
        }
        return MmioAccess::from_esr(abort.esr).map_or(Outcome::Nisv, Outcome::Mmio);
    };
    // The access as `Abort::access` names it, without decoding the class again.
    let access = if fetch {
        if !kind.may_execute() {
            return Outcome::InjectAndFault(Reason::ExecNotAllowed);
        }
        stile_abi::run_page::ACCESS_EXEC
    } else if abort.esr.wnr() {
        stile_abi::run_page::ACCESS_WRITE
    } else {
        stile_abi::run_page::ACCESS_READ
    };
    if !slot.allows(access) {
        return Outcome::Fault(Reason::Permission);
    }
    if permission {
        // Allowed by the slot but refused by stage 2: the mapping says less than the slot
        // (exec dropped for lack of DIC, for instance). Nothing EL2 can fix.
        return Outcome::Fault(Reason::Permission);
    }
    // What can have changed since registration is checked again: a slot that no longer
    // passes is not mapped.
    if let Err(r) = recheck(index, slot) {
        return Outcome::Fault(r);
    }
    let (ipa, size) = granule(slot, abort.ipa);
    Outcome::Map {
        slot: index,
        ipa,
        size,
        pa: slot.pa_of(ipa),
        kind,
        perm_bits: slot.perm_bits(),
    }
}

/// The largest of 2 MiB / 4 KiB around `ipa` that `slot` covers entirely, with IPA and PA
/// equally aligned (so stage 2 can use a block).
#[inline(always)]
fn granule(slot: &Slot, ipa: u64) -> (u64, u64) {
    let block = ipa & !(BLOCK_2M - 1);
    // The block's PA is aligned exactly when the slot's IPA and PA are congruent; then the
    // slot must cover the whole block.
    if slot.congruent_2m() && block >= slot.ipa && block + BLOCK_2M <= slot.ipa + slot.size {
        (block, BLOCK_2M)
    } else {
        (ipa & !(PAGE - 1), PAGE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::PhysRange;
    use crate::mm::kind::{MemoryKind, Perms};
    use crate::vm::memslot::Assignable;
    use stile_abi::slot::SlotKind;

    const DONATED: PhysRange = PhysRange::new(0x4400_0000, 0x40_0000);
    const APERTURE: Assignable = Assignable {
        range: PhysRange::new(0x7c00_0000, 0x400_0000),
        kind: MemoryKind::CacheableDevice,
    };

    fn world(fwb: bool) -> SlotWorld<'static> {
        SlotWorld {
            donated: DONATED,
            assignable: &[APERTURE],
            fwb,
            ipa_limit: 1 << 40,
        }
    }

    fn slot(ipa: u64, pa: u64, size: u64, kind: SlotKind, perms: Perms) -> Option<Slot> {
        Some(Slot::new(ipa, pa, size, kind, perms, true, false))
    }

    fn slots_of(list: [Option<Slot>; 4]) -> Slots {
        let mut s = Slots::new();
        s[..4].copy_from_slice(&list);
        s
    }

    fn slots() -> Slots {
        slots_of([
            slot(
                0x4000_0000,
                0x4400_0000,
                0x40_0000,
                SlotKind::Ram,
                Perms::RWX,
            ),
            slot(0x0900_0000, 0, 0x1000, SlotKind::Mmio, Perms::RW),
            slot(0x5000_0000, 0x4400_0000, 0x1000, SlotKind::Ram, Perms::R),
            slot(
                0x1_0000_0000,
                0x7c00_0000,
                0x20_0000,
                SlotKind::CacheableDevice,
                Perms::RW,
            ),
        ])
    }

    fn dabt(ipa: u64, write: bool, fsc: u64) -> Abort {
        Abort {
            esr: Esr(0x24 << 26 | (write as u64) << 6 | fsc),
            far: ipa,
            ipa,
        }
    }

    #[test]
    fn first_touch_of_ram_maps_a_2m_block_when_it_can() {
        let o = classify(&dabt(0x4012_3456, false, 0x06), &slots(), &world(true));
        assert_eq!(
            o,
            Outcome::Map {
                slot: 0,
                ipa: 0x4000_0000,
                size: 2 << 20,
                pa: PhysAddr(0x4400_0000),
                kind: MemoryKind::Ram,
                perm_bits: Perms::RWX.bits(),
            }
        );
    }

    #[test]
    fn a_small_slot_is_mapped_page_by_page() {
        let o = classify(&dabt(0x5000_0010, false, 0x07), &slots(), &world(true));
        assert_eq!(
            o,
            Outcome::Map {
                slot: 2,
                ipa: 0x5000_0000,
                size: 4096,
                pa: PhysAddr(0x4400_0000),
                kind: MemoryKind::Ram,
                perm_bits: Perms::R.bits(),
            }
        );
    }

    #[test]
    fn a_slot_whose_ipa_and_pa_differ_within_2m_is_mapped_page_by_page() {
        let mut s = slots();
        s[0] = slot(
            0x4000_0000,
            0x4400_1000,
            0x3f_f000,
            SlotKind::Ram,
            Perms::RWX,
        );
        let o = classify(&dabt(0x4012_3456, false, 0x06), &s, &world(true));
        assert_eq!(
            o,
            Outcome::Map {
                slot: 0,
                ipa: 0x4012_3000,
                size: 4096,
                pa: PhysAddr(0x4412_4000),
                kind: MemoryKind::Ram,
                perm_bits: Perms::RWX.bits(),
            }
        );
    }

    #[test]
    fn a_block_only_partly_inside_the_slot_is_mapped_page_by_page() {
        let o = classify(&dabt(0x4030_0000, true, 0x06), &slots(), &world(true));
        assert!(matches!(
            o,
            Outcome::Map {
                size: 0x20_0000,
                ..
            }
        ));
        let mut s = slots();
        s[0] = slot(
            0x4000_0000,
            0x4400_0000,
            0x3f_f000,
            SlotKind::Ram,
            Perms::RWX,
        );
        let o = classify(&dabt(0x4030_0000, true, 0x06), &s, &world(true));
        assert_eq!(
            o,
            Outcome::Map {
                slot: 0,
                ipa: 0x4030_0000,
                size: 4096,
                pa: PhysAddr(0x4430_0000),
                kind: MemoryKind::Ram,
                perm_bits: Perms::RWX.bits(),
            }
        );
    }

    #[test]
    fn no_slot_and_permission_are_reported() {
        assert_eq!(
            classify(&dabt(0x6000_0000, false, 0x06), &slots(), &world(true)),
            Outcome::Fault(Reason::NoSlot)
        );
        assert_eq!(
            classify(&dabt(0x5000_0000, true, 0x07), &slots(), &world(true)),
            Outcome::Fault(Reason::Permission)
        );
    }

    #[test]
    fn mmio_with_and_without_syndrome() {
        let isv = Abort {
            esr: Esr(0x24 << 26 | 1 << 24 | 2 << 22 | 5 << 16 | 0x06),
            far: 0,
            ipa: 0x0900_0010,
        };
        assert!(matches!(
            classify(&isv, &slots(), &world(true)),
            Outcome::Mmio(MmioAccess {
                size: 4,
                srt: 5,
                ..
            })
        ));
        assert_eq!(
            classify(&dabt(0x0900_0010, false, 0x06), &slots(), &world(true)),
            Outcome::Nisv
        );
    }

    #[test]
    fn fetch_from_mmio_is_injected_and_reported() {
        let fetch = Abort {
            esr: Esr(0x20 << 26 | 0x06),
            far: 0x0900_0000,
            ipa: 0x0900_0000,
        };
        assert_eq!(
            classify(&fetch, &slots(), &world(true)),
            Outcome::InjectAndFault(Reason::ExecNotAllowed)
        );
    }

    #[test]
    fn an_abort_names_its_access_fetch_before_write() {
        use stile_abi::run_page::{ACCESS_EXEC, ACCESS_READ, ACCESS_WRITE};
        let access = |ec: u64, wnr: bool| {
            Abort {
                esr: Esr(ec << 26 | (wnr as u64) << 6 | 0x07),
                far: 0,
                ipa: 0,
            }
            .access()
        };
        assert_eq!(access(0x24, false), ACCESS_READ);
        assert_eq!(access(0x24, true), ACCESS_WRITE);
        assert_eq!(access(0x20, false), ACCESS_EXEC);
        // An instruction abort's WnR bit means nothing: still a fetch.
        assert_eq!(access(0x20, true), ACCESS_EXEC);
    }

    #[test]
    fn a_fetch_maps_from_ram_but_is_injected_from_a_kind_that_never_executes() {
        let fetch = |ipa| Abort {
            esr: Esr(0x20 << 26 | 0x07),
            far: ipa,
            ipa,
        };
        let mut s = slots();
        s[3] = slot(
            0x1_0000_0000,
            0x7c00_0000,
            0x1000,
            SlotKind::Device,
            Perms::RWX,
        );
        assert!(matches!(
            classify(&fetch(0x4000_0000), &s, &world(true)),
            Outcome::Map { slot: 0, .. }
        ));
        assert_eq!(
            classify(&fetch(0x1_0000_0000), &s, &world(true)),
            Outcome::InjectAndFault(Reason::ExecNotAllowed)
        );
    }

    #[test]
    fn cacheable_device_is_rechecked_at_fault_time() {
        let o = classify(&dabt(0x1_0000_0000, false, 0x06), &slots(), &world(true));
        assert!(matches!(o, Outcome::Map { slot: 3, .. }));
        assert_eq!(
            classify(&dabt(0x1_0000_0000, false, 0x06), &slots(), &world(false)),
            Outcome::Fault(Reason::NeedsFwb)
        );
        let mut s = slots();
        if let Some(x) = s[3].as_mut() {
            x.opted_in = false;
        }
        assert_eq!(
            classify(&dabt(0x1_0000_0000, false, 0x06), &s, &world(true)),
            Outcome::Fault(Reason::NotOptedIn)
        );
    }

    #[test]
    fn external_aborts_are_not_guessed_at() {
        assert_eq!(
            classify(&dabt(0x4000_0000, false, 0x10), &slots(), &world(true)),
            Outcome::Unknown
        );
    }
}
