// The vGIC bench loops (protocol::BenchIrq) and the IRQ vector they run under. The loops
// run with IRQs unmasked and share these registers with the vector (nothing else runs):
//   x9  = NOPs the vector runs before its counter read (0..15: dithers the read's phase)
//   x11 = interrupts taken (the vector adds 1)
//   x12 = CNTVCT_EL0 as the vector read it
//   x13 = the vector's scratch
// Only caller-saved registers are used. Every other vector entry is the image's own.

.equ VBENCH_SPINS, 0x100000         // spins an interrupt may take before it counts as lost

.section .text.guest_vbench, "ax"
.balign 0x800
.global guest_vbench_vectors
guest_vbench_vectors:
.irp i, 0, 1, 2, 3, 4
    .balign 0x80
    b       el1_vectors + \i * 0x80
.endr
    // Current EL with SP_ELx, IRQ: 3 instructions, x9 NOPs, then the counter read.
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
    b       el1_vectors + \i * 0x80
.endr

// Spins until x11 moves past x10 (1f: taken) or VBENCH_SPINS run out (falls through).
.macro vbench_wait
    mov     x7, #VBENCH_SPINS
4:  cmp     x11, x10
    b.ne    5f
    subs    x7, x7, #1
    b.ne    4b
.endm

// void guest_vbench_timer(u64 count, u64 delay, u64 out[2]): count x (CNTV_CVAL = now +
// delay, timer on, wait); out = [sum of (vector's read - CVAL), interrupts taken]. x9
// cycles 0..15.
.global guest_vbench_timer
.type guest_vbench_timer, %function
guest_vbench_timer:
    mov     x14, #0
    mov     x9, #0
    mov     x11, #0
    msr     daifclr, #2
1:  mov     x10, x11
    isb
    mrs     x16, cntvct_el0
    add     x16, x16, x1
    msr     cntv_cval_el0, x16
    mov     x17, #1
    msr     cntv_ctl_el0, x17
    isb
    vbench_wait
    b       6f                      // lost: stop
5:  sub     x12, x12, x16
    add     x14, x14, x12
    add     x9, x9, #1
    and     x9, x9, #15
    subs    x0, x0, #1
    b.ne    1b
6:  msr     daifset, #2
    msr     cntv_ctl_el0, xzr
    stp     x14, x11, [x2]
    ret
.size guest_vbench_timer, . - guest_vbench_timer

// void guest_vbench_sgi(u64 count, u64 sgi1r, u64 out[2]): count x (x17 NOPs, counter read,
// ICC_SGI1R_EL1 write, wait); out = [sum of (vector's read - that read), taken]. The
// vector reads at once (x9 = 0); x17 cycles 0..15 instead.
.global guest_vbench_sgi
.type guest_vbench_sgi, %function
guest_vbench_sgi:
    mov     x14, #0
    mov     x9, #0
    mov     x11, #0
    mov     x15, #0
    msr     daifclr, #2
1:  mov     x10, x11
    adr     x17, 2f
    sub     x17, x17, x15, lsl #2
    br      x17
.rept 15
    nop
.endr
2:  mrs     x16, cntvct_el0
    msr     icc_sgi1r_el1, x1
    vbench_wait
    b       6f
5:  sub     x12, x12, x16
    add     x14, x14, x12
    add     x15, x15, #1
    and     x15, x15, #15
    subs    x0, x0, #1
    b.ne    1b
6:  msr     daifset, #2
    stp     x14, x11, [x2]
    ret
.size guest_vbench_sgi, . - guest_vbench_sgi

// u64 guest_vbench_wait(u64 count, u64 id): one HVC (x0 = id, x1 = 0: ready), then count x
// (wait for the interrupt the VMM raised before resuming us; HVC x0 = id, x1 = the
// vector's read, or 0 if none came). Returns the interrupts taken.
.global guest_vbench_wait
.type guest_vbench_wait, %function
guest_vbench_wait:
    mov     x15, x0
    mov     x6, x1
    mov     x9, #0
    mov     x11, #0
    mov     x10, #0
    msr     daifclr, #2
    mov     x0, x6
    mov     x1, #0
    hvc     #0
1:  vbench_wait
    mov     x12, #0                 // lost: report 0
5:  mov     x10, x11
    mov     x0, x6
    mov     x1, x12
    hvc     #0
    subs    x15, x15, #1
    b.ne    1b
    msr     daifset, #2
    mov     x0, x11
    ret
.size guest_vbench_wait, . - guest_vbench_wait
