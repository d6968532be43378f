//! The guest program and the guest-physical layout it runs in.
//!
//! The guest runs at EL1 with its MMU off. It times each phase itself with CNTVCT_EL0 and reports
//! the tick count through an MMIO write to [`MARK`] (one exit per phase, outside the timed loop).
//! Everything it needs comes in registers that the VMM sets before the first KVM_RUN, so the
//! code is position independent and assembled here by the Rust toolchain (no hand-encoded words).

use core::arch::global_asm;

/// A guest-physical address (stage-2 input address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ipa(pub u64);

impl Ipa {
    pub const fn offset(self, bytes: u64) -> Ipa {
        Ipa(self.0 + bytes)
    }
}

/// Guest RAM: one memslot holding the code at its start and a scratch area at [`SCRATCH`].
pub const RAM: Ipa = Ipa(0x4000_0000);
pub const RAM_SIZE: usize = 64 * 1024;
/// Scratch RAM the baseline loop loads from, followed by the values the guest leaves for the VMM.
pub const SCRATCH: Ipa = RAM.offset(0x8000);
/// Where the guest stores (in RAM, no exit) the last value its MMIO-read loop loaded.
pub const SCRATCH_LAST_MMIO: Ipa = SCRATCH.offset(0x08);
/// Where the guest stores the x0 that the last in-kernel `hvc #0` returned.
pub const SCRATCH_HVC_RET: Ipa = SCRATCH.offset(0x10);
/// Where the guest stores the x0 that the last userspace-forwarded `hvc #0` returned.
pub const SCRATCH_HVC_USER_RET: Ipa = SCRATCH.offset(0x18);

/// The device the timed MMIO-read loop loads from: no memslot, so every load is a KVM_EXIT_MMIO.
pub const MMIO_DEVICE: Ipa = Ipa(0x0900_0000);
/// What the VMM answers to every read of [`MMIO_DEVICE`] ("STILEKVM").
pub const MMIO_DEVICE_VALUE: u64 = u64::from_le_bytes(*b"STILEKVM");

/// The guest's report window: no memslot either. Offsets from it name the report.
pub const MARK: Ipa = Ipa(0x0a00_0000);
pub const MARK_START: u64 = 0x00;
pub const MARK_PHASE_END: u64 = 0x08;
pub const MARK_DONE: u64 = 0x10;

/// An SMCCC function ID that Linux 6.1's KVM does not implement: SMC64 fast call, owner 6
/// (vendor-specific hypervisor service), function 1. KVM answers NOT_SUPPORTED in the kernel.
pub const HVC_UNKNOWN_FID: u32 = 0xC600_0001;
/// The ID the forwarded-HVC phase uses (owner 6, function 2), when the kernel can forward it.
pub const HVC_USER_FID: u32 = 0xC600_0002;
/// SMCCC NOT_SUPPORTED (-1) as the 64-bit x0 the guest sees.
pub const SMCCC_RET_NOT_SUPPORTED: u64 = u64::MAX;

/// The timed phases, in the order the guest runs them in each round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `ldr x1, [ram]; subs; b.ne` — the MMIO loop with a load that does not exit.
    BaselineLdr,
    /// `ldr x1, [MMIO_DEVICE]; subs; b.ne` — every load exits to the VMM.
    MmioRead,
    /// `mov x0, fid; nop; subs; b.ne` — the HVC loop with a `nop` for the `hvc`.
    BaselineNop,
    /// `mov x0, fid; hvc #0; subs; b.ne` — handled inside the kernel (SMCCC NOT_SUPPORTED).
    Hvc,
    /// As [`Phase::Hvc`] with a function ID the SMCCC filter forwards to the VMM (Linux 6.4+).
    HvcUser,
}

impl Phase {
    pub const fn name(self) -> &'static str {
        match self {
            Phase::BaselineLdr => "baseline-ldr",
            Phase::MmioRead => "mmio-read",
            Phase::BaselineNop => "baseline-nop",
            Phase::Hvc => "hvc",
            Phase::HvcUser => "hvc-user",
        }
    }

    /// The phases of one round; `HvcUser` only when the VMM set x25 (the filter is in place).
    pub fn round(with_user_hvc: bool) -> &'static [Phase] {
        const ALL: [Phase; 5] = [
            Phase::BaselineLdr,
            Phase::MmioRead,
            Phase::BaselineNop,
            Phase::Hvc,
            Phase::HvcUser,
        ];
        if with_user_hvc {
            &ALL
        } else {
            &ALL[..4]
        }
    }
}

/// The registers the guest program reads (set with KVM_SET_ONE_REG before the first run).
pub struct Inputs {
    /// x19: iterations per phase.
    pub iterations: u64,
    /// x24: rounds (each round runs every phase once).
    pub rounds: u64,
    /// x25: function ID for the forwarded-HVC phase, or 0 to skip that phase.
    pub hvc_user_fid: u32,
}

impl Inputs {
    /// (register number, value) pairs for x19..x25.
    pub fn registers(&self) -> [(u8, u64); 7] {
        [
            (19, self.iterations),
            (20, MMIO_DEVICE.0),
            (21, MARK.0),
            (22, SCRATCH.0),
            (23, u64::from(HVC_UNKNOWN_FID)),
            (24, self.rounds),
            (25, u64::from(self.hvc_user_fid)),
        ]
    }
}

// The guest program. Only relative branches and register-held addresses: it runs wherever it is
// copied. Each phase: x9 = count, t0 = CNTVCT (after ISB), the loop, t1, then one MMIO write of
// t1 - t0 to MARK + PHASE_END. The loops are the only code between the two counter reads.
global_asm!(
    r#"
    .section .rodata.stile_kvm_bench_guest, "a"
    .balign 4
    .global stile_kvm_bench_guest_start
stile_kvm_bench_guest_start:
    str     xzr, [x21, #0x00]       // MARK_START
1:                                  // one round
    // baseline-ldr
    mov     x9, x19
    isb
    mrs     x10, cntvct_el0
2:  ldr     x1, [x22]
    subs    x9, x9, #1
    b.ne    2b
    isb
    mrs     x11, cntvct_el0
    sub     x12, x11, x10
    str     x12, [x21, #0x08]       // MARK_PHASE_END
    // mmio-read
    mov     x9, x19
    isb
    mrs     x10, cntvct_el0
3:  ldr     x1, [x20]
    subs    x9, x9, #1
    b.ne    3b
    isb
    mrs     x11, cntvct_el0
    sub     x12, x11, x10
    str     x1, [x22, #0x08]        // SCRATCH_LAST_MMIO (RAM: no exit)
    str     x12, [x21, #0x08]
    // baseline-nop
    mov     x9, x19
    isb
    mrs     x10, cntvct_el0
4:  mov     x0, x23
    nop
    subs    x9, x9, #1
    b.ne    4b
    isb
    mrs     x11, cntvct_el0
    sub     x12, x11, x10
    str     x12, [x21, #0x08]
    // hvc (in-kernel)
    mov     x9, x19
    isb
    mrs     x10, cntvct_el0
5:  mov     x0, x23
    hvc     #0
    subs    x9, x9, #1
    b.ne    5b
    isb
    mrs     x11, cntvct_el0
    sub     x12, x11, x10
    str     x0, [x22, #0x10]        // SCRATCH_HVC_RET
    str     x12, [x21, #0x08]
    // hvc-user (forwarded by the SMCCC filter), only when x25 != 0
    cbz     x25, 7f
    mov     x9, x19
    isb
    mrs     x10, cntvct_el0
6:  mov     x0, x25
    hvc     #0
    subs    x9, x9, #1
    b.ne    6b
    isb
    mrs     x11, cntvct_el0
    sub     x12, x11, x10
    str     x0, [x22, #0x18]        // SCRATCH_HVC_USER_RET
    str     x12, [x21, #0x08]
7:  subs    x24, x24, #1
    b.ne    1b
    str     xzr, [x21, #0x10]       // MARK_DONE
8:  wfi
    b       8b
    .global stile_kvm_bench_guest_end
stile_kvm_bench_guest_end:
    .text
"#
);

extern "C" {
    static stile_kvm_bench_guest_start: u8;
    static stile_kvm_bench_guest_end: u8;
}

/// The guest program's bytes (AArch64 instructions, to be copied to [`RAM`]).
pub fn code() -> &'static [u8] {
    // SAFETY: both symbols are defined by the global_asm! block above, in one section, start
    // before end; the bytes between them are immutable data for the life of the program.
    unsafe {
        let start = core::ptr::addr_of!(stile_kvm_bench_guest_start);
        let end = core::ptr::addr_of!(stile_kvm_bench_guest_end);
        core::slice::from_raw_parts(start, end.offset_from(start) as usize)
    }
}
