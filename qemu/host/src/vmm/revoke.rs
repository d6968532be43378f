//! REGION_REVOKE / REGION_RESTORE from the bare-metal host, once the guest has run
//! (docs/ABI.md): the board's fb-nc region, behind the guest's device-nc window (which the
//! guest touched, so it is mapped), is taken away and given back. `guest-region-revoke`:
//! the revoke names one slot in one VM and the window's mapping is gone; revoking again is
//! REVOKED and an address inside the region NOT_OWNED; MEMSLOT_SET over the region is
//! REVOKED until REGION_RESTORE and accepted after it. (The guest's SLOT_CHANGED exit on
//! its next access is checked from Linux, `make test-driver`.)

use super::calls::{self, expect, Refusal, Request};
use super::machine::VmmMachine;
use super::slots;
use crate::fail::Fail;
use crate::oracle::QEMU_VIRT;
use crate::report::Report;
use core::fmt;
use stile_abi::{Function, Reason};
use stile_guest::layout;

fn region_call(m: &mut impl VmmMachine, f: Function, base: u64) -> calls::Answer {
    calls::call(m, &Request::new(f, [base, 0, 0, 0, 0, 0]))
}

/// Prints `guest-region-revoke`. `nc`: the device-nc window's slot was accepted (else the
/// region was refused at boot and is no region to revoke: NOT_OWNED).
pub fn check<M: VmmMachine, W: fmt::Write>(m: &mut M, report: &mut Report<W>, vm: u64, nc: bool) {
    let Some(fb) = QEMU_VIRT.iter().find(|r| r.name == "fb-nc") else {
        report.check(
            "guest-region-revoke",
            Err(Fail::Missing("no fb-nc region in the oracle")),
        );
        return;
    };
    let result = if nc {
        round_trip(m, vm, fb.base)
    } else {
        let r = region_call(m, Function::RegionRevoke, fb.base);
        expect("REGION_REVOKE", r, Some(Reason::NotOwned))
    };
    report.note(format_args!(
        "vmm: REGION_REVOKE / REGION_RESTORE of fb-nc ({:#x}) behind the device-nc window: {}",
        fb.base,
        if result.is_ok() {
            "as documented"
        } else {
            "not as documented"
        }
    ));
    report.check("guest-region-revoke", result);
}

fn round_trip(m: &mut impl VmmMachine, vm: u64, base: u64) -> Result<(), Fail> {
    let window = layout::NC_WINDOW.base;
    let translate = |m: &mut _| calls::call(m, &Request::translate(vm, window));
    translate(m).map_err(|refusal| Fail::Refused {
        call: "TRANSLATE of the window before the revoke",
        refusal,
    })?;
    let [slots, vms, _] =
        region_call(m, Function::RegionRevoke, base).map_err(|refusal| Fail::Refused {
            call: "REGION_REVOKE",
            refusal,
        })?;
    let one = |what, got| match got {
        1 => Ok(()),
        _ => Err(Fail::Value { what, got, want: 1 }),
    };
    one("REGION_REVOKE's slots", slots)?;
    one("REGION_REVOKE's VMs", vms)?;
    // Unmapped: TRANSLATE finds the slot but nothing behind it.
    match translate(m) {
        Err(e) if e.reason == Reason::NoMapping as u64 => {}
        Ok(_) => return Err(Fail::NotBlocked { addr: window.0 }),
        Err(got) => {
            return Err(Fail::WrongRefusal {
                got,
                want: Reason::NoMapping,
            })
        }
    }
    let again = region_call(m, Function::RegionRevoke, base);
    expect("REGION_REVOKE", again, Some(Reason::Revoked))?;
    let inside = region_call(m, Function::RegionRevoke, base + 0x1000);
    expect("REGION_REVOKE", inside, Some(Reason::NotOwned))?;
    let slot = slots::nc_window(base);
    let set = |m: &mut _| -> Result<(), Refusal> { calls::memslot_set(m, vm, &slot) };
    expect("MEMSLOT_SET", set(m), Some(Reason::Revoked))?;
    let back = region_call(m, Function::RegionRestore, base);
    expect("REGION_RESTORE", back, None)?;
    expect("MEMSLOT_SET", set(m), None)?;
    // Restoring what is not revoked changes nothing.
    let twice = region_call(m, Function::RegionRestore, base);
    expect("REGION_RESTORE", twice, None)
}
