//! Stile's hypercall ABI (docs/ABI.md explains every call). Shared by the hypervisor and by
//! hosts (the in-QEMU host payload; a C header for others is checked against this crate).
//!
//! Calls are SMCCC fast calls from the host (HVC), SMC64, owner 6 (vendor-specific hypervisor
//! service): x0 = function ID, x1.. = arguments; x0 back = [`Status`], x1.. = results.
#![no_std]

pub mod caps;
pub mod limits;
pub mod psci;
pub mod run_page;
pub mod slot;
pub mod vcpu;

pub use run_page::{ExitReason, RunPage};

/// Vendor-specific hypervisor service, SMC64 fast calls: `0xC600_0000 | n`.
pub const FN_BASE: u32 = 0xC600_0000;

/// Standard SMCCC queries answered by every vendor hypervisor service (SMC32 IDs).
pub const FN_CALL_UID: u32 = 0x8600_FF01;
pub const FN_REVISION: u32 = 0x8600_FF03;

/// Stile's UID, as the four 32-bit words `FN_CALL_UID` returns in x0..x3 (each word holds
/// four ASCII bytes of "Stile\0Hypervisor", most significant first; read in the SMCCC /
/// Linux byte order the UUID is 6c697453-7948-0065-7672-6570726f7369).
pub const UID: [u32; 4] = [0x5374_696c, 0x6500_4879, 0x7065_7276, 0x6973_6f72];
/// ABI revision: major (incompatible changes), minor (additions).
pub const REVISION: (u32, u32) = (0, 3);

/// Stile's own calls. Arguments and results per call are in docs/ABI.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Function {
    /// TRANSLATE(x1 = vm id (0 = the host), x2 = address): what the VM really gets there.
    /// Success: x1 = PA, x2 = PAR_EL1 ATTR byte of `AT S12E1R` (stage 1 as the VM has it,
    /// combined with stage 2), x3 = the stage-2 leaf descriptor's attribute bits.
    /// DENIED: x1 = [`Reason`] why nothing is mapped there.
    Translate = FN_BASE | 0x01,
    /// GET_CAPS() -> x1 = [`caps`] bits, x2 = for each bit n that is off, the [`Reason`] in
    /// byte n (little-endian byte order of the register).
    GetCaps = FN_BASE | 0x02,
    /// STATS(x1 = vm id) -> x1 = stage-2 faults resolved inside EL2 (lazy maps), x2 = exits
    /// delivered to the host, x3 = aborts injected into the VM.
    Stats = FN_BASE | 0x03,
    /// VM_CREATE(x1 = RAM PA, x2 = RAM size, x3 = flags (0)) -> x1 = vm id. The RAM is
    /// donated: it leaves the host's stage 2 until VM_DESTROY.
    VmCreate = FN_BASE | 0x10,
    /// VM_DESTROY(x1 = vm id): the VM's RAM is scrubbed and given back to the host.
    VmDestroy = FN_BASE | 0x11,
    /// VCPU_CREATE(x1 = vm id, x2 = entry PC (IPA), x3 = run page PA (host RAM), x4 = x0 for
    /// the guest, x5 = [`vcpu`] flags) -> x1 = vcpu id.
    VcpuCreate = FN_BASE | 0x12,
    /// VCPU_RUN(x1 = vm id, x2 = vcpu id) -> x1 = [`ExitReason`]; details in the run page.
    VcpuRun = FN_BASE | 0x13,
    /// MEMSLOT_SET(x1 = vm id, x2 = slot, x3 = IPA, x4 = PA, x5 = size, x6 = [`slot`] word:
    /// kind | perms | flags).
    MemslotSet = FN_BASE | 0x20,
    /// MEMSLOT_CLEAR(x1 = vm id, x2 = slot).
    MemslotClear = FN_BASE | 0x21,
    /// REGION_REVOKE(x1 = base PA of an assignable board region) -> x1 = slots unmapped,
    /// x2 = VMs they belong to. Guests lose it; their slots over it fault SLOT_CHANGED.
    RegionRevoke = FN_BASE | 0x30,
    /// REGION_RESTORE(x1 = base PA of an assignable board region): registrable again.
    RegionRestore = FN_BASE | 0x31,
    /// VGIC_CONFIG(x1 = vm id, x2 = GICD IPA, x3 = GICR IPA, or on a GICv2 machine the GICC
    /// IPA): give the VM a virtual GIC of the machine's version.
    VgicConfig = FN_BASE | 0x40,
    /// IRQ_LINE(x1 = vm id, x2 = SPI INTID, x3 = level (0 or 1)).
    IrqLine = FN_BASE | 0x41,
    /// VCPU_PENDING(x1 = vm id, x2 = vcpu id) -> x1 = 1 if an interrupt is pending for it,
    /// x2 = its INTID (1023: none), x3 = its virtual timer's deadline (u64::MAX: not armed).
    VcpuPending = FN_BASE | 0x42,
}

impl Function {
    pub const ALL: [Function; 14] = [
        Function::Translate,
        Function::GetCaps,
        Function::Stats,
        Function::VmCreate,
        Function::VmDestroy,
        Function::VcpuCreate,
        Function::VcpuRun,
        Function::MemslotSet,
        Function::MemslotClear,
        Function::RegionRevoke,
        Function::RegionRestore,
        Function::VgicConfig,
        Function::IrqLine,
        Function::VcpuPending,
    ];

    /// A `match`, not a search of [`Function::ALL`]: the trap path decodes every hypercall
    /// with it (a test checks the two agree).
    pub const fn from_id(id: u32) -> Option<Function> {
        const TRANSLATE: u32 = Function::Translate as u32;
        const GET_CAPS: u32 = Function::GetCaps as u32;
        const STATS: u32 = Function::Stats as u32;
        const VM_CREATE: u32 = Function::VmCreate as u32;
        const VM_DESTROY: u32 = Function::VmDestroy as u32;
        const VCPU_CREATE: u32 = Function::VcpuCreate as u32;
        const VCPU_RUN: u32 = Function::VcpuRun as u32;
        const MEMSLOT_SET: u32 = Function::MemslotSet as u32;
        const MEMSLOT_CLEAR: u32 = Function::MemslotClear as u32;
        const REGION_REVOKE: u32 = Function::RegionRevoke as u32;
        const REGION_RESTORE: u32 = Function::RegionRestore as u32;
        const VGIC_CONFIG: u32 = Function::VgicConfig as u32;
        const IRQ_LINE: u32 = Function::IrqLine as u32;
        const VCPU_PENDING: u32 = Function::VcpuPending as u32;
        Some(match id {
            TRANSLATE => Function::Translate,
            GET_CAPS => Function::GetCaps,
            STATS => Function::Stats,
            VM_CREATE => Function::VmCreate,
            VM_DESTROY => Function::VmDestroy,
            VCPU_CREATE => Function::VcpuCreate,
            VCPU_RUN => Function::VcpuRun,
            MEMSLOT_SET => Function::MemslotSet,
            MEMSLOT_CLEAR => Function::MemslotClear,
            REGION_REVOKE => Function::RegionRevoke,
            REGION_RESTORE => Function::RegionRestore,
            VGIC_CONFIG => Function::VgicConfig,
            IRQ_LINE => Function::IrqLine,
            VCPU_PENDING => Function::VcpuPending,
            _ => return None,
        })
    }

    /// The name docs/ABI.md and logs use.
    pub const fn name(self) -> &'static str {
        match self {
            Function::Translate => "TRANSLATE",
            Function::GetCaps => "GET_CAPS",
            Function::Stats => "STATS",
            Function::VmCreate => "VM_CREATE",
            Function::VmDestroy => "VM_DESTROY",
            Function::VcpuCreate => "VCPU_CREATE",
            Function::VcpuRun => "VCPU_RUN",
            Function::MemslotSet => "MEMSLOT_SET",
            Function::MemslotClear => "MEMSLOT_CLEAR",
            Function::RegionRevoke => "REGION_REVOKE",
            Function::RegionRestore => "REGION_RESTORE",
            Function::VgicConfig => "VGIC_CONFIG",
            Function::IrqLine => "IRQ_LINE",
            Function::VcpuPending => "VCPU_PENDING",
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

    pub const fn name(self) -> &'static str {
        match self {
            Status::Success => "SUCCESS",
            Status::NotSupported => "NOT_SUPPORTED",
            Status::InvalidParameters => "INVALID_PARAMETERS",
            Status::Denied => "DENIED",
        }
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
    /// Cacheable device memory was asked for without the explicit opt-in flag.
    NotOptedIn = 12,
    /// The faulting IPA is in no memslot.
    NoSlot = 13,
    /// The access is not allowed by the slot's permissions.
    Permission = 14,
    /// The slot's combination (kind, backing, capabilities) is no longer allowed.
    SlotChanged = 15,
    /// Not page aligned (4 KiB), or a size of 0.
    Misaligned = 16,
    /// Overlaps another memslot.
    Overlap = 17,
    /// The backing PA is neither the VM's donated RAM nor an assignable board region.
    NotOwned = 18,
    /// The kind is not allowed for that backing (e.g. device memory over RAM).
    BadKind = 19,
    /// A fixed limit (VMs, vCPUs, slots) is reached.
    Limit = 20,
    /// The memory is in use (donated already, a run page, the VM's running vCPU...).
    Busy = 21,
    /// Out of memory for page tables or bookkeeping.
    NoMemory = 22,
    /// No such vCPU, or it is not runnable (it powered off).
    NoSuchVcpu = 23,
    /// An instruction fetch from memory that can never be executable (device, Normal-NC).
    ExecNotAllowed = 24,
    /// A bad value in an argument (unknown kind, flag bits that mean nothing).
    BadArgument = 25,
    /// The board region is revoked (REGION_REVOKE) until REGION_RESTORE.
    Revoked = 26,
    /// The VM has no virtual GIC, or this machine cannot give it one (no GICv3).
    NoVgic = 27,
}

impl Reason {
    pub const ALL: [Reason; 28] = [
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
        Reason::NotOptedIn,
        Reason::NoSlot,
        Reason::Permission,
        Reason::SlotChanged,
        Reason::Misaligned,
        Reason::Overlap,
        Reason::NotOwned,
        Reason::BadKind,
        Reason::Limit,
        Reason::Busy,
        Reason::NoMemory,
        Reason::NoSuchVcpu,
        Reason::ExecNotAllowed,
        Reason::BadArgument,
        Reason::Revoked,
        Reason::NoVgic,
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
            Reason::NotOptedIn => "NOT_OPTED_IN",
            Reason::NoSlot => "NO_SLOT",
            Reason::Permission => "PERMISSION",
            Reason::SlotChanged => "SLOT_CHANGED",
            Reason::Misaligned => "MISALIGNED",
            Reason::Overlap => "OVERLAP",
            Reason::NotOwned => "NOT_OWNED",
            Reason::BadKind => "BAD_KIND",
            Reason::Limit => "LIMIT",
            Reason::Busy => "BUSY",
            Reason::NoMemory => "NO_MEMORY",
            Reason::NoSuchVcpu => "NO_SUCH_VCPU",
            Reason::ExecNotAllowed => "EXEC_NOT_ALLOWED",
            Reason::BadArgument => "BAD_ARGUMENT",
            Reason::Revoked => "REVOKED",
            Reason::NoVgic => "NO_VGIC",
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
