//! The kick's register accesses (vgic/kick.rs says what the kick is and why it is safe).

use crate::vgic::kick::{Kick, GICR_CTLR_RWP, KICK_BIT, KICK_PRIORITY};
use core::arch::asm;
use core::ptr::{read_volatile, write_volatile};

/// Polls of GICR_CTLR.RWP after disabling the kick (QEMU finishes at once; hardware within
/// a few hundred cycles).
const RWP_POLLS: u32 = 10_000;

/// Send the kick to the CPU whose ICC_SGI1R_EL1 value is `sgi1r`.
#[inline]
pub fn send(sgi1r: u64) {
    // SAFETY: ICC_SGI1R_EL1 at EL2 generates a Group 1 SGI; KICK_SGI is reserved for EL2
    // (docs/ABI.md), and the target takes it in EL2 or never (vgic/kick.rs). The DSB makes
    // the caller's update of the vGIC model visible before the interrupt can be.
    unsafe {
        asm!(
            "dsb ishst",
            "msr icc_sgi1r_el1, {}",
            "isb",
            in(reg) sgi1r,
            options(nostack, preserves_flags)
        )
    };
}

/// A vGIC guest is about to run on this CPU: let the kick in, as a Group 1 interrupt of a
/// priority the host's mask passes (a bare-metal host may never have configured it).
#[inline]
pub fn allow(k: &Kick) {
    // SAFETY: this CPU's redistributor SGI frame, mapped Device in EL2's map (the host tick
    // guard found it there). Only KICK_SGI's bits and priority byte are changed, and the
    // host is not running on this CPU, so nothing races the read-modify-write.
    unsafe {
        let group = read_volatile(k.igroupr0() as *const u32);
        if group & KICK_BIT == 0 {
            write_volatile(k.igroupr0() as *mut u32, group | KICK_BIT);
            write_volatile(k.priority_byte() as *mut u8, KICK_PRIORITY);
        }
        write_volatile(k.isenabler0() as *mut u32, KICK_BIT);
    }
}

/// The vGIC guest left this CPU: keep any kick still on its way from reaching the host.
#[inline]
pub fn block(k: &Kick) {
    // SAFETY: as in `allow`; a write of the kick's bit to GICR_ICENABLER0 disables only it.
    // GICR_CTLR is the same redistributor's, read-only here.
    unsafe {
        write_volatile(k.icenabler0() as *mut u32, KICK_BIT);
        for _ in 0..RWP_POLLS {
            if read_volatile(k.gicr_ctlr() as *const u32) & GICR_CTLR_RWP == 0 {
                break;
            }
        }
    }
}

/// Whether this CPU was kicked; the kick is cleared without an acknowledge.
#[inline]
pub fn take(k: &Kick) -> bool {
    // SAFETY: as in `allow`; GICR_ICPENDR0 with the kick's bit clears only its pending state.
    unsafe {
        if read_volatile(k.ispendr0() as *const u32) & KICK_BIT == 0 {
            return false;
        }
        write_volatile(k.icpendr0() as *mut u32, KICK_BIT);
    }
    true
}
