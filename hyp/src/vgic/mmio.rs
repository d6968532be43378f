//! The GICD and GICR registers a guest reads and writes (GICv3 architecture, with
//! affinity routing always on and a single security state: GICD_CTLR.ARE and DS read 1).
//! A GICv2 guest's distributor is in mmio_v2.rs, over the same bit, priority and config
//! registers.
//! Registers Stile does not model, and accesses of a size a register does not take, read
//! as zero and ignore writes; nothing a guest writes can fail.

use super::{Irq, Version, Vgic, GICD_SIZE, GICR_SIZE, GICR_STRIDE, NR_IRQS, SPI_BASE};
use crate::vm::guest::MAX_VCPUS;

/// GICD_IIDR / GICR_IIDR: implementer 0 ("not a JEP106 code"), product 'S'.
pub const IIDR: u32 = 0x5300_0000;
/// GICD_PIDR2 / GICR_PIDR2: ArchRev 3 (GICv3), which is what drivers check.
const PIDR2: u32 = 0x3b;
const PIDR2_OFF: u64 = 0xffe8;
/// GICD_CTLR: EnableGrp1 (bit 1) is the guest's; ARE (bit 4) and DS (bit 6) read 1.
const CTLR_GRP1: u32 = 1 << 1;
const CTLR_FIXED: u32 = 1 << 4 | 1 << 6;
/// GICD_TYPER: ITLinesNumber = NR_IRQS / 32 - 1, IDbits = 9 (10-bit INTIDs), no LPIs.
const TYPER: u32 = (NR_IRQS / 32 - 1) | 9 << 19;
/// Where the SGI_base frame starts in a vCPU's redistributor.
const SGI_FRAME: u64 = 0x1_0000;
/// GICR_WAKER bits.
const WAKER_SLEEP: u32 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;

/// One guest access: its size in bytes and, for a store, the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub size: u8,
    pub write: Option<u64>,
}

/// Bit-per-interrupt registers, by offset within their bank.
#[derive(Clone, Copy)]
pub(super) enum Bits {
    SetEnable,
    ClearEnable,
    SetPending,
    ClearPending,
    SetActive,
    ClearActive,
}

impl Bits {
    pub(super) fn at(off: u64) -> Option<(Bits, u64)> {
        let (kind, base) = match off {
            0x100..=0x17f => (Bits::SetEnable, 0x100),
            0x180..=0x1ff => (Bits::ClearEnable, 0x180),
            0x200..=0x27f => (Bits::SetPending, 0x200),
            0x280..=0x2ff => (Bits::ClearPending, 0x280),
            0x300..=0x37f => (Bits::SetActive, 0x300),
            0x380..=0x3ff => (Bits::ClearActive, 0x380),
            _ => return None,
        };
        Some((kind, (off - base) / 4))
    }

    fn read(self, irq: &Irq) -> bool {
        match self {
            Bits::SetEnable | Bits::ClearEnable => irq.enabled,
            Bits::SetPending | Bits::ClearPending => irq.pending(),
            Bits::SetActive | Bits::ClearActive => irq.active,
        }
    }

    fn write_one(self, irq: &mut Irq) {
        match self {
            Bits::SetEnable => irq.enabled = true,
            Bits::ClearEnable => irq.enabled = false,
            Bits::SetPending => irq.latch = true,
            Bits::ClearPending => irq.latch = false,
            Bits::SetActive => irq.active = true,
            Bits::ClearActive => irq.active = false,
        }
    }
}

impl Vgic {
    /// Whether a read at `ipa` shows pending or active state, which the running vCPU's
    /// LRs may hold (fold them first); other reads need no LR traffic.
    pub fn read_needs_lrs(&self, ipa: u64) -> bool {
        let lr_state = |off: u64| (0x200..0x400).contains(&off);
        match ipa.checked_sub(self.gicd).filter(|o| *o < GICD_SIZE) {
            Some(off) => lr_state(off),
            None if self.version == Version::V2 => false,
            None => ipa
                .checked_sub(self.gicr)
                .is_some_and(|rel| lr_state((rel % GICR_STRIDE).wrapping_sub(SGI_FRAME))),
        }
    }

    /// A guest access at `ipa` by vCPU `vcpu` of `nr_vcpus`: the value read (0 for a
    /// store), or None when `ipa` is not in the vGIC's frames.
    pub fn mmio(&mut self, vcpu: usize, nr_vcpus: usize, ipa: u64, a: Access) -> Option<u64> {
        if let Some(off) = ipa.checked_sub(self.gicd).filter(|o| *o < GICD_SIZE) {
            return Some(match self.version {
                Version::V3 => self.gicd_access(vcpu, off, a),
                Version::V2 => self.gicd_v2_access(vcpu, nr_vcpus, off, a),
            });
        }
        if self.version == Version::V2 {
            // The GICC window past the mapped GICV (which never traps): RAZ/WI.
            let in_gicc = ipa
                .checked_sub(self.gicr)
                .is_some_and(|o| o < super::GICC_SIZE);
            return in_gicc.then_some(0);
        }
        let rel = ipa.checked_sub(self.gicr).filter(|o| *o < GICR_SIZE)?;
        let (target, off) = ((rel / GICR_STRIDE) as usize, rel % GICR_STRIDE);
        if target >= nr_vcpus.min(MAX_VCPUS) {
            // A redistributor of a vCPU that does not exist: reads 0.
            return Some(0);
        }
        Some(self.gicr_access(target, target + 1 == nr_vcpus, off, a))
    }

    fn gicd_access(&mut self, vcpu: usize, off: u64, a: Access) -> u64 {
        match (off, a.size, a.write) {
            (0x0, 4, None) => (CTLR_FIXED | if self.enable_grp1 { CTLR_GRP1 } else { 0 }) as u64,
            (0x0, 4, Some(v)) => {
                self.enable_grp1 = v as u32 & CTLR_GRP1 != 0;
                0
            }
            (0x4, 4, None) => TYPER as u64,
            (0x8, 4, None) => IIDR as u64,
            (PIDR2_OFF, 4, None) => PIDR2 as u64,
            // IGROUPR: every SPI is Group 1 (RAO/WI); the first word is RES0 with ARE.
            (0x84..=0xbc, 4, None)
                if off.is_multiple_of(4) && (off - 0x80) / 4 < NR_IRQS as u64 / 32 =>
            {
                u32::MAX as u64
            }
            (0x100..=0x3ff, 4, w) if off.is_multiple_of(4) => match Bits::at(off) {
                // With ARE the first word (SGIs, PPIs) is the redistributors' business.
                Some((bits, n)) if n >= 1 => self.bits(vcpu, bits, n as u32 * 32, w),
                _ => 0,
            },
            (0x400..=0x7ff, 1 | 4, w) => {
                let first = (off - 0x400) as u32;
                if first < SPI_BASE {
                    return 0;
                }
                self.priorities(vcpu, first, a.size, w)
            }
            (0xc08..=0xcff, 4, w) if off.is_multiple_of(4) => {
                self.config(vcpu, ((off - 0xc00) / 4) as u32 * 16, w)
            }
            (0x6100..=0x7fd8, 8 | 4, w) if off.is_multiple_of(4) => self.irouter(off, a.size, w),
            _ => 0,
        }
    }

    fn gicr_access(&mut self, vcpu: usize, last: bool, off: u64, a: Access) -> u64 {
        match (off, a.size, a.write) {
            (0x4, 4, None) => IIDR as u64,
            // GICR_TYPER: Affinity_Value = the vCPU's MPIDR affinity (Aff0 = index),
            // Processor_Number = index, Last on the last vCPU's frame.
            (0x8, 8, None) => (vcpu as u64) << 32 | (vcpu as u64) << 8 | (last as u64) << 4,
            (0x8, 4, None) => (vcpu as u64) << 8 | (last as u64) << 4,
            (0xc, 4, None) => vcpu as u64,
            (0x14, 4, None) => match self.asleep[vcpu] {
                true => (WAKER_SLEEP | WAKER_CHILDREN_ASLEEP) as u64,
                false => 0,
            },
            (0x14, 4, Some(v)) => {
                self.asleep[vcpu] = v as u32 & WAKER_SLEEP != 0;
                0
            }
            (PIDR2_OFF, 4, None) => PIDR2 as u64,
            _ => match off.checked_sub(SGI_FRAME) {
                Some(sgi) => self.sgi_frame(vcpu, sgi, a),
                None => 0,
            },
        }
    }

    /// The SGI_base frame of vCPU `vcpu`'s redistributor: its SGIs and PPIs.
    fn sgi_frame(&mut self, vcpu: usize, off: u64, a: Access) -> u64 {
        match (off, a.size, a.write) {
            (0x80, 4, None) => u32::MAX as u64,
            (0x100 | 0x180 | 0x200 | 0x280 | 0x300 | 0x380, 4, w) => match Bits::at(off) {
                Some((bits, _)) => self.bits(vcpu, bits, 0, w),
                None => 0,
            },
            (0x400..=0x41f, 1 | 4, w) => self.priorities(vcpu, (off - 0x400) as u32, a.size, w),
            // ICFGR0: SGIs are edge-triggered, read-only.
            (0xc00, 4, None) => 0xaaaa_aaaa,
            (0xc04, 4, w) => self.config(vcpu, 16, w),
            _ => 0,
        }
    }

    /// One bit-per-interrupt register covering `first..first + 32`.
    pub(super) fn bits(&mut self, vcpu: usize, bits: Bits, first: u32, w: Option<u64>) -> u64 {
        let mut out = 0u32;
        for i in 0..32 {
            let Some(irq) = self.irq(vcpu, first + i) else {
                break;
            };
            match w {
                None => out |= (bits.read(irq) as u32) << i,
                Some(v) if v & (1 << i) != 0 => {
                    self.update(vcpu, first + i, |irq| bits.write_one(irq));
                }
                Some(_) => {}
            }
        }
        out as u64
    }

    /// IPRIORITYR: one byte per interrupt, from `first`.
    pub(super) fn priorities(&mut self, vcpu: usize, first: u32, size: u8, w: Option<u64>) -> u64 {
        let mut out = 0u64;
        for i in 0..size as u32 {
            let Some(irq) = self.irq(vcpu, first + i) else {
                break;
            };
            match w {
                None => out |= (irq.priority as u64) << (8 * i),
                Some(v) => {
                    self.update(vcpu, first + i, |irq| irq.priority = (v >> (8 * i)) as u8);
                }
            }
        }
        out
    }

    /// ICFGR: two bits per interrupt from `first` (bit 1 of each pair: edge-triggered).
    pub(super) fn config(&mut self, vcpu: usize, first: u32, w: Option<u64>) -> u64 {
        let mut out = 0u32;
        for i in 0..16 {
            let Some(irq) = self.irq(vcpu, first + i) else {
                break;
            };
            match w {
                None => out |= (!irq.level as u32) << (2 * i + 1),
                // A level-sensitive interrupt with its line up is pending: busy may change.
                Some(v) => {
                    self.update(vcpu, first + i, |irq| {
                        irq.level = v & (1 << (2 * i + 1)) == 0
                    });
                }
            }
        }
        out as u64
    }

    /// GICD_IROUTER<n> (64-bit, or either 32-bit half).
    fn irouter(&mut self, off: u64, size: u8, w: Option<u64>) -> u64 {
        let spi = ((off - 0x6000) / 8) as usize - SPI_BASE as usize;
        let high = off % 8 == 4;
        let cur = self.route.get(spi).copied().unwrap_or(0);
        match (w, size, high) {
            (None, 8, _) => cur,
            (None, _, false) => cur & 0xffff_ffff,
            (None, _, true) => cur >> 32,
            (Some(v), 8, _) => {
                self.set_route(spi, v);
                0
            }
            (Some(v), _, false) => {
                self.set_route(spi, (cur & !0xffff_ffff) | (v & 0xffff_ffff));
                0
            }
            (Some(v), _, true) => {
                self.set_route(spi, (cur & 0xffff_ffff) | v << 32);
                0
            }
        }
    }
}
