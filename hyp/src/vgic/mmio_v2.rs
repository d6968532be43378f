//! A GICv2 guest's distributor (GICv2 architecture without the security extensions): the
//! GICv3 model's state behind GICv2's register map. What differs from GICv3 (mmio.rs): no
//! affinity routing, so the first word of each bit register, the SGIs' and PPIs'
//! priorities and ICFGR1 are the accessing vCPU's own (banked); SPIs are routed by
//! GICD_ITARGETSR; SGIs are raised by GICD_SGIR and always enabled; every interrupt is
//! Group 0. Registers
//! Stile does not model, and wrong sizes, read as zero and ignore writes.

use super::mmio::{Access, Bits, IIDR};
use super::{Vgic, NR_IRQS, SPI_BASE};
use crate::vm::guest::MAX_VCPUS;

/// GICD_CTLR bit 0: EnableGrp0, the one group a GICv2 guest's interrupts are in.
const CTLR_ENABLE: u64 = 1;
/// GICD_PIDR2 (at 0xfe8 in a GICv2's 4 KiB frame): ArchRev 2.
const PIDR2: u64 = 0x2b;
/// GICD_SGIR's TargetListFilter (bits 25:24).
const SGIR_LIST: u64 = 0;
const SGIR_OTHERS: u64 = 1;
const SGIR_SELF: u64 = 2;

impl Vgic {
    /// One access at offset `off` of the GICD frame by vCPU `vcpu` of `nr_vcpus`.
    pub(super) fn gicd_v2_access(
        &mut self,
        vcpu: usize,
        nr_vcpus: usize,
        off: u64,
        a: Access,
    ) -> u64 {
        let word = off.is_multiple_of(4);
        match (off, a.size, a.write) {
            (0x0, 4, None) => self.enable_grp1 as u64,
            (0x0, 4, Some(v)) => {
                self.enable_grp1 = v & CTLR_ENABLE != 0;
                0
            }
            // ITLinesNumber and CPUNumber (vCPUs - 1); no security extensions.
            (0x4, 4, None) => {
                let cpus = nr_vcpus.clamp(1, MAX_VCPUS) as u64 - 1;
                (NR_IRQS as u64 / 32 - 1) | cpus << 5
            }
            (0x8, 4, None) => IIDR as u64,
            (0xfe8, 4, None) => PIDR2,
            // SGIs cannot be disabled.
            (0x180, 4, Some(v)) => self.bits(vcpu, Bits::ClearEnable, 0, Some(v & !0xffff)),
            (0x100..=0x3ff, 4, w) if word => match Bits::at(off) {
                Some((bits, n)) => self.bits(vcpu, bits, n as u32 * 32, w),
                None => 0,
            },
            (0x400..=0x7ff, 1 | 4, w) => self.priorities(vcpu, (off - 0x400) as u32, a.size, w),
            (0x800..=0xbff, 1 | 4, w) => self.targets(vcpu, (off - 0x800) as u32, a.size, w),
            // ICFGR0: SGIs are edge-triggered, read-only.
            (0xc00, 4, None) => 0xaaaa_aaaa,
            (0xc04..=0xcff, 4, w) if word => self.config(vcpu, ((off - 0xc00) / 4) as u32 * 16, w),
            (0xf00, 4, Some(v)) => {
                self.sgir(vcpu, nr_vcpus, v);
                0
            }
            _ => 0,
        }
    }

    /// GICD_ITARGETSR: one byte per interrupt from `first`. An SGI's or PPI's reads as the
    /// accessing vCPU (read-only); an SPI's is its target set.
    fn targets(&mut self, vcpu: usize, first: u32, size: u8, w: Option<u64>) -> u64 {
        let mut out = 0u64;
        for i in 0..size as u32 {
            let intid = first + i;
            if intid >= NR_IRQS {
                break;
            }
            let byte = match intid.checked_sub(SPI_BASE) {
                None => 1u64 << vcpu,
                Some(spi) => {
                    if let Some(v) = w {
                        self.set_targets(spi as usize, (v >> (8 * i)) as u8);
                    }
                    self.targets.get(spi as usize).copied().unwrap_or(0) as u64
                }
            };
            out |= byte << (8 * i);
        }
        match w {
            Some(_) => 0,
            None => out,
        }
    }

    /// A write of `value` to GICD_SGIR by vCPU `from`: the SGI pending on each target.
    /// Returns the targets (bit n = vCPU n).
    pub fn sgir(&mut self, from: usize, nr_vcpus: usize, value: u64) -> u32 {
        let intid = (value & 0xf) as u32;
        let all = (1u32 << nr_vcpus.min(MAX_VCPUS)) - 1;
        let targets = match (value >> 24) & 3 {
            SGIR_LIST => ((value >> 16) & 0xff) as u32 & all,
            SGIR_OTHERS => all & !(1 << from),
            SGIR_SELF => 1 << from,
            _ => 0,
        };
        self.raise_sgi(targets, intid);
        targets
    }
}
