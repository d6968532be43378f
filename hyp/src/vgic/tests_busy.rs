//! The busy bitmaps (mod.rs, `Vgic::update`) against the interrupt arrays they summarise:
//! random sequences of everything that changes an interrupt (the GICD/GICR registers of
//! both GIC versions, SGIs, the timer's PPI, SPI lines, flushes and folds with whatever the
//! guest did to its LRs), checking after each step that every bitmap equals a recomputation
//! from the arrays, and that the flush and `highest_pending` pick exactly what a scan of
//! all 96 INTIDs picks.

use super::lr::{GicCpuRegs, LrFormat, ICH_HCR_EN, ICH_HCR_UIE, MAX_LRS};
use super::mmio::Access;
use super::*;

const GICD: u64 = 0x0800_0000;
const GICR: u64 = 0x080a_0000;
const GICC: u64 = 0x0801_0000;
const SGI_FRAME: u64 = 0x1_0000;
const ROUNDS: u64 = 16;
const STEPS: usize = 1_500;

use crate::test_rng::Rng;

impl Rng {
    /// A 32-bit register value with about one bit in eight set.
    fn sparse(&mut self) -> u64 {
        self.next() & self.next() & self.next() & 0xffff_ffff
    }
}

// --- the expectation, from the arrays alone ---

/// The vCPU an SPI goes to, read off its GICD_IROUTER image (IRM: vCPU 0; Aff1..3 set:
/// nobody; else Aff0, which may name no vCPU).
fn target_of(g: &Vgic, spi: usize) -> Option<usize> {
    let r = g.route[spi];
    if r & 1 << 31 != 0 {
        Some(0)
    } else if r >> 8 != 0 {
        None
    } else {
        Some(r as usize)
    }
}

fn pending(irq: &Irq) -> bool {
    irq.latch || (irq.level && irq.line)
}

/// Every interrupt vCPU `v` sees: its own SGIs and PPIs, then every SPI routed to it.
fn all_of(g: &Vgic, v: usize) -> Vec<(u32, Irq)> {
    let own = (0..32).map(|i| (i, g.private[v][i as usize]));
    let spis = (0..NR_SPIS)
        .filter(|&n| target_of(g, n) == Some(v))
        .map(|n| (SPI_BASE + n as u32, g.spis[n]));
    own.chain(spis).collect()
}

fn deliverable(g: &Vgic, intid: u32, irq: &Irq) -> bool {
    irq.enabled && (intid < 32 || g.enable_grp1)
}

/// What the flush must put in vCPU `v`'s `nr_lrs` LRs: (LRs, used, overflow).
fn brute_flush(g: &Vgic, v: usize, nr_lrs: usize) -> ([u64; MAX_LRS], u8, bool) {
    let mut want: Vec<(u8, bool, u32, bool, bool)> = all_of(g, v)
        .into_iter()
        .filter_map(|(i, irq)| {
            let deliver = pending(&irq) && deliverable(g, i, &irq);
            (deliver || irq.active).then_some((irq.priority, !irq.active, i, deliver, irq.active))
        })
        .collect();
    want.sort();
    let overflow = want.len() > nr_lrs;
    want.truncate(nr_lrs);
    let mut lrs = [0; MAX_LRS];
    for (n, &(prio, _, i, deliver, active)) in want.iter().enumerate() {
        lrs[n] = LrFormat(g.version).encode(i, prio, deliver, active);
    }
    (lrs, want.len() as u8, overflow)
}

fn brute_highest(g: &Vgic, v: usize) -> Option<(u32, u8)> {
    all_of(g, v)
        .into_iter()
        .filter(|(i, irq)| pending(irq) && !irq.active && deliverable(g, *i, irq))
        .min_by_key(|(i, irq)| (irq.priority, *i))
        .map(|(i, irq)| (i, irq.priority))
}

/// The bitmaps equal a recomputation from the arrays, and every vCPU's flush (on a copy)
/// and highest pending interrupt equal the scan's.
fn check(g: &Vgic, step: &str) {
    for v in 0..MAX_VCPUS {
        let want = (0..32).fold(0u32, |w, i| {
            let irq = &g.private[v][i];
            w | ((pending(irq) || irq.active) as u32) << i
        });
        assert_eq!(g.busy_private[v], want, "vCPU {v}'s busy bits after {step}");
    }
    let want = (0..NR_SPIS).fold(0u64, |w, n| {
        let irq = &g.spis[n];
        w | ((pending(irq) || irq.active) as u64) << n
    });
    assert_eq!(g.busy_spis, want, "SPIs' busy bits after {step}");
    for v in 0..MAX_VCPUS {
        assert_eq!(
            g.highest_pending(v),
            brute_highest(g, v),
            "vCPU {v}'s highest pending after {step}"
        );
        for nr_lrs in [1, 4] {
            let mut copy = g.clone();
            let mut regs = GicCpuRegs::default();
            copy.flush(v, &mut regs, nr_lrs);
            let (lrs, used, overflow) = brute_flush(g, v, nr_lrs);
            assert_eq!(regs.lrs, lrs, "vCPU {v}'s {nr_lrs} LRs after {step}");
            assert_eq!(regs.used, used, "vCPU {v}'s LRs in use after {step}");
            let hcr = ICH_HCR_EN | if overflow { ICH_HCR_UIE } else { 0 };
            assert_eq!(regs.hcr, hcr, "vCPU {v}'s ICH_HCR after {step}");
        }
    }
}

// --- the operations ---

fn write(g: &mut Vgic, vcpu: usize, nr: usize, ipa: u64, size: u8, v: u64) {
    let a = Access {
        size,
        write: Some(v),
    };
    assert!(
        g.mmio(vcpu, nr, ipa, a).is_some(),
        "{ipa:#x} is a vGIC frame"
    );
}

/// One of the six bit registers (IS/ICENABLER, IS/ICPENDR, IS/ICACTIVER).
fn bit_reg(r: &mut Rng) -> u64 {
    0x100 + 0x80 * r.below(6)
}

/// A GICv3 register write: distributor or a redistributor's SGI frame.
fn v3_write(g: &mut Vgic, r: &mut Rng, vcpu: usize, nr: usize) -> &'static str {
    let rd = GICR + GICR_STRIDE * r.below(nr as u64) + SGI_FRAME;
    let prio = r.next() & 0xff;
    match r.below(9) {
        0 => write(
            g,
            vcpu,
            nr,
            GICD + bit_reg(r) + 4 * r.below(4),
            4,
            r.sparse(),
        ),
        1 => write(g, vcpu, nr, rd + bit_reg(r), 4, r.sparse()),
        2 => write(g, vcpu, nr, GICD + 0x400 + 32 + r.below(64), 1, prio),
        3 => write(g, vcpu, nr, rd + 0x400 + 4 * r.below(8), 4, r.next() >> 32),
        4 => write(
            g,
            vcpu,
            nr,
            GICD + 0xc08 + 4 * r.below(4),
            4,
            r.next() >> 32,
        ),
        5 => write(g, vcpu, nr, rd + 0xc04, 4, r.next() >> 32),
        6 => {
            // Aff0 up to one past the vCPUs, sometimes IRM or an Aff1 nobody has.
            let v = match r.below(8) {
                0 => 1 << 31,
                1 => 1 << 8,
                _ => r.below(MAX_VCPUS as u64 + 1),
            };
            let ipa = GICD + 0x6000 + 8 * (SPI_BASE as u64 + r.below(NR_SPIS as u64));
            match r.chance(50) {
                true => write(g, vcpu, nr, ipa, 8, v),
                false => write(g, vcpu, nr, ipa, 4, v),
            }
        }
        7 => write(g, vcpu, nr, GICD, 4, r.below(2) << 1),
        _ => {
            let list = r.below(1 << MAX_VCPUS);
            let irm = (r.chance(20) as u64) << 40;
            g.sgi1r(vcpu, nr, irm | r.below(16) << 24 | list);
            return "ICC_SGI1R_EL1";
        }
    }
    "a GICv3 register write"
}

/// A GICv2 distributor write (banked first words, ITARGETSR, GICD_SGIR).
fn v2_write(g: &mut Vgic, r: &mut Rng, vcpu: usize, nr: usize) -> &'static str {
    let prio = r.next() & 0xff;
    match r.below(6) {
        0 => write(
            g,
            vcpu,
            nr,
            GICD + bit_reg(r) + 4 * r.below(4),
            4,
            r.sparse(),
        ),
        1 => write(g, vcpu, nr, GICD + 0x400 + r.below(96), 1, prio),
        2 => write(g, vcpu, nr, GICD + 0x800 + r.below(96), 1, r.below(32)),
        3 => write(
            g,
            vcpu,
            nr,
            GICD + 0xc04 + 4 * r.below(5),
            4,
            r.next() >> 32,
        ),
        4 => write(g, vcpu, nr, GICD, 4, r.below(2)),
        _ => {
            let sgir = r.below(3) << 24 | r.below(1 << MAX_VCPUS) << 16 | r.below(16);
            write(g, vcpu, nr, GICD + 0xf00, 4, sgir);
        }
    }
    "a GICv2 register write"
}

/// Flush vCPU `vcpu`'s LRs (checked against the scan), let the guest do something to each
/// (acknowledge, EOI, leave it, both, or a bogus INTID), and fold them back.
fn flush_and_fold(g: &mut Vgic, r: &mut Rng, vcpu: usize) {
    let nr_lrs = 1 + r.below(6) as usize;
    let (lrs, used, _) = brute_flush(g, vcpu, nr_lrs);
    let mut regs = GicCpuRegs::default();
    g.flush(vcpu, &mut regs, nr_lrs);
    assert_eq!((regs.lrs, regs.used), (lrs, used), "flush of vCPU {vcpu}");
    let format = LrFormat(g.version);
    for lr in regs.lrs.iter_mut().take(used as usize) {
        let (intid, _) = format.decode(*lr);
        let prio = r.next() as u8;
        *lr = match r.below(6) {
            0 => *lr,
            1 => format.encode(intid, prio, false, true),
            2 => 0,
            3 => format.encode(intid, prio, true, true),
            4 => format.encode(intid, prio, true, false),
            _ => format.encode(NR_IRQS + r.below(100) as u32, prio, true, false),
        };
    }
    g.fold(vcpu, &mut regs);
}

fn run(version: Version, seed: u64) {
    let mut r = Rng(seed);
    let mut g = match version {
        Version::V3 => Vgic::new(GICD, GICR),
        Version::V2 => Vgic::new_v2(GICD, GICC),
    };
    let nr = 1 + r.below(MAX_VCPUS as u64) as usize;
    check(&g, "reset");
    for _ in 0..STEPS {
        let vcpu = r.below(nr as u64) as usize;
        let step = match r.below(10) {
            0..=3 => match version {
                Version::V3 => v3_write(&mut g, &mut r, vcpu, nr),
                Version::V2 => v2_write(&mut g, &mut r, vcpu, nr),
            },
            4 | 5 => {
                let intid = SPI_BASE + r.below(NR_SPIS as u64) as u32;
                assert!(g.set_line(intid, r.chance(50)).is_ok());
                "an SPI line"
            }
            6 => {
                g.raise_private(vcpu, r.below(32) as u32);
                "a private interrupt raised"
            }
            _ => {
                flush_and_fold(&mut g, &mut r, vcpu);
                "a flush and fold"
            }
        };
        check(&g, step);
    }
}

#[test]
fn busy_bitmaps_follow_every_change_gicv3() {
    for seed in 1..=ROUNDS {
        run(Version::V3, seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    }
}

#[test]
fn busy_bitmaps_follow_every_change_gicv2() {
    for seed in 1..=ROUNDS {
        run(Version::V2, seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
    }
}
