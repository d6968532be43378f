// EL2 exception vectors. EL2 itself never expects an exception, and nothing runs below EL2
// yet, so every entry is fatal: it moves to this CPU's emergency stack (TPIDR_EL2 holds its
// top; the faulting SP may be in a guard page), saves a TrapFrame and calls
// el2_fatal_exception(frame, kind), which reports and powers off.

.equ FRAME_SIZE, 288
.equ FRAME_SP, 248

.macro fatal_entry kind
    .balign 0x80
    msr     sp_el0, x0              // stash x0: SP_EL0 is unused at EL2
    mrs     x0, tpidr_el2
    sub     x0, x0, #FRAME_SIZE
    stp     x1, x2, [x0, #8]
    mov     x1, sp
    str     x1, [x0, #FRAME_SP]
    mov     sp, x0
    mrs     x1, sp_el0
    str     x1, [sp, #0]
    mov     x1, #\kind
    b       el2_fatal_common
.endm

.section .text.vectors, "ax"
.balign 0x800
.global el2_vectors
el2_vectors:
    fatal_entry 0
    fatal_entry 1
    fatal_entry 2
    fatal_entry 3
    fatal_entry 4
    fatal_entry 5
    fatal_entry 6
    fatal_entry 7
    fatal_entry 8
    fatal_entry 9
    fatal_entry 10
    fatal_entry 11
    fatal_entry 12
    fatal_entry 13
    fatal_entry 14
    fatal_entry 15

el2_fatal_common:
    stp     x3, x4, [sp, #24]
    stp     x5, x6, [sp, #40]
    stp     x7, x8, [sp, #56]
    stp     x9, x10, [sp, #72]
    stp     x11, x12, [sp, #88]
    stp     x13, x14, [sp, #104]
    stp     x15, x16, [sp, #120]
    stp     x17, x18, [sp, #136]
    stp     x19, x20, [sp, #152]
    stp     x21, x22, [sp, #168]
    stp     x23, x24, [sp, #184]
    stp     x25, x26, [sp, #200]
    stp     x27, x28, [sp, #216]
    stp     x29, x30, [sp, #232]
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x2, x3, [sp, #256]
    mrs     x2, esr_el2
    mrs     x3, far_el2
    stp     x2, x3, [sp, #272]
    mov     x0, sp
    bl      el2_fatal_exception
1:  wfe
    b       1b
