//! PL011 transmit on top of arm-pl011-uart 0.5, without its `enable()`.
//!
//! `enable()` rewrites IBRD/FBRD (baud, from a UARTCLK we may not know) and LCR_H before
//! setting CR, and is the crate's only way to write CR. So we leave line settings alone and
//! set CR.UARTEN/TXE ourselves if they are off (QEMU resets with UARTEN clear). Its
//! `fmt::Write` spins forever on TXFF, so we poll TXFF ourselves, bounded.

use super::layout::Layout;
use super::{mmio32, tx, ConsoleError};
use arm_pl011_uart::{PL011Registers, Uart, UniqueMmioPointer};
use core::ptr::{self, NonNull};

/// UARTCR and the bits of it we need (PL011 TRM, 3.3.8).
const UARTCR: usize = 0x30;
const CR_UARTEN: u32 = 1 << 0;
const CR_TXE: u32 = 1 << 8;

/// A PL011 that firmware has already set up (baud rate, word length).
pub struct Pl011(Uart<'static>);

impl Pl011 {
    /// Makes sure the UART and its transmitter are enabled; touches nothing else.
    ///
    /// # Safety
    ///
    /// `layout.base` must be this PL011's 4 KiB register frame, reachable as device memory
    /// (or MMU off) and driven by nobody else, for as long as the result lives.
    pub(super) unsafe fn new(layout: Layout) -> Result<Pl011, ConsoleError> {
        let base = ptr::with_exposed_provenance_mut::<u8>(layout.base);
        let regs = NonNull::new(base.cast::<PL011Registers>()).ok_or(ConsoleError::ZeroBase)?;
        // SAFETY: UARTCR is an aligned 32-bit register in the frame the caller gave us.
        unsafe { enable_tx(base.wrapping_add(UARTCR).cast::<u32>()) };
        // SAFETY: `regs` is the caller's PL011 frame, 4-byte aligned (checked by `layout`),
        // and this pointer is its only user from here on (the UARTCR access is finished).
        Ok(Pl011(Uart::new(unsafe { UniqueMmioPointer::new(regs) })))
    }

    /// Sends one byte once FR.TXFF says the TX FIFO has room.
    pub(super) fn put(&mut self, byte: u8) -> Result<(), ConsoleError> {
        if !tx::wait_until(|| !self.0.is_tx_fifo_full()) {
            return Err(ConsoleError::TxStuck);
        }
        self.0.write_word(byte);
        Ok(())
    }
}

/// Sets UARTEN and TXE in UARTCR if either is clear, keeping every other bit.
///
/// # Safety
///
/// `cr` must be this PL011's UARTCR, accessed by nothing else meanwhile.
unsafe fn enable_tx(cr: *mut u32) {
    // SAFETY: the caller gives us UARTCR, aligned and ours.
    let old = unsafe { mmio32::read(cr) };
    if old & (CR_UARTEN | CR_TXE) == CR_UARTEN | CR_TXE {
        return;
    }
    if old & CR_UARTEN != 0 {
        // The TRM wants the UART disabled before CR is reprogrammed.
        // SAFETY: as above.
        unsafe { mmio32::write(cr, old & !CR_UARTEN) };
    }
    // SAFETY: as above.
    unsafe { mmio32::write(cr, old | CR_UARTEN | CR_TXE) };
}
