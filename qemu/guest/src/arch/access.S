// The guest's data accesses, one function each, with fixed registers (stile_guest::access
// lists them: the VMM checks the syndrome's SRT against that table). Each access
// instruction has a global label `<function>_access`, which arch/cpu.rs arms before the
// call: an abort taken exactly there is recorded and stepped over by the vector (ELR + 4),
// leaving the destination register at its preset. Only caller-saved registers are used.

.section .text.guest_access, "ax"
.balign 4

// u64 guest_ld_<op>(u64 addr, u64 preset): the destination starts as `preset`.
.macro guest_load name, reg, insn:vararg
.global \name
.type \name, %function
\name:
    mov     \reg, x1
.global \name\()_access
\name\()_access:
    \insn
    mov     x0, \reg
    ret
.size \name, . - \name
.endm

guest_load guest_ld_b,   x1,  ldrb w1, [x0]
guest_load guest_ld_h,   x2,  ldrh w2, [x0]
guest_load guest_ld_w,   x4,  ldr w4, [x0]
guest_load guest_ld_x,   x8,  ldr x8, [x0]
guest_load guest_ld_sbw, x5,  ldrsb w5, [x0]
guest_load guest_ld_sbx, x6,  ldrsb x6, [x0]
guest_load guest_ld_shw, x7,  ldrsh w7, [x0]
guest_load guest_ld_shx, x10, ldrsh x10, [x0]
guest_load guest_ld_swx, x11, ldrsw x11, [x0]

// void guest_st_<op>(u64 addr, u64 value): the source register holds all of `value`.
.macro guest_store name, reg, insn:vararg
.global \name
.type \name, %function
\name:
    mov     \reg, x1
.global \name\()_access
\name\()_access:
    \insn
    ret
.size \name, . - \name
.endm

guest_store guest_st_b, x12, strb w12, [x0]
guest_store guest_st_h, x13, strh w13, [x0]
guest_store guest_st_w, x14, str w14, [x0]
guest_store guest_st_x, x15, str x15, [x0]

// void guest_ldp(u64 addr, u64 preset, u64 out[2]): ldp x2, x3 (no syndrome on MMIO).
.global guest_ldp
.type guest_ldp, %function
guest_ldp:
    mov     x9, x2
    mov     x2, x1
    mov     x3, x1
.global guest_ldp_access
guest_ldp_access:
    ldp     x2, x3, [x0]
    stp     x2, x3, [x9]
    ret
.size guest_ldp, . - guest_ldp

.purgem guest_load
.purgem guest_store
