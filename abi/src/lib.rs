//! Stile's hypercall ABI (docs/ABI.md explains every call). Shared by the hypervisor and by
//! hosts (the in-QEMU host payload; a C header for others is checked against this crate).
//!
//! Calls are SMCCC fast calls from the host (HVC), SMC64, owner 6 (vendor-specific hypervisor
//! service): x0 = function ID, x1.. = arguments; x0 back = [`Status`], x1.. = results.
#![no_std]

/// Vendor-specific hypervisor service, SMC64 fast calls: `0xC600_0000 | n`.
pub const FN_BASE: u32 = 0xC600_0000;

/// Standard SMCCC queries answered by every vendor hypervisor service (SMC32 IDs).
pub const FN_CALL_UID: u32 = 0x8600_FF01;
pub const FN_REVISION: u32 = 0x8600_FF03;

/// Stile's UID, as the four 32-bit words `FN_CALL_UID` returns in x0..x3
/// (UUID 5374696c-6500-4879-7065-727669736f72, "Stile\0Hypervisor").
pub const UID: [u32; 4] = [0x5374_696c, 0x6500_4879, 0x7065_7276, 0x6973_6f72];
/// ABI revision: major (incompatible changes), minor (additions).
pub const REVISION: (u32, u32) = (0, 1);

/// Stile's own calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Function {
    /// TRANSLATE(x1 = vm id (0 = the host), x2 = address): what the VM really gets there.
    /// Success: x1 = PA, x2 = PAR_EL1 ATTR byte of `AT S12E1R` (stage 1 as the VM has it,
    /// combined with stage 2), x3 = the stage-2 leaf descriptor's attribute bits.
    /// DENIED: x1 = [`Reason`] why nothing is mapped there.
    Translate = FN_BASE | 0x01,
}

impl Function {
    pub const ALL: [Function; 1] = [Function::Translate];

    pub const fn from_id(id: u32) -> Option<Function> {
        match id {
            x if x == Function::Translate as u32 => Some(Function::Translate),
            _ => None,
        }
    }
}

/// SMCCC return status in x0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i64)]
pub enum Status {
    Success = 0,
    NotSupported = -1,
    InvalidParameters = -2,
    Denied = -3,
}

impl Status {
    pub const fn as_u64(self) -> u64 {
        self as i64 as u64
    }

    pub const fn from_u64(v: u64) -> Option<Status> {
        match v as i64 {
            0 => Some(Status::Success),
            -1 => Some(Status::NotSupported),
            -2 => Some(Status::InvalidParameters),
            -3 => Some(Status::Denied),
            _ => None,
        }
    }
}

/// Why something was refused, or why a fault could not be handled. Returned in x1 with an
/// error status, logged as `(<name>)` in `stile: error:` lines, carried in exit records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Reason {
    None = 0,
    /// Cacheable device memory needs FEAT_S2FWB.
    NeedsFwb = 1,
    /// Executable cacheable device memory needs CTR_EL0.DIC.
    NoDic = 2,
    /// Outside every RAM range the DT describes.
    OutsideRam = 3,
    /// Beyond the CPU's physical address range.
    OutsidePaRange = 4,
    /// Overlaps the hypervisor's own memory.
    HypMemory = 5,
    /// Overlaps the DTB.
    CollidesWithDtb = 6,
    /// Overlaps reserved memory from the DT.
    CollidesWithReserved = 7,
    /// Nothing is mapped at that address.
    NoMapping = 8,
    /// No such VM.
    NoSuchVm = 9,
    /// Address beyond the VM's IPA space.
    OutOfRange = 10,
    /// A device region that overlaps RAM.
    OverlapsRam = 11,
}

impl Reason {
    pub const ALL: [Reason; 12] = [
        Reason::None,
        Reason::NeedsFwb,
        Reason::NoDic,
        Reason::OutsideRam,
        Reason::OutsidePaRange,
        Reason::HypMemory,
        Reason::CollidesWithDtb,
        Reason::CollidesWithReserved,
        Reason::NoMapping,
        Reason::NoSuchVm,
        Reason::OutOfRange,
        Reason::OverlapsRam,
    ];

    /// The stable name used in logs and docs/ABI.md.
    pub const fn name(self) -> &'static str {
        match self {
            Reason::None => "NONE",
            Reason::NeedsFwb => "NEEDS_FWB",
            Reason::NoDic => "NO_DIC",
            Reason::OutsideRam => "OUTSIDE_RAM",
            Reason::OutsidePaRange => "OUTSIDE_PA_RANGE",
            Reason::HypMemory => "HYP_MEMORY",
            Reason::CollidesWithDtb => "COLLIDES_WITH_DTB",
            Reason::CollidesWithReserved => "COLLIDES_WITH_RESERVED",
            Reason::NoMapping => "NO_MAPPING",
            Reason::NoSuchVm => "NO_SUCH_VM",
            Reason::OutOfRange => "OUT_OF_RANGE",
            Reason::OverlapsRam => "OVERLAPS_RAM",
        }
    }

    pub const fn from_u64(v: u64) -> Option<Reason> {
        let mut i = 0;
        while i < Reason::ALL.len() {
            if Reason::ALL[i] as u64 == v {
                return Some(Reason::ALL[i]);
            }
            i += 1;
        }
        None
    }
}

impl core::fmt::Display for Reason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn function_ids_are_smc64_fast_vendor_hypervisor_calls() {
        for f in Function::ALL {
            let id = f as u32;
            assert_eq!(id >> 31, 1, "fast call");
            assert_eq!((id >> 30) & 1, 1, "SMC64");
            assert_eq!((id >> 24) & 0x3f, 6, "owner: vendor hypervisor");
            assert_eq!(Function::from_id(id), Some(f));
        }
        assert_eq!(Function::from_id(FN_BASE), None);
    }

    #[test]
    fn reason_codes_round_trip_and_names_are_unique() {
        let mut names = std::vec::Vec::new();
        for r in Reason::ALL {
            assert_eq!(Reason::from_u64(r as u64), Some(r));
            names.push(r.name());
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Reason::ALL.len());
        assert_eq!(Reason::from_u64(9999), None);
    }

    #[test]
    fn status_codes_are_smccc_negative_numbers() {
        assert_eq!(Status::Denied.as_u64(), u64::MAX - 2);
        assert_eq!(Status::from_u64(u64::MAX), Some(Status::NotSupported));
        assert_eq!(Status::from_u64(5), None);
    }
}
