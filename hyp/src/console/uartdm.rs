//! The Qualcomm UART DM, revision 1.4 register map ("qcom,msm-uartdm-v1.4"), used as firmware
//! left it.
//!
//! The DM counts the characters of a transfer: per byte, wait for the transmitter to be
//! empty, clear the TX_READY event, announce one character, wait for room, write it.
//! Offsets and bits: UARTDM_SR (0xa4) TXRDY/TXEMT, UARTDM_CR (0xa8) RESET_TX_READY,
//! UARTDM_NCF_TX (0x40), UARTDM_TF (0x100).

use super::{mmio32, tx, ConsoleError};

pub(super) const NCF_TX: usize = 0x40;
pub(super) const SR: usize = 0xa4;
pub(super) const SR_TX_READY: u32 = 1 << 2;
pub(super) const SR_TX_EMPTY: u32 = 1 << 3;
pub(super) const CR: usize = 0xa8;
/// The "reset TX_READY interrupt" general command (CR bits 10:8 = 3).
pub(super) const CR_RESET_TX_READY: u32 = 3 << 8;
pub(super) const TF: usize = 0x100;
/// Bytes from the base through the first TX FIFO register.
pub(super) const USED: u64 = TF as u64 + 4;

pub struct UartDm {
    base: usize,
}

impl UartDm {
    /// Touches no register.
    ///
    /// # Safety
    ///
    /// `base` must be this UART DM's register frame (at least [`USED`] bytes, 4-byte
    /// aligned), reachable as device memory (or MMU off) and driven by nobody else, for as
    /// long as the result lives.
    pub(super) unsafe fn new(base: usize) -> UartDm {
        UartDm { base }
    }

    fn reg(&self, offset: usize) -> *mut u32 {
        core::ptr::with_exposed_provenance_mut::<u8>(self.base)
            .wrapping_add(offset)
            .cast::<u32>()
    }

    fn status_has(&self, bit: u32) -> bool {
        // SAFETY: `new`'s contract gives us SR, aligned and 32-bit.
        let status = unsafe { mmio32::read(self.reg(SR)) };
        status & bit != 0
    }

    pub(super) fn put(&mut self, byte: u8) -> Result<(), ConsoleError> {
        if !tx::wait_until(|| self.status_has(SR_TX_EMPTY)) {
            return Err(ConsoleError::TxStuck);
        }
        // SAFETY: `new`'s contract gives us CR and NCF_TX.
        unsafe {
            mmio32::write(self.reg(CR), CR_RESET_TX_READY);
            mmio32::write(self.reg(NCF_TX), 1);
        }
        if !tx::wait_until(|| self.status_has(SR_TX_READY)) {
            return Err(ConsoleError::TxStuck);
        }
        // SAFETY: `new`'s contract gives us TF.
        unsafe { mmio32::write(self.reg(TF), u32::from(byte)) };
        Ok(())
    }
}

// SAFETY: the registers belong to this value alone (`new`'s contract) and are touched only
// through `&mut self`.
unsafe impl Send for UartDm {}
