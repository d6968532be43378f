//! The virtual CPU interface's registers (GICv3: ICH_*_EL2; GICv2: the GICH frame, in
//! gich.rs) and the virtual timer, moved between the CPU and a vCPU's [`GicCpuRegs`];
//! vgic/ decides what goes in them. Only VMs with a vGIC touch these. The physical GIC
//! (ICC_* or GICC, GICD, GICR) stays the host's.

use crate::arch::gich;
use crate::vgic::lr::{GicCpuRegs, MAX_LRS};
use aarch64_cpu::registers::*;

/// What this CPU's virtual interface has (ICH_VTR_EL2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GicHw {
    /// List registers (1..=16).
    pub lrs: u8,
    /// Active-priority registers per group (1, 2 or 4: 5, 6 or 7 preemption bits).
    pub aprs: u8,
    /// GICv2: the GICH frame's address (EL2 maps it at its PA); 0 on a GICv3.
    pub gich: usize,
}

/// ICC_SRE_EL2: system-register GIC interface, and EL1 may use it too.
const ICC_SRE_EL2_SRE_ENABLE: u64 = 1 << 0 | 1 << 3;

/// The virtual interface of this CPU, left empty and disabled (so a guest without a vGIC
/// finds nothing in it): a GICv3's, or a GICv2's at `gich` (its GICH frame); None without
/// either.
pub fn probe(gic_v3: bool, gich: Option<u64>) -> Option<GicHw> {
    if !gic_v3 {
        let gich = gich? as usize;
        let (lrs, aprs) = gich::probe(gich);
        let hw = GicHw { lrs, aprs, gich };
        clear(hw);
        return Some(hw);
    }
    ICC_SRE_EL2.set(ICC_SRE_EL2_SRE_ENABLE);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    let lrs = ICH_VTR_EL2.read(ICH_VTR_EL2::ListRegs) as u8 + 1;
    let pre = ICH_VTR_EL2.read(ICH_VTR_EL2::PREbits) as u8 + 1;
    let hw = GicHw {
        lrs: lrs.min(MAX_LRS as u8),
        aprs: 1 << pre.clamp(5, 7).saturating_sub(5),
        gich: 0,
    };
    clear(hw);
    Some(hw)
}

/// The counter every VM reads (CNTVOFF_EL2 is 0).
pub fn counter() -> u64 {
    CNTPCT_EL0.get()
}

/// Runs `$body` for the first `$n` list registers in order, with `$k` the LR's number and
/// `$reg` its ICH_LR<k>_EL2: unrolled, one compare per LR, no jump table per access.
macro_rules! for_lrs {
    ($n:expr, |$k:ident, $reg:ident| $body:expr) => {
        for_lrs!(@ $n, $k, $reg, $body;
            0 ICH_LR0_EL2, 1 ICH_LR1_EL2, 2 ICH_LR2_EL2, 3 ICH_LR3_EL2,
            4 ICH_LR4_EL2, 5 ICH_LR5_EL2, 6 ICH_LR6_EL2, 7 ICH_LR7_EL2,
            8 ICH_LR8_EL2, 9 ICH_LR9_EL2, 10 ICH_LR10_EL2, 11 ICH_LR11_EL2,
            12 ICH_LR12_EL2, 13 ICH_LR13_EL2, 14 ICH_LR14_EL2, 15 ICH_LR15_EL2)
    };
    (@ $n:expr, $k:ident, $reg:ident, $body:expr; $($i:literal $r:ident),*) => {{
        let n: usize = $n;
        'lrs: {
            $(
                if n <= $i {
                    break 'lrs;
                }
                {
                    let $k: usize = $i;
                    let $reg = &$r;
                    $body;
                }
            )*
        }
    }};
}

/// The live LRs into `regs`.
pub fn read_lrs(regs: &mut GicCpuRegs, hw: GicHw) {
    if hw.gich != 0 {
        return gich::read_lrs(hw.gich, regs, hw.lrs);
    }
    for_lrs!(hw.lrs as usize, |k, lr| regs.lrs[k] = lr.get());
}

/// `regs`' LRs and ICH_HCR_EL2 into the CPU (the ERET into the guest synchronizes them).
pub fn write_lrs(regs: &GicCpuRegs, hw: GicHw) {
    if hw.gich != 0 {
        return gich::write_lrs(hw.gich, regs, hw.lrs);
    }
    for_lrs!(hw.lrs as usize, |k, lr| lr.set(regs.lrs[k]));
    ICH_HCR_EL2.set(regs.hcr);
}

/// ICH_AP0R<n>_EL2 and ICH_AP1R<n>_EL2.
fn set_aprs(n: usize, ap0: u64, ap1: u64) {
    match n {
        0 => {
            ICH_AP0R0_EL2.set(ap0);
            ICH_AP1R0_EL2.set(ap1);
        }
        1 => {
            ICH_AP0R1_EL2.set(ap0);
            ICH_AP1R1_EL2.set(ap1);
        }
        2 => {
            ICH_AP0R2_EL2.set(ap0);
            ICH_AP1R2_EL2.set(ap1);
        }
        _ => {
            ICH_AP0R3_EL2.set(ap0);
            ICH_AP1R3_EL2.set(ap1);
        }
    }
}

fn get_aprs(n: usize) -> (u64, u64) {
    match n {
        0 => (ICH_AP0R0_EL2.get(), ICH_AP1R0_EL2.get()),
        1 => (ICH_AP0R1_EL2.get(), ICH_AP1R1_EL2.get()),
        2 => (ICH_AP0R2_EL2.get(), ICH_AP1R2_EL2.get()),
        _ => (ICH_AP0R3_EL2.get(), ICH_AP1R3_EL2.get()),
    }
}

/// Host -> vGIC guest: its whole virtual interface in.
pub fn load(regs: &GicCpuRegs, hw: GicHw) {
    if hw.gich != 0 {
        return gich::load(hw.gich, regs, hw.lrs);
    }
    for n in 0..(hw.aprs as usize).min(4) {
        set_aprs(n, regs.ap0r[n], regs.ap1r[n]);
    }
    ICH_VMCR_EL2.set(regs.vmcr);
    write_lrs(regs, hw);
}

/// vGIC guest -> host: its virtual interface out (the count of LRs in use is EL2's own,
/// kept in `regs`), and the interface left empty and disabled.
pub fn save(regs: &mut GicCpuRegs, hw: GicHw) {
    if hw.gich != 0 {
        return gich::save(hw.gich, regs, hw.lrs);
    }
    read_lrs(regs, hw);
    regs.vmcr = ICH_VMCR_EL2.get();
    for n in 0..(hw.aprs as usize).min(4) {
        (regs.ap0r[n], regs.ap1r[n]) = get_aprs(n);
    }
    clear(hw);
}

/// Nothing of a guest's left: En clear, LRs, VMCR and active priorities zero.
pub fn clear(hw: GicHw) {
    if hw.gich != 0 {
        return gich::clear(hw.gich, hw.lrs);
    }
    ICH_HCR_EL2.set(0);
    for_lrs!(hw.lrs as usize, |_k, lr| lr.set(0));
    ICH_VMCR_EL2.set(0);
    for n in 0..(hw.aprs as usize).min(4) {
        set_aprs(n, 0, 0);
    }
}

pub fn misr(hw: GicHw) -> u64 {
    if hw.gich != 0 {
        return gich::misr(hw.gich);
    }
    ICH_MISR_EL2.get()
}

/// The live CNTV_CTL_EL0 and CNTV_CVAL_EL0 (a guest's, while it runs).
pub fn vtimer() -> (u64, u64) {
    (CNTV_CTL_EL0.get(), CNTV_CVAL_EL0.get())
}

pub fn set_vtimer_ctl(ctl: u64) {
    CNTV_CTL_EL0.set(ctl);
}
