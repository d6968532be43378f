//! The virtual CPU interface a vCPU runs with: its ICH_* (GICv3) or GICH_* (GICv2) register
//! image, filled from the model before entry ([`Vgic::flush`]) and merged back after exit
//! ([`Vgic::fold`]). One allocation for both; only the LR's layout differs ([`LrFormat`]).
//! An interrupt in a list register belongs to the LR until the fold: the flush moves its
//! pending latch into the LR, the fold moves what the guest left (pending, active, both or
//! nothing) back.

use super::{Version, Vgic, NR_IRQS};

/// The most list registers the architecture has (ICH_VTR_EL2.ListRegs + 1 <= 16).
pub const MAX_LRS: usize = 16;

/// ICH_LR<n>_EL2 fields.
const LR_STATE_SHIFT: u32 = 62;
const LR_PENDING: u64 = 1 << 62;
const LR_ACTIVE: u64 = 1 << 63;
const LR_GROUP1: u64 = 1 << 60;
const LR_PRIORITY_SHIFT: u32 = 48;
/// GICH_LR<n> fields (GICv2): virtual ID 9:0, priority's top 5 bits in 27:23, pending 28,
/// active 29, Group 1 30 (left 0: Group 0), HW 31 (left 0: software interrupts).
const V2_INTID_MASK: u64 = 0x3ff;
const V2_PRIORITY_SHIFT: u32 = 23;
const V2_STATE_SHIFT: u32 = 28;
/// ICH_HCR_EL2 and GICH_HCR alike: En (the virtual CPU interface works), UIE (maintenance
/// interrupt when at most one LR holds an interrupt: there were more to deliver than LRs).
pub const ICH_HCR_EN: u64 = 1 << 0;
pub const ICH_HCR_UIE: u64 = 1 << 1;

/// A vCPU's virtual CPU interface registers, saved while it does not run (arch/gic.rs
/// moves exactly these). `used` LRs hold interrupts; the rest are 0 on the CPU too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GicCpuRegs {
    pub hcr: u64,
    /// ICH_VMCR_EL2 or GICH_VMCR: the guest's PMR/BPR/group enables and friends.
    pub vmcr: u64,
    pub lrs: [u64; MAX_LRS],
    /// GICv2: GICH_APR is `ap0r[0]`.
    pub ap0r: [u64; 4],
    pub ap1r: [u64; 4],
    pub used: u8,
}

/// The vINTID of a GICv3 LR (0 for an empty one).
pub fn lr_intid(lr: u64) -> u32 {
    lr as u32
}

/// The GICv3 LR for `intid` at `priority`, pending and/or active, Group 1, software (HW = 0).
pub fn lr_value(intid: u32, priority: u8, pending: bool, active: bool) -> u64 {
    ((pending as u64) * LR_PENDING)
        | ((active as u64) * LR_ACTIVE)
        | LR_GROUP1
        | (priority as u64) << LR_PRIORITY_SHIFT
        | intid as u64
}

/// An LR's layout: the architecture's, per GIC version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LrFormat(pub Version);

impl LrFormat {
    /// The LR for `intid` at `priority`, pending and/or active, software (HW = 0). GICv2's
    /// SGI source CPU (bits 12:10) is left 0: the guest reads vCPU 0 as every SGI's sender.
    pub fn encode(self, intid: u32, priority: u8, pending: bool, active: bool) -> u64 {
        match self.0 {
            Version::V3 => lr_value(intid, priority, pending, active),
            Version::V2 => {
                let state = pending as u64 | (active as u64) << 1;
                state << V2_STATE_SHIFT
                    | ((priority >> 3) as u64) << V2_PRIORITY_SHIFT
                    | (intid as u64 & V2_INTID_MASK)
            }
        }
    }

    /// (vINTID, state: bit 0 pending, bit 1 active).
    pub fn decode(self, lr: u64) -> (u32, u64) {
        match self.0 {
            Version::V3 => (lr_intid(lr), lr >> LR_STATE_SHIFT),
            Version::V2 => ((lr & V2_INTID_MASK) as u32, (lr >> V2_STATE_SHIFT) & 3),
        }
    }
}

impl Vgic {
    /// Fill `regs`' LRs for vCPU `vcpu` from the model: the interrupts that are active, or
    /// pending and deliverable, highest priority first (active first at equal priority,
    /// then lowest INTID), at most `nr_lrs` (the CPU's count). If some do not fit, the
    /// underflow maintenance interrupt is asked for (ICH_HCR_EL2.UIE). Fold first. Only
    /// the CPU's `nr_lrs` LRs are written: the others are never loaded or saved.
    pub fn flush(&mut self, vcpu: usize, regs: &mut GicCpuRegs, nr_lrs: usize) {
        let nr_lrs = nr_lrs.min(MAX_LRS);
        // (priority, not active, intid): the order LRs are filled in.
        let mut chosen: heapless::Vec<(u8, bool, u32), MAX_LRS> = heapless::Vec::new();
        let mut overflow = false;
        for (intid, irq) in self.for_vcpu(vcpu) {
            let pending = irq.pending() && self.deliverable_to(vcpu, intid, irq);
            if !pending && !irq.active {
                continue;
            }
            let key = (irq.priority, !irq.active, intid);
            if chosen.len() < nr_lrs {
                let _ = chosen.push(key);
                continue;
            }
            overflow = true;
            // Replace the worst chosen one if this one is better.
            let worst = chosen.iter().enumerate().max_by_key(|(_, k)| **k);
            if let Some((at, w)) = worst {
                if key < *w {
                    chosen[at] = key;
                }
            }
        }
        chosen.sort_unstable();
        let format = LrFormat(self.version);
        // The LRs the CPU has that stay empty. (Past `nr_lrs` nothing is ever written, and
        // the fold empties what the last flush filled: no need to clear all 16.)
        for lr in regs.lrs.iter_mut().take(nr_lrs).skip(chosen.len()) {
            *lr = 0;
        }
        for (n, &(priority, _, intid)) in chosen.iter().enumerate() {
            let deliver = self
                .irq(vcpu, intid)
                .is_some_and(|irq| irq.pending() && self.deliverable_to(vcpu, intid, irq));
            let lr = self.update(vcpu, intid, |irq| {
                if deliver {
                    // The LR holds it now; a level line stays up in the model and is
                    // sampled again at the fold.
                    irq.latch = false;
                }
                format.encode(intid, priority, deliver, irq.active)
            });
            if let Some(lr) = lr {
                regs.lrs[n] = lr;
            }
        }
        regs.used = chosen.len() as u8;
        regs.hcr = ICH_HCR_EN | if overflow { ICH_HCR_UIE } else { 0 };
    }

    /// Merge `regs`' LRs, as vCPU `vcpu` left them, back into the model and empty them.
    pub fn fold(&mut self, vcpu: usize, regs: &mut GicCpuRegs) {
        let used = (regs.used as usize).min(MAX_LRS);
        let format = LrFormat(self.version);
        for lr in regs.lrs.iter_mut().take(used) {
            let (intid, state) = format.decode(*lr);
            *lr = 0;
            if intid >= NR_IRQS {
                continue;
            }
            self.update(vcpu, intid, |irq| {
                irq.active = state & 2 != 0;
                // Still pending in the LR: pending again in the model. (A level line the
                // host lowered meanwhile may so be seen once more: a spurious interrupt
                // the guest's handler finds nothing for.)
                if state & 1 != 0 {
                    irq.latch = true;
                }
            });
        }
        regs.used = 0;
        regs.hcr &= !ICH_HCR_UIE;
    }
}
