//! How the vGIC checks are judged (vmm/vgic.rs runs them): each case's REPORT, per
//! protocol::VgicCase, against what the VMM saw while it ran and the machine's GIC version.

use super::machine::VmmMachine;
use super::vgic::{all, pending, value, Seen, COST_LOOPS, SGI_OTHER, SGI_SELF, SPI};
use crate::fail::Fail;
use stile_guest::protocol::{Report as GuestReport, Scenario, VgicCase};

/// One case's REPORT (details per protocol::VgicCase) and what the VMM saw meanwhile.
pub(super) fn judge<M: VmmMachine>(
    m: &mut M,
    (vm, version): (u64, u64),
    case: VgicCase,
    seen: &Seen,
    r: &GuestReport,
) -> Result<(), Fail> {
    let d = r.detail;
    if r.scenario != Scenario::Vgic as u64 || r.verdict != 0 {
        return Err(Fail::Value {
            what: "the guest's verdict",
            got: r.verdict,
            want: 0,
        });
    }
    // GICv2's leftover guest has no vGIC: its two GICC reads fault out to this VMM.
    let v2 = version == 2;
    let gic_exits = if v2 && case == VgicCase::Leftover {
        2
    } else {
        0
    };
    value(
        "exits at the vGIC's frames",
        seen.gic_exits as u64,
        gic_exits,
    )?;
    match case {
        VgicCase::Registers if v2 => all(&[
            value("GICD_CTLR", d[0], 1),
            value("GICD_TYPER", d[1], 2 | 1 << 5),
            value("GICD_PIDR2", d[2], 0x2b),
            value("ISENABLER1 | IPRIORITYR40 << 32", d[3], 1 << 8 | 0xa0 << 32),
            value("GICD_ITARGETSR0 of vCPU 0", d[4], 0x0101_0101),
        ]),
        VgicCase::Registers => all(&[
            value("GICD_CTLR", d[0], 0x52),
            value("GICD_TYPER", d[1], 2 | 9 << 19),
            value("GICD_PIDR2", d[2], 0x3b),
            value("ISENABLER1 | IPRIORITYR40 << 32", d[3], 1 << 8 | 0xa0 << 32),
            value("GICR_TYPER of vCPU 1", d[4], 1 << 32 | 1 << 8 | 1 << 4),
        ]),
        VgicCase::SgiSelf => all(&[
            value("interrupts taken", d[0], 1),
            value("INTID", d[1], SGI_SELF),
        ]),
        VgicCase::SgiOther => {
            let after = pending(m, vm, 1);
            all(&[
                value("vCPU 1 pending before", seen.other_before[0], 0),
                value("vCPU 1 pending after", after[0], 1),
                value("vCPU 1's pending INTID", after[1], SGI_OTHER),
                value("interrupts the sender took", d[0], 0),
            ])
        }
        VgicCase::Spi => all(&[
            value("interrupts before the line rose", d[2], 0),
            value("interrupts taken", d[0], 1),
            value("INTID", d[1], SPI),
        ]),
        VgicCase::Timer | VgicCase::TimerRunning => {
            let (cval, at, freq) = (d[2], d[3], d[4]);
            // While running: injected in EL2, so no exit at all on its way.
            let exits = match case {
                VgicCase::TimerRunning => all(&[
                    value("WFI exits", seen.wfis as u64, 0),
                    value("IRQ exits", seen.irqs as u64, 0),
                ]),
                _ => value("WFI exit's deadline", seen.deadline, cval),
            };
            // On time: never before the deadline (that is the architecture's promise), and
            // not lost. How late is reported above, not judged: without -icount QEMU's
            // counter is wall time, and a loaded machine has delivered 22 ms late (a 10 ms
            // bound failed in a full `make test`); under -icount it is a few µs. The bound
            // below (1 s) only tells a late interrupt from a lost one.
            all(&[
                value("interrupts taken", d[0], 1),
                value("INTID", d[1], 27),
                exits,
                match at >= cval {
                    true => Ok(()),
                    false => Err(Fail::Below {
                        what: "the handler's counter",
                        got: at,
                        min: cval,
                    }),
                },
                match at.saturating_sub(cval) <= freq {
                    true => Ok(()),
                    false => Err(Fail::Value {
                        what: "ticks late (more than a second)",
                        got: at - cval,
                        want: freq,
                    }),
                },
            ])
        }
        VgicCase::SgiNoVgic => value("ICC_SGI1R_EL1 write UNDEFINED", d[0], 1),
        VgicCase::LeavePending => value("its GICD_ISPENDR bit", d[0] >> (SPI % 32) & 1, 1),
        // The vGIC guest left SPI 40 pending in a list register: it must not reach this one.
        VgicCase::Leftover if v2 => value("IRQs a guest without a vGIC took", d[3], 0),
        VgicCase::Leftover => all(&[
            value("IRQs a guest without a vGIC took", d[3], 0),
            value("ICC_PMR_EL1", d[0], 0),
            value("ICC_IGRPEN1_EL1", d[1], 0),
        ]),
        VgicCase::Cost => match d[0] == COST_LOOPS && d[1] < d[2] {
            true => Ok(()),
            false => Err(Fail::Value {
                what: "ticks of the GICD reads (want fewer than the MMIO exits')",
                got: d[1],
                want: d[2],
            }),
        },
    }
}
