//! The run page: one 4 KiB page of host RAM per vCPU (given at VCPU_CREATE) through which
//! Stile reports why a vCPU stopped and the host answers before the next VCPU_RUN.
//!
//! Stile writes every field except those marked "host writes". The layout is fixed
//! (`#[repr(C)]`, offsets asserted below and in the C header test): version it by
//! [`RUN_PAGE_VERSION`], never reorder.

/// Why VCPU_RUN returned (x1 of VCPU_RUN and [`RunPage::exit_reason`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitReason {
    None = 0,
    /// A guest access to an MMIO slot with a valid syndrome: `ipa`, `size`, `flags`
    /// (write, sign-extend, 64-bit register), `srt`, and for a write `data`. For a read the
    /// host writes the value into `data`; the next VCPU_RUN loads it into the register
    /// (sign- or zero-extended as the syndrome says) and steps over the instruction.
    Mmio = 1,
    /// An access to an MMIO slot without a valid syndrome (ISV=0, e.g. a load pair): `esr`,
    /// `ipa`. Nothing is emulated; the host picks a [`HostAction`].
    Nisv = 2,
    /// A stage-2 fault EL2 could not resolve: `ipa`, `size`, `access`, `fault_reason`
    /// (NO_SLOT, PERMISSION, NEEDS_FWB, NOT_OPTED_IN, SLOT_CHANGED, EXEC_NOT_ALLOWED...).
    /// After the host fixes things, VCPU_RUN re-executes the faulting instruction.
    MemoryFault = 3,
    /// A guest HVC that is not PSCI: the guest's x0..x7 in `hvc`; the host writes results
    /// to `hvc[0..4]`, which become the guest's x0..x3 at the next VCPU_RUN.
    Hvc = 4,
    /// The guest called PSCI SYSTEM_OFF or SYSTEM_RESET (`system_event`); the vCPU cannot
    /// run again.
    SystemEvent = 5,
    /// A physical interrupt became pending for the host; VCPU_RUN again when done.
    Irq = 6,
    /// Anything else EL2 does not handle: the raw `esr`.
    Unknown = 7,
}

impl ExitReason {
    pub const ALL: [ExitReason; 8] = [
        ExitReason::None,
        ExitReason::Mmio,
        ExitReason::Nisv,
        ExitReason::MemoryFault,
        ExitReason::Hvc,
        ExitReason::SystemEvent,
        ExitReason::Irq,
        ExitReason::Unknown,
    ];

    pub const fn from_u32(v: u32) -> Option<ExitReason> {
        let mut i = 0;
        while i < ExitReason::ALL.len() {
            if ExitReason::ALL[i] as u32 == v {
                return Some(ExitReason::ALL[i]);
            }
            i += 1;
        }
        None
    }

    pub const fn name(self) -> &'static str {
        match self {
            ExitReason::None => "NONE",
            ExitReason::Mmio => "MMIO",
            ExitReason::Nisv => "NISV",
            ExitReason::MemoryFault => "MEMORY_FAULT",
            ExitReason::Hvc => "HVC",
            ExitReason::SystemEvent => "SYSTEM_EVENT",
            ExitReason::Irq => "IRQ",
            ExitReason::Unknown => "UNKNOWN",
        }
    }
}

/// What the host wants done with the instruction that exited (host writes
/// [`RunPage::host_action`] before VCPU_RUN; Stile resets it to `Complete` afterwards).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum HostAction {
    /// The default: MMIO read -> load `data`; MMIO write -> step over; HVC -> load
    /// `hvc[0..4]`; memory fault / NISV -> re-execute.
    Complete = 0,
    /// Step over the instruction without doing anything else.
    Skip = 1,
    /// Inject a synchronous external abort for the access into the guest.
    InjectAbort = 2,
}

/// `access` values.
pub const ACCESS_READ: u8 = 0;
pub const ACCESS_WRITE: u8 = 1;
pub const ACCESS_EXEC: u8 = 2;

/// `flags` bits of an MMIO exit.
pub const MMIO_WRITE: u8 = 1 << 0;
/// The loaded value is sign-extended (LDRSB/LDRSH/LDRSW).
pub const MMIO_SIGN_EXTEND: u8 = 1 << 1;
/// The register is 64-bit (Xn); else 32-bit (Wn: the upper half becomes 0).
pub const MMIO_REG64: u8 = 1 << 2;

pub const RUN_PAGE_VERSION: u32 = 1;

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct RunPage {
    /// [`RUN_PAGE_VERSION`].
    pub version: u32,
    /// [`ExitReason`] as u32.
    pub exit_reason: u32,
    /// Raw ESR_EL2, FAR_EL2 and HPFAR_EL2 of the exit (every exit carries them).
    pub esr: u64,
    pub far: u64,
    pub hpfar: u64,
    /// The faulting IPA (from HPFAR and FAR), for aborts.
    pub ipa: u64,
    /// The guest PC of the instruction that exited.
    pub pc: u64,
    /// [`crate::Reason`] of a memory fault.
    pub fault_reason: u64,
    /// [`ACCESS_READ`], [`ACCESS_WRITE`] or [`ACCESS_EXEC`].
    pub access: u8,
    /// Access size in bytes (1, 2, 4, 8) when the syndrome says.
    pub size: u8,
    /// The register (0..=30; 31 = xzr) of an MMIO access.
    pub srt: u8,
    /// `MMIO_*` bits.
    pub flags: u8,
    /// Host writes: [`HostAction`] as u32.
    pub host_action: u32,
    /// MMIO: the value written by the guest, or (host writes) the value to load.
    pub data: u64,
    /// HVC: the guest's x0..x7; (host writes) results in [0..4].
    pub hvc: [u64; 8],
    /// SYSTEM_EVENT: the PSCI function ID (SYSTEM_OFF / SYSTEM_RESET).
    pub system_event: u64,
    /// Exits of this vCPU so far (a VMM can see none was lost).
    pub exit_count: u64,
}

const _: () = assert!(core::mem::size_of::<RunPage>() == 152);
const _: () = assert!(core::mem::offset_of!(RunPage, esr) == 8);
const _: () = assert!(core::mem::offset_of!(RunPage, access) == 56);
const _: () = assert!(core::mem::offset_of!(RunPage, host_action) == 60);
const _: () = assert!(core::mem::offset_of!(RunPage, data) == 64);
const _: () = assert!(core::mem::offset_of!(RunPage, hvc) == 72);
const _: () = assert!(core::mem::offset_of!(RunPage, system_event) == 136);
const _: () = assert!(core::mem::offset_of!(RunPage, exit_count) == 144);
