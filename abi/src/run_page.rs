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
    /// The guest (with a vGIC) waits for an interrupt (WFI) and none is pending: `data`
    /// holds its virtual timer's deadline (CNTV_CVAL_EL0; u64::MAX when not armed). The
    /// next VCPU_RUN steps over the WFI.
    Wfi = 8,
}

impl ExitReason {
    pub const ALL: [ExitReason; 9] = [
        ExitReason::None,
        ExitReason::Mmio,
        ExitReason::Nisv,
        ExitReason::MemoryFault,
        ExitReason::Hvc,
        ExitReason::SystemEvent,
        ExitReason::Irq,
        ExitReason::Unknown,
        ExitReason::Wfi,
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
            ExitReason::Wfi => "WFI",
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

/// The record as [`WORDS`] little-endian 64-bit words, for code that reads and writes the
/// shared page one word at a time (EL2 never copies the whole record across).
pub const WORDS: usize = 19;

/// Word indices of [`RunPage::to_words`].
pub mod word {
    /// `version` in bytes 0..4, `exit_reason` in bytes 4..8.
    pub const VERSION_REASON: usize = 0;
    pub const ESR: usize = 1;
    pub const FAR: usize = 2;
    pub const HPFAR: usize = 3;
    pub const IPA: usize = 4;
    pub const PC: usize = 5;
    pub const FAULT_REASON: usize = 6;
    /// `access`, `size`, `srt`, `flags` in bytes 0..4, `host_action` in bytes 4..8.
    pub const ACCESS_ACTION: usize = 7;
    pub const DATA: usize = 8;
    /// `hvc[0]`; `hvc[n]` is word `HVC + n`.
    pub const HVC: usize = 9;
    /// `host_action` is the upper half of [`ACCESS_ACTION`].
    pub const HOST_ACTION_SHIFT: u32 = 32;
    pub const SYSTEM_EVENT: usize = 17;
    pub const EXIT_COUNT: usize = 18;
}

const _: () = assert!(core::mem::size_of::<RunPage>() == WORDS * 8);

impl RunPage {
    pub const fn to_words(&self) -> [u64; WORDS] {
        let h = &self.hvc;
        [
            self.version as u64 | (self.exit_reason as u64) << 32,
            self.esr,
            self.far,
            self.hpfar,
            self.ipa,
            self.pc,
            self.fault_reason,
            self.access as u64
                | (self.size as u64) << 8
                | (self.srt as u64) << 16
                | (self.flags as u64) << 24
                | (self.host_action as u64) << word::HOST_ACTION_SHIFT,
            self.data,
            h[0],
            h[1],
            h[2],
            h[3],
            h[4],
            h[5],
            h[6],
            h[7],
            self.system_event,
            self.exit_count,
        ]
    }

    pub const fn from_words(w: &[u64; WORDS]) -> RunPage {
        let a = w[word::ACCESS_ACTION];
        RunPage {
            version: w[0] as u32,
            exit_reason: (w[0] >> 32) as u32,
            esr: w[1],
            far: w[2],
            hpfar: w[3],
            ipa: w[4],
            pc: w[5],
            fault_reason: w[6],
            access: a as u8,
            size: (a >> 8) as u8,
            srt: (a >> 16) as u8,
            flags: (a >> 24) as u8,
            host_action: (a >> word::HOST_ACTION_SHIFT) as u32,
            data: w[8],
            hvc: [w[9], w[10], w[11], w[12], w[13], w[14], w[15], w[16]],
            system_event: w[17],
            exit_count: w[18],
        }
    }
}

#[cfg(test)]
mod words_tests {
    use super::*;

    /// Every field lands in the word (and bytes) its offset says, and comes back.
    #[test]
    fn words_match_the_memory_layout() {
        let page = RunPage {
            version: 0x0102_0304,
            exit_reason: 0x0506_0708,
            esr: 1,
            far: 2,
            hpfar: 3,
            ipa: 4,
            pc: 5,
            fault_reason: 6,
            access: 0x11,
            size: 0x22,
            srt: 0x33,
            flags: 0x44,
            host_action: 0x5566_7788,
            data: 9,
            hvc: [10, 11, 12, 13, 14, 15, 16, 17],
            system_event: 18,
            exit_count: 19,
        };
        let words = page.to_words();
        let mut bytes = [0u8; WORDS * 8];
        for (i, w) in words.iter().enumerate() {
            bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        // SAFETY: RunPage is repr(C) plain integers without padding (size asserted).
        let raw: [u8; WORDS * 8] = unsafe { core::mem::transmute(page) };
        assert_eq!(bytes, raw);
        let back = RunPage::from_words(&words);
        assert_eq!(back.to_words(), words);
    }
}
