//! The GICv2 flavour: its distributor's registers (mmio_v2.rs), GICH_LR encoding, and the
//! shared LR allocation run with that format.

use super::lr::{GicCpuRegs, LrFormat, ICH_HCR_EN, ICH_HCR_UIE};
use super::mmio::Access;
use super::*;

const GICD: u64 = 0x0800_0000;
const GICC: u64 = 0x0801_0000;

fn vgic() -> Vgic {
    Vgic::new_v2(GICD, GICC)
}

fn rd(g: &mut Vgic, vcpu: usize, off: u64, size: u8) -> u64 {
    g.mmio(vcpu, 2, GICD + off, Access { size, write: None })
        .expect("in the GICD frame")
}

fn wr(g: &mut Vgic, vcpu: usize, off: u64, size: u8, v: u64) {
    let a = Access {
        size,
        write: Some(v),
    };
    assert_eq!(g.mmio(vcpu, 2, GICD + off, a), Some(0));
}

/// Distributor on, SPI `intid` enabled at `prio`, targeted at `vcpu`.
fn spi_ready(g: &mut Vgic, intid: u32, prio: u8, vcpu: usize) {
    wr(g, 0, 0, 4, 1);
    wr(g, 0, 0x100 + 4 * (intid as u64 / 32), 4, 1 << (intid % 32));
    wr(g, 0, 0x400 + intid as u64, 1, prio as u64);
    wr(g, 0, 0x800 + intid as u64, 1, 1 << vcpu);
}

const V2: LrFormat = LrFormat(Version::V2);

// --- GICH_LR ---

#[test]
fn v2_lr_encoding_is_the_architected_one() {
    // Pending (28), priority 0xa0 >> 3 in 27:23, vINTID 40; Group 0, HW 0.
    assert_eq!(V2.encode(40, 0xa0, true, false), 1 << 28 | 0x14 << 23 | 40);
    assert_eq!(V2.encode(27, 0x80, false, true), 1 << 29 | 0x10 << 23 | 27);
    assert_eq!(V2.encode(3, 0, true, true), 3 << 28 | 3);
    // Only 10 bits of INTID, nothing above bit 31.
    assert_eq!(V2.encode(0x7ff, 0xff, true, true) >> 32, 0);
    assert_eq!(V2.encode(0x7ff, 0, false, false), 0x3ff);
}

#[test]
fn v2_lr_decodes_what_the_guest_left() {
    assert_eq!(V2.decode(1 << 28 | 0x14 << 23 | 40), (40, 1));
    assert_eq!(V2.decode(1 << 29 | 27), (27, 2));
    assert_eq!(V2.decode(3 << 28 | 5), (5, 3));
    // Physical ID / SGI source (19:10), group and HW bits are not the state or the ID.
    assert_eq!(V2.decode(1 << 31 | 1 << 30 | 0x3ff << 10 | 7), (7, 0));
    let v3 = LrFormat(Version::V3);
    assert_eq!(v3.decode(v3.encode(40, 0xa0, true, true)), (40, 3));
}

#[test]
fn v2_flush_fills_gich_lrs_and_fold_takes_them_back() {
    let mut g = vgic();
    spi_ready(&mut g, 40, 0xa0, 0);
    g.set_line(40, true).unwrap();
    let mut regs = GicCpuRegs::default();
    g.flush(0, &mut regs, 4);
    assert_eq!(regs.lrs[0], 1 << 28 | 0x14 << 23 | 40);
    assert_eq!((regs.used, regs.hcr), (1, ICH_HCR_EN));
    // The guest acknowledged it: active in the LR. The fold keeps it active, not pending.
    regs.lrs[0] = 1 << 29 | 0x14 << 23 | 40;
    g.set_line(40, false).unwrap();
    g.fold(0, &mut regs);
    let irq = *g.irq(0, 40).unwrap();
    assert!(irq.active && !irq.pending());
    assert_eq!(regs.lrs[0], 0);
}

#[test]
fn v2_overflow_keeps_the_best_and_asks_for_underflow() {
    let mut g = vgic();
    for (n, intid) in (40..46).enumerate() {
        spi_ready(&mut g, intid, 0xf0 - 0x10 * n as u8, 0);
        g.set_line(intid, true).unwrap();
    }
    let mut regs = GicCpuRegs::default();
    g.flush(0, &mut regs, 4);
    let ids: std::vec::Vec<_> = regs.lrs[..4].iter().map(|lr| V2.decode(*lr).0).collect();
    assert_eq!(ids, [45, 44, 43, 42]);
    assert_eq!(regs.hcr, ICH_HCR_EN | ICH_HCR_UIE);
    assert!(regs.lrs[4..].iter().all(|lr| *lr == 0));
    // The two left out wait in the model.
    assert!(g.irq(0, 40).unwrap().pending() && g.irq(0, 41).unwrap().pending());
}

// --- the distributor ---

#[test]
fn v2_gicd_identifies_as_gicv2() {
    let mut g = vgic();
    // ITLinesNumber 2 (96 INTIDs), CPUNumber = 2 vCPUs - 1.
    assert_eq!(rd(&mut g, 0, 0x4, 4), 2 | 1 << 5);
    assert_eq!(rd(&mut g, 0, 0xfe8, 4), 0x2b);
    assert_eq!(rd(&mut g, 0, 0xffe8, 4), 0);
}

#[test]
fn v2_gicd_ctlr_is_enable_group_0() {
    let mut g = vgic();
    wr(&mut g, 0, 0, 4, 2);
    assert_eq!(rd(&mut g, 0, 0, 4), 0);
    wr(&mut g, 0, 0, 4, 1);
    assert_eq!(rd(&mut g, 0, 0, 4), 1);
    assert!(g.enable_grp1);
}

#[test]
fn v2_igroupr_is_all_group_0() {
    let mut g = vgic();
    wr(&mut g, 0, 0x84, 4, u32::MAX as u64);
    assert_eq!(rd(&mut g, 0, 0x80, 4), 0);
    assert_eq!(rd(&mut g, 0, 0x84, 4), 0);
}

#[test]
fn v2_private_words_are_banked_per_vcpu() {
    let mut g = vgic();
    // ISENABLER0 and IPRIORITYR of PPI 27 in the distributor itself, per vCPU.
    wr(&mut g, 1, 0x100, 4, 1 << 27 | 1 << 5);
    wr(&mut g, 1, 0x400 + 27, 1, 0x80);
    assert_eq!(rd(&mut g, 1, 0x100, 4), 1 << 27 | 0xffff);
    assert_eq!(rd(&mut g, 0, 0x100, 4), 0xffff);
    assert_eq!(rd(&mut g, 1, 0x418, 4), 0x80 << 24);
    assert_eq!(rd(&mut g, 0, 0x418, 4), 0);
    wr(&mut g, 1, 0x180, 4, 1 << 5);
    assert_eq!(rd(&mut g, 1, 0x100, 4), 1 << 27 | 0xffff);
}

#[test]
fn v2_sgis_are_always_enabled() {
    let mut g = vgic();
    assert_eq!(rd(&mut g, 0, 0x100, 4), 0xffff);
    wr(&mut g, 0, 0x180, 4, u32::MAX as u64);
    assert_eq!(rd(&mut g, 0, 0x100, 4), 0xffff);
    // So an SGI to a vCPU that never enabled anything is deliverable there.
    wr(&mut g, 0, 0xf00, 4, 0b10 << 16 | 3);
    assert_eq!(g.highest_pending(1), Some((3, 0)));
}

#[test]
fn v2_icfgr0_is_edge_read_only_and_ppis_configurable() {
    let mut g = vgic();
    wr(&mut g, 0, 0xc00, 4, 0);
    assert_eq!(rd(&mut g, 0, 0xc00, 4), 0xaaaa_aaaa);
    // PPI 27 edge (bit 2 * 11 + 1 of ICFGR1), then level again.
    wr(&mut g, 0, 0xc04, 4, 2 << 22);
    assert!(!g.irq(0, 27).unwrap().level);
    wr(&mut g, 0, 0xc04, 4, 0);
    assert!(g.irq(0, 27).unwrap().level);
    // SPI 40: ICFGR2.
    wr(&mut g, 0, 0xc08, 4, 2 << 16);
    assert!(!g.irq(0, 40).unwrap().level);
}

#[test]
fn v2_itargetsr_private_bytes_read_the_accessing_vcpu() {
    let mut g = vgic();
    assert_eq!(rd(&mut g, 0, 0x800, 4), 0x0101_0101);
    assert_eq!(rd(&mut g, 1, 0x81c, 4), 0x0202_0202);
    wr(&mut g, 1, 0x81c, 4, 0);
    assert_eq!(rd(&mut g, 1, 0x81f, 1), 2);
}

#[test]
fn v2_itargetsr_routes_spis_by_byte_or_word() {
    let mut g = vgic();
    wr(&mut g, 0, 0x828, 4, 0x0003_0201);
    assert_eq!(rd(&mut g, 0, 0x828, 4), 0x0003_0201);
    assert_eq!(g.spi_target(8), Some(0));
    assert_eq!(g.spi_target(9), Some(1));
    // Two targets: Stile picks the lowest; none: nobody.
    assert_eq!(g.spi_target(10), Some(0));
    assert_eq!(g.spi_target(11), None);
    wr(&mut g, 0, 0x82b, 1, 0x2);
    assert_eq!(g.spi_target(11), Some(1));
    assert_eq!(rd(&mut g, 0, 0x82b, 1), 2);
    // A target beyond the vCPUs a VM may have routes nowhere.
    wr(&mut g, 0, 0x82b, 1, 0x80);
    assert_eq!(g.spi_target(11), None);
}

#[test]
fn v2_spi_reaches_only_its_target_vcpu() {
    let mut g = vgic();
    spi_ready(&mut g, 40, 0x80, 1);
    g.set_line(40, true).unwrap();
    assert_eq!(g.highest_pending(0), None);
    assert_eq!(g.highest_pending(1), Some((40, 0x80)));
}

#[test]
fn v2_sgir_target_list_others_and_self() {
    let mut g = vgic();
    // List: vCPU 1 (and vCPU 5, which the VM has not: dropped).
    wr(&mut g, 0, 0xf00, 4, 0x22 << 16 | 3);
    assert!(g.irq(1, 3).unwrap().pending());
    assert!(!g.irq(0, 3).unwrap().pending());
    // Everyone but the sender.
    wr(&mut g, 1, 0xf00, 4, 1 << 24 | 4);
    assert!(g.irq(0, 4).unwrap().pending());
    assert!(!g.irq(1, 4).unwrap().pending());
    // The sender only.
    assert_eq!(g.sgir(1, 2, 2 << 24 | 0xff << 16 | 6), 0b10);
    assert!(g.irq(1, 6).unwrap().pending() && !g.irq(0, 6).unwrap().pending());
    // The reserved filter reaches nobody; a read of GICD_SGIR is 0.
    assert_eq!(g.sgir(0, 2, 3 << 24 | 0xff << 16 | 7), 0);
    assert_eq!(rd(&mut g, 0, 0xf00, 4), 0);
}

#[test]
fn v2_has_no_icc_sgi1r() {
    let mut g = vgic();
    assert_eq!(g.sgi1r(0, 2, 5 << 24 | 1), 0);
    assert!(!g.irq(0, 5).unwrap().pending());
}

#[test]
fn v2_frames_are_gicd_and_a_64k_gicc_window() {
    let mut g = vgic();
    assert!(g.overlaps(GICC + 0xffff, 1));
    assert!(!g.overlaps(GICC + 0x1_0000, 0x1000));
    assert!(!g.overlaps(GICD + 0x2_0000, 0x1000));
    // Past the mapped GICV: reads as zero, ignores writes; outside: not the vGIC's.
    let read = Access {
        size: 4,
        write: None,
    };
    assert_eq!(g.mmio(0, 2, GICC + 0x3000, read), Some(0));
    assert_eq!(g.mmio(0, 2, GICC + 0x1_0000, read), None);
    // Only pending and active state needs the LRs, and the GICC window never does.
    assert!(g.read_needs_lrs(GICD + 0x204));
    assert!(!g.read_needs_lrs(GICD + 0x800));
    assert!(!g.read_needs_lrs(GICC + 0x1_0200));
}

#[test]
fn gicv_pages_contiguous_or_64k_aliased() {
    assert_eq!(
        gicv_pages(0x0804_0000, 0x1_0000),
        Some([0x0804_0000, 0x0804_1000])
    );
    assert_eq!(
        gicv_pages(0xf100_6000, 0x2000),
        Some([0xf100_6000, 0xf100_7000])
    );
    assert_eq!(
        gicv_pages(0xe118_0000, 0x2_0000),
        Some([0xe118_0000, 0xe119_0000])
    );
    assert_eq!(gicv_pages(0xf100_6000, 0x1000), None);
    assert_eq!(gicv_pages(0xf100_6800, 0x2000), None);
}
