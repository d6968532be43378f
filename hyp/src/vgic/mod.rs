//! A guest's virtual GIC in EL2 (docs/VGIC.md): the distributor and, on a GICv3, one
//! redistributor per vCPU as plain state, the MMIO registers over it ([`mmio`], with the
//! GICv2 distributor's own registers in [`mmio_v2`]), and the list-register image a vCPU
//! runs with ([`lr`]: flush before entry, fold after exit, in either LR format). Arch-free:
//! arch/gic.rs moves the image in and out of the CPU's ICH_* registers or GICH frame.
//!
//! GICv3: every interrupt is Group 1 (the guest's kernel runs in one security state).
//! GICv2: every interrupt is Group 0, which a GICv2 guest without security extensions
//! enables with GICC_CTLR bit 0 and takes as IRQ. No LPIs, no ITS. INTIDs: SGIs 0..15 and
//! PPIs 16..31 per vCPU, SPIs 32..32 + [`NR_SPIS`].

pub mod kick;
pub mod lr;
pub mod mmio;
mod mmio_v2;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_busy;
#[cfg(test)]
mod v2_tests;

use crate::vm::guest::MAX_VCPUS;

/// SPIs a vGIC has (GICD_TYPER.ITLinesNumber = 2: INTIDs up to 95).
pub const NR_SPIS: usize = 64;
/// The first SPI.
pub const SPI_BASE: u32 = 32;
/// One past the last INTID.
pub const NR_IRQS: u32 = SPI_BASE + NR_SPIS as u32;
/// The virtual timer's PPI (the architected one, as in the DT's timer node).
pub const VTIMER_PPI: u32 = 27;
/// Size of the GICD frame, and of one vCPU's redistributor (RD_base + SGI_base).
pub const GICD_SIZE: u64 = 0x1_0000;
pub const GICR_STRIDE: u64 = 0x2_0000;
/// The GICR region covers every vCPU a VM may have.
pub const GICR_SIZE: u64 = GICR_STRIDE * MAX_VCPUS as u64;
/// GICv2: the guest's GICC window (the hardware's GICV is mapped at its start, the rest of
/// the 64 KiB reads as zero) and the part of it the architecture defines.
pub const GICC_SIZE: u64 = 0x1_0000;
pub const GICV_MAPPED: u64 = 0x2000;

/// GICv2: the two 4 KiB pages of the hardware's GICV frame that a guest's GICC maps
/// (GICC_CTLR..GICC_IAR.. in the first, GICC_DIR in the second): contiguous, or 64 KiB apart
/// on boards that alias each 4 KiB page across 64 KiB (a GICV region of 128 KiB or more,
/// as the DT describes it there). None for a frame too small or not page aligned.
pub fn gicv_pages(base: u64, size: u64) -> Option<[u64; 2]> {
    if !base.is_multiple_of(0x1000) || size < GICV_MAPPED {
        return None;
    }
    let second = if size >= 0x2_0000 { 0x1_0000 } else { 0x1000 };
    Some([base, base + second])
}

/// Which GIC the guest sees: the machine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// GICD + one GICR per vCPU, the ICC_* system registers.
    V3,
    /// GICD (with ITARGETSR and GICD_SGIR) + a memory-mapped GICC (the hardware's GICV).
    V2,
}

/// One interrupt's state for one target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Irq {
    pub enabled: bool,
    /// Pending by an edge, a write to ISPENDR, an SGI, or an LR folded back as pending.
    pub latch: bool,
    /// The input line (level-sensitive SPIs the host raises).
    pub line: bool,
    pub active: bool,
    /// Level-sensitive (ICFGR = 0b00), else edge.
    pub level: bool,
    pub priority: u8,
}

impl Irq {
    #[inline]
    pub fn pending(&self) -> bool {
        self.latch || (self.level && self.line)
    }
}

/// A VM's vGIC.
///
/// Every change to an [`Irq`] goes through [`Vgic::update`], which keeps the busy bitmaps
/// in step: an interrupt is busy while it is pending or active, and only busy interrupts
/// can go into an LR, so the flush and [`Vgic::highest_pending`] visit those alone
/// instead of all 96 INTIDs.
#[derive(Clone)]
pub struct Vgic {
    pub version: Version,
    /// IPAs of the GICD frame and of the GICR region (`GICR_STRIDE` per vCPU); on a GICv2,
    /// `gicr` is the GICC frame's.
    pub gicd: u64,
    pub gicr: u64,
    /// GICD_CTLR.EnableGrp1 (v3, bit 1) or EnableGrp0 (v2, bit 0): the distributor
    /// forwards SPIs.
    pub(crate) enable_grp1: bool,
    /// SGIs and PPIs, per vCPU.
    pub(crate) private: [[Irq; 32]; MAX_VCPUS],
    /// GICR_WAKER.ProcessorSleep, per vCPU.
    pub(crate) asleep: [bool; MAX_VCPUS],
    pub(crate) spis: [Irq; NR_SPIS],
    /// GICD_IROUTER<n>: Aff0 and IRM as written (Aff1..3 kept; they must be 0 to match).
    /// GICv2: the same, derived from `targets` (one lookup for both versions).
    pub(crate) route: [u64; NR_SPIS],
    /// GICv2: GICD_ITARGETSR<n>'s byte as written (bit n = vCPU n).
    pub(crate) targets: [u8; NR_SPIS],
    /// Bit i of `busy_private[v]`: `private[v][i]` is pending or active.
    pub(crate) busy_private: [u32; MAX_VCPUS],
    /// Bit n: `spis[n]` is pending or active (whatever its route).
    pub(crate) busy_spis: u64,
}

// One bit per SPI in `busy_spis`.
const _: () = assert!(NR_SPIS <= 64);

/// The set bits of `bits`, lowest first.
fn set_bits(mut bits: u64) -> impl Iterator<Item = u32> {
    core::iter::from_fn(move || {
        let n = bits.trailing_zeros();
        bits &= bits.wrapping_sub(1);
        (n < 64).then_some(n)
    })
}

/// Where an interrupt's busy bit lives.
enum Busy<'a> {
    Private(&'a mut u32),
    Spis(&'a mut u64),
}

/// Why a SPI line change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// Not an SPI of this vGIC.
    NotSpi,
}

/// The IROUTER value that routes like ITARGETSR's `byte`: Aff0 = its lowest vCPU, or an
/// affinity (Aff1 = 1) no vCPU has when it names none.
fn v2_route(byte: u8) -> u64 {
    match byte.trailing_zeros() as usize {
        t if t < MAX_VCPUS => t as u64,
        _ => 1 << 8,
    }
}

/// IROUTER's Interrupt Routing Mode bit: any vCPU (Stile picks vCPU 0).
const IROUTER_IRM: u64 = 1 << 31;
const IROUTER_MASK: u64 = 0xff_0000_0000 | IROUTER_IRM | 0xff_ffff;

impl Vgic {
    /// A GICv2 vGIC: GICD at `gicd`, the guest's GICC at `gicc`. Its SGIs are always
    /// enabled (as on a GIC-400: GICD_ISENABLER0's SGI bits are RAO/WI), so a vCPU can
    /// signal another whose banked enables it cannot reach.
    pub fn new_v2(gicd: u64, gicc: u64) -> Vgic {
        let mut g = Vgic {
            version: Version::V2,
            route: [v2_route(0); NR_SPIS],
            ..Vgic::new(gicd, gicc)
        };
        for sgi in g.private.iter_mut().flat_map(|cpu| cpu.iter_mut().take(16)) {
            sgi.enabled = true;
        }
        g
    }

    pub fn new(gicd: u64, gicr: u64) -> Vgic {
        let mut private = [[Irq::default(); 32]; MAX_VCPUS];
        for cpu in private.iter_mut() {
            // SGIs are always enabled-by-write, edge; PPIs reset to level (the timer).
            for (i, irq) in cpu.iter_mut().enumerate() {
                irq.level = i >= 16;
            }
        }
        Vgic {
            version: Version::V3,
            gicd,
            gicr,
            enable_grp1: false,
            private,
            asleep: [true; MAX_VCPUS],
            spis: [Irq {
                level: true,
                ..Irq::default()
            }; NR_SPIS],
            route: [0; NR_SPIS],
            targets: [0; NR_SPIS],
            busy_private: [0; MAX_VCPUS],
            busy_spis: 0,
        }
    }

    /// Whether `[ipa, ipa + size)` touches the vGIC's frames. Inline: the lazy-map entry
    /// asks it, and may make no call.
    #[inline(always)]
    pub fn overlaps(&self, ipa: u64, size: u64) -> bool {
        let end = ipa.saturating_add(size);
        let hits = |base: u64, len: u64| ipa < base + len && base < end;
        hits(self.gicd, GICD_SIZE) || hits(self.gicr, self.cpu_frames_size())
    }

    /// Size of the second window: the GICRs (v3) or the GICC frame (v2).
    #[inline(always)]
    pub fn cpu_frames_size(&self) -> u64 {
        match self.version {
            Version::V3 => GICR_SIZE,
            Version::V2 => GICC_SIZE,
        }
    }

    /// The interrupt `intid` as vCPU `vcpu` sees it (SGI/PPI: its own copy).
    pub(crate) fn irq(&self, vcpu: usize, intid: u32) -> Option<&Irq> {
        match intid {
            0..=31 => self.private.get(vcpu)?.get(intid as usize),
            _ => self.spis.get((intid - SPI_BASE) as usize),
        }
    }

    /// Change the interrupt `intid` of vCPU `vcpu` (SGI/PPI: its own copy) with `f`, and
    /// its busy bit with it: the one way the model's interrupts change. None if there is
    /// no such interrupt.
    #[inline]
    pub(crate) fn update<R>(
        &mut self,
        vcpu: usize,
        intid: u32,
        f: impl FnOnce(&mut Irq) -> R,
    ) -> Option<R> {
        let (irq, word, bit) = match intid {
            0..=31 => {
                let irq = self.private.get_mut(vcpu)?.get_mut(intid as usize)?;
                let word = self.busy_private.get_mut(vcpu)?;
                (irq, Busy::Private(word), intid)
            }
            _ => {
                let spi = intid.checked_sub(SPI_BASE)?;
                let irq = self.spis.get_mut(spi as usize)?;
                (irq, Busy::Spis(&mut self.busy_spis), spi)
            }
        };
        let out = f(irq);
        let busy = irq.pending() || irq.active;
        match word {
            Busy::Private(w) => *w = (*w & !(1 << bit)) | (busy as u32) << bit,
            Busy::Spis(w) => *w = (*w & !(1 << bit)) | (busy as u64) << bit,
        }
        Some(out)
    }

    /// The vCPU an SPI is delivered to (IROUTER: Aff0 with Aff1..3 = 0; IRM: vCPU 0).
    /// GICv2: the lowest vCPU in ITARGETSR's byte (Stile picks one of a 1-of-N set).
    pub fn spi_target(&self, spi: usize) -> Option<usize> {
        let r = *self.route.get(spi)?;
        if r & IROUTER_IRM != 0 {
            return Some(0);
        }
        if r & !0xff != 0 {
            return None;
        }
        Some(r as usize)
    }

    /// GICv2: GICD_ITARGETSR<n>'s byte, and the route it means.
    pub(crate) fn set_targets(&mut self, spi: usize, byte: u8) {
        if let (Some(t), Some(r)) = (self.targets.get_mut(spi), self.route.get_mut(spi)) {
            *t = byte;
            *r = v2_route(byte);
        }
    }

    pub(crate) fn set_route(&mut self, spi: usize, value: u64) {
        if let Some(r) = self.route.get_mut(spi) {
            *r = value & IROUTER_MASK;
        }
    }

    /// The host drives SPI `intid`'s line: a level-sensitive SPI is pending while it is
    /// high; an edge-triggered one latches on a rising edge. Returns the target vCPU.
    pub fn set_line(&mut self, intid: u32, high: bool) -> Result<Option<usize>, LineError> {
        if !(SPI_BASE..NR_IRQS).contains(&intid) {
            return Err(LineError::NotSpi);
        }
        // An SPI's busy bit is not per vCPU: any `vcpu` will do.
        self.update(0, intid, |irq| {
            if high && !irq.line && !irq.level {
                irq.latch = true;
            }
            irq.line = high;
        });
        Ok(self.spi_target((intid - SPI_BASE) as usize))
    }

    /// Make a private interrupt of `vcpu` pending (the virtual timer, an SGI).
    pub fn raise_private(&mut self, vcpu: usize, intid: u32) {
        if intid < 32 {
            self.update(vcpu, intid, |irq| irq.latch = true);
        }
    }

    /// A write of `value` to ICC_SGI1R_EL1 by vCPU `from` of `nr_vcpus`: the SGI is made
    /// pending on each target. Returns the targets as a bit mask (bit n = vCPU n).
    /// Our vCPUs' MPIDRs are Aff0 = index, Aff1..3 = 0 (vm/vcpu.rs).
    pub fn sgi1r(&mut self, from: usize, nr_vcpus: usize, value: u64) -> u32 {
        if self.version == Version::V2 {
            // Only GICD_SGIR raises a GICv2 guest's SGIs.
            return 0;
        }
        let intid = ((value >> 24) & 0xf) as u32;
        let irm = value & (1 << 40) != 0;
        let aff_high = value & (0xff << 16 | 0xff << 32 | 0xff << 48);
        let range_sel = (value >> 44) & 0xf;
        let all = (1u32 << nr_vcpus.min(MAX_VCPUS)) - 1;
        let targets = if irm {
            all & !(1 << from)
        } else if aff_high != 0 || range_sel != 0 {
            0
        } else {
            (value & 0xffff) as u32 & all
        };
        self.raise_sgi(targets, intid);
        targets
    }

    /// SGI `intid` pending on each vCPU in `targets` (bit n = vCPU n).
    pub(crate) fn raise_sgi(&mut self, targets: u32, intid: u32) {
        for t in 0..MAX_VCPUS {
            if targets & (1 << t) != 0 {
                self.raise_private(t, intid);
            }
        }
    }

    /// Whether `intid` can be signalled to `vcpu`: enabled, and for an SPI the
    /// distributor on and routed there.
    fn deliverable_to(&self, vcpu: usize, intid: u32, irq: &Irq) -> bool {
        irq.enabled
            && (intid < 32
                || (self.enable_grp1 && self.spi_target((intid - SPI_BASE) as usize) == Some(vcpu)))
    }

    /// Every interrupt of `vcpu`'s that is pending or active, lowest INTID first: its busy
    /// SGIs and PPIs, and the busy SPIs routed to it. Only the busy bitmaps' set bits are
    /// visited: the flush runs this around every vGIC trap.
    fn for_vcpu(&self, vcpu: usize) -> impl Iterator<Item = (u32, &Irq)> + '_ {
        let private = self.private.get(vcpu);
        let own = self.busy_private.get(vcpu).copied().unwrap_or(0);
        let private =
            set_bits(own as u64).filter_map(move |i| Some((i, private?.get(i as usize)?)));
        let spis = set_bits(self.busy_spis)
            .filter(move |&n| self.spi_target(n as usize) == Some(vcpu))
            .filter_map(|n| Some((SPI_BASE + n, self.spis.get(n as usize)?)));
        private.chain(spis)
    }

    /// The highest-priority interrupt pending and deliverable to `vcpu` and not active
    /// (what VCPU_PENDING and a WFI ask): (INTID, priority).
    pub fn highest_pending(&self, vcpu: usize) -> Option<(u32, u8)> {
        self.for_vcpu(vcpu)
            .filter(|(i, irq)| irq.pending() && !irq.active && self.deliverable_to(vcpu, *i, irq))
            .min_by_key(|(i, irq)| (irq.priority, *i))
            .map(|(i, irq)| (i, irq.priority))
    }
}

/// A vCPU's virtual timer from its saved CNTV_CTL_EL0 and CNTV_CVAL_EL0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vtimer {
    pub ctl: u64,
    pub cval: u64,
}

/// CNTV_CTL_EL0 bits.
pub const CNTV_ENABLE: u64 = 1 << 0;
pub const CNTV_IMASK: u64 = 1 << 1;
pub const CNTV_ISTATUS: u64 = 1 << 2;

impl Vtimer {
    /// When it will fire, if it is armed (enabled and not masked).
    pub fn deadline(&self) -> Option<u64> {
        (self.ctl & (CNTV_ENABLE | CNTV_IMASK) == CNTV_ENABLE).then_some(self.cval)
    }

    /// Whether it has fired by `now` (the virtual counter; CNTVOFF_EL2 is 0).
    pub fn fired(&self, now: u64) -> bool {
        self.deadline().is_some_and(|d| d <= now)
    }
}
