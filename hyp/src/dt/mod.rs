//! Device-tree discovery: one pass over the DTB into a typed, fixed-capacity [`Platform`].
//!
//! Runs before the EL2 MMU is on, so it must not allocate and must not use atomics.
//! Nothing in a DTB may panic it: every problem is a [`DtError`] with a reason.

use crate::addr::PhysRange;
use crate::mm::ranges::RangeSet;
use heapless::Vec;

pub use host_dtb::{build_host_dtb, HostDtbEdits, HostDtbError, HOST_DTB_SLACK};

pub const MAX_RAM_RANGES: usize = 16;
pub const MAX_RESERVED: usize = 32;
/// A DTB with more CPUs is refused (`TooMany`), not capped: Stile must know every CPU.
pub const MAX_CPUS: usize = 64;
pub const MAX_GICR_RANGES: usize = 8;
/// Longest `/chosen/bootargs` kept: Linux's arm64 COMMAND_LINE_SIZE.
pub const MAX_BOOTARGS: usize = 2048;
/// Largest DTB accepted; a header claiming more is treated as lying.
pub const MAX_DTB_SIZE: usize = 2 << 20;

/// Everything Stile needs to know about the machine, read from the DTB.
#[derive(Debug, Clone, Default)]
pub struct Platform {
    /// Every `reg` range of every `/memory` node (device_type = "memory"), in DT order.
    pub ram: Vec<PhysRange, MAX_RAM_RANGES>,
    /// `/memreserve/` entries and `/reserved-memory` children with a `reg`.
    pub reserved: Vec<Reserved, MAX_RESERVED>,
    /// Every device range: available nodes' `reg`s and PCI host bridges' windows, through
    /// `ranges` to CPU addresses, page-rounded and merged (`devices.rs`). Not yet clipped to
    /// the CPU's PA range nor cut around RAM: the host-map check does that.
    pub devices: RangeSet,
    /// `/cpus/cpu@*` nodes with device_type = "cpu".
    pub cpus: Vec<Cpu, MAX_CPUS>,
    /// The UART `/chosen/stdout-path` names (after alias resolution), if any and if supported.
    pub console: Option<UartInfo>,
    pub gic: Option<Gic>,
    pub psci: Option<Psci>,
    pub timer: Option<Timer>,
    /// `/chosen/bootargs` (Stile's own `stile.*` options live here).
    pub bootargs: heapless::String<MAX_BOOTARGS>,
    /// `/chosen/linux,initrd-start..end`: the host payload the loader placed for us.
    pub initrd: Option<PhysRange>,
    /// Header `totalsize` of the DTB this came from.
    pub dtb_size: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    pub range: PhysRange,
    pub source: ReservedSource,
    /// `/reserved-memory` child carried `no-map` (must never be mapped cacheable).
    pub no_map: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservedSource {
    MemReserve,
    ReservedMemoryNode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cpu {
    /// The `reg` value (MPIDR affinity bits).
    pub mpidr: u64,
    pub enable_method: EnableMethod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnableMethod {
    Psci,
    /// spin-table with its `cpu-release-addr`.
    SpinTable {
        release_addr: u64,
    },
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UartKind {
    /// "arm,pl011"
    Pl011,
    /// "ns16550a", "ns16550", "snps,dw-apb-uart" (a 16550 with quirks we don't need yet).
    Ns16550,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UartInfo {
    pub kind: UartKind,
    pub regs: PhysRange,
    /// `reg-shift` (register stride = 1 << shift); 0 when absent.
    pub reg_shift: u8,
    /// `reg-io-width` in bytes (1 or 4); 1 when absent.
    pub reg_io_width: u8,
    pub clock_frequency: Option<u32>,
    /// Baud rate from the `:options` of stdout-path ("115200n8" -> 115200), if given.
    pub baud: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gic {
    V2 {
        gicd: PhysRange,
        gicc: PhysRange,
        gich: Option<PhysRange>,
        gicv: Option<PhysRange>,
    },
    V3 {
        gicd: PhysRange,
        gicr: Vec<PhysRange, MAX_GICR_RANGES>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conduit {
    Smc,
    Hvc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Psci {
    pub conduit: Conduit,
}

/// The architected timer's PPIs (INTID numbers, i.e. PPI number + 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timer {
    pub secure_phys: u32,
    pub nonsecure_phys: u32,
    pub virt: u32,
    pub hyp_phys: u32,
}

/// Why a DTB was refused. `reason()` gives the stable words used in `stile: error:` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtError {
    /// x0 was 0: nothing was handed to us.
    NoDtb,
    /// x0 not 8-byte aligned.
    Misaligned,
    BadMagic,
    /// Buffer shorter than the header or than a block the header points at.
    Truncated,
    /// Header totalsize is larger than the buffer, larger than [`MAX_DTB_SIZE`], or
    /// smaller than the blocks it describes.
    SizeMismatch,
    UnsupportedVersion,
    /// Structure block does not parse (bad token, unterminated name, ...), or a property
    /// Stile reads is wrongly encoded (`reg` not whole entries, a range wrapping the address
    /// space, two CPUs with one MPIDR, timer interrupts that are not PPIs, ...).
    Malformed,
    /// No `/memory` node with a usable `reg`.
    NoMemory,
    /// More entries than a fixed-capacity list holds (e.g. > MAX_RAM_RANGES), or nodes
    /// nested deeper than the walk's 16 levels.
    TooMany,
}

impl DtError {
    pub const fn reason(self) -> &'static str {
        match self {
            DtError::NoDtb => "no DTB: x0 was 0",
            DtError::Misaligned => "DTB address not 8-byte aligned",
            DtError::BadMagic => "bad DTB magic",
            DtError::Truncated => "DTB truncated",
            DtError::SizeMismatch => "DTB header size lies",
            DtError::UnsupportedVersion => "unsupported DTB version",
            DtError::Malformed => "malformed DTB structure",
            DtError::NoMemory => "no /memory node",
            DtError::TooMany => "DTB lists more entries than Stile supports",
        }
    }
}

impl Platform {
    /// Parse a DTB. `dtb` is the whole blob (the caller bounds it with [`dtb_total_size`]).
    pub fn from_dtb(dtb: &[u8]) -> Result<Platform, DtError> {
        parse::parse(dtb)
    }

    /// Total RAM in bytes over all `/memory` ranges (saturating).
    pub fn ram_bytes(&self) -> u64 {
        self.ram
            .iter()
            .fold(0u64, |acc, r| acc.saturating_add(r.size))
    }
}

/// Read `totalsize` from a DTB header given only its first 8 bytes, validating the magic and
/// the [`MAX_DTB_SIZE`] bound, so the caller can build a slice of the right length.
pub fn dtb_total_size(header: &[u8; 8]) -> Result<usize, DtError> {
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if magic != 0xd00d_feed {
        return Err(DtError::BadMagic);
    }
    let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if !(40..=MAX_DTB_SIZE).contains(&size) {
        return Err(DtError::SizeMismatch);
    }
    Ok(size)
}

mod cells;
mod chosen;
mod cpu;
pub(crate) mod devices;
mod gic;
mod header;
mod host_dtb;
mod memory;
mod memreserve;
mod node;
mod parse;
mod psci;
mod stdout_path;
mod structure;
mod timer;
mod translate;
mod uart;
mod walk;

#[cfg(test)]
pub(crate) mod tests;
