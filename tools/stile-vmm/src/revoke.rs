//! `run --revoke-after N`: the VMM plays the host's device-reset path against its own guest.
//! After N exits it revokes a board region its guest uses (REGION_REVOKE); the guest's next
//! access there exits SLOT_CHANGED; re-registering the slot is then refused with REVOKED,
//! so the VMM restores the region ("the device is back") and registers it again, and the
//! access is replayed. Decided here; carried out by main.rs's VMM.

use crate::slots::SlotSpec;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use stile_abi::slot::SlotKind;

const WAITING: u8 = 0;
const REVOKED: u8 = 1;
const RESTORED: u8 = 2;

#[derive(Debug)]
pub struct RevokePlan {
    /// The region's base PA.
    pub region: u64,
    after: u64,
    exits: AtomicU64,
    state: AtomicU8,
}

impl RevokePlan {
    /// The plan for `--revoke-after after`: the region is `region`, or else the backing
    /// of the first slot of a device kind (a region's base is what slots usually name).
    pub fn new(after: u64, region: Option<u64>, slots: &[SlotSpec]) -> Result<Self, String> {
        let device = |s: &&SlotSpec| {
            matches!(
                s.kind,
                SlotKind::Device | SlotKind::DeviceNc | SlotKind::CacheableDevice
            )
        };
        let region = match region {
            Some(r) => r,
            None => slots.iter().find(device).map(|s| s.backing).ok_or(
                "--revoke-after: no device slot to take the region from (add --revoke-region)",
            )?,
        };
        Ok(RevokePlan {
            region,
            after,
            exits: AtomicU64::new(0),
            state: AtomicU8::new(WAITING),
        })
    }

    /// Count one exit (of any vCPU); true exactly once, at the `after`-th: revoke now.
    pub fn exit_seen(&self) -> bool {
        let n = self.exits.fetch_add(1, Ordering::Relaxed) + 1;
        n == self.after
            && self
                .state
                .compare_exchange(WAITING, REVOKED, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// A slot's registration was refused REVOKED: true once if this plan revoked the
    /// region (restore it now); false if someone else did (wait for them).
    pub fn take_back(&self) -> bool {
        self.state
            .compare_exchange(REVOKED, RESTORED, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<SlotSpec> {
        vec![
            SlotSpec::parse("slot=0,ipa=0x80000000,size=2M,kind=ram").unwrap(),
            SlotSpec::parse("ipa=0x9000000,size=4K,kind=mmio").unwrap(),
            SlotSpec::parse("ipa=0xa0000000,size=64K,kind=device-nc,backing=0x7b000000").unwrap(),
        ]
    }

    #[test]
    fn the_region_is_the_first_device_slots_backing_unless_named() {
        assert_eq!(
            RevokePlan::new(3, None, &specs()).unwrap().region,
            0x7b00_0000
        );
        assert_eq!(
            RevokePlan::new(3, Some(0x7c00_0000), &specs())
                .unwrap()
                .region,
            0x7c00_0000
        );
        let e = RevokePlan::new(3, None, &specs()[..2]).unwrap_err();
        assert!(e.contains("no device slot"), "{e}");
    }

    #[test]
    fn it_revokes_once_at_the_nth_exit_and_takes_back_only_its_own() {
        let p = RevokePlan::new(3, None, &specs()).unwrap();
        assert!(!p.take_back(), "nothing revoked yet: someone else's revoke");
        let fired: Vec<bool> = (0..6).map(|_| p.exit_seen()).collect();
        assert_eq!(fired, [false, false, true, false, false, false]);
        assert!(p.take_back());
        assert!(!p.take_back(), "restored once");
        // Exit 0 never comes: --revoke-after 0 never revokes.
        let never = RevokePlan::new(0, None, &specs()).unwrap();
        assert!((0..5).all(|_| !never.exit_seen()));
    }
}
