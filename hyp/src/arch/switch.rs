//! The world switch between the host and a guest vCPU on this CPU: the EL1 registers, the
//! EL2 registers that differ between the worlds (stage 2, HCR, CPTR, MDCR, CNTHCTL), the
//! registers only some CPUs have, and lazy FP/SIMD and pointer-authentication-key ownership
//! (docs/ISOLATION.md).
//!
//! No ISB before the ERET into a guest: SCTLR_EL2.EOS (set at boot, mmu.rs) makes exception
//! return context-synchronizing, and nothing in EL2 uses the EL1&0 regime in between. Two
//! exceptions: CPTR_EL2.TFP, which also traps EL2's own FP accesses ([`take_fp`] and
//! [`to_host`] clear it with an ISB before touching FP registers), and the host's VTTBR on
//! the way out of a guest, which must be in force before the VM's lock is released (see the
//! end of [`to_host`]).

use crate::arch::el1_state::{
    load_keys, read_id_space, restore_fp, save_fp, save_keys, switch_el1,
};
use crate::arch::el2_world::{
    guest_feature_traps, guest_hcr, guest_traps, trap_fp, El2World, Traps, CPTR_EL2_TFP,
    HCR_APK_API, HCR_TWI,
};
use crate::arch::gic::{self, GicHw};
use crate::arch::host_tick;
use crate::arch::kick;
use crate::arch::smp::MAX_CPUS;
use crate::arch::world::{bind_state, cpu_index, state_ptr, Context};
use crate::vgic::kick::Kick;
use crate::vm::dispatch::{GuestStage2, Running};
use crate::vm::host_tick::{host_deadline, TickEnable};
use crate::vm::id_regs::{GuestIdRegs, IsolationFeatures};
use crate::vm::sysreg::GuestCpu;
use crate::vm::vcpu::{El1Regs, FpRegs, OptionalRegs, PauthKeys, Vcpu};
use core::arch::asm;
use core::cell::UnsafeCell;

/// This CPU's world-switch state.
pub struct CpuState {
    pub running: Option<Running>,
    /// The host's EL1 registers while a guest runs.
    host_el1: El1Regs,
    /// The host's EL2 view (constant: the host cannot change EL2 registers), set before
    /// the host first runs (`set_host_world`).
    host_el2: El2World,
    /// Guest HCR_EL2 without and with FWB, derived from the host's at the same time.
    guest_hcr: [u64; 2],
    /// The host's FP/SIMD registers while the guest owns them.
    host_fp: FpRegs,
    /// Whether the FP/SIMD registers hold the running guest's state (else the host's). FP
    /// state moves lazily: a guest that never touches FP costs no FP save/restore.
    guest_owns_fp: bool,
    /// The host's CPTR/MDCR/CNTHCTL, and every guest's.
    host_traps: Traps,
    guest_traps: Traps,
    /// The host's pointer-authentication keys while the guest has its own loaded.
    host_keys: PauthKeys,
    /// Whether the key registers hold the running guest's keys (lazy, like FP).
    guest_owns_keys: bool,
    /// The host's TPIDR2_EL0 while a guest runs (FEAT_SME).
    host_tpidr2: u64,
    /// What this CPU has, and the ID registers its guests read.
    pub features: IsolationFeatures,
    /// SME or RAS: registers to switch beyond El1Regs (one test on the switch path).
    optional: bool,
    pub guest_ids: GuestIdRegs,
    /// Where this CPU enables the EL2 timer's PPI, which stands in for the host's tick while a
    /// guest runs (vm/host_tick.rs); None: no guard on this CPU.
    tick: Option<TickEnable>,
    /// Whether the EL2 timer is armed for the running guest.
    tick_armed: bool,
    /// This CPU's GICv3 virtual interface (None: GICv2, no vGIC).
    pub gic: Option<GicHw>,
    /// The running guest's GIC registers are loaded (its VM has a vGIC).
    pub gic_live: bool,
    /// How other CPUs kick this one while it runs a vGIC guest (None: GICv2, or no
    /// redistributor found).
    pub kick: Option<Kick>,
}

/// One per physical CPU, found through the per-CPU block's index.
struct CpuCell(UnsafeCell<CpuState>);

// SAFETY: each CPU reaches only its own cell (by its per-CPU index), only through
// `this_cpu`, whose contract rules out overlapping references on that CPU.
unsafe impl Sync for CpuCell {}

static CPUS: [CpuCell; MAX_CPUS] = [const { CpuCell(UnsafeCell::new(CpuState::IDLE)) }; MAX_CPUS];

impl CpuState {
    /// No guest, nothing recorded yet.
    const IDLE: CpuState = CpuState {
        running: None,
        host_el1: El1Regs::ZERO,
        host_el2: El2World {
            hcr: 0,
            vttbr: 0,
            vtcr: 0,
            vmpidr: 0,
        },
        guest_hcr: [0; 2],
        host_fp: FpRegs::ZERO,
        guest_owns_fp: false,
        host_traps: Traps {
            cptr: 0,
            mdcr: 0,
            cnthctl: 0,
        },
        guest_traps: Traps {
            cptr: 0,
            mdcr: 0,
            cnthctl: 0,
        },
        host_keys: PauthKeys::ZERO,
        guest_owns_keys: false,
        host_tpidr2: 0,
        features: IsolationFeatures {
            pauth: false,
            sve: false,
            sme: false,
            ras: false,
            lor: false,
            amu: false,
            spe: false,
            trace_filter: false,
        },
        guest_ids: GuestIdRegs::EMPTY,
        optional: false,
        tick: None,
        tick_armed: false,
        gic: None,
        gic_live: false,
        kick: None,
    };
}

/// This CPU's state, without a lock: no other CPU touches it.
///
/// # Safety
/// Call once per trap, from the trap path (exceptions masked, never re-entered), or at boot
/// before the host runs, and drop the reference before returning. Only after
/// [`set_host_world`] bound this CPU's state (it runs before the host first runs here).
#[inline]
pub unsafe fn this_cpu() -> &'static mut CpuState {
    // SAFETY: per the contract, the pointer was bound to this CPU's own cell (no other CPU
    // uses it) and this is the only live reference to it.
    unsafe { &mut *state_ptr().cast::<CpuState>() }
}

/// Record the host's EL2 view (it cannot change it) before the host first runs on this CPU,
/// and derive the guests' from it and from this CPU's ID registers.
pub fn set_host_world(
    w: &El2World,
    traps: &Traps,
    gic: Option<GicHw>,
    tick: Option<TickEnable>,
    kick: Option<Kick>,
) {
    let i = cpu_index().min(MAX_CPUS - 1);
    bind_state(CPUS[i].0.get().cast());
    // SAFETY: called before the host runs on this CPU, so no trap holds this CPU's state;
    // it was just bound.
    let cpu = unsafe { this_cpu() };
    // A CPU that comes back through the warm entry (CPU_ON after CPU_OFF) runs no guest.
    cpu.running = None;
    cpu.guest_owns_fp = false;
    cpu.guest_owns_keys = false;
    cpu.gic = gic;
    cpu.gic_live = false;
    let raw = read_id_space();
    let f = IsolationFeatures::decode(&raw);
    cpu.features = f;
    cpu.optional = f.sme | f.ras;
    cpu.guest_ids = GuestIdRegs::new(&raw);
    cpu.host_el2 = *w;
    let extra = guest_feature_traps(&f);
    cpu.guest_hcr = [
        guest_hcr(w.hcr, false) | extra,
        guest_hcr(w.hcr, true) | extra,
    ];
    cpu.host_traps = *traps;
    cpu.tick = tick;
    cpu.tick_armed = false;
    cpu.kick = kick;
    cpu.guest_traps = guest_traps(traps, &f);
    if i != 0 {
        return;
    }
    let has = |yes: bool, what: &'static str| if yes { what } else { "absent on this CPU" };
    log::info!(
        "isolation: guests get: pointer auth {}; SVE {}; SME {}; RAS DISR {}; LORegions {}; \
         PMU and physical timer refused; debug registers inert (docs/ISOLATION.md)",
        has(f.pauth, "with keys switched lazily"),
        has(f.sve, "refused"),
        has(f.sme, "refused, TPIDR2_EL0 switched"),
        has(f.ras, "switched"),
        has(f.lor, "refused"),
    );
}

impl CpuState {
    /// What a guest's trapped accesses are decided against (vm::sysreg).
    #[inline]
    pub fn guest_cpu(&self) -> GuestCpu<'_> {
        GuestCpu {
            id: &self.guest_ids,
            pauth: self.features.pauth,
        }
    }
}

/// Switch EL2's view to `w` and its traps `t` (`trap_fp`: FP/SIMD use below EL2 traps).
#[inline]
fn write_world(w: &El2World, t: &Traps, trap_fp: bool) {
    let cptr = t.cptr | if trap_fp { CPTR_EL2_TFP } else { 0 };
    // SAFETY: EL1&0 configuration, live only after the caller's ERET (module comment);
    // VMIDs keep TLB entries apart; EL2 touches no FP before that ERET.
    unsafe {
        asm!(
            "msr hcr_el2, {hcr}",
            "msr vtcr_el2, {vtcr}",
            "msr vttbr_el2, {vttbr}",
            "msr vmpidr_el2, {vmpidr}",
            "msr cptr_el2, {cptr}",
            "msr mdcr_el2, {mdcr}",
            "msr cnthctl_el2, {cnthctl}",
            hcr = in(reg) w.hcr,
            vtcr = in(reg) w.vtcr,
            vttbr = in(reg) w.vttbr,
            vmpidr = in(reg) w.vmpidr,
            cptr = in(reg) cptr,
            mdcr = in(reg) t.mdcr,
            cnthctl = in(reg) t.cnthctl,
            options(nomem, nostack, preserves_flags),
        );
    }
}

/// Host -> guest: the host's EL1 and EL2 state into hiding, `vc`'s in. FP stays the host's
/// until the guest first uses it (see [`take_fp`]). Returns the Context to resume.
#[inline]
pub fn to_guest(cpu: &mut CpuState, vc: &mut Vcpu, s2: &GuestStage2, run: Running) -> *mut Context {
    switch_el1(&mut cpu.host_el1, &vc.el1);
    vc.el1_injected = false;
    if let (Some(t), Some(deadline)) = (
        cpu.tick,
        host_deadline(cpu.host_el1.cntv_ctl, cpu.host_el1.cntv_cval),
    ) {
        host_tick::arm(t, deadline);
        cpu.tick_armed = true;
    }
    if cpu.optional {
        optional_to_guest(cpu, &vc.optional);
    }
    let mut hcr = cpu.guest_hcr[s2.fwb as usize];
    if s2.vgic {
        hcr |= vgic_to_guest(cpu, vc);
    }
    write_world(
        &El2World {
            hcr,
            vttbr: s2.vttbr,
            vtcr: s2.vtcr,
            vmpidr: vc.vmpidr,
        },
        &cpu.guest_traps,
        true,
    );
    cpu.running = Some(run);
    &mut vc.ctx
}

/// The running guest's first FP/SIMD use since VCPU_RUN: the host's FP state out, the
/// guest's in, and FP no longer traps.
#[inline]
pub fn take_fp(cpu: &mut CpuState, vc: &Vcpu) {
    trap_fp(cpu.guest_traps.cptr, false);
    save_fp(&mut cpu.host_fp);
    restore_fp(&vc.fp);
    cpu.guest_owns_fp = true;
}

/// Guest -> host: `vc`'s state saved (EL1 registers; FP if it took them), the host's back.
/// ESR/FAR/ELR/SPSR_EL1 that an abort injection already wrote into `vc.el1` while deciding
/// this exit (`el1_injected`) are kept over the live values. Returns the host's Context.
#[inline]
pub fn to_host(cpu: &mut CpuState, mut vc: Option<&mut Vcpu>) -> *mut Context {
    let host_ctx = cpu
        .running
        .take()
        .map_or(core::ptr::null_mut(), |r| r.host_ctx);
    // FP registers are touched only when the guest owns them, and then CPTR_EL2 already
    // lets EL2 at them (take_fp). Read once: the calls below could change it, as far as the
    // compiler knows.
    let guest_fp = core::mem::replace(&mut cpu.guest_owns_fp, false);
    let guest_keys = core::mem::replace(&mut cpu.guest_owns_keys, false);
    if core::mem::replace(&mut cpu.tick_armed, false) {
        host_tick::disarm();
    }
    let optional = cpu.optional;
    if cpu.gic_live {
        gic_to_host(cpu, vc.as_deref_mut());
    }
    match vc {
        Some(vc) => {
            let injected = vc.el1_injected.then(|| injected_regs(&vc.el1));
            switch_el1(&mut vc.el1, &cpu.host_el1);
            if let Some([esr, far, elr, spsr]) = injected {
                (vc.el1.esr, vc.el1.far, vc.el1.elr, vc.el1.spsr) = (esr, far, elr, spsr);
            }
            if guest_fp {
                save_fp(&mut vc.fp);
            }
            if guest_keys {
                save_keys(&mut vc.keys);
            }
            if optional {
                optional_to_host(cpu, Some(&mut vc.optional));
            }
        }
        None => {
            crate::arch::el1_state::restore_el1(&cpu.host_el1);
            if optional {
                optional_to_host(cpu, None);
            }
        }
    }
    if guest_fp {
        restore_fp(&cpu.host_fp);
    }
    if guest_keys {
        load_keys(&cpu.host_keys);
    }
    write_world(&cpu.host_el2, &cpu.host_traps, false);
    // The guest's VTTBR must be out of use before EL2 drops the VM's lock (the caller holds it):
    // once dropped, another CPU may destroy this VM, invalidate its VMID and free its table
    // pages, which may then hold anything. Until a context synchronization, this CPU may
    // still walk the guest's tables speculatively with the old VTTBR (EL1&0 walks can
    // happen while EL2 runs) and cache what it finds under a VMID about to be reused: the
    // ERET to the host would synchronize too late, after the unlock. One ISB per exit.
    // Not `nomem`: the compiler must not move the unlock's store above it.
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("isb", options(nostack, preserves_flags)) };
    host_ctx
}

/// The running guest's first pointer-authentication use since VCPU_RUN (a PAC instruction
/// or a key register): the host's keys out, the guest's in, and pointer authentication no
/// longer traps for the rest of this run. The instruction runs again.
#[inline]
pub fn take_keys(cpu: &mut CpuState, vc: &Vcpu) {
    save_keys(&mut cpu.host_keys);
    load_keys(&vc.keys);
    cpu.guest_owns_keys = true;
    // SAFETY: HCR_EL2.API/APK only decide what traps from EL1/EL0; the ERET back into the
    // guest synchronizes the change (SCTLR_EL2.EOS).
    unsafe {
        asm!(
            "mrs {t}, hcr_el2",
            "orr {t}, {t}, {bits}",
            "msr hcr_el2, {t}",
            t = out(reg) _,
            bits = in(reg) HCR_APK_API,
            options(nomem, nostack, preserves_flags),
        )
    };
}

/// A vGIC guest's virtual interface in; its WFI traps (HCR_EL2.TWI, returned).
#[inline(never)]
fn vgic_to_guest(cpu: &mut CpuState, vc: &Vcpu) -> u64 {
    let Some(hw) = cpu.gic else {
        return 0;
    };
    gic::load(&vc.gic, hw);
    cpu.gic_live = true;
    if let Some(k) = &cpu.kick {
        kick::allow(k);
    }
    HCR_TWI
}

/// The vGIC guest's virtual interface out (into `vc` if EL2 still knows it), left empty.
#[inline(never)]
fn gic_to_host(cpu: &mut CpuState, vc: Option<&mut Vcpu>) {
    cpu.gic_live = false;
    if let Some(k) = &cpu.kick {
        kick::block(k);
    }
    let Some(hw) = cpu.gic else {
        return;
    };
    match vc {
        Some(vc) => gic::save(&mut vc.gic, hw),
        None => gic::clear(hw),
    }
}

// TPIDR2_EL0 (FEAT_SME) and VDISR_EL2 (FEAT_RAS), by encoding.

/// The host's TPIDR2_EL0 out, the guest's optional registers in.
#[inline]
fn optional_to_guest(cpu: &mut CpuState, g: &OptionalRegs) {
    // SAFETY: each register is touched only where the CPU has it; both only matter below
    // EL2, after the ERET into the guest.
    unsafe {
        if cpu.features.sme {
            asm!("mrs {h}, S3_3_C13_C0_5", "msr S3_3_C13_C0_5, {g}",
                h = out(reg) cpu.host_tpidr2, g = in(reg) g.tpidr2,
                options(nomem, nostack, preserves_flags));
        }
        if cpu.features.ras {
            asm!("msr S3_4_C12_C1_1, {}", in(reg) g.vdisr, options(nomem, nostack, preserves_flags));
        }
    }
}

/// The guest's optional registers out (if EL2 still knows the vCPU), the host's in. The
/// host never reads VDISR_EL2 (its DISR_EL1 is the real one), so it is left as it is.
#[inline]
fn optional_to_host(cpu: &mut CpuState, g: Option<&mut OptionalRegs>) {
    let (mut tpidr2, mut vdisr) = (0, 0);
    // SAFETY: as in optional_to_guest.
    unsafe {
        if cpu.features.sme {
            asm!("mrs {g}, S3_3_C13_C0_5", "msr S3_3_C13_C0_5, {h}",
                g = out(reg) tpidr2, h = in(reg) cpu.host_tpidr2,
                options(nomem, nostack, preserves_flags));
        }
        if cpu.features.ras {
            asm!("mrs {}, S3_4_C12_C1_1", out(reg) vdisr, options(nomem, nostack, preserves_flags));
        }
    }
    if let Some(g) = g {
        *g = OptionalRegs { tpidr2, vdisr };
    }
}

/// ESR/FAR/ELR/SPSR_EL1 of a saved copy (where an injection put them).
#[inline]
fn injected_regs(el1: &El1Regs) -> [u64; 4] {
    [el1.esr, el1.far, el1.elr, el1.spsr]
}
