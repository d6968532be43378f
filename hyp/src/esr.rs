//! ESR_ELx decoding: the one place that knows the syndrome's bit layout.

use core::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Esr(pub u64);

/// Exception classes Stile names (others print as their number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExceptionClass {
    Unknown,
    WfiWfe,
    IllegalState,
    Svc64,
    Hvc64,
    Smc64,
    SysReg,
    InstAbortLower,
    InstAbortSame,
    PcAlignment,
    DataAbortLower,
    DataAbortSame,
    SpAlignment,
    SError,
    Brk,
    Other(u8),
}

/// Raw exception-class values the trap path matches on directly (`Esr::ec_raw`), without
/// building an [`ExceptionClass`].
pub mod ec {
    pub const FP_ACCESS: u8 = 0x07;
    pub const HVC64: u8 = 0x16;
    pub const SMC64: u8 = 0x17;
    pub const INST_ABORT_LOWER: u8 = 0x20;
    pub const DATA_ABORT_LOWER: u8 = 0x24;
}

impl Esr {
    #[inline]
    pub const fn ec_raw(self) -> u8 {
        ((self.0 >> 26) & 0x3f) as u8
    }

    #[inline]
    pub const fn ec(self) -> ExceptionClass {
        match self.ec_raw() {
            0x00 => ExceptionClass::Unknown,
            0x01 => ExceptionClass::WfiWfe,
            0x0e => ExceptionClass::IllegalState,
            0x15 => ExceptionClass::Svc64,
            ec::HVC64 => ExceptionClass::Hvc64,
            ec::SMC64 => ExceptionClass::Smc64,
            0x18 => ExceptionClass::SysReg,
            ec::INST_ABORT_LOWER => ExceptionClass::InstAbortLower,
            0x21 => ExceptionClass::InstAbortSame,
            0x22 => ExceptionClass::PcAlignment,
            ec::DATA_ABORT_LOWER => ExceptionClass::DataAbortLower,
            0x25 => ExceptionClass::DataAbortSame,
            0x26 => ExceptionClass::SpAlignment,
            0x2f => ExceptionClass::SError,
            0x3c => ExceptionClass::Brk,
            other => ExceptionClass::Other(other),
        }
    }

    #[inline]
    pub const fn il(self) -> bool {
        self.0 & (1 << 25) != 0
    }

    #[inline]
    pub const fn iss(self) -> u32 {
        (self.0 & 0x1ff_ffff) as u32
    }

    #[inline]
    pub const fn is_abort(self) -> bool {
        matches!(self.ec_raw(), 0x20 | 0x21 | 0x24 | 0x25)
    }

    /// Data-abort ISS: the access fields below are valid.
    #[inline]
    pub const fn isv(self) -> bool {
        self.0 & (1 << 24) != 0
    }

    /// Access size in bytes (valid when `isv`).
    #[inline]
    pub const fn sas_bytes(self) -> u8 {
        1 << ((self.0 >> 22) & 3)
    }

    #[inline]
    pub const fn sse(self) -> bool {
        self.0 & (1 << 21) != 0
    }

    #[inline]
    pub const fn srt(self) -> u8 {
        ((self.0 >> 16) & 0x1f) as u8
    }

    #[inline]
    pub const fn sf(self) -> bool {
        self.0 & (1 << 15) != 0
    }

    #[inline]
    pub const fn s1ptw(self) -> bool {
        self.0 & (1 << 7) != 0
    }

    #[inline]
    pub const fn wnr(self) -> bool {
        self.0 & (1 << 6) != 0
    }

    /// Fault status code (DFSC / IFSC).
    #[inline]
    pub const fn fsc(self) -> u8 {
        (self.0 & 0x3f) as u8
    }

    /// Words for a fault status code.
    #[inline]
    pub const fn fsc_name(self) -> &'static str {
        match self.fsc() {
            0x00..=0x03 => "address size fault",
            0x04..=0x07 => "translation fault",
            0x08..=0x0b => "access flag fault",
            0x0c..=0x0f => "permission fault",
            0x10 => "synchronous external abort",
            0x21 => "alignment fault",
            _ => "other fault",
        }
    }

    /// Table level of a translation/access/permission fault.
    #[inline]
    pub const fn fault_level(self) -> u8 {
        self.fsc() & 3
    }
}

impl fmt::Display for ExceptionClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ExceptionClass::Unknown => "unknown reason",
            ExceptionClass::WfiWfe => "WFI/WFE",
            ExceptionClass::IllegalState => "illegal execution state",
            ExceptionClass::Svc64 => "SVC",
            ExceptionClass::Hvc64 => "HVC",
            ExceptionClass::Smc64 => "SMC",
            ExceptionClass::SysReg => "MSR/MRS trap",
            ExceptionClass::InstAbortLower => "instruction abort from lower EL",
            ExceptionClass::InstAbortSame => "instruction abort at EL2",
            ExceptionClass::PcAlignment => "PC alignment fault",
            ExceptionClass::DataAbortLower => "data abort from lower EL",
            ExceptionClass::DataAbortSame => "data abort at EL2",
            ExceptionClass::SpAlignment => "SP alignment fault",
            ExceptionClass::SError => "SError",
            ExceptionClass::Brk => "BRK",
            ExceptionClass::Other(ec) => return write!(f, "EC {ec:#x}"),
        };
        f.write_str(name)
    }
}

impl fmt::Display for Esr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ESR {:#x}: {}", self.0, self.ec())?;
        if self.is_abort() {
            write!(f, ", {} level {}", self.fsc_name(), self.fault_level())?;
            if matches!(
                self.ec(),
                ExceptionClass::DataAbortLower | ExceptionClass::DataAbortSame
            ) {
                write!(f, ", {}", if self.wnr() { "write" } else { "read" })?;
                if self.isv() {
                    write!(f, " of {} bytes via x{}", self.sas_bytes(), self.srt())?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "esr_tests.rs"]
mod edge_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_abort_fields_decode() {
        // EC 0x24, IL, ISV, SAS=2 (4 bytes), SSE, SRT=5, SF, WnR, DFSC translation L3.
        let esr = Esr(0x24 << 26
            | 1 << 25
            | 1 << 24
            | 2 << 22
            | 1 << 21
            | 5 << 16
            | 1 << 15
            | 1 << 6
            | 0x07);
        assert_eq!(esr.ec(), ExceptionClass::DataAbortLower);
        assert!(esr.il() && esr.isv() && esr.sse() && esr.sf() && esr.wnr());
        assert_eq!(
            (esr.sas_bytes(), esr.srt(), esr.fsc(), esr.fault_level()),
            (4, 5, 7, 3)
        );
        assert_eq!(esr.fsc_name(), "translation fault");
    }

    #[test]
    fn abort_at_el2_prints_readably() {
        let esr = Esr(0x25 << 26 | 1 << 25 | 0x06);
        assert_eq!(
            esr.to_string(),
            "ESR 0x96000006: data abort at EL2, translation fault level 2, read"
        );
    }

    #[test]
    fn unnamed_class_prints_its_number() {
        assert_eq!(Esr(0x3f << 26).to_string(), "ESR 0xfc000000: EC 0x3f");
    }

    #[test]
    fn fault_status_names_cover_the_families() {
        let n = |fsc: u64| Esr(0x24 << 26 | fsc).fsc_name();
        assert_eq!(
            [n(0x01), n(0x09), n(0x0d), n(0x10), n(0x21), n(0x30)],
            [
                "address size fault",
                "access flag fault",
                "permission fault",
                "synchronous external abort",
                "alignment fault",
                "other fault"
            ]
        );
    }
}
