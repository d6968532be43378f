// The KeptRegisters scenario's accesses (crate::marked): one instruction with every general
// register set from `in`, then all 31 stored to `out` for the check.
//
// void guest_marked_<op>(const u64 in[31], u64 out[31])
//   x0..x30 = in[0..31], then the instruction (`ldr x1, [x0]`, `str x1, [x0]` or `hvc #0`),
//   then x0..x30 to out[0..31]. Every register is overwritten, so the callee-saved ones
//   (and x18, which some ABIs reserve) are kept on the stack, which stays valid throughout
//   (the guest's vector may run on it, for an abort Stile injects at the armed access).

.section .text.guest_marked, "ax"
.balign 4

.macro guest_marked name, insn:vararg
.global \name
.type \name, %function
\name:
    stp     x29, x30, [sp, #-112]!
    stp     x19, x20, [sp, #16]
    stp     x21, x22, [sp, #32]
    stp     x23, x24, [sp, #48]
    stp     x25, x26, [sp, #64]
    stp     x27, x28, [sp, #80]
    stp     x1, x18, [sp, #96]      // out, and x18
    mov     x30, x0
    ldp     x0, x1, [x30, #0]
    ldp     x2, x3, [x30, #16]
    ldp     x4, x5, [x30, #32]
    ldp     x6, x7, [x30, #48]
    ldp     x8, x9, [x30, #64]
    ldp     x10, x11, [x30, #80]
    ldp     x12, x13, [x30, #96]
    ldp     x14, x15, [x30, #112]
    ldp     x16, x17, [x30, #128]
    ldp     x18, x19, [x30, #144]
    ldp     x20, x21, [x30, #160]
    ldp     x22, x23, [x30, #176]
    ldp     x24, x25, [x30, #192]
    ldp     x26, x27, [x30, #208]
    ldp     x28, x29, [x30, #224]
    ldr     x30, [x30, #240]
.global \name\()_access
\name\()_access:
    \insn
    sub     sp, sp, #256            // all 31, as they are now, below the saved ones
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    str     x30, [sp, #240]
    ldr     x2, [sp, #256 + 96]     // out
    mov     x3, #0
1:  ldr     x4, [sp, x3, lsl #3]
    str     x4, [x2, x3, lsl #3]
    add     x3, x3, #1
    cmp     x3, #31
    b.ne    1b
    add     sp, sp, #256
    ldr     x18, [sp, #104]
    ldp     x19, x20, [sp, #16]
    ldp     x21, x22, [sp, #32]
    ldp     x23, x24, [sp, #48]
    ldp     x25, x26, [sp, #64]
    ldp     x27, x28, [sp, #80]
    ldp     x29, x30, [sp], #112
    ret
.size \name, . - \name
.endm

guest_marked guest_marked_load, ldr x1, [x0]
guest_marked guest_marked_store, str x1, [x0]
guest_marked guest_marked_hvc, hvc #0

.purgem guest_marked
