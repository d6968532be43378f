//! A uart_16550 backend for 16550s with 32-bit registers (reg-io-width 4), such as the
//! Synopsys DesignWare APB UART: uart_16550 0.9's own `MmioBackend` only does 8-bit
//! accesses, which such UARTs may ignore or fault on.

use super::mmio32;
use uart_16550::backend::Backend;

/// Register `n` is the low byte of the 32-bit word at `base + (n << shift)`.
pub(super) struct WordBackend {
    base: *mut u8,
    shift: u8,
}

impl WordBackend {
    /// # Safety
    ///
    /// `base + (n << shift)` for n in 0..8 must be 4-byte aligned 32-bit 16550 registers that
    /// only this backend accesses, for as long as it lives; `shift` must be at least 2.
    pub(super) unsafe fn new(base: *mut u8, shift: u8) -> WordBackend {
        WordBackend { base, shift }
    }

    fn register(&self, register_offset: u8) -> *mut u32 {
        // uart_16550 only passes offsets 0..8 (Backend's contract); never panic at EL2.
        debug_assert!(register_offset < 8);
        let offset = usize::from(register_offset) << self.shift;
        self.base.wrapping_add(offset).cast::<u32>()
    }
}

// SAFETY: the backend owns its registers alone (`new`'s contract) and every access needs
// `&mut self`, so moving it to another CPU cannot create a second concurrent user.
unsafe impl Send for WordBackend {}

impl Backend for WordBackend {
    unsafe fn read(&mut self, register_offset: u8) -> u8 {
        // SAFETY: `new`'s contract makes every register in 0..8 an aligned 32-bit register.
        let word = unsafe { mmio32::read(self.register(register_offset)) };
        // 16550 registers are 8 bits wide; the upper 24 bits of the word are padding.
        word as u8
    }

    unsafe fn write(&mut self, register_offset: u8, value: u8) {
        // SAFETY: `new`'s contract makes every register in 0..8 an aligned 32-bit register.
        unsafe { mmio32::write(self.register(register_offset), u32::from(value)) }
    }
}
