//! The EL2 physical timer as the host's tick while a guest runs (vm/host_tick.rs says why).

use crate::dt::{Gic, Timer};
use crate::vm::host_tick::{self, TickEnable, TIMER_ENABLE};
use core::arch::asm;

/// The GIC and the EL2 timer's INTID, recorded once at boot for every CPU's host entry.
static SOURCE: spin::Once<Option<(Gic, u32)>> = spin::Once::new();

/// Record where the EL2 timer's interrupt goes (from the boot DT), before any CPU enters
/// the host. Without a GIC or an EL2 timer PPI the guard is off, and the log says so.
pub fn set_source(gic: Option<&Gic>, timer: Option<&Timer>) {
    let source = match (gic, timer.map(|t| t.hyp_phys)) {
        (Some(g), Some(intid)) if intid != 0 => Some((g.clone(), intid)),
        _ => {
            log::warn!(
                "no GIC or no EL2 timer interrupt in the DT: a guest that never exits can \
                 keep a host CPU without its tick"
            );
            None
        }
    };
    SOURCE.call_once(|| source);
}

/// This CPU's set-enable register for the EL2 timer's PPI (`mpidr`: this CPU).
pub fn locate_for(mpidr: u64) -> Option<TickEnable> {
    let (gic, intid) = SOURCE.get()?.as_ref()?;
    let found = host_tick::locate(gic, *intid, mpidr, |pa| {
        // SAFETY: `pa` is a GICR_TYPER inside a redistributor range of the boot DT, which
        // EL2's own map holds as Device memory (mm/el2_map.rs); reading it has no effect.
        unsafe { core::ptr::read_volatile(pa as *const u64) }
    });
    if found.is_none() {
        log::warn!("no redistributor for MPIDR {mpidr:#x}: this CPU's host tick is unguarded");
    }
    found
}

/// Arm the EL2 timer at the host's virtual deadline (the host's CNTVOFF is 0, so virtual
/// and physical counts agree) and make sure its PPI is enabled on this CPU.
#[inline]
pub fn arm(t: TickEnable, deadline: u64) {
    // SAFETY: the set-enable register is this CPU's banked GICD/GICR register, mapped
    // Device in EL2's map (locate_for found it there); writing a 1 only enables the EL2
    // timer's PPI, which the host never uses. CNTHP_* belong to EL2 alone.
    unsafe {
        core::ptr::write_volatile(t.isenabler0 as *mut u32, 1 << t.bit);
        asm!(
            "msr cnthp_cval_el2, {cval}",
            "msr cnthp_ctl_el2, {ctl}",
            cval = in(reg) deadline,
            ctl = in(reg) TIMER_ENABLE,
            options(nomem, nostack, preserves_flags),
        );
    }
}

/// Disarm it: its interrupt line drops before the host runs again.
#[inline]
pub fn disarm() {
    // SAFETY: CNTHP_CTL_EL2 is EL2's own timer; nothing else uses it.
    unsafe {
        asm!(
            "msr cnthp_ctl_el2, xzr",
            "isb",
            options(nomem, nostack, preserves_flags)
        )
    };
}
