//! EL2 controls that decide how much of the CPU's features the host sees. An OS at EL1 reads
//! the ID registers (Stile does not trap them) and expects what they promise to work; a few
//! features also need an EL2 control that resets to a value that hides them. Each CPU calls
//! [`expose_to_host`] before it first enters the host (the controls are per CPU).
//!
//! - SVE: ZCR_EL2.LEN caps the vector length of EL1 and EL0. Left at its reset value (0 on
//!   QEMU) Linux saw 16-byte vectors on a CPU with 256-byte ones. Set to the largest length;
//!   the CPU reduces it to what it implements.
//! - FEAT_HCX: HCRX_EL2 resets to an UNKNOWN value. Set it so that the memory copy/set
//!   instructions (FEAT_MOPS) work at EL1/EL0 when the CPU has them, and nothing else changes.
//!
//! - FEAT_FGT: the fine-grained trap registers reset to 0 on QEMU, and their "n" bits trap
//!   when 0: TPIDR2_EL0 (FEAT_SME) would trap from every world, though docs/ISOLATION.md
//!   switches it per world instead. HFGRTR_EL2/HFGWTR_EL2.nTPIDR2_EL0 are set; nothing else
//!   changes.
//!
//! SME stays trapped for every world (CPTR_EL2.TSM), so SMCR_EL2 is not touched.

use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};
use log::info;

/// ZCR_ELx.LEN, all bits: the largest vector length (the CPU constrains it to its own).
const ZCR_LEN_MAX: u64 = 0x1ff;
/// HCRX_EL2.MSCEn: FEAT_MOPS instructions are enabled at EL1 and EL0.
const HCRX_MSCEN: u64 = 1 << 11;
/// HFGRTR_EL2/HFGWTR_EL2.nTPIDR2_EL0: TPIDR2_EL0 accesses below EL2 do not trap.
const HFGXTR_NTPIDR2_EL0: u64 = 1 << 55;

/// One log line, from the first CPU.
static LOGGED: AtomicBool = AtomicBool::new(false);

/// The 4-bit ID register field at `shift`.
fn field(reg: u64, shift: u32) -> u64 {
    (reg >> shift) & 0xf
}

/// Set this CPU's EL2 feature controls for the host. Must run after CPTR_EL2 stops trapping
/// SVE (TZ clear: it also traps ZCR_EL2 accesses from EL2) and before the host's first ERET.
pub fn expose_to_host() {
    let (pfr0, pfr1, mmfr0, mmfr1, isar2): (u64, u64, u64, u64, u64);
    // SAFETY: reading ID registers has no side effects.
    unsafe {
        asm!("mrs {}, id_aa64pfr0_el1", out(reg) pfr0, options(nomem, nostack));
        asm!("mrs {}, id_aa64pfr1_el1", out(reg) pfr1, options(nomem, nostack));
        asm!("mrs {}, id_aa64mmfr0_el1", out(reg) mmfr0, options(nomem, nostack));
        asm!("mrs {}, id_aa64mmfr1_el1", out(reg) mmfr1, options(nomem, nostack));
        asm!("mrs {}, s3_0_c0_c6_2", out(reg) isar2, options(nomem, nostack)); // ID_AA64ISAR2_EL1
    }
    let sve = field(pfr0, 32) != 0;
    let hcx = field(mmfr1, 40) != 0;
    let mops = field(isar2, 16) != 0;
    let fgt = field(mmfr0, 56) != 0;
    let sme = field(pfr1, 24) != 0;
    if fgt && sme {
        // SAFETY: HFGRTR_EL2/HFGWTR_EL2 exist with FEAT_FGT; only TPIDR2_EL0's trap below EL2
        // changes, from the next ERET (after the caller's ISB).
        unsafe {
            asm!(
                "mrs {t}, s3_4_c1_c1_4", // HFGRTR_EL2
                "orr {t}, {t}, {bit}",
                "msr s3_4_c1_c1_4, {t}",
                "mrs {t}, s3_4_c1_c1_5", // HFGWTR_EL2
                "orr {t}, {t}, {bit}",
                "msr s3_4_c1_c1_5, {t}",
                "isb",
                t = out(reg) _,
                bit = in(reg) HFGXTR_NTPIDR2_EL0,
                options(nomem, nostack),
            )
        };
    }

    let mut sve_bytes = 0u64;
    if sve {
        // SAFETY: ZCR_EL2 exists when ID_AA64PFR0_EL1.SVE says so, and the caller has CPTR_EL2.TZ
        // clear. It only bounds the vector length below EL3; the ISB makes it apply to the RDVL
        // (which reads the length EL2 now has, the same bound, and touches no vector register).
        unsafe {
            asm!(
                "msr s3_4_c1_c2_0, {len}", // ZCR_EL2
                "isb",
                ".arch_extension sve",
                "rdvl {bytes}, #1",
                len = in(reg) ZCR_LEN_MAX,
                bytes = out(reg) sve_bytes,
                options(nomem, nostack),
            );
        }
    }
    if hcx {
        let hcrx = if mops { HCRX_MSCEN } else { 0 };
        // SAFETY: HCRX_EL2 exists when ID_AA64MMFR1_EL1.HCX says so; it only controls EL1/EL0
        // features, which apply from the next ERET (after the caller's ISB).
        unsafe { asm!("msr s3_4_c1_c2_2, {}", "isb", in(reg) hcrx, options(nomem, nostack)) };
    }

    if !LOGGED.swap(true, Ordering::Relaxed) {
        let hcrx = match (hcx, mops) {
            (false, _) => "absent",
            (true, false) => "cleared",
            (true, true) => "MOPS on",
        };
        if sve {
            info!("host: cpu features: SVE vectors up to {sve_bytes} bytes (ZCR_EL2), HCRX_EL2 {hcrx}");
        } else if hcx {
            info!("host: cpu features: no SVE, HCRX_EL2 {hcrx}");
        }
    }
}
