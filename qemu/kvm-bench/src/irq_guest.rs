//! The interrupt guest: the peer of Stile's vGIC bench rows (docs/PERFORMANCE.md), run in a
//! second VM that has KVM's in-kernel vGICv3.
//!
//! It times three interrupts to the first instruction of its IRQ vector, with the loops and the
//! vector of Stile's own bench guest (qemu/guest/src/arch/vbench.S), instruction for
//! instruction inside the timed part:
//!
//! - **vtimer-delivery**: CNTV_CVAL_EL0 = now + 64 ticks, timer on, spin; from the deadline to
//!   the vector. The vector runs 0..15 `nop`s (x9, in turn) before its counter read.
//! - **spi-injection**: the guest waits with IRQs unmasked; after each MMIO-write report the
//!   VMM reads its counter, raises SPI 40 with KVM_IRQ_LINE and runs the vCPU again. From the
//!   VMM's counter read to the vector. The VMM dithers its own read's phase.
//! - **sgi-self-round-trip**: 0..15 `nop`s (x15, in turn), counter read, ICC_SGI1R_EL1 write
//!   (SGI 5 to itself), spin; from that read to the vector.
//! - **vgic-gicd-read**: counter read, then GICD_TYPER loaded (`ldr`, `subs`, `b.ne`: Stile's
//!   BenchMmio loop) once per iteration, counter read: the ticks of the whole loop. Not an
//!   interrupt: the distributor read KVM's vGIC answers, as Stile's EL2 does.
//!
//! Results go out as MMIO writes to [`MARK`] offsets (one exit each, outside the timed parts).
//! The VMM sets x19..x25 before the first KVM_RUN; the code is position independent.

use crate::guest::Ipa;
use core::arch::global_asm;

/// The guest's distributor and redistributor (the same IPAs as Stile's bench VM and QEMU virt).
pub const GICD: Ipa = Ipa(0x0800_0000);
pub const GICR: Ipa = Ipa(0x080a_0000);
/// The report window: no memslot, so every write is a KVM_EXIT_MMIO. Offsets name the report.
pub const MARK: Ipa = Ipa(0x0a00_0000);
/// Every round is done; the guest halts.
pub const MARK_DONE: u64 = 0x10;
/// CNTPCT_EL0 - CNTVCT_EL0 as the guest reads them (the guest's CNTVOFF), once at start.
pub const MARK_COUNTER_OFFSET: u64 = 0x20;
/// The guest could not read CNTPCT between two equal CNTVCT reads (value: tries left, 0).
pub const MARK_COUNTER_OFFSET_FAILED: u64 = 0x28;
/// vtimer-delivery: sum over the loop of (vector's read - CNTV_CVAL) ticks; interrupts taken.
pub const MARK_TIMER_SUM: u64 = 0x30;
pub const MARK_TIMER_TAKEN: u64 = 0x38;
/// spi-injection: one report per interrupt (the vector's CNTVCT read, or 0 if none came).
pub const MARK_SPI_READ: u64 = 0x40;
/// spi-injection: the guest waits for the first SPI from here on (value 0).
pub const MARK_SPI_READY: u64 = 0x48;
pub const MARK_SPI_TAKEN: u64 = 0x50;
/// sgi-self-round-trip: sum of (vector's read - the read before the SGI write); taken.
pub const MARK_SGI_SUM: u64 = 0x60;
pub const MARK_SGI_TAKEN: u64 = 0x68;
/// An exception the guest did not expect (value: ESR_EL1); it then spins.
pub const MARK_UNEXPECTED: u64 = 0x70;
/// vgic-gicd-read: ticks of the loop of GICD_TYPER loads; the loads done.
pub const MARK_GICD_SUM: u64 = 0x78;
pub const MARK_GICD_TAKEN: u64 = 0x80;

/// The SPI the VMM raises, the SGI the guest sends itself, the timer's delay in ticks: those
/// of Stile's bench (qemu/host/src/bench/vgic.rs).
pub const SPI: u32 = 40;
pub const SGI: u64 = 5;
pub const TIMER_DELAY: u64 = 64;
/// Instructions in the vector before its counter read (`adr`, `sub`, `br`): subtracted, so
/// each figure ends at the vector's first instruction, as Stile's does.
pub const VECTOR_JUMP: u64 = 3;

/// The registers the guest program reads (set with KVM_SET_ONE_REG before the first run).
pub struct Inputs {
    /// x19: interrupts per row per round.
    pub iterations: u64,
    /// x24: rounds (each round times every row once).
    pub rounds: u64,
}

impl Inputs {
    /// (register number, value) pairs for x19..x25.
    pub fn registers(&self) -> [(u8, u64); 7] {
        // ICC_SGI1R_EL1: INTID in bits 27:24, target list bit 0 (Aff0 0), Aff1..3 0: vCPU 0.
        let sgi1r = (SGI << 24) | 1;
        [
            (19, self.iterations),
            (20, GICD.0),
            (21, MARK.0),
            (22, GICR.0),
            (23, sgi1r),
            (24, self.rounds),
            (25, TIMER_DELAY),
        ]
    }
}

// Slot 0 of the vector table (EL1t synchronous: never taken, the guest runs EL1h) is the entry
// point. The IRQ slot (current EL, SP_ELx) is vbench.S's: 3 instructions of jump over 15 - x9
// `nop`s, x9 `nop`s, the counter read into x12, acknowledge, timer off, EOI, count in x11.
// Every other slot reports ESR_EL1 and spins. The loops use x0..x17 only; x19..x25 are inputs.
global_asm!(
    r#"
    .section .rodata.stile_kvm_bench_irq_guest, "a"
    .balign 0x800
    .global stile_kvm_bench_irq_guest_start
stile_kvm_bench_irq_guest_start:
    b       20f
.irp i, 1, 2, 3, 4
    .balign 0x80
    mrs     x0, esr_el1
    str     x0, [x21, #0x70]        // MARK_UNEXPECTED
    b       .
.endr
    .balign 0x80
    adr     x13, 2f
    sub     x13, x13, x9, lsl #2
    br      x13
.rept 15
    nop
.endr
2:  mrs     x12, cntvct_el0
    mrs     x13, icc_iar1_el1
    cmp     x13, #1020
    b.hs    3f
    msr     cntv_ctl_el0, xzr       // the timer's line drops (nothing for the others)
    msr     icc_eoir1_el1, x13
    add     x11, x11, #1
3:  eret
.irp i, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    .balign 0x80
    mrs     x0, esr_el1
    str     x0, [x21, #0x70]
    b       .
.endr

    .balign 0x80
20: adr     x0, stile_kvm_bench_irq_guest_start
    msr     vbar_el1, x0
    isb
    // Distributor: affinity routing and group 1 on; SPI 40 group 1, edge, to vCPU 0, enabled.
    mov     w1, #0x12
    str     w1, [x20]               // GICD_CTLR = ARE | EnableGrp1
    mov     w1, #-1
    str     w1, [x20, #0x84]        // GICD_IGROUPR1
    mov     w1, #0x20000
    str     w1, [x20, #0xc08]       // GICD_ICFGR2: INTID 40 edge-triggered
    str     xzr, [x20, #0x6140]     // GICD_IROUTER40 = Aff 0.0.0.0
    mov     w1, #0x100
    str     w1, [x20, #0x104]       // GICD_ISENABLER1: INTID 40
    // Redistributor (SGI frame): SGIs and PPIs group 1; SGI 5 and PPI 27 enabled.
    add     x2, x22, #0x10, lsl #12
    mov     w1, #-1
    str     w1, [x2, #0x80]         // GICR_IGROUPR0
    mov     w1, #0x20
    movk    w1, #0x800, lsl #16
    str     w1, [x2, #0x100]        // GICR_ISENABLER0
    // CPU interface: every priority, group 1 on.
    mov     x1, #0xff
    msr     icc_pmr_el1, x1
    mov     x1, #1
    msr     icc_igrpen1_el1, x1
    isb
    // The VMM's counter is the physical one: CNTPCT - CNTVCT, read between two equal CNTVCTs.
    mov     x3, #16
21: isb
    mrs     x4, cntvct_el0
    mrs     x5, cntpct_el0
    mrs     x6, cntvct_el0
    cmp     x4, x6
    b.eq    22f
    subs    x3, x3, #1
    b.ne    21b
    str     x3, [x21, #0x28]        // MARK_COUNTER_OFFSET_FAILED
    b       .
22: sub     x5, x5, x4
    str     x5, [x21, #0x20]        // MARK_COUNTER_OFFSET

30: // vtimer-delivery: x19 x (CNTV_CVAL = now + x25, timer on, wait). x9 cycles 0..15.
    mov     x0, x19
    mov     x14, #0
    mov     x9, #0
    mov     x11, #0
    msr     daifclr, #2
31: mov     x10, x11
    isb
    mrs     x16, cntvct_el0
    add     x16, x16, x25
    msr     cntv_cval_el0, x16
    mov     x17, #1
    msr     cntv_ctl_el0, x17
    isb
    mov     x7, #0x100000
32: cmp     x11, x10
    b.ne    33f
    subs    x7, x7, #1
    b.ne    32b
    b       34f                     // lost: stop
33: sub     x12, x12, x16
    add     x14, x14, x12
    add     x9, x9, #1
    and     x9, x9, #15
    subs    x0, x0, #1
    b.ne    31b
34: msr     daifset, #2
    msr     cntv_ctl_el0, xzr
    str     x14, [x21, #0x30]       // MARK_TIMER_SUM
    str     x11, [x21, #0x38]       // MARK_TIMER_TAKEN

    // spi-injection: ready, then x19 x (wait for the SPI the VMM raised before resuming us;
    // report the vector's read, or 0 if none came). x9 = 0: the vector reads at once.
    mov     x15, x19
    mov     x9, #0
    mov     x11, #0
    mov     x10, #0
    msr     daifclr, #2
    str     xzr, [x21, #0x48]       // MARK_SPI_READY
40: mov     x7, #0x100000
41: cmp     x11, x10
    b.ne    42f
    subs    x7, x7, #1
    b.ne    41b
    mov     x12, #0                 // lost: report 0
42: mov     x10, x11
    str     x12, [x21, #0x40]       // MARK_SPI_READ
    subs    x15, x15, #1
    b.ne    40b
    msr     daifset, #2
    str     x11, [x21, #0x50]       // MARK_SPI_TAKEN

    // sgi-self-round-trip: x19 x (x15 NOPs, counter read, ICC_SGI1R_EL1 write, wait). x15
    // cycles 0..15; x9 = 0.
    mov     x0, x19
    mov     x14, #0
    mov     x9, #0
    mov     x11, #0
    mov     x15, #0
    msr     daifclr, #2
50: mov     x10, x11
    adr     x17, 51f
    sub     x17, x17, x15, lsl #2
    br      x17
.rept 15
    nop
.endr
51: mrs     x16, cntvct_el0
    msr     icc_sgi1r_el1, x23
    mov     x7, #0x100000
52: cmp     x11, x10
    b.ne    53f
    subs    x7, x7, #1
    b.ne    52b
    b       54f
53: sub     x12, x12, x16
    add     x14, x14, x12
    add     x15, x15, #1
    and     x15, x15, #15
    subs    x0, x0, #1
    b.ne    50b
54: msr     daifset, #2
    str     x14, [x21, #0x60]       // MARK_SGI_SUM
    str     x11, [x21, #0x68]       // MARK_SGI_TAKEN

    // vgic-gicd-read: counter read, x19 x GICD_TYPER load, counter read.
    isb
    mrs     x16, cntvct_el0
    mov     x0, x19
60: ldr     w1, [x20, #4]
    subs    x0, x0, #1
    b.ne    60b
    isb
    mrs     x17, cntvct_el0
    sub     x14, x17, x16
    str     x14, [x21, #0x78]       // MARK_GICD_SUM
    str     x19, [x21, #0x80]       // MARK_GICD_TAKEN

    subs    x24, x24, #1
    b.ne    30b
    str     xzr, [x21, #0x10]       // MARK_DONE
55: wfi
    b       55b
    .global stile_kvm_bench_irq_guest_end
stile_kvm_bench_irq_guest_end:
    .text
"#
);

extern "C" {
    static stile_kvm_bench_irq_guest_start: u8;
    static stile_kvm_bench_irq_guest_end: u8;
}

/// The interrupt guest's bytes, to be copied to the start of its RAM: a 2 KiB-aligned IPA,
/// because the vector table is at offset 0.
pub fn code() -> &'static [u8] {
    // SAFETY: both symbols are defined by the global_asm! block above, in one section, start
    // before end; the bytes between them are immutable data for the life of the program.
    unsafe {
        let start = core::ptr::addr_of!(stile_kvm_bench_irq_guest_start);
        let end = core::ptr::addr_of!(stile_kvm_bench_irq_guest_end);
        core::slice::from_raw_parts(start, end.offset_from(start) as usize)
    }
}
