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
/// Longest `compatible` string kept to name an unsupported console UART.
pub const MAX_COMPATIBLE: usize = 40;
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
    /// The UART `/chosen/stdout-path` names (after alias resolution) if Stile drives it,
    /// else the one `earlycon=<name>,<address>` in `bootargs` names.
    pub console: Option<UartInfo>,
    pub console_source: ConsoleSource,
    /// Why `console` is `None` (stdout-path's problem when earlycon did not help either).
    pub no_console: Option<NoConsole>,
    /// First `compatible` string of the node stdout-path names, when Stile has no driver
    /// for it (for the log line; cut to fit).
    pub unsupported_uart: heapless::String<MAX_COMPATIBLE>,
    pub gic: Option<Gic>,
    /// Where `gic`'s node is, for the host DTB's edit of its `reg`.
    pub gic_node: Option<GicNode>,
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

/// The UART families Stile can print on, each named by the `compatible` strings that
/// select it (dt/uart.rs) and driven by console/.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UartKind {
    /// "arm,pl011": Stile sets UARTCR.UARTEN/TXE if firmware left them off.
    Pl011,
    /// "arm,sbsa-uart": the PL011 subset of the SBSA spec (DR, FR; no UARTCR to write).
    SbsaUart,
    /// The 8250/16550 family: "ns16550a", "snps,dw-apb-uart", TI, Tegra, Rockchip, the
    /// bcm2835 aux mini UART... with their `reg-shift` / `reg-io-width`.
    Ns16550,
    /// "amlogic,meson-*-uart".
    Meson,
    /// "fsl,imx*-uart" (the i.MX UART, not the LPUART).
    Imx,
    /// "cdns,uart-r1p12" / "xlnx,xuartps" (ZynqMP).
    Cadence,
    /// "marvell,armada-3700-uart" (the standard UART of the Armada 37xx).
    Armada3700,
    /// "qcom,geni-debug-uart" / "qcom,geni-uart": a Qualcomm GENI serial engine in UART mode.
    QcomGeni,
    /// "qcom,msm-uartdm-v1.4": the Qualcomm UART DM (the one revision whose map we know).
    QcomUartDm,
    /// "fsl,imx7ulp-lpuart" and later: the 32-bit LPUART with its registers at +0x10.
    Lpuart32,
    /// "renesas,rcar-gen3-scif", "renesas,rcar-gen2-scif", "renesas,scif": the R-Car SCIF.
    RenesasScif,
}

impl UartKind {
    /// Short driver name for log lines.
    pub const fn name(self) -> &'static str {
        match self {
            UartKind::Pl011 => "pl011",
            UartKind::SbsaUart => "sbsa-uart",
            UartKind::Ns16550 => "ns16550",
            UartKind::Meson => "meson",
            UartKind::Imx => "imx",
            UartKind::Cadence => "cadence",
            UartKind::Armada3700 => "armada-3700",
            UartKind::QcomGeni => "qcom-geni",
            UartKind::QcomUartDm => "qcom-uartdm",
            UartKind::Lpuart32 => "lpuart32",
            UartKind::RenesasScif => "scif",
        }
    }
}

/// Where the console came from, or why there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConsoleSource {
    /// `/chosen/stdout-path` named a UART Stile drives.
    StdoutPath,
    /// `earlycon=` on the command line (`/chosen/bootargs`), as Linux reads it.
    Earlycon,
    /// Neither: see [`Platform::no_console`].
    #[default]
    None,
}

/// Why the DT gave no usable console. `reason()` gives the words of the boot log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoConsole {
    /// No `/chosen/stdout-path` (nor `linux,stdout-path`), and no usable `earlycon=`.
    NoStdoutPath,
    /// stdout-path names an alias or node that does not exist.
    PathNotFound,
    /// The node it names has `status` other than "okay".
    Disabled,
    /// The node's `compatible` is no UART family Stile drives.
    NoDriver,
    /// The node has no `reg`, or one that does not translate to a CPU address.
    NoAddress,
}

impl NoConsole {
    pub const fn reason(self) -> &'static str {
        match self {
            NoConsole::NoStdoutPath => "the DT has no /chosen/stdout-path and no earlycon=",
            NoConsole::PathNotFound => "stdout-path names no node",
            NoConsole::Disabled => "stdout-path names a disabled node",
            NoConsole::NoDriver => "stdout-path names a UART Stile has no driver for",
            NoConsole::NoAddress => "stdout-path names a node without a CPU address",
        }
    }
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

/// The GIC's node: its place in blob order (the root is 0, every node counts once, as
/// FDT_BEGIN_NODE tokens come) and the bytes one entry of its `reg` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GicNode {
    pub ordinal: u32,
    pub reg_entry: u32,
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

    /// GICv2's virtualization frames (GICH, GICV): EL2's and its guests', never the host's.
    pub fn gic_virt_frames(&self) -> impl Iterator<Item = PhysRange> + '_ {
        let frames = match &self.gic {
            Some(Gic::V2 { gich, gicv, .. }) => [*gich, *gicv],
            _ => [None, None],
        };
        frames.into_iter().flatten()
    }

    /// The host DTB's edit that keeps [`Platform::gic_virt_frames`] out of it: the GIC
    /// node's `reg` cut to its first two entries (GICD, GICC), as (node ordinal, bytes).
    pub fn gic_reg_trim(&self) -> Option<(u32, usize)> {
        let node = self.gic_node?;
        self.gic_virt_frames().next()?;
        Some((node.ordinal, 2 * node.reg_entry as usize))
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
mod earlycon;
mod gic;
mod header;
mod host_dtb;
mod memory;
mod memreserve;
mod node;
mod parse;
mod psci;
pub mod spin_table;
mod stdout_path;
mod structure;
mod timer;
mod translate;
mod uart;
mod walk;

#[cfg(test)]
pub(crate) mod tests;
