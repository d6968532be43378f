//! The checks around the guest's run that are not scenarios: its entry, donation and
//! return of its memory, its end, and the exit accounting.

use super::calls::{self, expect, Request};
use super::machine::VmmMachine;
use super::memtype::{expected_guest, guest_fwb};
use super::runner::{End, Outcome};
use super::windows;
use super::Guest;
use crate::checks::hyp_memory::aborted;
use crate::fail::Fail;
use crate::machine::Access;
use crate::report::Report;
use core::fmt;
use stile_abi::Reason;
use stile_guest::protocol::{BOOT_X0, PSCI_SYSTEM_OFF};
use stile_hyp::addr::PhysRange;
use stile_hyp::mm::kind::MemoryKind;

/// HELLO: the guest started where the VMM said, with the x0 it passed; and TRANSLATE shows
/// its RAM as the guest gets it (Normal-WB forced by FWB even with its MMU off; without FWB
/// the MMU-off stage 1 makes it Device-nGnRnE).
pub fn hello<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    report: &mut Report<W>,
    g: &Guest,
    x0: u64,
    entry: u64,
) {
    report.note(format_args!(
        "vmm: guest HELLO: x0 {x0:#x}, running at {entry:#x}"
    ));
    let boot = if x0 != BOOT_X0 {
        Err(Fail::Value {
            what: "guest x0 at entry",
            got: x0,
            want: BOOT_X0,
        })
    } else if entry != g.entry.0 {
        Err(Fail::Value {
            what: "guest entry",
            got: entry,
            want: g.entry.0,
        })
    } else {
        Ok(())
    };
    report.check("guest-boot", boot);
    let pa = g.donated.0 + (g.entry.0 - stile_guest::layout::RAM.base.0);
    let want = expected_guest(MemoryKind::Ram, guest_fwb(g.fwb), pa, true, true);
    let r = windows::translate(m, report, g.vm, g.entry, &want);
    report.check("guest-ram-translate", r);
}

/// The addresses the donation and scrub checks probe: the first word, one in the middle
/// (past the first 2 MiB block) and the last.
fn spots(block: PhysRange) -> [u64; 3] {
    [
        block.base.0,
        block.base.0 + block.size / 2 + 4,
        block.end() - 4,
    ]
}

/// After VM_CREATE the host reads its former RAM and gets the injected abort.
pub fn donated<M: VmmMachine, W: fmt::Write>(m: &mut M, report: &mut Report<W>, block: PhysRange) {
    let result = spots(block).into_iter().try_for_each(|addr| {
        // SAFETY: `addr` is 4-byte aligned, in host RAM below 512 GiB (the block was picked
        // from the DT's RAM), and the payload keeps nothing there; the read is meant to abort.
        let got = unsafe { m.read32(addr) };
        aborted(addr, got)
    });
    report.check("guest-ram-donated", result);
}

/// The guest's PSCI SYSTEM_OFF was a SYSTEM_EVENT exit, and the vCPU cannot run again.
pub fn system_off<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    report: &mut Report<W>,
    g: &Guest,
    end: End,
) {
    let result = match end {
        End::SystemEvent(fid) if fid == PSCI_SYSTEM_OFF => {
            let again = calls::call(m, &Request::vcpu_run(g.vm, g.vcpu));
            if let Err(r) = again {
                report.note(format_args!("vmm: VCPU_RUN after SYSTEM_OFF -> {r}"));
            }
            expect("VCPU_RUN after SYSTEM_OFF", again, Some(Reason::NoSuchVcpu))
        }
        End::SystemEvent(fid) => Err(Fail::Value {
            what: "SYSTEM_EVENT function",
            got: fid,
            want: PSCI_SYSTEM_OFF,
        }),
        End::Refused(refusal) => Err(Fail::Refused {
            call: "VCPU_RUN",
            refusal,
        }),
        End::TooManyExits => Err(Fail::MissingExit("SYSTEM_EVENT")),
    };
    report.check("guest-system-off-event", result);
}

/// STATS' exit count and the run page's exit_count both match the exits the VMM saw.
pub fn exit_accounting<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    report: &mut Report<W>,
    g: &Guest,
    outcome: &Outcome,
) {
    let result = match calls::stats(m, g.vm) {
        Ok(s) => {
            report.note(format_args!(
                "vmm: STATS(vm {}): {} faults resolved in EL2, {} exits, {} aborts injected",
                g.vm, s.resolved, s.exits, s.injected
            ));
            if s.exits != outcome.exits {
                Err(Fail::Value {
                    what: "STATS x2 (exits)",
                    got: s.exits,
                    want: outcome.exits,
                })
            } else if outcome.page_exits != outcome.exits {
                Err(Fail::Value {
                    what: "run page exit_count",
                    got: outcome.page_exits,
                    want: outcome.exits,
                })
            } else {
                Ok(())
            }
        }
        Err(refusal) => Err(Fail::Refused {
            call: "STATS",
            refusal,
        }),
    };
    report.check("guest-exit-accounting", result);
}

/// VM_DESTROY gives the memory back: every word of it reads again, as 0.
pub fn destroy<M: VmmMachine, W: fmt::Write>(
    m: &mut M,
    report: &mut Report<W>,
    vm: u64,
    block: PhysRange,
) -> bool {
    let r = calls::vm_destroy(m, vm);
    match r {
        Ok(()) => report.note(format_args!("vmm: VM_DESTROY(vm {vm}): SUCCESS")),
        Err(e) => report.note(format_args!("vmm: VM_DESTROY(vm {vm}): {e}")),
    }
    let result = r
        .map_err(|refusal| Fail::Refused {
            call: "VM_DESTROY",
            refusal,
        })
        .and_then(|()| scrubbed(m, block));
    let ok = result.is_ok();
    report.check("vm-destroy-returns-memory", result);
    ok
}

fn scrubbed(m: &mut impl VmmMachine, block: PhysRange) -> Result<(), Fail> {
    let mut addr = block.base.0;
    while addr < block.end() {
        // SAFETY: as in `donated`: 4-byte aligned host RAM the payload keeps nothing in;
        // after VM_DESTROY it is the host's again, and a read that still aborts is caught.
        match unsafe { m.read32(addr) } {
            Access::Done(0) => {}
            Access::Done(value) => return Err(Fail::NotScrubbed { addr, value }),
            Access::Aborted(_) => return Err(Fail::StillBlocked { addr }),
        }
        addr += 4;
    }
    Ok(())
}
