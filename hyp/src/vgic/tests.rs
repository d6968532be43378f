use super::lr::{lr_intid, lr_value, GicCpuRegs, ICH_HCR_EN, ICH_HCR_UIE};
use super::mmio::{Access, IIDR};
use super::*;

const GICD: u64 = 0x0800_0000;
const GICR: u64 = 0x080a_0000;
const SGI: u64 = 0x1_0000;

fn vgic() -> Vgic {
    Vgic::new(GICD, GICR)
}

fn rd(g: &mut Vgic, vcpu: usize, ipa: u64, size: u8) -> u64 {
    g.mmio(vcpu, 2, ipa, Access { size, write: None })
        .expect("in the vGIC's frames")
}

fn wr(g: &mut Vgic, vcpu: usize, ipa: u64, size: u8, v: u64) {
    assert_eq!(
        g.mmio(
            vcpu,
            2,
            ipa,
            Access {
                size,
                write: Some(v)
            }
        ),
        Some(0)
    );
}

/// Distributor on, SPI `intid` enabled at `prio`, routed to `vcpu`.
fn spi_ready(g: &mut Vgic, intid: u32, prio: u8, vcpu: u64) {
    wr(g, 0, GICD, 4, 2);
    wr(
        g,
        0,
        GICD + 0x100 + 4 * (intid as u64 / 32),
        4,
        1 << (intid % 32),
    );
    wr(g, 0, GICD + 0x400 + intid as u64, 1, prio as u64);
    wr(g, 0, GICD + 0x6000 + 8 * intid as u64, 8, vcpu);
}

fn sgi_ready(g: &mut Vgic, vcpu: usize, intid: u32, prio: u8) {
    let rd_base = GICR + GICR_STRIDE * vcpu as u64;
    wr(g, vcpu, rd_base + SGI + 0x100, 4, 1 << intid);
    wr(
        g,
        vcpu,
        rd_base + SGI + 0x400 + intid as u64,
        1,
        prio as u64,
    );
}

// --- distributor ---

#[test]
fn gicd_identifies_as_gicv3_with_96_interrupts() {
    let mut g = vgic();
    assert_eq!(rd(&mut g, 0, GICD + 0xffe8, 4) >> 4 & 0xf, 3);
    let typer = rd(&mut g, 0, GICD + 4, 4);
    assert_eq!(((typer & 0x1f) + 1) * 32, 96);
    assert_eq!(typer >> 19 & 0x1f, 9);
    assert_eq!(rd(&mut g, 0, GICD + 8, 4), IIDR as u64);
}

#[test]
fn gicd_ctlr_keeps_enable_grp1_and_are_ds_read_one() {
    let mut g = vgic();
    assert_eq!(rd(&mut g, 0, GICD, 4), 0x50);
    wr(&mut g, 0, GICD, 4, 0xffff_ffff);
    assert_eq!(rd(&mut g, 0, GICD, 4), 0x52);
    wr(&mut g, 0, GICD, 4, 0);
    assert_eq!(rd(&mut g, 0, GICD, 4), 0x50);
}

#[test]
fn spi_enable_set_and_clear_are_write_one() {
    let mut g = vgic();
    wr(&mut g, 0, GICD + 0x104, 4, 0b1010);
    assert_eq!(rd(&mut g, 0, GICD + 0x104, 4), 0b1010);
    assert_eq!(rd(&mut g, 0, GICD + 0x184, 4), 0b1010);
    wr(&mut g, 0, GICD + 0x184, 4, 0b0010);
    assert_eq!(rd(&mut g, 0, GICD + 0x104, 4), 0b1000);
    // Writing zeroes changes nothing.
    wr(&mut g, 0, GICD + 0x104, 4, 0);
    assert_eq!(rd(&mut g, 0, GICD + 0x104, 4), 0b1000);
}

#[test]
fn gicd_private_words_are_raz_wi_with_affinity_routing() {
    let mut g = vgic();
    wr(&mut g, 0, GICD + 0x100, 4, u32::MAX as u64);
    assert_eq!(rd(&mut g, 0, GICD + 0x100, 4), 0);
    assert!(!g.private[0][5].enabled);
    wr(&mut g, 0, GICD + 0x400, 4, u32::MAX as u64);
    assert_eq!(g.private[0][0].priority, 0);
}

#[test]
fn spi_pending_set_clear_and_read() {
    let mut g = vgic();
    wr(&mut g, 0, GICD + 0x204, 4, 1 << 3);
    assert_eq!(rd(&mut g, 0, GICD + 0x204, 4), 1 << 3);
    assert_eq!(rd(&mut g, 0, GICD + 0x284, 4), 1 << 3);
    wr(&mut g, 0, GICD + 0x284, 4, 1 << 3);
    assert_eq!(rd(&mut g, 0, GICD + 0x204, 4), 0);
}

#[test]
fn spi_active_set_and_clear() {
    let mut g = vgic();
    wr(&mut g, 0, GICD + 0x308, 4, 1);
    assert!(g.spis[32].active);
    assert_eq!(rd(&mut g, 0, GICD + 0x388, 4), 1);
    wr(&mut g, 0, GICD + 0x388, 4, 1);
    assert!(!g.spis[32].active);
}

#[test]
fn priorities_by_byte_and_by_word() {
    let mut g = vgic();
    wr(&mut g, 0, GICD + 0x420, 4, 0x4030_2010);
    assert_eq!(rd(&mut g, 0, GICD + 0x422, 1), 0x30);
    wr(&mut g, 0, GICD + 0x421, 1, 0xa0);
    assert_eq!(rd(&mut g, 0, GICD + 0x420, 4), 0x4030_a010);
    assert_eq!(g.spis[0].priority, 0x10);
}

#[test]
fn icfgr_sets_edge_or_level_per_spi() {
    let mut g = vgic();
    // SPIs reset level-sensitive.
    assert_eq!(rd(&mut g, 0, GICD + 0xc08, 4), 0);
    wr(&mut g, 0, GICD + 0xc08, 4, 0b10 << 4);
    assert!(!g.spis[2].level && g.spis[1].level);
    assert_eq!(rd(&mut g, 0, GICD + 0xc08, 4), 0b10 << 4);
}

#[test]
fn irouter_full_and_half_accesses() {
    let mut g = vgic();
    let r = GICD + 0x6000 + 8 * 40;
    wr(&mut g, 0, r, 8, 0xff_0000_0001);
    assert_eq!(rd(&mut g, 0, r, 8), 0xff_0000_0001);
    assert_eq!(g.spi_target(8), None, "Aff3 != 0 matches no vCPU");
    wr(&mut g, 0, r + 4, 4, 0);
    assert_eq!(rd(&mut g, 0, r, 4), 1);
    assert_eq!(g.spi_target(8), Some(1));
    wr(&mut g, 0, r, 4, 1 << 31);
    assert_eq!(g.spi_target(8), Some(0), "1-of-N goes to vCPU 0");
}

#[test]
fn igroupr_reads_all_group1() {
    let mut g = vgic();
    assert_eq!(rd(&mut g, 0, GICD + 0x84, 4), 0xffff_ffff);
    assert_eq!(rd(&mut g, 0, GICR + SGI + 0x80, 4), 0xffff_ffff);
}

#[test]
fn unmodelled_registers_and_sizes_are_raz_wi() {
    let mut g = vgic();
    for (off, size) in [
        (0x10u64, 4u8),
        (0x104, 2),
        (0x104, 8),
        (0x6100, 2),
        (0xfff0, 4),
    ] {
        wr(&mut g, 0, GICD + off, size, u64::MAX);
        assert_eq!(rd(&mut g, 0, GICD + off, size), 0, "{off:#x}/{size}");
    }
    assert!(g.spis.iter().all(|i| !i.enabled));
}

#[test]
fn addresses_outside_the_frames_are_not_the_vgics() {
    let mut g = vgic();
    let a = Access {
        size: 4,
        write: None,
    };
    assert_eq!(g.mmio(0, 2, GICD - 4, a), None);
    assert_eq!(g.mmio(0, 2, GICD + GICD_SIZE, a), None);
    assert_eq!(g.mmio(0, 2, GICR + GICR_SIZE, a), None);
    assert!(g.overlaps(GICR + GICR_SIZE - 1, 1));
    assert!(!g.overlaps(GICR + GICR_SIZE, 0x1000));
    assert!(g.overlaps(0, u64::MAX));
}

#[test]
fn only_pending_and_active_reads_need_the_lrs() {
    let g = vgic();
    for off in [0x200u64, 0x2fc, 0x300, 0x3fc] {
        assert!(g.read_needs_lrs(GICD + off), "GICD {off:#x}");
        assert!(
            g.read_needs_lrs(GICR + GICR_STRIDE + SGI + off),
            "GICR {off:#x}"
        );
    }
    for off in [0x0u64, 0x4, 0x100, 0x1fc, 0x400, 0x6100] {
        assert!(!g.read_needs_lrs(GICD + off), "GICD {off:#x}");
        assert!(!g.read_needs_lrs(GICR + SGI + off), "GICR {off:#x}");
    }
    assert!(!g.read_needs_lrs(GICR + 0x200), "RD_base, not SGI_base");
}

// --- redistributors ---

#[test]
fn gicr_typer_gives_affinity_and_last() {
    let mut g = vgic();
    let t0 = rd(&mut g, 0, GICR + 8, 8);
    let t1 = rd(&mut g, 0, GICR + GICR_STRIDE + 8, 8);
    assert_eq!((t0 >> 32, t0 >> 8 & 0xffff, t0 >> 4 & 1), (0, 0, 0));
    assert_eq!((t1 >> 32, t1 >> 8 & 0xffff, t1 >> 4 & 1), (1, 1, 1));
    assert_eq!(rd(&mut g, 0, GICR + GICR_STRIDE + 0xc, 4), 1);
}

#[test]
fn gicr_of_a_missing_vcpu_reads_zero() {
    let mut g = vgic();
    let third = GICR + 2 * GICR_STRIDE;
    assert_eq!(rd(&mut g, 0, third + 8, 8), 0);
    wr(&mut g, 0, third + SGI + 0x100, 4, 1);
    assert!(!g.private[2][0].enabled);
}

#[test]
fn gicr_waker_wakes() {
    let mut g = vgic();
    assert_eq!(rd(&mut g, 0, GICR + 0x14, 4), 0b110);
    wr(&mut g, 0, GICR + 0x14, 4, 0);
    assert_eq!(rd(&mut g, 0, GICR + 0x14, 4), 0);
    assert_eq!(rd(&mut g, 1, GICR + GICR_STRIDE + 0x14, 4), 0b110);
}

#[test]
fn sgi_frame_registers_are_per_vcpu() {
    let mut g = vgic();
    wr(&mut g, 0, GICR + SGI + 0x100, 4, 1 << 27 | 1 << 1);
    assert_eq!(rd(&mut g, 0, GICR + SGI + 0x100, 4), 1 << 27 | 1 << 1);
    assert_eq!(rd(&mut g, 0, GICR + GICR_STRIDE + SGI + 0x100, 4), 0);
    wr(&mut g, 0, GICR + SGI + 0x180, 4, 1 << 1);
    assert_eq!(rd(&mut g, 0, GICR + SGI + 0x100, 4), 1 << 27);
    wr(&mut g, 0, GICR + GICR_STRIDE + SGI + 0x41b, 1, 0x80);
    assert_eq!(g.private[1][27].priority, 0x80);
    assert_eq!(g.private[0][27].priority, 0);
}

#[test]
fn sgi_config_is_edge_read_only_ppi_config_writable() {
    let mut g = vgic();
    wr(&mut g, 0, GICR + SGI + 0xc00, 4, 0);
    assert_eq!(rd(&mut g, 0, GICR + SGI + 0xc00, 4), 0xaaaa_aaaa);
    assert_eq!(rd(&mut g, 0, GICR + SGI + 0xc04, 4), 0);
    wr(&mut g, 0, GICR + SGI + 0xc04, 4, 0b10 << 22);
    assert!(!g.private[0][27].level);
}

// --- SGIs ---

#[test]
fn sgi1r_target_list_raises_on_each_target() {
    let mut g = vgic();
    let targets = g.sgi1r(0, 3, 5 << 24 | 0b110);
    assert_eq!(targets, 0b110);
    assert!(g.private[1][5].latch && g.private[2][5].latch);
    assert!(!g.private[0][5].latch);
}

#[test]
fn sgi1r_irm_reaches_everyone_but_the_sender() {
    let mut g = vgic();
    assert_eq!(g.sgi1r(1, 3, 1 << 40 | 2 << 24), 0b101);
    assert!(g.private[0][2].latch && !g.private[1][2].latch);
}

#[test]
fn sgi1r_to_other_affinities_or_missing_vcpus_reaches_nobody() {
    let mut g = vgic();
    assert_eq!(g.sgi1r(0, 2, 1 << 16 | 1), 0, "Aff1 = 1");
    assert_eq!(g.sgi1r(0, 2, 1 << 44 | 1), 0, "RS = 1");
    assert_eq!(g.sgi1r(0, 2, 0b1100), 0, "vCPUs 2, 3 do not exist");
    assert!(g.private.iter().flatten().all(|i| !i.latch));
}

#[test]
fn an_sgi_to_self_is_allowed_by_target_list() {
    let mut g = vgic();
    assert_eq!(g.sgi1r(0, 1, 1), 1);
    assert!(g.private[0][0].latch);
}

// --- lines and pending ---

#[test]
fn level_spi_is_pending_while_the_line_is_high() {
    let mut g = vgic();
    spi_ready(&mut g, 40, 0x20, 0);
    assert_eq!(g.set_line(40, true), Ok(Some(0)));
    assert_eq!(g.highest_pending(0), Some((40, 0x20)));
    g.set_line(40, false).unwrap();
    assert_eq!(g.highest_pending(0), None);
}

#[test]
fn edge_spi_latches_on_the_rising_edge_only() {
    let mut g = vgic();
    spi_ready(&mut g, 33, 0, 0);
    wr(&mut g, 0, GICD + 0xc08, 4, 0b10 << 2);
    g.set_line(33, true).unwrap();
    g.set_line(33, false).unwrap();
    assert_eq!(g.highest_pending(0), Some((33, 0)));
    wr(&mut g, 0, GICD + 0x284, 4, 1 << 1);
    g.set_line(33, false).unwrap();
    assert_eq!(g.highest_pending(0), None, "no edge, no interrupt");
}

#[test]
fn only_spis_are_host_lines() {
    let mut g = vgic();
    assert_eq!(g.set_line(27, true), Err(LineError::NotSpi));
    assert_eq!(g.set_line(NR_IRQS, true), Err(LineError::NotSpi));
    assert_eq!(g.set_line(u32::MAX, true), Err(LineError::NotSpi));
    assert!(g.set_line(NR_IRQS - 1, true).is_ok());
}

#[test]
fn a_disabled_distributor_or_interrupt_is_not_pending_for_delivery() {
    let mut g = vgic();
    spi_ready(&mut g, 50, 0, 1);
    g.set_line(50, true).unwrap();
    assert_eq!(g.highest_pending(1), Some((50, 0)));
    assert_eq!(g.highest_pending(0), None, "routed to vCPU 1");
    wr(&mut g, 0, GICD, 4, 0);
    assert_eq!(g.highest_pending(1), None);
    wr(&mut g, 0, GICD, 4, 2);
    wr(&mut g, 0, GICD + 0x184, 4, 1 << 18);
    assert_eq!(g.highest_pending(1), None);
}

#[test]
fn highest_pending_prefers_priority_then_lower_intid() {
    let mut g = vgic();
    sgi_ready(&mut g, 0, 3, 0x80);
    sgi_ready(&mut g, 0, 9, 0x40);
    spi_ready(&mut g, 35, 0x40, 0);
    g.raise_private(0, 3);
    g.raise_private(0, 9);
    g.set_line(35, true).unwrap();
    assert_eq!(g.highest_pending(0), Some((9, 0x40)));
    g.update(0, 9, |irq| irq.active = true);
    assert_eq!(
        g.highest_pending(0),
        Some((35, 0x40)),
        "active is not pending"
    );
}

#[test]
fn vtimer_deadline_and_fired() {
    let armed = Vtimer {
        ctl: CNTV_ENABLE,
        cval: 1000,
    };
    assert_eq!(armed.deadline(), Some(1000));
    assert!(!armed.fired(999) && armed.fired(1000));
    let masked = Vtimer {
        ctl: CNTV_ENABLE | CNTV_IMASK,
        cval: 0,
    };
    assert_eq!(masked.deadline(), None);
    assert!(!masked.fired(u64::MAX));
    assert!(!Vtimer { ctl: 0, cval: 0 }.fired(5));
}

// --- list registers ---

#[test]
fn lr_encoding_is_the_architected_one() {
    let lr = lr_value(27, 0xa0, true, false);
    assert_eq!(lr, 1 << 62 | 1 << 60 | 0xa0 << 48 | 27);
    assert_eq!(lr_value(5, 0, true, true) >> 62, 0b11);
    assert_eq!(lr_intid(lr), 27);
}

#[test]
fn flush_moves_pending_into_lrs_and_clears_the_latch() {
    let mut g = vgic();
    sgi_ready(&mut g, 0, 1, 0x10);
    g.raise_private(0, 1);
    let mut regs = GicCpuRegs::default();
    g.flush(0, &mut regs, 4);
    assert_eq!(regs.used, 1);
    assert_eq!(regs.lrs[0], lr_value(1, 0x10, true, false));
    assert_eq!(regs.hcr, ICH_HCR_EN);
    assert!(!g.private[0][1].latch);
}

#[test]
fn flush_orders_by_priority_and_leaves_the_rest_empty() {
    let mut g = vgic();
    for (i, p) in [(2u32, 0x30u8), (4, 0x10), (6, 0x20)] {
        sgi_ready(&mut g, 0, i, p);
        g.raise_private(0, i);
    }
    let mut regs = GicCpuRegs {
        lrs: [u64::MAX; 16],
        ..GicCpuRegs::default()
    };
    g.flush(0, &mut regs, 4);
    let ids: Vec<u32> = regs.lrs[..3].iter().map(|l| lr_intid(*l)).collect();
    assert_eq!(ids, [4, 6, 2]);
    assert_eq!(regs.lrs[3], 0, "the CPU's fourth LR is emptied");
    // LRs the CPU does not have are never written (nothing reads them either).
    assert!(regs.lrs[4..].iter().all(|l| *l == u64::MAX));
}

#[test]
fn overflow_keeps_the_best_and_asks_for_underflow() {
    let mut g = vgic();
    for i in 0..6u32 {
        sgi_ready(&mut g, 0, i, 0x60 - 0x10 * i as u8);
        g.raise_private(0, i);
    }
    let mut regs = GicCpuRegs::default();
    g.flush(0, &mut regs, 4);
    let ids: Vec<u32> = regs.lrs[..4].iter().map(|l| lr_intid(*l)).collect();
    assert_eq!(ids, [5, 4, 3, 2]);
    assert_eq!(regs.hcr, ICH_HCR_EN | ICH_HCR_UIE);
    // The two that did not fit stay pending in the model.
    assert!(g.private[0][0].latch && g.private[0][1].latch);
    assert!(!g.private[0][5].latch);
}

#[test]
fn underflow_then_fold_and_flush_delivers_the_rest() {
    let mut g = vgic();
    for i in 0..6u32 {
        sgi_ready(&mut g, 0, i, 0);
        g.raise_private(0, i);
    }
    let mut regs = GicCpuRegs::default();
    g.flush(0, &mut regs, 4);
    // The guest took and finished all four.
    for lr in regs.lrs.iter_mut().take(4) {
        *lr &= !(3 << 62);
    }
    g.fold(0, &mut regs);
    assert_eq!(regs.hcr & ICH_HCR_UIE, 0);
    g.flush(0, &mut regs, 4);
    let ids: Vec<u32> = regs.lrs[..regs.used as usize]
        .iter()
        .map(|l| lr_intid(*l))
        .collect();
    assert_eq!(ids, [4, 5]);
    assert_eq!(regs.hcr, ICH_HCR_EN);
}

#[test]
fn fold_carries_active_and_pending_back() {
    let mut g = vgic();
    sgi_ready(&mut g, 0, 7, 0);
    g.raise_private(0, 7);
    let mut regs = GicCpuRegs::default();
    g.flush(0, &mut regs, 4);
    // The guest acknowledged it: active in the LR.
    regs.lrs[0] = regs.lrs[0] & !(3 << 62) | 2 << 62;
    g.fold(0, &mut regs);
    assert!(g.private[0][7].active && !g.private[0][7].latch);
    assert_eq!(regs.used, 0);
    assert_eq!(regs.lrs[0], 0);
    // Still active: it goes back into an LR as active, not pending.
    g.flush(0, &mut regs, 4);
    assert_eq!(regs.lrs[0] >> 62, 0b10);
    // Not acknowledged at all: pending again after the fold.
    regs.lrs[0] = lr_value(7, 0, true, false);
    g.fold(0, &mut regs);
    assert!(g.private[0][7].latch && !g.private[0][7].active);
}

#[test]
fn level_spi_is_delivered_again_after_eoi_while_the_line_stays_high() {
    let mut g = vgic();
    spi_ready(&mut g, 64, 0, 0);
    g.set_line(64, true).unwrap();
    let mut regs = GicCpuRegs::default();
    g.flush(0, &mut regs, 4);
    assert_eq!(lr_intid(regs.lrs[0]), 64);
    regs.lrs[0] &= !(3 << 62); // handled and EOIed
    g.fold(0, &mut regs);
    g.flush(0, &mut regs, 4);
    assert_eq!(regs.used, 1, "line still high");
    regs.lrs[0] &= !(3 << 62);
    g.fold(0, &mut regs);
    g.set_line(64, false).unwrap();
    g.flush(0, &mut regs, 4);
    assert_eq!(regs.used, 0);
}

#[test]
fn fold_ignores_lrs_it_did_not_fill_and_bogus_intids() {
    let mut g = vgic();
    let mut regs = GicCpuRegs {
        used: 200,
        ..GicCpuRegs::default()
    };
    regs.lrs[0] = lr_value(1000, 0, true, true);
    regs.lrs[1] = lr_value(u32::MAX, 0, true, true);
    g.fold(0, &mut regs);
    assert!(g.private.iter().flatten().all(|i| !i.active && !i.latch));
    assert!(g.spis.iter().all(|i| !i.active && !i.latch));
}

#[test]
fn an_spi_routed_elsewhere_never_reaches_this_vcpus_lrs() {
    let mut g = vgic();
    spi_ready(&mut g, 36, 0, 1);
    g.set_line(36, true).unwrap();
    let mut regs = GicCpuRegs::default();
    g.flush(0, &mut regs, 4);
    assert_eq!(regs.used, 0);
    g.flush(1, &mut regs, 4);
    assert_eq!(lr_intid(regs.lrs[0]), 36);
}

#[test]
fn no_lrs_means_everything_waits() {
    let mut g = vgic();
    sgi_ready(&mut g, 0, 1, 0);
    g.raise_private(0, 1);
    let mut regs = GicCpuRegs::default();
    g.flush(0, &mut regs, 0);
    assert_eq!(regs.used, 0);
    assert_eq!(regs.hcr, ICH_HCR_EN | ICH_HCR_UIE);
    assert!(g.private[0][1].latch);
    g.flush(0, &mut regs, 99);
    assert_eq!(
        regs.used, 1,
        "more LRs than the architecture has are clamped"
    );
}
