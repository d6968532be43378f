//! One 32-bit MMIO load and store, for the registers no crate here reaches at that width
//! (16550 with reg-io-width 4, PL011 UARTCR).
//!
//! On aarch64 these are single `ldr`/`str` with a plain base register: LLVM may pick a
//! writeback addressing mode for a volatile access, which a hypervisor below us (nested
//! virtualisation) cannot emulate (no ISV in ESR_EL2; rust-lang/rust#131894). uart_16550
//! and safe-mmio do the same for their accesses. Elsewhere (host tests) plain volatile.

/// # Safety
///
/// `addr` must be 4-byte aligned and point at a readable 32-bit register (or, in tests,
/// memory) that nothing else accesses concurrently.
#[inline(always)]
pub(super) unsafe fn read(addr: *const u32) -> u32 {
    #[cfg(target_arch = "aarch64")]
    {
        let value: u32;
        // SAFETY: the caller guarantees `addr` is an aligned, readable register.
        unsafe {
            core::arch::asm!(
                "ldr {value:w}, [{addr}]",
                addr = in(reg) addr,
                value = out(reg) value,
                options(nostack, preserves_flags),
            );
        }
        value
    }
    #[cfg(not(target_arch = "aarch64"))]
    // SAFETY: the caller guarantees `addr` is aligned and valid for a 32-bit read.
    unsafe {
        core::ptr::read_volatile(addr)
    }
}

/// # Safety
///
/// `addr` must be 4-byte aligned and point at a writable 32-bit register (or, in tests,
/// memory) that nothing else accesses concurrently.
#[inline(always)]
pub(super) unsafe fn write(addr: *mut u32, value: u32) {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: the caller guarantees `addr` is an aligned, writable register.
    unsafe {
        core::arch::asm!(
            "str {value:w}, [{addr}]",
            addr = in(reg) addr,
            value = in(reg) value,
            options(nostack, preserves_flags),
        );
    }
    #[cfg(not(target_arch = "aarch64"))]
    // SAFETY: the caller guarantees `addr` is aligned and valid for a 32-bit write.
    unsafe {
        core::ptr::write_volatile(addr, value)
    }
}
