//! Just enough of the host's own GIC for the vGIC checks: this CPU's virtual-timer PPI
//! (27) enabled (GICv3: as a Group 1 interrupt; GICv2: in the banked GICD_ISENABLER0, with
//! the memory-mapped CPU interface open), so that a guest's timer firing while the guest runs
//! reaches EL2 (HCR_EL2.IMO). The payload never takes an interrupt itself (its IRQs stay
//! masked): the line is level and drops when Stile masks the guest's timer.
//!
//! And, for the cross-CPU IPI checks, [`cpu_interface_on`]: what every host must do on each
//! CPU that runs vGIC guests (docs/VGIC.md, "The kick"), or EL2's kick (SGI 15) never
//! reaches that CPU.

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
    wake(gicr);
    wr(sgi + 0x80, rd(sgi + 0x80) | 1 << VTIMER);
    // SAFETY: as in `rd`: one byte of IPRIORITYR.
    unsafe { write_volatile((sgi + 0x400 + u64::from(VTIMER)) as *mut u8, 0x80) };
    wr(gicd, rd(gicd) | 1 << 1 | 1 << 4);
    icc_on();
    wr(sgi + 0x100, 1 << VTIMER);
}

/// A redistributor awake (ProcessorSleep clear, then ChildrenAsleep clears).
fn wake(gicr: u64) {
    wr(gicr + 0x14, rd(gicr + 0x14) & !(1 << 1));
    for _ in 0..100_000 {
        if rd(gicr + 0x14) & (1 << 2) == 0 {
            break;
        }
    }
}

/// This CPU's GICv3 CPU interface on: system registers, every priority let through, Group 1
/// on. IRQs stay masked in PSTATE.
fn icc_on() {
    // SAFETY: the host's own GIC CPU interface (EL1) of this CPU; nothing but these three
    // registers changes, and no interrupt is taken (PSTATE.I stays set).
    unsafe {
        asm!(
            "mrs {t}, icc_sre_el1", "orr {t}, {t}, #1", "msr icc_sre_el1, {t}", "isb",
            "msr icc_pmr_el1, {pmr}", "msr icc_igrpen1_el1, {one}", "isb",
            t = out(reg) _, pmr = in(reg) 0xffu64, one = in(reg) 1u64,
            options(nomem, nostack),
        )
    };
}

/// GICv3 (`gicr`: the first redistributor): this CPU's redistributor awake and its CPU
/// interface on (ICC_SRE_EL1.SRE, ICC_PMR_EL1, ICC_IGRPEN1_EL1), as a host must have it on
/// every CPU where vGIC guests run: EL2's kick is a Group 1 SGI, which a CPU interface with
/// Group 1 off or a priority mask of 0 never signals. False if this CPU's redistributor is
/// not among the first 64 frames from `gicr`.
pub fn cpu_interface_on(gicr: u64) -> bool {
    let mpidr = super::sysreg::mpidr_el1();
    // GICR_TYPER.Affinity (63:32) is Aff3.Aff2.Aff1.Aff0.
    let me = ((mpidr >> 8) & 0xff00_0000) | (mpidr & 0xff_ffff);
    let mut frame = gicr;
    for _ in 0..64 {
        let typer = u64::from(rd(frame + 8)) | (u64::from(rd(frame + 0xc)) << 32);
        if typer >> 32 == me {
            wake(frame);
            icc_on();
            return true;
        }
        if typer & 1 << 4 != 0 {
            break;
        }
        // RD_base and SGI_base, plus VLPI_base and a reserved frame with GICR_TYPER.VLPIS.
        frame += if typer & 1 << 1 != 0 {
            0x4_0000
        } else {
            0x2_0000
        };
    }
    false
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
