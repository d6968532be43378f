//! Just enough of the host's own GICv3 for the vGIC checks: this CPU's virtual-timer PPI
//! (27) enabled as a Group 1 interrupt, so that a guest's timer firing while the guest runs
//! reaches EL2 (HCR_EL2.IMO). The payload never takes an interrupt itself (its IRQs stay
//! masked): the line is level and drops when Stile masks the guest's timer.

use core::arch::asm;
use core::ptr::{read_volatile, write_volatile};

const VTIMER: u32 = 27;
const SGI_FRAME: u64 = 0x1_0000;

fn rd(addr: u64) -> u32 {
    // SAFETY: a GIC register of the DT's GICv3, mapped Device by the payload's EL1 map.
    unsafe { read_volatile(addr as *const u32) }
}

fn wr(addr: u64, v: u32) {
    // SAFETY: as in `rd`.
    unsafe { write_volatile(addr as *mut u32, v) }
}

/// PPI 27 on (`on`) or off at this CPU's redistributor `gic.1`, with the distributor `gic.0`
/// forwarding Group 1 and the CPU interface open.
pub fn timer_ppi(gic: (u64, u64), on: bool) {
    let (gicd, gicr) = gic;
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
