// EL1 exception vectors shared by the in-QEMU payloads (host and guest). Every entry saves
// the interrupted registers into a Frame on the current stack (each payload's
// arch/exceptions.rs: 31 GPRs, ELR_EL1, SPSR_EL1, padding), calls the payload's handler
// ({handler}: frame, vector index) and returns to the Frame's ELR, which the handler moves
// past an armed access that aborted; anything it does not expect never returns.
// Included with global_asm!(include_str!(..), handler = sym <fn>).

.equ EL1_FRAME_SIZE, 272           // keep in sync with exceptions.rs (const-asserted there)
.equ EL1_FRAME_ELR, 248            // x30 at 240, then ELR, then SPSR
.equ EL1_FRAME_SPSR, 256

.macro el1_ventry index
    .balign 0x80
    sub     sp, sp, #EL1_FRAME_SIZE
    stp     x0, x1, [sp, #16 * 0]
    mov     x1, #\index
    b       el1_exception_common
.endm

.section .text.vectors, "ax"
.balign 0x800
.global el1_vectors
el1_vectors:
    // Current EL with SP_EL0, current EL with SP_ELx, lower EL AArch64, lower EL AArch32;
    // each: synchronous, IRQ, FIQ, SError.
    el1_ventry 0
    el1_ventry 1
    el1_ventry 2
    el1_ventry 3
    el1_ventry 4                   // offset 0x200: where Stile injects aborts
    el1_ventry 5
    el1_ventry 6
    el1_ventry 7
    el1_ventry 8
    el1_ventry 9
    el1_ventry 10
    el1_ventry 11
    el1_ventry 12
    el1_ventry 13
    el1_ventry 14
    el1_ventry 15

// x0/x1 are saved, x1 = vector index.
el1_exception_common:
    stp     x2, x3, [sp, #16 * 1]
    stp     x4, x5, [sp, #16 * 2]
    stp     x6, x7, [sp, #16 * 3]
    stp     x8, x9, [sp, #16 * 4]
    stp     x10, x11, [sp, #16 * 5]
    stp     x12, x13, [sp, #16 * 6]
    stp     x14, x15, [sp, #16 * 7]
    stp     x16, x17, [sp, #16 * 8]
    stp     x18, x19, [sp, #16 * 9]
    stp     x20, x21, [sp, #16 * 10]
    stp     x22, x23, [sp, #16 * 11]
    stp     x24, x25, [sp, #16 * 12]
    stp     x26, x27, [sp, #16 * 13]
    stp     x28, x29, [sp, #16 * 14]
    mrs     x2, elr_el1
    mrs     x3, spsr_el1
    stp     x30, x2, [sp, #16 * 15]
    str     x3, [sp, #EL1_FRAME_SPSR]
    mov     x0, sp
    bl      {handler}
    // The Frame may have a new ELR; restore everything and return there.
    ldr     x2, [sp, #EL1_FRAME_ELR]
    ldr     x3, [sp, #EL1_FRAME_SPSR]
    msr     elr_el1, x2
    msr     spsr_el1, x3
    ldp     x2, x3, [sp, #16 * 1]
    ldp     x4, x5, [sp, #16 * 2]
    ldp     x6, x7, [sp, #16 * 3]
    ldp     x8, x9, [sp, #16 * 4]
    ldp     x10, x11, [sp, #16 * 5]
    ldp     x12, x13, [sp, #16 * 6]
    ldp     x14, x15, [sp, #16 * 7]
    ldp     x16, x17, [sp, #16 * 8]
    ldp     x18, x19, [sp, #16 * 9]
    ldp     x20, x21, [sp, #16 * 10]
    ldp     x22, x23, [sp, #16 * 11]
    ldp     x24, x25, [sp, #16 * 12]
    ldp     x26, x27, [sp, #16 * 13]
    ldp     x28, x29, [sp, #16 * 14]
    ldr     x30, [sp, #16 * 15]
    ldp     x0, x1, [sp, #16 * 0]
    add     sp, sp, #EL1_FRAME_SIZE
    eret

.purgem el1_ventry
