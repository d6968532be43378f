//! A vCPU exit, decoded once from the run page into one value, and the host's reply to it.

use super::machine::HostFields;
use core::fmt;
use stile_abi::run_page::{HostAction, ACCESS_EXEC, ACCESS_READ, ACCESS_WRITE, MMIO_WRITE};
use stile_abi::{ExitReason, RunPage};
use stile_guest::ipa::Ipa;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mmio {
    pub ipa: Ipa,
    pub write: bool,
    pub size: u8,
    pub srt: u8,
    /// `MMIO_*` bits as the run page has them.
    pub flags: u8,
    /// A write's value.
    pub data: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Mmio(Mmio),
    Nisv {
        ipa: Ipa,
        esr: u64,
        access: u8,
    },
    MemoryFault {
        ipa: Ipa,
        access: u8,
        size: u8,
        /// `stile_abi::Reason`, raw.
        reason: u64,
    },
    /// The guest's x0..x7.
    Hvc([u64; 8]),
    /// The PSCI function the guest called.
    SystemEvent(u64),
    Irq,
    /// The guest waits for an interrupt (vGIC guests): its virtual timer's deadline.
    Wfi {
        deadline: u64,
    },
    Unknown {
        esr: u64,
    },
    /// An exit reason this VMM does not know (or NONE, which VCPU_RUN never returns).
    Undefined(u32),
}

pub fn decode(p: &RunPage) -> Exit {
    match ExitReason::from_u32(p.exit_reason) {
        Some(ExitReason::Mmio) => Exit::Mmio(Mmio {
            ipa: Ipa(p.ipa),
            write: p.flags & MMIO_WRITE != 0,
            size: p.size,
            srt: p.srt,
            flags: p.flags,
            data: p.data,
        }),
        Some(ExitReason::Nisv) => Exit::Nisv {
            ipa: Ipa(p.ipa),
            esr: p.esr,
            access: p.access,
        },
        Some(ExitReason::MemoryFault) => Exit::MemoryFault {
            ipa: Ipa(p.ipa),
            access: p.access,
            size: p.size,
            reason: p.fault_reason,
        },
        Some(ExitReason::Hvc) => Exit::Hvc(p.hvc),
        Some(ExitReason::SystemEvent) => Exit::SystemEvent(p.system_event),
        Some(ExitReason::Irq) => Exit::Irq,
        Some(ExitReason::Wfi) => Exit::Wfi { deadline: p.data },
        Some(ExitReason::Unknown) => Exit::Unknown { esr: p.esr },
        Some(ExitReason::None) | None => Exit::Undefined(p.exit_reason),
    }
}

pub const fn access_name(access: u8) -> &'static str {
    match access {
        ACCESS_READ => "read",
        ACCESS_WRITE => "write",
        ACCESS_EXEC => "instruction fetch",
        _ => "access",
    }
}

/// An access size in words, for the narration.
pub const fn bytes(size: u8) -> &'static str {
    match size {
        1 => "1 byte",
        2 => "2 bytes",
        4 => "4 bytes",
        8 => "8 bytes",
        _ => "? bytes",
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Exit::Mmio(m) => write!(
                f,
                "MMIO {} of {} at {} (srt {}, flags {:#x})",
                if m.write { "write" } else { "read" },
                bytes(m.size),
                m.ipa,
                m.srt,
                m.flags
            ),
            Exit::Nisv { ipa, esr, access } => {
                write!(f, "NISV {} at {ipa} (ESR {esr:#x})", access_name(access))
            }
            Exit::MemoryFault {
                ipa,
                access,
                reason,
                ..
            } => write!(
                f,
                "MEMORY_FAULT ({}) {} at {ipa}",
                crate::translate::reason_name(reason),
                access_name(access)
            ),
            Exit::Hvc(x) => write!(f, "HVC x0={:#x}", x[0]),
            Exit::SystemEvent(fid) => write!(f, "SYSTEM_EVENT {fid:#x}"),
            Exit::Irq => f.write_str("IRQ"),
            Exit::Wfi { deadline } => write!(f, "WFI (timer deadline {deadline:#x})"),
            Exit::Unknown { esr } => write!(f, "UNKNOWN (ESR {esr:#x})"),
            Exit::Undefined(r) => write!(f, "exit reason {r}"),
        }
    }
}

/// What the host tells Stile about the last exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub action: HostAction,
    /// An MMIO read's value.
    pub data: u64,
    /// An HVC's results (the guest's x0..x3).
    pub hvc: [u64; 4],
}

impl Reply {
    pub const COMPLETE: Reply = Reply {
        action: HostAction::Complete,
        data: 0,
        hvc: [0; 4],
    };
    pub const SKIP: Reply = Reply {
        action: HostAction::Skip,
        ..Reply::COMPLETE
    };
    pub const INJECT_ABORT: Reply = Reply {
        action: HostAction::InjectAbort,
        ..Reply::COMPLETE
    };

    pub const fn read(data: u64) -> Reply {
        Reply {
            data,
            ..Reply::COMPLETE
        }
    }

    pub const fn hvc(results: [u64; 4]) -> Reply {
        Reply {
            hvc: results,
            ..Reply::COMPLETE
        }
    }

    pub const fn fields(&self) -> HostFields {
        HostFields {
            host_action: self.action as u32,
            data: self.data,
            hvc: self.hvc,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stile_abi::run_page::{MMIO_REG64, MMIO_SIGN_EXTEND};
    use stile_abi::Reason;

    fn page(reason: ExitReason) -> RunPage {
        RunPage {
            version: 1,
            exit_reason: reason as u32,
            ..RunPage::default()
        }
    }

    #[test]
    fn an_mmio_record_decodes_with_direction_from_the_flags() {
        let p = RunPage {
            ipa: 0x0900_0020,
            size: 2,
            srt: 10,
            flags: MMIO_SIGN_EXTEND | MMIO_REG64,
            ..page(ExitReason::Mmio)
        };
        let e = decode(&p);
        assert_eq!(
            e,
            Exit::Mmio(Mmio {
                ipa: Ipa(0x0900_0020),
                write: false,
                size: 2,
                srt: 10,
                flags: 6,
                data: 0
            })
        );
        assert_eq!(
            e.to_string(),
            "MMIO read of 2 bytes at 0x9000020 (srt 10, flags 0x6)"
        );
    }

    #[test]
    fn faults_nisv_and_the_rest_decode_to_their_variants() {
        let mf = RunPage {
            ipa: 0x9000_0000,
            access: ACCESS_WRITE,
            size: 8,
            fault_reason: Reason::Permission as u64,
            ..page(ExitReason::MemoryFault)
        };
        assert_eq!(
            decode(&mf).to_string(),
            "MEMORY_FAULT (PERMISSION) write at 0x90000000"
        );
        let nisv = RunPage {
            ipa: 0x0900_0030,
            esr: 0x9200_0006,
            ..page(ExitReason::Nisv)
        };
        assert_eq!(
            decode(&nisv),
            Exit::Nisv {
                ipa: Ipa(0x0900_0030),
                esr: 0x9200_0006,
                access: ACCESS_READ
            }
        );
        let hvc = RunPage {
            hvc: [1, 2, 3, 4, 5, 6, 7, 8],
            ..page(ExitReason::Hvc)
        };
        assert_eq!(decode(&hvc), Exit::Hvc([1, 2, 3, 4, 5, 6, 7, 8]));
        let off = RunPage {
            system_event: 0x8400_0008,
            ..page(ExitReason::SystemEvent)
        };
        assert_eq!(decode(&off), Exit::SystemEvent(0x8400_0008));
        assert_eq!(decode(&page(ExitReason::None)), Exit::Undefined(0));
        let weird = RunPage {
            exit_reason: 42,
            ..RunPage::default()
        };
        assert_eq!(decode(&weird), Exit::Undefined(42));
    }

    #[test]
    fn the_guest_crates_copies_of_abi_constants_match_the_abi() {
        use stile_guest::access::{FLAG_REG64, FLAG_SIGN_EXTEND, FLAG_WRITE};
        assert_eq!(FLAG_WRITE, MMIO_WRITE);
        assert_eq!(FLAG_SIGN_EXTEND, MMIO_SIGN_EXTEND);
        assert_eq!(FLAG_REG64, MMIO_REG64);
        assert_eq!(
            stile_guest::protocol::PSCI_SYSTEM_OFF,
            crate::psci::SYSTEM_OFF
        );
        for c in stile_guest::protocol::Call::ALL {
            assert_eq!(stile_abi::Function::from_id(c as u32), None, "{c:?}");
        }
    }

    #[test]
    fn replies_fill_the_host_fields() {
        let f = Reply::read(0xa5).fields();
        assert_eq!((f.host_action, f.data), (0, 0xa5));
        assert_eq!(Reply::SKIP.fields().host_action, 1);
        assert_eq!(Reply::INJECT_ABORT.fields().host_action, 2);
        assert_eq!(Reply::hvc([1, 2, 3, 4]).fields().hvc, [1, 2, 3, 4]);
    }
}
