//! Consoles: the UART families board DTs name (dt/uart.rs lists them), picked from the DT.
//!
//! Runs at EL2, maybe with the MMU off and before any allocator: no heap, no atomics, no
//! locks (callers lock). Nothing here reprograms baud rate or line settings: firmware (or
//! QEMU) already did, and we may not know the UART's clock.

mod error;
mod fifo;
mod geni;
mod layout;
mod mmio16;
mod mmio32;
mod ns16550;
mod pl011;
mod scif;
mod tx;
mod uartdm;
mod word_backend;

#[cfg(test)]
mod tests;

pub use error::ConsoleError;
pub use fifo::FifoUart;
pub use geni::Geni;
pub use ns16550::Ns16550;
pub use pl011::Pl011;
pub use scif::Scif;
pub use tx::TX_POLL_LIMIT;
pub use uartdm::UartDm;

use crate::addr::PhysAddr;
use crate::board::DefaultConsole;
use crate::dt::{UartInfo, UartKind};
use core::fmt;
use layout::Layout;

/// A UART we can print to.
pub enum Console {
    Pl011(Pl011),
    Ns16550(Ns16550),
    /// SBSA, Meson, i.MX, Cadence, Armada 3700, LPUART32: a data and a status register.
    Fifo(FifoUart),
    QcomGeni(Geni),
    QcomUartDm(UartDm),
    RenesasScif(Scif),
}

impl Console {
    /// Checks the parameters and takes over the UART at `base`, without touching baud rate
    /// or line settings. `reg_shift`/`reg_io_width` are the DT's (`reg-shift`, `reg-io-width`
    /// in bytes); a PL011 checks them but ignores them, its registers are always 32-bit.
    ///
    /// # Safety
    ///
    /// `base` must be this UART's MMIO register frame (for a PL011, its 4 KiB frame), either
    /// identity-mapped as device memory or reached with the MMU off, for as long as the
    /// `Console` lives; and nothing else may drive that UART meanwhile.
    pub unsafe fn new(
        kind: UartKind,
        base: PhysAddr,
        reg_shift: u8,
        reg_io_width: u8,
    ) -> Result<Console, ConsoleError> {
        let layout = Layout::check(kind, base, reg_shift, reg_io_width)?;
        // SAFETY: the caller's promise about `base` is the one `with_layout` needs.
        unsafe { Console::with_layout(layout) }
    }

    /// [`Console::new`] for the console the DT's `/chosen/stdout-path` names; also refuses a
    /// `reg` range too small for the registers the driver touches.
    ///
    /// # Safety
    ///
    /// As for [`Console::new`], with `info.regs.base` as `base`.
    pub unsafe fn from_uart_info(info: &UartInfo) -> Result<Console, ConsoleError> {
        let layout = Layout::check(info.kind, info.regs.base, info.reg_shift, info.reg_io_width)?;
        layout.check_size(info.regs.size)?;
        // SAFETY: the caller's promise about `info.regs.base` is the one `with_layout` needs.
        unsafe { Console::with_layout(layout) }
    }

    /// Whether [`Console::from_uart_info`] would take `info`, touching no register: the
    /// same checks, for reports and for the DTB-corpus test.
    pub fn check(info: &UartInfo) -> Result<(), ConsoleError> {
        let layout = Layout::check(info.kind, info.regs.base, info.reg_shift, info.reg_io_width)?;
        layout.check_size(info.regs.size)
    }

    /// [`Console::from_uart_info`] for a board's fallback console (used when the DTB is
    /// unusable).
    ///
    /// # Safety
    ///
    /// As for [`Console::new`], with `default.regs.base` as `base`.
    pub unsafe fn from_default(default: &DefaultConsole) -> Result<Console, ConsoleError> {
        let (kind, base) = (default.kind, default.regs.base);
        let layout = Layout::check(kind, base, default.reg_shift, default.reg_io_width)?;
        layout.check_size(default.regs.size)?;
        // SAFETY: the caller's promise about `default.regs.base` is the one `with_layout` needs.
        unsafe { Console::with_layout(layout) }
    }

    /// # Safety
    ///
    /// `layout.base` must be as [`Console::new`] requires of `base`.
    unsafe fn with_layout(layout: Layout) -> Result<Console, ConsoleError> {
        Ok(match layout.kind {
            // SAFETY: the caller promises the frame is this PL011's and ours alone; `layout`
            // checked its alignment and that it fits the address space.
            UartKind::Pl011 => Console::Pl011(unsafe { Pl011::new(layout) }?),
            // SAFETY: as above, for a 16550 with the stride and width `layout` checked.
            UartKind::Ns16550 => Console::Ns16550(unsafe { Ns16550::new(layout) }?),
            // SAFETY: as above; `layout` checked the frame reaches past TX_FIFO.
            UartKind::QcomGeni => Console::QcomGeni(unsafe { Geni::new(layout.base) }),
            // SAFETY: as above; `layout` checked the frame reaches past TF.
            UartKind::QcomUartDm => Console::QcomUartDm(unsafe { UartDm::new(layout.base) }),
            // SAFETY: as above; `layout` checked the frame reaches past SCFSR.
            UartKind::RenesasScif => Console::RenesasScif(unsafe { Scif::new(layout.base) }),
            kind => {
                let regs = fifo::regs_of(kind).ok_or(ConsoleError::RegsTooSmall)?;
                // SAFETY: as above; `layout` checked 4-byte alignment and that the frame
                // covers both registers of `regs`.
                Console::Fifo(unsafe { FifoUart::new(kind, layout.base, regs) })
            }
        })
    }

    /// Short driver name for log lines.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The family this console drives.
    pub fn kind(&self) -> UartKind {
        match self {
            Console::Pl011(_) => UartKind::Pl011,
            Console::Ns16550(_) => UartKind::Ns16550,
            Console::Fifo(uart) => uart.kind(),
            Console::QcomGeni(_) => UartKind::QcomGeni,
            Console::QcomUartDm(_) => UartKind::QcomUartDm,
            Console::RenesasScif(_) => UartKind::RenesasScif,
        }
    }

    /// Sends `bytes`, turning each `\n` into `\r\n`. Waits only while the UART cannot take a
    /// byte, and at most [`TX_POLL_LIMIT`] polls per byte: then it drops the rest of `bytes`
    /// and returns [`ConsoleError::TxStuck`], so a dead UART costs one timeout per call
    /// rather than one per byte.
    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), ConsoleError> {
        match self {
            Console::Pl011(uart) => tx::write_crlf(bytes, |b| uart.put(b)),
            Console::Ns16550(uart) => tx::write_crlf(bytes, |b| uart.put(b)),
            Console::Fifo(uart) => tx::write_crlf(bytes, |b| uart.put(b)),
            Console::QcomGeni(uart) => tx::write_crlf(bytes, |b| uart.put(b)),
            Console::QcomUartDm(uart) => tx::write_crlf(bytes, |b| uart.put(b)),
            Console::RenesasScif(uart) => tx::write_crlf(bytes, |b| uart.put(b)),
        }
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes()).map_err(|_| fmt::Error)
    }
}
