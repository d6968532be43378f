//! Just enough of the host's own GIC for the vGIC checks: this CPU's virtual-timer PPI
//! (27) enabled (GICv3: as a Group 1 interrupt; GICv2: in the banked GICD_ISENABLER0, with
//! the memory-mapped CPU interface open), so that a guest's timer firing while the guest runs
//! reaches EL2 (HCR_EL2.IMO). The payload never takes an interrupt itself (its IRQs stay
//! masked): the line is level and drops when Stile masks the guest's timer.

use crate::facts::HostGic;
use core::arch::asm;
use core::ptr::{read_volatile, write_volatile};

const VTIMER: u32 = 27;
const SGI_FRAME: u64 = 0x1_0000;

fn rd(addr: u64) -> u32 {
    // SAFETY: a GIC register of the DT's GIC, mapped Device by the payload's EL1 map.
    unsafe { read_volatile(addr as *const u32) }
}

fn wr(addr: u64, v: u32) {
    // SAFETY: as in `rd`.
    unsafe { write_volatile(addr as *mut u32, v) }
}

/// PPI 27 on (`on`) or off at this CPU, with the distributor forwarding and the CPU
/// interface open.
pub fn timer_ppi(gic: HostGic, on: bool) {
    let (gicd, gicr) = match gic {
        HostGic::V3(gicd, gicr) => (gicd, gicr),
        HostGic::V2(gicd, gicc) => return timer_ppi_v2(gicd, gicc, on),
    };
    let sgi = gicr + SGI_FRAME;
    if !on {
        wr(sgi + 0x180, 1 << VTIMER);
        return;
    }
    // Awake (ProcessorSleep clear, then ChildrenAsleep clears).
    wr(gicr + 0x14, rd(gicr + 0x14) & !(1 << 1));
    for _ in 0..100_000 {
        if rd(gicr + 0x14) & (1 << 2) == 0 {
            break;
        }
    }
    wr(sgi + 0x80, rd(sgi + 0x80) | 1 << VTIMER);
    // SAFETY: as in `rd`: one byte of IPRIORITYR.
    unsafe { write_volatile((sgi + 0x400 + u64::from(VTIMER)) as *mut u8, 0x80) };
    wr(gicd, rd(gicd) | 1 << 1 | 1 << 4);
    // SAFETY: the host's own GIC CPU interface (EL1): system registers on, every priority
    // let through, Group 1 on. IRQs stay masked in PSTATE.
    unsafe {
        asm!(
            "mrs {t}, icc_sre_el1", "orr {t}, {t}, #1", "msr icc_sre_el1, {t}", "isb",
            "msr icc_pmr_el1, {pmr}", "msr icc_igrpen1_el1, {one}", "isb",
            t = out(reg) _, pmr = in(reg) 0xffu64, one = in(reg) 1u64,
            options(nomem, nostack),
        )
    };
    wr(sgi + 0x100, 1 << VTIMER);
}

/// GICv2: GICD_ISENABLER0/ICENABLER0 and IPRIORITYR are this CPU's own (banked); the
/// distributor and the CPU interface (GICC_CTLR, GICC_PMR) on.
fn timer_ppi_v2(gicd: u64, gicc: u64, on: bool) {
    if !on {
        wr(gicd + 0x180, 1 << VTIMER);
        return;
    }
    // SAFETY: as in `rd`: one byte of IPRIORITYR.
    unsafe { write_volatile((gicd + 0x400 + u64::from(VTIMER)) as *mut u8, 0x80) };
    wr(gicd, rd(gicd) | 1);
    wr(gicc + 0x4, 0xff);
    wr(gicc, rd(gicc) | 1);
    wr(gicd + 0x100, 1 << VTIMER);
}
