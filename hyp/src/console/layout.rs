//! Decode a UART description once into a checked register layout; the drivers trust it.

use super::{fifo, geni, scif, uartdm, ConsoleError};
use crate::addr::PhysAddr;
use crate::dt::UartKind;

/// Bytes the PL011 register block type of `arm-pl011-uart` spans (ID registers end at 0x1000).
const PL011_FRAME: u64 = 0x1000;
/// Bytes of a PL011 the driver actually touches: DR (0x00) through CR (0x30..0x34).
/// Some DTs (bcm2835: 0x200) give less than the full frame, so that is not required.
const PL011_USED: u64 = 0x34;
/// A 16550 has 8 registers (offsets 0..=7 before the stride is applied).
const NS16550_REGS: u64 = 8;

/// How wide each register access is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IoWidth {
    Byte,
    Word,
}

/// A UART description that passed every check: drivers may build pointers from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Layout {
    pub kind: UartKind,
    /// Base as a CPU address (identity-mapped or MMU off: PA == VA).
    pub base: usize,
    /// Register stride is `1 << shift` bytes.
    pub shift: u8,
    pub width: IoWidth,
}

impl Layout {
    /// Refuses widths other than 1/4 bytes, shifts above 3, base 0, a misaligned base,
    /// 32-bit registers closer than 4 bytes, and frames that wrap the address space.
    pub fn check(
        kind: UartKind,
        base: PhysAddr,
        reg_shift: u8,
        reg_io_width: u8,
    ) -> Result<Layout, ConsoleError> {
        let width = match reg_io_width {
            1 => IoWidth::Byte,
            4 => IoWidth::Word,
            w => return Err(ConsoleError::BadRegIoWidth(w)),
        };
        if reg_shift > 3 {
            return Err(ConsoleError::BadRegShift(reg_shift));
        }
        if base.as_u64() == 0 {
            return Err(ConsoleError::ZeroBase);
        }
        let layout = Layout {
            kind,
            base: usize::try_from(base.as_u64()).map_err(|_| ConsoleError::OutOfRange)?,
            shift: reg_shift,
            width,
        };
        if kind == UartKind::Ns16550 && layout.access_bytes() > layout.stride() {
            return Err(ConsoleError::WidthExceedsStride);
        }
        if !base.is_aligned(layout.access_bytes()) {
            return Err(ConsoleError::Misaligned);
        }
        let frame = match kind {
            UartKind::Pl011 => PL011_FRAME,
            _ => layout.used_bytes(),
        };
        // The last byte of the frame must exist, also as a `usize` for pointer arithmetic.
        match base.checked_add(frame - 1) {
            Some(last) if usize::try_from(last.as_u64()).is_ok() => Ok(layout),
            _ => Err(ConsoleError::OutOfRange),
        }
    }

    /// Refuses a DT `reg` size that does not cover the registers the driver touches.
    pub fn check_size(&self, size: u64) -> Result<(), ConsoleError> {
        if size < self.used_bytes() {
            return Err(ConsoleError::RegsTooSmall);
        }
        Ok(())
    }

    /// Bytes between consecutive registers.
    pub fn stride(&self) -> u64 {
        1 << self.shift
    }

    /// Bytes per register access. Only a 16550 follows the DT's `reg-io-width`: every
    /// other family's registers are 32-bit whatever the DT says.
    pub fn access_bytes(&self) -> u64 {
        match (self.kind, self.width) {
            (UartKind::Ns16550, IoWidth::Byte) => 1,
            _ => 4,
        }
    }

    /// Bytes from `base` up to the end of the last register the driver touches.
    fn used_bytes(&self) -> u64 {
        match self.kind {
            UartKind::Pl011 => PL011_USED,
            UartKind::Ns16550 => (NS16550_REGS - 1) * self.stride() + self.access_bytes(),
            UartKind::QcomGeni => geni::USED,
            UartKind::QcomUartDm => uartdm::USED,
            UartKind::RenesasScif => scif::USED,
            kind => match fifo::regs_of(kind) {
                Some(regs) => regs.used_bytes(),
                // Unreachable: every other kind is a FIFO-style one. Claim the most any
                // family uses so a wrong table entry errs towards refusing.
                None => geni::USED,
            },
        }
    }
}
