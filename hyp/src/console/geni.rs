//! A Qualcomm GENI serial engine in UART mode (the debug UART of most Snapdragon boards
//! since the 845), used as firmware left it: FIFO mode, line already set up.
//!
//! Each byte is its own transfer: wait until no command is active, say the transfer is one
//! byte long, start it, and put the byte in the TX FIFO. Register offsets and the opcode
//! are the GENI SE register map's (Linux: SE_GENI_STATUS, SE_UART_TX_TRANS_LEN,
//! SE_GENI_M_CMD0 with UART_START_TX, SE_GENI_TX_FIFOn).

use super::{mmio32, tx, ConsoleError};

pub(super) const STATUS: usize = 0x40;
/// SE_GENI_STATUS.M_GENI_CMD_ACTIVE: the main sequencer is still running a command.
pub(super) const CMD_ACTIVE: u32 = 1 << 0;
pub(super) const TX_TRANS_LEN: usize = 0x270;
pub(super) const M_CMD0: usize = 0x600;
/// UART_START_TX (1) in the opcode field (bits 31:27).
pub(super) const START_TX: u32 = 1 << 27;
pub(super) const TX_FIFO: usize = 0x700;
/// Bytes from the base through the TX FIFO register.
pub(super) const USED: u64 = TX_FIFO as u64 + 4;

pub struct Geni {
    base: usize,
}

impl Geni {
    /// Touches no register.
    ///
    /// # Safety
    ///
    /// `base` must be this serial engine's register frame (at least [`USED`] bytes, 4-byte
    /// aligned), reachable as device memory (or MMU off) and driven by nobody else, for as
    /// long as the result lives.
    pub(super) unsafe fn new(base: usize) -> Geni {
        Geni { base }
    }

    fn reg(&self, offset: usize) -> *mut u32 {
        core::ptr::with_exposed_provenance_mut::<u8>(self.base)
            .wrapping_add(offset)
            .cast::<u32>()
    }

    fn is_idle(&self) -> bool {
        // SAFETY: `new`'s contract gives us the frame's registers, STATUS among them.
        let status = unsafe { mmio32::read(self.reg(STATUS)) };
        status & CMD_ACTIVE == 0
    }

    pub(super) fn put(&mut self, byte: u8) -> Result<(), ConsoleError> {
        if !tx::wait_until(|| self.is_idle()) {
            return Err(ConsoleError::TxStuck);
        }
        // SAFETY: `new`'s contract gives us the frame's registers.
        unsafe {
            mmio32::write(self.reg(TX_TRANS_LEN), 1);
            mmio32::write(self.reg(M_CMD0), START_TX);
            mmio32::write(self.reg(TX_FIFO), u32::from(byte));
        }
        Ok(())
    }
}

// SAFETY: the registers belong to this value alone (`new`'s contract) and are touched only
// through `&mut self`.
unsafe impl Send for Geni {}
