// The KeptRegisters scenario's accesses (crate::marked): one 8-byte access with every
// other general register holding a marker, then all 31 registers stored for the check.
//
// void guest_marked_<op>(u64 addr, u64 base, u64 out[31], u64 data)
//   x0 = addr (the access's address register), x1 = data (its data register: the preset
//   of a load, the value of a store), xn = base + n for n = 2..30. Right after the access,
//   x0..x30 go to out[0..31]. Every register is overwritten, so the callee-saved ones
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
    stp     x2, x18, [sp, #96]      // out, and x18
    mov     x30, x1                 // base
    mov     x1, x3                  // data
    add     x2, x30, #2
    add     x3, x30, #3
    add     x4, x30, #4
    add     x5, x30, #5
    add     x6, x30, #6
    add     x7, x30, #7
    add     x8, x30, #8
    add     x9, x30, #9
    add     x10, x30, #10
    add     x11, x30, #11
    add     x12, x30, #12
    add     x13, x30, #13
    add     x14, x30, #14
    add     x15, x30, #15
    add     x16, x30, #16
    add     x17, x30, #17
    add     x18, x30, #18
    add     x19, x30, #19
    add     x20, x30, #20
    add     x21, x30, #21
    add     x22, x30, #22
    add     x23, x30, #23
    add     x24, x30, #24
    add     x25, x30, #25
    add     x26, x30, #26
    add     x27, x30, #27
    add     x28, x30, #28
    add     x29, x30, #29
    add     x30, x30, #30
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

.purgem guest_marked
