//! 16-bit and 8-bit MMIO, for UARTs with narrow registers (the Renesas SCIF). Single
//! `ldrh`/`strh`/`strb` with a plain base register on aarch64, for the reason mmio32.rs gives;
//! plain volatile elsewhere (host tests).

/// # Safety
///
/// `addr` must be 2-byte aligned and point at a readable 16-bit register (or, in tests,
/// memory) that nothing else accesses concurrently.
#[inline(always)]
pub(super) unsafe fn read16(addr: *const u16) -> u16 {
    #[cfg(target_arch = "aarch64")]
    {
        let value: u32;
        // SAFETY: the caller guarantees `addr` is an aligned, readable register.
        unsafe {
            core::arch::asm!(
                "ldrh {value:w}, [{addr}]",
                addr = in(reg) addr,
                value = out(reg) value,
                options(nostack, preserves_flags),
            );
        }
        value as u16
    }
    #[cfg(not(target_arch = "aarch64"))]
    // SAFETY: the caller guarantees `addr` is aligned and valid for a 16-bit read.
    unsafe {
        core::ptr::read_volatile(addr)
    }
}

/// # Safety
///
/// `addr` must be 2-byte aligned and point at a writable 16-bit register (or, in tests,
/// memory) that nothing else accesses concurrently.
#[inline(always)]
pub(super) unsafe fn write16(addr: *mut u16, value: u16) {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: the caller guarantees `addr` is an aligned, writable register.
    unsafe {
        core::arch::asm!(
            "strh {value:w}, [{addr}]",
            addr = in(reg) addr,
            value = in(reg) u32::from(value),
            options(nostack, preserves_flags),
        );
    }
    #[cfg(not(target_arch = "aarch64"))]
    // SAFETY: the caller guarantees `addr` is aligned and valid for a 16-bit write.
    unsafe {
        core::ptr::write_volatile(addr, value)
    }
}

/// # Safety
///
/// `addr` must point at a writable 8-bit register (or, in tests, memory) that nothing else
/// accesses concurrently.
#[inline(always)]
pub(super) unsafe fn write8(addr: *mut u8, value: u8) {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: the caller guarantees `addr` is a writable register.
    unsafe {
        core::arch::asm!(
            "strb {value:w}, [{addr}]",
            addr = in(reg) addr,
            value = in(reg) u32::from(value),
            options(nostack, preserves_flags),
        );
    }
    #[cfg(not(target_arch = "aarch64"))]
    // SAFETY: the caller guarantees `addr` is valid for a byte write.
    unsafe {
        core::ptr::write_volatile(addr, value)
    }
}
