//! The host's tick while a guest runs.
//!
//! A host at EL1 (Linux booted by Stile) keeps time with the EL1 virtual timer. While a guest
//! runs, the virtual timer's registers hold the guest's (the world switch swaps CNTV_*), so
//! the host's next tick cannot fire: a guest that never exits would keep its host CPU without
//! a tick (Linux reports a soft lockup after 20 s). So before entering a guest EL2 arms its
//! own physical timer (CNTHP_*, which no guest can reach) at the host's virtual-timer
//! deadline; when it fires, the physical interrupt ends the guest's run with an IRQ exit and
//! the host, its timer back in place, finds it has expired and takes its tick. On the way
//! back EL2 disarms it, so the host never sees the EL2 timer's interrupt.
//!
//! The EL2 timer's PPI is one the host never enables (it does not use the EL2 timer), and the
//! host's GIC driver disables every PPI when it brings a CPU up; so EL2 sets its enable bit in
//! this CPU's banked set-enable register each time it arms the timer (one store).

use crate::addr::PhysRange;
use crate::dt::Gic;

/// CNTV_CTL_EL0 / CNTHP_CTL_EL2: ENABLE and IMASK.
pub const TIMER_ENABLE: u64 = 1 << 0;
const TIMER_IMASK: u64 = 1 << 1;

/// Where EL2 enables its timer's PPI on one CPU: the 32-bit set-enable register for
/// INTIDs 0..31 (GICv2: the distributor's banked GICD_ISENABLER0; GICv3: the CPU's
/// redistributor's GICR_ISENABLER0) and the bit to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickEnable {
    pub isenabler0: u64,
    pub bit: u32,
}

/// The host's virtual-timer deadline (in counter ticks) if its timer would interrupt it.
pub fn host_deadline(cntv_ctl: u64, cntv_cval: u64) -> Option<u64> {
    (cntv_ctl & (TIMER_ENABLE | TIMER_IMASK) == TIMER_ENABLE).then_some(cntv_cval)
}

const GICD_ISENABLER0: u64 = 0x100;
const GICR_TYPER: u64 = 0x8;
const GICR_SGI_FRAME: u64 = 0x1_0000;
const GICR_ISENABLER0: u64 = GICR_SGI_FRAME + 0x100;
/// A redistributor is two 64 KiB frames, four with GICR_TYPER.VLPIS (GICv4).
const GICR_FRAMES: u64 = 0x2_0000;
const GICR_FRAMES_VLPIS: u64 = 0x4_0000;
const TYPER_VLPIS: u64 = 1 << 1;
const TYPER_LAST: u64 = 1 << 4;

/// MPIDR's affinity fields packed as GICR_TYPER[63:32] holds them (Aff3.Aff2.Aff1.Aff0).
fn packed_affinity(mpidr: u64) -> u64 {
    (mpidr & 0xff_ffff) | ((mpidr >> 32) & 0xff) << 24
}

/// Where this CPU (`mpidr`) enables PPI `intid`: GICv2's banked distributor register, or
/// the set-enable register of the GICv3 redistributor whose GICR_TYPER names this CPU
/// (`read_typer` reads that 64-bit register at a physical address). None if `intid` is not
/// a PPI or no redistributor is this CPU's.
pub fn locate(
    gic: &Gic,
    intid: u32,
    mpidr: u64,
    read_typer: impl Fn(u64) -> u64,
) -> Option<TickEnable> {
    if !(16..32).contains(&intid) {
        return None;
    }
    match gic {
        Gic::V2 { gicd, .. } => Some(TickEnable {
            isenabler0: gicd.base.0 + GICD_ISENABLER0,
            bit: intid,
        }),
        Gic::V3 { gicr, .. } => {
            let want = packed_affinity(mpidr);
            gicr.iter()
                .find_map(|r| redistributor_of(r, want, &read_typer))
                .map(|rd| TickEnable {
                    isenabler0: rd + GICR_ISENABLER0,
                    bit: intid,
                })
        }
    }
}

/// The base of the redistributor in `range` whose affinity is `want`, walking frame by frame
/// until GICR_TYPER.Last or the end of the range.
fn redistributor_of(range: &PhysRange, want: u64, read_typer: &impl Fn(u64) -> u64) -> Option<u64> {
    let end = range.base.0.checked_add(range.size)?;
    let mut rd = range.base.0;
    while rd.checked_add(GICR_FRAMES)? <= end {
        let typer = read_typer(rd + GICR_TYPER);
        if typer >> 32 == want {
            return Some(rd);
        }
        if typer & TYPER_LAST != 0 {
            return None;
        }
        rd += if typer & TYPER_VLPIS != 0 {
            GICR_FRAMES_VLPIS
        } else {
            GICR_FRAMES
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use heapless::Vec;

    #[test]
    fn only_an_enabled_unmasked_timer_has_a_deadline() {
        assert_eq!(host_deadline(0b001, 1234), Some(1234));
        // ISTATUS (bit 2) is the hardware's, not a setting: it does not matter.
        assert_eq!(host_deadline(0b101, 1234), Some(1234));
        assert_eq!(host_deadline(0b011, 1234), None, "masked");
        assert_eq!(host_deadline(0b000, 1234), None, "disabled");
        assert_eq!(host_deadline(0b010, 1234), None);
    }

    fn v3(ranges: &[(u64, u64)]) -> Gic {
        let mut gicr = Vec::new();
        for &(b, s) in ranges {
            gicr.push(PhysRange::new(b, s)).unwrap();
        }
        Gic::V3 {
            gicd: PhysRange::new(0x0800_0000, 0x1_0000),
            gicr,
        }
    }

    /// Four redistributors at 0x080a0000 for MPIDRs 0..3 (Aff0), the last one marked Last.
    fn qemu_typer(addr: u64) -> u64 {
        let n = (addr - 0x080a_0000 - GICR_TYPER) / GICR_FRAMES;
        assert_eq!(
            (addr - 0x080a_0008) % GICR_FRAMES,
            0,
            "read off a frame: {addr:#x}"
        );
        assert!(n < 4, "read past the Last redistributor: {addr:#x}");
        (n << 32) | (n << 8) | if n == 3 { TYPER_LAST } else { 0 }
    }

    #[test]
    fn gicv3_finds_this_cpus_redistributor() {
        let gic = v3(&[(0x080a_0000, 0x00f6_0000)]);
        for cpu in 0..4u64 {
            let t = locate(&gic, 26, 0x8000_0000 | cpu, qemu_typer).unwrap();
            assert_eq!(t.isenabler0, 0x080a_0000 + cpu * 0x2_0000 + 0x1_0100);
            assert_eq!(t.bit, 26);
        }
        // MPIDR 4 is not there: the walk stops at Last instead of reading on.
        assert_eq!(locate(&gic, 26, 4, qemu_typer), None);
    }

    #[test]
    fn the_affinity_compared_is_aff3_aff2_aff1_aff0() {
        let gic = v3(&[(0x1000_0000, 0x4_0000)]);
        // MPIDR Aff3 = 1 (bits 39:32), Aff2 = 2, Aff1 = 3, Aff0 = 4; U and MT bits ignored.
        let mpidr = (1u64 << 32) | 0x4102_0304;
        let typer = |a: u64| {
            if a == 0x1000_0008 {
                0x0202_0304 << 32 // Aff3 = 2: someone else
            } else {
                (0x0102_0304 << 32) | TYPER_LAST
            }
        };
        assert_eq!(
            locate(&gic, 26, mpidr, typer).unwrap().isenabler0,
            0x1002_0000 + 0x1_0100
        );
    }

    #[test]
    fn vlpis_redistributors_are_four_frames() {
        let gic = v3(&[(0x2000_0000, 0x10_0000)]);
        let typer = |a: u64| match a {
            0x2000_0008 => TYPER_VLPIS,
            0x2004_0008 => (1 << 32) | TYPER_VLPIS | TYPER_LAST,
            _ => panic!("read a non-frame {a:#x}"),
        };
        assert_eq!(
            locate(&gic, 26, 1, typer).unwrap().isenabler0,
            0x2004_0000 + 0x1_0100
        );
    }

    #[test]
    fn the_walk_stays_inside_the_ranges() {
        // No Last bit anywhere and nobody matches: every read is inside a range, and the
        // walk ends at each range's end (a second range is searched too).
        let gic = v3(&[(0x3000_0000, 0x4_0000), (0x4000_0000, 0x2_0000)]);
        let reads = core::cell::Cell::new(0);
        let typer = |a: u64| {
            reads.set(reads.get() + 1);
            assert!(
                (0x3000_0000..0x3004_0000).contains(&a) || (0x4000_0000..0x4002_0000).contains(&a)
            );
            if a == 0x4000_0008 {
                7 << 32
            } else {
                9 << 32
            }
        };
        assert_eq!(locate(&gic, 26, 7, typer).unwrap().isenabler0, 0x4001_0100);
        assert_eq!(reads.get(), 3);
        assert_eq!(locate(&gic, 26, 8, typer), None);
        // A range too small for one redistributor, or one that wraps, is not read at all.
        let tiny = v3(&[(0x5000_0000, 0x1_0000), (u64::MAX - 0xffff, 0x1_0000)]);
        assert_eq!(locate(&tiny, 26, 0, |_| panic!("read")), None);
    }

    #[test]
    fn gicv2_uses_the_banked_distributor_register_and_only_ppis_qualify() {
        let gic = Gic::V2 {
            gicd: PhysRange::new(0x0800_0000, 0x1_0000),
            gicc: PhysRange::new(0x0801_0000, 0x1_0000),
            gich: None,
            gicv: None,
        };
        assert_eq!(
            locate(&gic, 26, 3, |_| panic!("v2 reads nothing")),
            Some(TickEnable {
                isenabler0: 0x0800_0100,
                bit: 26
            })
        );
        for intid in [0, 15, 32, 1020] {
            assert_eq!(locate(&gic, intid, 0, |_| 0), None, "INTID {intid}");
        }
    }
}
