//! One vCPU run: finish what the last exit left pending, then, for each trap from the
//! guest, either resolve it in EL2 and resume, or stop with an exit record for the host.

use crate::esr::{ec, Esr};
use crate::mm::pgtable::TableAlloc;
use crate::mm::stage2::Ipa;
use crate::vm::fault::{classify_lazily, Abort, Outcome, BLOCK_2M};
use crate::vm::guest::{Vm, VmStats};
use crate::vm::guest_psci;
use crate::vm::hvc::Refused;
use crate::vm::hyp::Hyp;
use crate::vm::inject;
use crate::vm::machine::Machine;
use crate::vm::mmio::MmioAccess;
use crate::vm::vcpu::{Pending, Vcpu, VcpuState};
use alloc::boxed::Box;
use stile_abi::run_page::{self, word, ExitReason, HostAction, RUN_PAGE_VERSION};
use stile_abi::Reason;

/// What trapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrapKind {
    Sync,
    Irq,
    /// FIQ or SError.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestTrap {
    pub kind: TrapKind,
    pub esr: Esr,
    pub far: u64,
    pub hpfar: u64,
    /// The faulting IPA of an abort (from HPFAR, or translated from FAR where HPFAR is not
    /// valid).
    pub ipa: u64,
}

impl GuestTrap {
    /// No trap (an exit record written without one: a powered-off vCPU's).
    pub const NONE: GuestTrap = GuestTrap {
        kind: TrapKind::Sync,
        esr: Esr(0),
        far: 0,
        hpfar: 0,
        ipa: 0,
    };
}

/// [`GuestTrap::class`] of an IRQ, and of an FIQ or SError (beyond any exception class).
const CLASS_IRQ: u8 = 0x40;
const CLASS_OTHER: u8 = 0x41;

impl GuestTrap {
    /// The exception class of a synchronous trap, else `CLASS_IRQ` / `CLASS_OTHER`: one
    /// number to dispatch on.
    #[inline]
    pub fn class(&self) -> u8 {
        match self.kind {
            TrapKind::Sync => self.esr.ec_raw(),
            TrapKind::Irq => CLASS_IRQ,
            TrapKind::Other => CLASS_OTHER,
        }
    }
}

/// After a guest trap: keep running it, or return to the host with this exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Resume,
    Exit(ExitReason),
}

// A guest's PSCI calls, in their SMC32 form (`hvc` folds SMC64 IDs onto them).
use smccc::psci::{
    PSCI_AFFINITY_INFO_32 as PSCI_AFFINITY_INFO, PSCI_CPU_OFF, PSCI_CPU_ON_32 as PSCI_CPU_ON,
    PSCI_FEATURES, PSCI_SYSTEM_OFF, PSCI_SYSTEM_RESET, PSCI_VERSION,
};
const PSCI_1_0: u64 = 0x1_0000;
const PSCI_NOT_SUPPORTED: u64 = crate::vm::psci_policy::PSCI_NOT_SUPPORTED as u64;

/// What VCPU_RUN does with the vCPU it names.
pub enum Prepared<'v> {
    /// Enter it: its last exit completed as the host asked.
    Enter(&'v mut Vcpu),
    /// It is powered off (PSCI): the run page says SYSTEM_EVENT (CPU_OFF); nothing runs.
    PoweredOff,
}

/// The vCPU VCPU_RUN names, ready to enter. Reads only the run-page words the pending exit
/// needs.
pub fn prepare<'v>(
    v: &'v mut Vm,
    vcpu: u64,
    m: &mut impl Machine,
) -> Result<Prepared<'v>, Refused> {
    let Vm { vcpus, stats, .. } = v;
    let vc = vcpus.get_mut(vcpu as usize).ok_or(Reason::NoSuchVcpu)?;
    if vc.running {
        return Err(Reason::Busy);
    }
    match vc.state {
        VcpuState::Runnable => {}
        VcpuState::PoweredOff => {
            let detail = ExitDetail {
                system_event: u64::from(PSCI_CPU_OFF),
                ..ExitDetail::default()
            };
            write_exit(m, vc, ExitReason::SystemEvent, &GuestTrap::NONE, &detail);
            return Ok(Prepared::PoweredOff);
        }
        VcpuState::Off => return Err(Reason::NoSuchVcpu),
    }
    let page = vc.run_page.0;
    let action_word = m.run_page_word(page, word::ACCESS_ACTION);
    let action = match (action_word >> word::HOST_ACTION_SHIFT) as u32 {
        0 => HostAction::Complete,
        1 => HostAction::Skip,
        2 => HostAction::InjectAbort,
        _ => return Err(Reason::BadArgument),
    };
    // An abort answers an access; an HVC made none.
    if action == HostAction::InjectAbort && vc.pending == Pending::Hvc {
        return Err(Reason::BadArgument);
    }
    match (action, vc.pending) {
        (_, Pending::Nothing) => {}
        // After an HVC the PC is already past the call.
        (HostAction::Skip, Pending::Hvc) => {}
        (HostAction::Skip, _) => vc.ctx.elr = vc.ctx.elr.wrapping_add(4),
        (HostAction::InjectAbort, _) => {
            let esr = Esr(m.run_page_word(page, word::ESR));
            let far = m.run_page_word(page, word::FAR);
            inject_abort(vc, esr, far);
            stats.injected += 1;
        }
        (HostAction::Complete, Pending::MmioRead(a)) => {
            if a.srt != 31 {
                let data = m.run_page_word(page, word::DATA);
                vc.ctx.x[a.srt as usize] = a.load_value(data);
            }
            vc.ctx.elr = vc.ctx.elr.wrapping_add(4);
        }
        (HostAction::Complete, Pending::MmioWrite | Pending::Wfi) => {
            vc.ctx.elr = vc.ctx.elr.wrapping_add(4)
        }
        (HostAction::Complete, Pending::Hvc) => {
            for (i, x) in vc.ctx.x[..4].iter_mut().enumerate() {
                *x = m.run_page_word(page, word::HVC + i);
            }
        }
        (HostAction::Complete, Pending::Replay) => {}
    }
    vc.pending = Pending::Nothing;
    if action != HostAction::Complete {
        let complete = action_word & !(u64::from(u32::MAX) << word::HOST_ACTION_SHIFT);
        m.set_run_page_word(page, word::ACCESS_ACTION, complete);
    }
    // The caller switches to it now; the exit releases it (handle_trap).
    vc.running = true;
    Ok(Prepared::Enter(vc))
}

/// What an exit reports beyond what every exit carries; the record's other words read 0.
#[derive(Default)]
struct ExitDetail {
    ipa: u64,
    fault_reason: u64,
    /// `access | size << 8 | srt << 16 | flags << 24`; the `host_action` half stays 0
    /// (COMPLETE).
    access_word: u64,
    data: u64,
    system_event: u64,
    /// An HVC exit carries the guest's x0..x7.
    hvc: bool,
    /// The guest's HVC was a CPU_ON or AFFINITY_INFO: answered from its VM's other vCPUs
    /// before it resumes.
    vcpus_psci: bool,
}

// write_exit stores the record in pairs of neighbouring words.
const _: () = assert!(
    word::ESR == word::VERSION_REASON + 1
        && word::HPFAR == word::FAR + 1
        && word::PC == word::IPA + 1
        && word::ACCESS_ACTION == word::FAULT_REASON + 1
        && word::HVC == word::DATA + 1
        && word::SYSTEM_EVENT == word::HVC + 8
        && word::EXIT_COUNT == run_page::WORDS - 1
);

/// The whole exit record into `vc`'s run page, two words a store (no copy of the record).
#[inline]
fn write_exit(
    m: &mut impl Machine,
    vc: &Vcpu,
    reason: ExitReason,
    trap: &GuestTrap,
    d: &ExitDetail,
) {
    let page = vc.run_page.0;
    let version_reason = RUN_PAGE_VERSION as u64 | (reason as u64) << 32;
    m.set_run_page_pair::<{ word::VERSION_REASON }>(page, version_reason, trap.esr.0);
    m.set_run_page_pair::<{ word::FAR }>(page, trap.far, trap.hpfar);
    m.set_run_page_pair::<{ word::IPA }>(page, d.ipa, vc.ctx.elr);
    m.set_run_page_pair::<{ word::FAULT_REASON }>(page, d.fault_reason, d.access_word);
    const NONE: [u64; 8] = [0; 8];
    let x = match d.hvc {
        true => vc.ctx.x.first_chunk::<8>().unwrap_or(&NONE),
        false => &NONE,
    };
    m.set_run_page_pair::<{ word::DATA }>(page, d.data, x[0]);
    m.set_run_page_pair::<{ word::HVC + 1 }>(page, x[1], x[2]);
    m.set_run_page_pair::<{ word::HVC + 3 }>(page, x[3], x[4]);
    m.set_run_page_pair::<{ word::HVC + 5 }>(page, x[5], x[6]);
    m.set_run_page_pair::<{ word::HVC + 7 }>(page, x[7], d.system_event);
    m.set_run_page_word(page, word::EXIT_COUNT, vc.exits);
}

/// An abort for the access `esr` describes, delivered at the guest's own EL1 vector.
fn inject_abort(vc: &mut Vcpu, esr: Esr, far: u64) {
    // A data abort syndrome is needed to say which: anything else becomes a data abort.
    let esr = if esr.is_abort() { esr } else { Esr(0x24 << 26) };
    let e = inject::external_abort(esr, far, vc.ctx.elr, vc.ctx.spsr, vc.el1.vbar);
    vc.el1.esr = e.esr_el1;
    vc.el1.far = e.far_el1;
    vc.el1.elr = e.elr_el1;
    vc.el1.spsr = e.spsr_el1;
    vc.ctx.elr = e.elr_el2;
    vc.ctx.spsr = e.spsr_el2;
    vc.el1_injected = true;
}

/// What became of a guest trap.
pub enum Handled<'h> {
    Resume,
    /// Back to the host with this exit, its record written; the vCPU (None only if EL2
    /// lost track of it) to switch away from.
    Exit(ExitReason, Option<&'h mut Vcpu>),
}

/// A trap of vCPU `vcpu` of `v` (locked by the caller), which runs on this CPU.
#[inline]
pub fn handle_trap<'h>(
    hyp: &Hyp,
    v: &'h mut Vm,
    vcpu: u64,
    trap: &GuestTrap,
    m: &mut impl Machine,
) -> Handled<'h> {
    let mut detail = ExitDetail::default();
    let class = trap.class();
    let abort_exit = if class == ec::DATA_ABORT_LOWER || class == ec::INST_ABORT_LOWER {
        let donated = v.donated;
        let world = || hyp.slot_world(donated);
        let abort = Abort {
            esr: trap.esr,
            far: trap.far,
            ipa: trap.ipa,
        };
        detail.ipa = trap.ipa;
        detail.access_word = abort.access() as u64;
        match abort_outcome(v, vcpu, &abort, world, &hyp.frames, m, &mut detail) {
            Decision::Resume => return Handled::Resume,
            Decision::Exit(reason) => Some(reason),
        }
    } else {
        None
    };
    let Vm { vcpus, stats, .. } = v;
    let i = vcpu as usize;
    let reason = match abort_exit {
        Some(reason) => reason,
        None => {
            let Some(vc) = vcpus.get_mut(i) else {
                return Handled::Exit(ExitReason::Unknown, None);
            };
            match decide(vc, class, &mut detail) {
                Decision::Resume => {
                    if detail.vcpus_psci {
                        smp_psci(vcpus, i);
                    }
                    return Handled::Resume;
                }
                Decision::Exit(reason) => reason,
            }
        }
    };
    let Some(vc) = vcpus.get_mut(i).map(|b| &mut **b) else {
        return Handled::Exit(reason, None);
    };
    vc.exits += 1;
    stats.exits += 1;
    write_exit(m, vc, reason, trap, &detail);
    vc.running = false;
    Handled::Exit(reason, Some(vc))
}

/// A guest's CPU_ON or AFFINITY_INFO (`hvc` flagged it), answered from its VM's vCPUs
/// (vm/guest_psci.rs): the guest resumes with the answer in x0. Off the exit path: an HVC
/// that exits never comes here.
#[cold]
fn smp_psci(vcpus: &mut [Box<Vcpu>], me: usize) {
    let Some(x) = vcpus.get(me).map(|v| v.ctx.x) else {
        return;
    };
    let fid = x[0] as u32 & !(1 << 30);
    if let Some(answer) = guest_psci::call(vcpus, me, fid, [x[1], x[2], x[3]]) {
        if let Some(vc) = vcpus.get_mut(me) {
            vc.ctx.x[0] = answer;
        }
    }
}

/// A WFI exit (vm/interrupts.rs found nothing pending): `data` = the virtual timer's
/// deadline; the next VCPU_RUN steps over the WFI.
pub fn wfi_exit<'h>(
    vc: &'h mut Vcpu,
    stats: &mut VmStats,
    trap: &GuestTrap,
    deadline: u64,
    m: &mut impl Machine,
) -> Handled<'h> {
    let detail = ExitDetail {
        data: deadline,
        ..ExitDetail::default()
    };
    vc.pending = Pending::Wfi;
    vc.exits += 1;
    stats.exits += 1;
    write_exit(m, vc, ExitReason::Wfi, trap, &detail);
    vc.running = false;
    Handled::Exit(ExitReason::Wfi, Some(vc))
}

/// Any trap but a stage-2 abort (`class`: [`GuestTrap::class`]).
#[inline]
fn decide(vc: &mut Vcpu, class: u8, record: &mut ExitDetail) -> Decision {
    match class {
        CLASS_IRQ => Decision::Exit(ExitReason::Irq),
        ec::HVC64 => hvc(vc, record),
        ec::SMC64 => {
            vc.ctx.elr = vc.ctx.elr.wrapping_add(4);
            hvc(vc, record)
        }
        CLASS_OTHER => Decision::Exit(ExitReason::Unknown),
        _ => {
            vc.pending = Pending::Replay;
            Decision::Exit(ExitReason::Unknown)
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn abort_outcome<'w>(
    v: &mut Vm,
    vcpu: u64,
    abort: &Abort,
    world: impl FnOnce() -> crate::vm::memslot::SlotWorld<'w>,
    mut frames: &crate::mm::frames::FramePool,
    m: &mut impl Machine,
    record: &mut ExitDetail,
) -> Decision {
    let outcome = classify_lazily(abort, &v.slots, world);
    let Some(vc) = v.vcpus.get_mut(vcpu as usize) else {
        return Decision::Exit(ExitReason::Unknown);
    };
    match outcome {
        Outcome::Map { ipa, .. } => {
            if !lazy_map(v, &outcome, &mut frames, m) {
                crate::logger::refusal(
                    crate::logger::Source::Guest,
                    log::Level::Warn,
                    format_args!("vm: lazy map of {ipa:#x} failed (out of table pages)"),
                );
                record.fault_reason = Reason::NoMemory as u64;
                if let Some(vc) = v.vcpus.get_mut(vcpu as usize) {
                    vc.pending = Pending::Replay;
                }
                return Decision::Exit(ExitReason::MemoryFault);
            }
            Decision::Resume
        }
        Outcome::Mmio(a) => {
            fill_mmio(record, &a, vc);
            vc.pending = if a.write {
                Pending::MmioWrite
            } else {
                Pending::MmioRead(a)
            };
            Decision::Exit(ExitReason::Mmio)
        }
        Outcome::Nisv => {
            vc.pending = Pending::Replay;
            Decision::Exit(ExitReason::Nisv)
        }
        Outcome::Fault(r) => {
            record.fault_reason = r as u64;
            record.access_word |= (size_of_access(abort.esr) as u64) << 8;
            vc.pending = Pending::Replay;
            Decision::Exit(ExitReason::MemoryFault)
        }
        Outcome::InjectAndFault(r) => {
            inject_abort(vc, abort.esr, abort.far);
            v.stats.injected += 1;
            record.fault_reason = r as u64;
            if let Some(vc) = v.vcpus.get_mut(vcpu as usize) {
                vc.pending = Pending::Nothing;
            }
            Decision::Exit(ExitReason::MemoryFault)
        }
        Outcome::Unknown => {
            vc.pending = Pending::Replay;
            Decision::Exit(ExitReason::Unknown)
        }
    }
}

/// The map `classify` asked for (`Outcome::Map`), counted as resolved in EL2; false if
/// stage 2 could not take it (out of table pages, from `alloc`), or `outcome` is no map.
/// The fault path's and the lazy-map entry's (vm/dispatch/lazy.rs) one way to do it.
#[inline(always)]
pub(crate) fn lazy_map(
    v: &mut Vm,
    outcome: &Outcome,
    alloc: &mut impl TableAlloc,
    m: &mut impl Machine,
) -> bool {
    let Outcome::Map {
        ipa,
        size,
        pa,
        kind,
        perm_bits,
        ..
    } = *outcome
    else {
        return false;
    };
    // `classify` maps a page, or a 2 MiB block with IPA and PA aligned: each level gets
    // its own walk, inlined. (A misaligned leaf would be refused, not mapped.)
    let (s2, ipa) = (&mut v.stage2, Ipa(ipa));
    let mapped = match size {
        BLOCK_2M => s2.map_leaf_bits(alloc, m, ipa, pa, 2, kind, perm_bits),
        _ => s2.map_leaf_bits(alloc, m, ipa, pa, 3, kind, perm_bits),
    };
    if mapped.is_err() {
        return false;
    }
    v.stats.resolved_in_hyp += 1;
    true
}

fn size_of_access(esr: Esr) -> u8 {
    if esr.isv() {
        esr.sas_bytes()
    } else {
        0
    }
}

#[inline]
fn fill_mmio(record: &mut ExitDetail, a: &MmioAccess, vc: &Vcpu) {
    let flags = (a.write as u8 * run_page::MMIO_WRITE)
        | (a.sign_extend as u8 * run_page::MMIO_SIGN_EXTEND)
        | (a.reg64 as u8 * run_page::MMIO_REG64);
    record.access_word |= (a.size as u64) << 8 | (a.srt as u64) << 16 | (flags as u64) << 24;
    if a.write {
        let reg = if a.srt == 31 {
            0
        } else {
            vc.ctx.x[a.srt as usize]
        };
        record.data = a.write_data(reg);
    }
}

/// A guest HVC (or SMC): PSCI is EL2's business, anything else goes to the host.
#[inline]
fn hvc(vc: &mut Vcpu, record: &mut ExitDetail) -> Decision {
    let fid = vc.ctx.x[0] as u32;
    let psci = fid & !(1 << 30);
    if (0x8400_0000..=0x8400_001f).contains(&psci) {
        let answer = match psci {
            PSCI_VERSION => PSCI_1_0,
            PSCI_FEATURES => {
                let asked = vc.ctx.x[1] as u32 & !(1 << 30);
                if matches!(
                    asked,
                    PSCI_VERSION
                        | PSCI_FEATURES
                        | PSCI_SYSTEM_OFF
                        | PSCI_SYSTEM_RESET
                        | PSCI_CPU_OFF
                        | PSCI_CPU_ON
                        | PSCI_AFFINITY_INFO
                ) {
                    0
                } else {
                    PSCI_NOT_SUPPORTED
                }
            }
            PSCI_CPU_ON | PSCI_AFFINITY_INFO => {
                record.vcpus_psci = true;
                return Decision::Resume;
            }
            PSCI_CPU_OFF => {
                vc.state = VcpuState::PoweredOff;
                record.system_event = vc.ctx.x[0];
                return Decision::Exit(ExitReason::SystemEvent);
            }
            PSCI_SYSTEM_OFF | PSCI_SYSTEM_RESET => {
                vc.state = VcpuState::Off;
                record.system_event = vc.ctx.x[0];
                return Decision::Exit(ExitReason::SystemEvent);
            }
            _ => PSCI_NOT_SUPPORTED,
        };
        vc.ctx.x[0] = answer;
        return Decision::Resume;
    }
    record.hvc = true;
    vc.pending = Pending::Hvc;
    Decision::Exit(ExitReason::Hvc)
}

#[cfg(test)]
#[path = "run_decide_tests.rs"]
mod decide_tests;
