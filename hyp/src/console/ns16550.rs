//! 16550 transmit on top of uart_16550 0.9, without its `init()`.
//!
//! `init()` reprograms the divisor (from a clock we may not know), LCR, FCR (flushing the
//! FIFOs) and MCR, then spins unbounded for TEMT; firmware already set the line up, so we
//! never call it. Without `init()` the crate assumes its default config: CTS is not
//! checked, and `send_bytes` would burst 16 bytes into a FIFO that firmware may have
//! left disabled, so we send one byte per THRE instead (`try_send_byte`).

use super::layout::{IoWidth, Layout};
use super::tx;
use super::word_backend::WordBackend;
use super::ConsoleError;
use core::ptr::{self, NonNull};
use uart_16550::backend::{Backend, MmioBackend};
use uart_16550::Uart16550;

/// A 16550 whose registers are `1 << reg_shift` bytes apart and accessed 8 or 32 bits wide.
pub struct Ns16550(Regs);

enum Regs {
    /// reg-io-width 1: the crate's own backend (`ldrb`/`strb`).
    Byte(Uart16550<MmioBackend>),
    /// reg-io-width 4: ours, 32-bit `ldr`/`str`.
    Word(Uart16550<WordBackend>),
}

impl Ns16550 {
    /// Wraps the registers without writing any of them.
    ///
    /// # Safety
    ///
    /// `layout` must describe this UART's registers, reachable at `layout.base` as device
    /// memory (or MMU off) and driven by nobody else, for as long as the result lives.
    pub(super) unsafe fn new(layout: Layout) -> Result<Ns16550, ConsoleError> {
        let base = ptr::with_exposed_provenance_mut::<u8>(layout.base);
        match layout.width {
            IoWidth::Byte => {
                let base = NonNull::new(base).ok_or(ConsoleError::ZeroBase)?;
                // SAFETY: the caller gives us the 8 registers at `base` with this stride;
                // `new_mmio` only checks stride and overflow, touching no register.
                let uart = unsafe { Uart16550::new_mmio(base, 1 << layout.shift) }
                    .map_err(|_| ConsoleError::OutOfRange)?;
                Ok(Ns16550(Regs::Byte(uart)))
            }
            IoWidth::Word => {
                // SAFETY: `layout` checked 4-byte alignment and stride >= 4, and the caller
                // gives us the 8 registers at `base` alone.
                let backend = unsafe { WordBackend::new(base, layout.shift) };
                // SAFETY: `backend` reaches all 8 registers for its whole life (as above).
                let uart = unsafe { Uart16550::new_with_backend(backend) };
                Ok(Ns16550(Regs::Word(uart)))
            }
        }
    }

    /// Sends one byte once LSR.THRE says the transmitter can take it.
    pub(super) fn put(&mut self, byte: u8) -> Result<(), ConsoleError> {
        match &mut self.0 {
            Regs::Byte(uart) => put(uart, byte),
            Regs::Word(uart) => put(uart, byte),
        }
    }
}

fn put<B: Backend>(uart: &mut Uart16550<B>, byte: u8) -> Result<(), ConsoleError> {
    // Each try reads LSR once and writes THR only if THRE is set.
    if tx::wait_until(|| uart.try_send_byte(byte).is_ok()) {
        Ok(())
    } else {
        Err(ConsoleError::TxStuck)
    }
}
