//! UARTs whose transmit side is one 32-bit data register and one status bit: wait while
//! the status says the TX FIFO cannot take a byte, then store the byte. Baud rate, framing
//! and enables are firmware's; nothing else is written.
//!
//! Offsets and bits are the ones each UART's reference manual gives for its registers
//! (the same Linux's drivers use, named in brackets).

use super::{mmio32, tx, ConsoleError};
use crate::dt::UartKind;

/// When the status register says a byte may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ready {
    /// The bit (a "TX FIFO full" flag) is clear.
    Clear(u32),
    /// The bit (a "TX data register empty" flag) is set.
    Set(u32),
}

/// A control register whose transmitter-enable bits `new` sets if firmware left them off
/// (as a PL011's UARTCR.TXE): `set` bits on, `clear` bits off, every other bit kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TxEnable {
    pub control: usize,
    pub set: u32,
    pub clear: u32,
}

/// Where one family keeps its transmit data and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FifoRegs {
    pub data: usize,
    pub status: usize,
    pub ready: Ready,
    pub enable: Option<TxEnable>,
}

impl FifoRegs {
    /// Bytes from the base up to the end of the last register used.
    pub const fn used_bytes(&self) -> u64 {
        let mut last = if self.data > self.status {
            self.data
        } else {
            self.status
        };
        if let Some(e) = self.enable {
            if e.control > last {
                last = e.control;
            }
        }
        last as u64 + 4
    }
}

/// The register map of a FIFO-style family; `None` for the others.
pub(super) const fn regs_of(kind: UartKind) -> Option<FifoRegs> {
    let mut enable = None;
    let (data, status, ready) = match kind {
        // SBSA generic UART: UARTDR, UARTFR.TXFF (bit 5).
        UartKind::SbsaUart => (0x00, 0x18, Ready::Clear(1 << 5)),
        // Amlogic: AML_UART_WFIFO, AML_UART_STATUS.TX_FULL (bit 21).
        UartKind::Meson => (0x00, 0x0c, Ready::Clear(1 << 21)),
        // i.MX UART: URTX0 (0x40), UTS.TXFULL (0xb4, bit 4).
        UartKind::Imx => (0x40, 0xb4, Ready::Clear(1 << 4)),
        // Cadence UART: TX_RX_FIFO (0x30), Channel_sts.TXFULL (0x2c, bit 4). Its control
        // register resets with the transmitter disabled (CR.TX_DIS, bit 5; TX_EN is bit 4),
        // which a loader that never printed (QEMU's zcu102 -kernel) leaves so; the reset
        // bits (RXRST 0, TXRST 1) are written as 0.
        UartKind::Cadence => {
            enable = Some(TxEnable {
                control: 0x00,
                set: 1 << 4,
                clear: (1 << 5) | 0b11,
            });
            (0x30, 0x2c, Ready::Clear(1 << 4))
        }
        // Armada 37xx standard UART: UART_TSH (0x04), UART_STAT.TXFIFO_FULL (0x0c, bit 11).
        UartKind::Armada3700 => (0x04, 0x0c, Ready::Clear(1 << 11)),
        // LPUART32 as on i.MX7ULP/8 (registers at +0x10): DATA (0x1c), STAT.TDRE (0x14, bit 23).
        UartKind::Lpuart32 => (0x1c, 0x14, Ready::Set(1 << 23)),
        UartKind::Pl011
        | UartKind::Ns16550
        | UartKind::QcomGeni
        | UartKind::QcomUartDm
        | UartKind::RenesasScif => return None,
    };
    Some(FifoRegs {
        data,
        status,
        ready,
        enable,
    })
}

/// A FIFO-style UART that firmware has set up.
pub struct FifoUart {
    kind: UartKind,
    base: usize,
    regs: FifoRegs,
}

impl FifoUart {
    /// Touches no register, except the transmitter enable of a family that has one
    /// (`regs.enable`), and that only if it is off.
    ///
    /// # Safety
    ///
    /// `base + regs.data`, `base + regs.status` (and the control register of
    /// `regs.enable`) must be this UART's 4-byte aligned 32-bit registers, reachable as
    /// device memory (or MMU off) and driven by nobody else, for as long as the result lives.
    pub(super) unsafe fn new(kind: UartKind, base: usize, regs: FifoRegs) -> FifoUart {
        let uart = FifoUart { kind, base, regs };
        if let Some(e) = regs.enable {
            let control = uart.reg(e.control);
            // SAFETY: the caller gives us this control register, aligned and 32-bit.
            let old = unsafe { mmio32::read(control) };
            let new = (old & !e.clear) | e.set;
            if old & (e.set | e.clear) != e.set {
                // SAFETY: as above.
                unsafe { mmio32::write(control, new) };
            }
        }
        uart
    }

    pub(super) fn kind(&self) -> UartKind {
        self.kind
    }

    fn reg(&self, offset: usize) -> *mut u32 {
        core::ptr::with_exposed_provenance_mut::<u8>(self.base)
            .wrapping_add(offset)
            .cast::<u32>()
    }

    fn can_take_a_byte(&self) -> bool {
        // SAFETY: `new`'s contract: the status register is ours, aligned and 32-bit.
        let status = unsafe { mmio32::read(self.reg(self.regs.status)) };
        match self.regs.ready {
            Ready::Clear(bit) => status & bit == 0,
            Ready::Set(bit) => status & bit != 0,
        }
    }

    pub(super) fn put(&mut self, byte: u8) -> Result<(), ConsoleError> {
        if !tx::wait_until(|| self.can_take_a_byte()) {
            return Err(ConsoleError::TxStuck);
        }
        // SAFETY: `new`'s contract: the data register is ours, aligned and 32-bit.
        unsafe { mmio32::write(self.reg(self.regs.data), u32::from(byte)) };
        Ok(())
    }
}

// SAFETY: the UART's registers belong to this value alone (`new`'s contract) and every
// access needs `&mut self` or happens inside `put`, so another CPU can never race it.
unsafe impl Send for FifoUart {}
