//! The Renesas SCIF (R-Car Gen2/Gen3, RZ/G2), used as firmware left it. Registers as the
//! R-Car manuals give them: SCFTDR (0x0c, 8-bit transmit FIFO), SCFSR (0x10, 16-bit status)
//! with TDFE (bit 5, room in the FIFO) and TEND (bit 6). Status flags clear by writing 0 to a
//! bit read as 1, so after each byte TDFE and TEND are cleared and every other bit written
//! back as read (a 1 written changes nothing).

use super::{mmio16, tx, ConsoleError};

pub(super) const SCFTDR: usize = 0x0c;
pub(super) const SCFSR: usize = 0x10;
pub(super) const TDFE: u16 = 1 << 5;
pub(super) const TEND: u16 = 1 << 6;
/// Bytes from the base through SCFSR.
pub(super) const USED: u64 = SCFSR as u64 + 2;

pub struct Scif {
    base: usize,
}

impl Scif {
    /// Touches no register.
    ///
    /// # Safety
    ///
    /// `base` must be this SCIF's register frame (at least [`USED`] bytes, 4-byte aligned),
    /// reachable as device memory (or MMU off) and driven by nobody else, for as long as the
    /// result lives.
    pub(super) unsafe fn new(base: usize) -> Scif {
        Scif { base }
    }

    fn at(&self, offset: usize) -> *mut u8 {
        core::ptr::with_exposed_provenance_mut::<u8>(self.base).wrapping_add(offset)
    }

    fn status(&self) -> u16 {
        // SAFETY: `new`'s contract gives us SCFSR, 2-byte aligned (base 4-aligned + 0x10).
        unsafe { mmio16::read16(self.at(SCFSR).cast::<u16>()) }
    }

    pub(super) fn put(&mut self, byte: u8) -> Result<(), ConsoleError> {
        if !tx::wait_until(|| self.status() & TDFE != 0) {
            return Err(ConsoleError::TxStuck);
        }
        let status = self.status();
        // SAFETY: `new`'s contract gives us SCFTDR and SCFSR.
        unsafe {
            mmio16::write8(self.at(SCFTDR), byte);
            mmio16::write16(self.at(SCFSR).cast::<u16>(), status & !(TDFE | TEND));
        }
        Ok(())
    }
}

// SAFETY: the registers belong to this value alone (`new`'s contract) and are touched only
// through `&mut self`.
unsafe impl Send for Scif {}
