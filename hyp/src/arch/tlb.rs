//! Stage-2 TLB maintenance with the real instructions (the contract is in mm/tlb.rs).

use crate::mm::stage2::Ipa;
use crate::mm::tlb::S2Maintenance;
use crate::mm::vmid::Vmid;
use core::arch::asm;

/// The CPU's stage-2 maintenance. TLBIs act on the VMID in VTTBR_EL2, so for another VM's
/// VMID it is loaded for the duration (no walk happens meanwhile: we are at EL2).
pub struct ArchTlb;

fn vttbr() -> u64 {
    let v: u64;
    // SAFETY: reading VTTBR_EL2 has no side effects.
    unsafe { asm!("mrs {}, vttbr_el2", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

fn set_vttbr(v: u64) {
    // SAFETY: EL1&0 translation is not in use while EL2 runs; the ISB orders later TLBIs.
    unsafe { asm!("msr vttbr_el2, {}", "isb", in(reg) v, options(nostack, preserves_flags)) };
}

fn with_vmid(vmid: Vmid, f: impl FnOnce()) {
    let saved = vttbr();
    let wanted = (saved & !(0xffff << 48)) | (vmid.raw() as u64) << 48;
    if wanted == saved {
        f();
    } else {
        set_vttbr(wanted);
        f();
        set_vttbr(saved);
    }
}

impl S2Maintenance for ArchTlb {
    fn dsb_ishst(&mut self) {
        // SAFETY: a barrier has no memory-safety effect.
        unsafe { asm!("dsb ishst", options(nostack, preserves_flags)) };
    }

    /// One `tlbi vmalls12e1is` (see `invalidate_vmid`), not `tlbi ipas2e1is` + `tlbi
    /// vmalle1is`: the `vmalle1is` the IPA needs (combined stage-1+2 entries are tagged by VA)
    /// already drops every stage-1 entry of the VMID, and `vmalls12e1is` drops those and the
    /// stage-2 ones (walk caches included). One broadcast instead of two; under QEMU TCG each
    /// broadcast TLBI stops every vCPU thread (mm/tlb.rs).
    fn invalidate_ipa(&mut self, vmid: Vmid, _ipa: Ipa, _level: u8) {
        self.invalidate_vmid(vmid);
    }

    fn invalidate_vmid(&mut self, vmid: Vmid) {
        with_vmid(vmid, || {
            // SAFETY: TLB invalidation only drops cached translations.
            unsafe {
                asm!(
                    "tlbi vmalls12e1is",
                    "dsb ish",
                    "isb",
                    options(nostack, preserves_flags)
                )
            };
        });
    }
}
