//! A vCPU's saved state (plain data: arch/ moves it in and out of the CPU) and what its
//! next run must finish first.

use crate::addr::PhysAddr;
use crate::vgic::lr::GicCpuRegs;
use crate::vm::mmio::MmioAccess;

/// General registers and return state of a world below EL2, as vectors.S saves them.
#[repr(C)]
#[derive(Clone, Debug)]
pub struct Context {
    pub x: [u64; 31],
    pub elr: u64,
    pub spsr: u64,
    /// HPFAR_EL2 of the last two device pages (an MMIO slot's or the vGIC's) this world's
    /// aborts reached the lazy-map entry with (vm/dispatch/lazy.rs), the newest first: vectors.S sends those pages' next
    /// aborts straight to the full trap path. Only a shortcut to the path that decides
    /// everything: a stale value costs time, never correctness. [`NO_LAZY_SKIP`] at first.
    pub lazy_skip: [u64; 2],
    _pad: u64,
}

/// No HPFAR_EL2 value: its bits [3:0] are RES0.
pub const NO_LAZY_SKIP: u64 = u64::MAX;

const _: () = assert!(
    core::mem::offset_of!(Context, elr) == 248
        && core::mem::offset_of!(Context, spsr) == 256
        && core::mem::offset_of!(Context, lazy_skip) == 264
        && core::mem::size_of::<Context>().is_multiple_of(16)
);

impl Context {
    pub const ZERO: Context = Context {
        x: [0; 31],
        elr: 0,
        spsr: 0,
        lazy_skip: [NO_LAZY_SKIP; 2],
        _pad: 0,
    };
}

impl Default for Context {
    fn default() -> Self {
        Context::ZERO
    }
}

/// EL1 system registers a VM owns (arch/el1_state.rs saves/restores exactly these, in this
/// order; docs/ISOLATION.md lists what else is switched, trapped or refused).
#[repr(C)]
#[derive(Clone, Debug, Default)]
pub struct El1Regs {
    pub sctlr: u64,
    pub cpacr: u64,
    pub ttbr0: u64,
    pub ttbr1: u64,
    pub tcr: u64,
    pub mair: u64,
    pub amair: u64,
    pub vbar: u64,
    pub contextidr: u64,
    pub tpidr_el0: u64,
    pub tpidrro_el0: u64,
    pub tpidr_el1: u64,
    pub sp_el0: u64,
    pub sp_el1: u64,
    pub elr: u64,
    pub spsr: u64,
    pub esr: u64,
    pub far: u64,
    pub par: u64,
    pub afsr0: u64,
    pub afsr1: u64,
    pub cntkctl: u64,
    pub csselr: u64,
    pub cntv_ctl: u64,
    pub cntv_cval: u64,
    /// Guests cannot write it (MDCR_EL2.TDA: it reads as 0), so theirs stays 0; switching
    /// it keeps the host's breakpoints, watchpoints and single-step from firing in a guest.
    pub mdscr: u64,
}

impl El1Regs {
    pub const ZERO: El1Regs = El1Regs {
        sctlr: 0,
        cpacr: 0,
        ttbr0: 0,
        ttbr1: 0,
        tcr: 0,
        mair: 0,
        amair: 0,
        vbar: 0,
        contextidr: 0,
        tpidr_el0: 0,
        tpidrro_el0: 0,
        tpidr_el1: 0,
        sp_el0: 0,
        sp_el1: 0,
        elr: 0,
        spsr: 0,
        esr: 0,
        far: 0,
        par: 0,
        afsr0: 0,
        afsr1: 0,
        cntkctl: 0,
        csselr: 0,
        cntv_ctl: 0,
        cntv_cval: 0,
        mdscr: 0,
    };
}

/// SCTLR_EL1 with only its RES1 bits: MMU, caches and alignment checks off.
pub const SCTLR_EL1_RESET: u64 = 0x30d0_0800;

/// FP/SIMD state. EL2 never touches FP itself, but guest and host share the registers.
#[repr(C, align(16))]
#[derive(Clone, Debug)]
pub struct FpRegs {
    pub q: [u128; 32],
    pub fpsr: u64,
    pub fpcr: u64,
}

impl FpRegs {
    pub const ZERO: FpRegs = FpRegs {
        q: [0; 32],
        fpsr: 0,
        fpcr: 0,
    };
}

impl Default for FpRegs {
    fn default() -> Self {
        FpRegs::ZERO
    }
}

/// The five pointer-authentication keys, Lo then Hi: APIA, APIB, APDA, APDB, APGA (the
/// order arch/el1_state.S moves them in). Switched lazily, on a guest's first use.
#[repr(C)]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PauthKeys(pub [u64; 10]);

impl PauthKeys {
    pub const ZERO: PauthKeys = PauthKeys([0; 10]);
}

/// Registers only some CPUs have, switched where the CPU has them (docs/ISOLATION.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OptionalRegs {
    /// TPIDR2_EL0 (FEAT_SME): EL1 reaches it even with SME itself trapped.
    pub tpidr2: u64,
    /// VDISR_EL2 (FEAT_RAS): what a guest reads and writes as DISR_EL1 (HCR_EL2.AMO = 1).
    pub vdisr: u64,
}

/// What the next VCPU_RUN must complete before the guest goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pending {
    #[default]
    Nothing,
    /// Load the host's `data` into the register, then step over the load.
    MmioRead(MmioAccess),
    /// Step over the store.
    MmioWrite,
    /// Step over the WFI (a WFI exit).
    Wfi,
    /// Load the host's results into x0..x3 (the PC is already past the HVC).
    Hvc,
    /// Re-execute the instruction (memory fault, NISV, unknown), unless the host says
    /// otherwise.
    Replay,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VcpuState {
    Runnable,
    /// Created with `START_OFF`, or the guest called CPU_OFF: waits for a CPU_ON from another
    /// vCPU of its VM (vm/guest_psci.rs); VCPU_RUN returns at once with a CPU_OFF event.
    PoweredOff,
    /// The guest called SYSTEM_OFF or SYSTEM_RESET: never runs again.
    Off,
}

pub struct Vcpu {
    pub ctx: Context,
    pub el1: El1Regs,
    pub fp: FpRegs,
    pub keys: PauthKeys,
    pub optional: OptionalRegs,
    pub vmpidr: u64,
    pub run_page: PhysAddr,
    pub state: VcpuState,
    pub pending: Pending,
    pub exits: u64,
    /// An injected exception wrote `el1`'s ESR/FAR/ELR/SPSR since the registers were last
    /// loaded: the live values are stale (the world switch keeps the saved ones).
    pub el1_injected: bool,
    /// A CPU runs it now (from VCPU_RUN's switch in to the exit's switch out): a second
    /// VCPU_RUN, from another CPU, is refused with BUSY rather than run it twice.
    pub running: bool,
    /// Its GIC virtual CPU interface while it does not run (only with a vGIC).
    pub gic: GicCpuRegs,
    /// While it runs (vGIC VMs only): the ICC_SGI1R_EL1 value that kicks the CPU it runs
    /// on (vgic/kick.rs); 0 if that CPU cannot be kicked.
    pub kick: u64,
}

/// SPSR for entering EL1h with all of DAIF masked.
pub const SPSR_EL1H_MASKED: u64 = 0x3c5;

impl Vcpu {
    /// A vCPU that starts at `pc` in EL1h, MMU off, with `x0` (or powered off, waiting for
    /// a PSCI CPU_ON, if `off`).
    pub fn new(index: u64, pc: u64, x0: u64, run_page: PhysAddr, off: bool) -> Vcpu {
        let mut ctx = Context::ZERO;
        ctx.x[0] = x0;
        ctx.elr = pc;
        ctx.spsr = SPSR_EL1H_MASKED;
        Vcpu {
            ctx,
            el1: El1Regs {
                sctlr: SCTLR_EL1_RESET,
                ..El1Regs::default()
            },
            fp: FpRegs::default(),
            keys: PauthKeys::ZERO,
            optional: OptionalRegs::default(),
            // Aff0 = index; bit 31 is RES1 in MPIDR.
            vmpidr: 1 << 31 | index,
            run_page,
            state: if off {
                VcpuState::PoweredOff
            } else {
                VcpuState::Runnable
            },
            pending: Pending::Nothing,
            exits: 0,
            el1_injected: false,
            running: false,
            gic: GicCpuRegs::default(),
            kick: 0,
        }
    }
}
