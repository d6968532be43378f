// EL2 exception vectors. Each entry starts with `.org` at its slot: an entry longer than its
// 0x80 bytes fails to assemble instead of shifting the ones after it.
//
// From a lower EL (AArch64): the trapped world's registers go into the Context the per-CPU
// block names (world.rs), Rust handles the trap and returns the Context to resume (the same
// one, or another world), and we eret into it. A guest's stage-2 abort first tries the
// lazy map with only the registers a call clobbers saved (lower_guest_high_ec).
//
// From EL2 itself: never expected, so fatal. It moves to this CPU's emergency stack (it ends
// where TPIDR_EL2 points: the per-CPU block sits on top of it; the faulting SP may be in a
// guard page), saves a TrapFrame and calls el2_fatal_exception(frame, kind), which reports
// and powers off. AArch32 lower ELs cannot happen (HCR_EL2.RW=1) and are fatal too.

.equ FRAME_SIZE, 288
.equ FRAME_SP, 248
// PerCpu (world.rs) and Context (world.rs) offsets: keep in sync (const-asserted there).
.equ PERCPU_CTX, 0
.equ PERCPU_STACK_TOP, 8
.equ CTX_ELR, 248
.equ CTX_SPSR, 256
.equ CTX_LAZY_SKIP, 264
// Trap kinds passed to Rust (traps.rs): the vector index, or this for the host's VCPU_RUN.
.equ KIND_SYNC, 8
.equ KIND_HOST_VCPU_RUN, 16

// x4..x19 and x30 into the Context at x0 (a call clobbers x2..x18 and x30; x19 comes along in
// the pair).
.macro save_x4_to_x19_and_x30
    stp     x4, x5, [x0, #32]
    stp     x6, x7, [x0, #48]
    stp     x8, x9, [x0, #64]
    stp     x10, x11, [x0, #80]
    stp     x12, x13, [x0, #96]
    stp     x14, x15, [x0, #112]
    stp     x16, x17, [x0, #128]
    stp     x18, x19, [x0, #144]
    str     x30, [x0, #240]
.endm

.macro load_x4_to_x17
    ldp     x4, x5, [x0, #32]
    ldp     x6, x7, [x0, #48]
    ldp     x8, x9, [x0, #64]
    ldp     x10, x11, [x0, #80]
    ldp     x12, x13, [x0, #96]
    ldp     x14, x15, [x0, #112]
    ldp     x16, x17, [x0, #128]
.endm

.macro fatal_entry kind
    .org    el2_vectors + \kind * 0x80
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

.macro lower_entry kind
    .org    el2_vectors + \kind * 0x80
    stp     x0, x1, [sp, #-16]!
    mov     x1, #\kind
    b       lower_el_load_ctx
.endm

.macro lower_sync_entry
    .org    el2_vectors + 8 * 0x80
    stp     x0, x1, [sp, #-16]!
    mrs     x1, vttbr_el2
    lsr     x1, x1, #48
    cbnz    x1, 1f                      // VMID 0 is the host: anything else is a guest
    // From the host. Its REVISION query (the null hypercall) is answered here, without
    // saving the world (x0/x1 are results; nothing else changes); VCPU_RUN gets its own
    // kind, so Rust need not decode it again.
    mrs     x1, esr_el2
    lsr     x1, x1, #26
    cmp     x1, #0x16                   // HVC64
    b.ne    3f
    movz    x1, #({fn_revision} & 0xffff)
    movk    x1, #({fn_revision} >> 16), lsl #16
    cmp     w0, w1
    b.ne    2f
    mov     x0, #{rev_major}
    mov     x1, #{rev_minor}
    add     sp, sp, #16
    eret
2:  movz    x1, #({fn_vcpu_run} & 0xffff)
    movk    x1, #({fn_vcpu_run} >> 16), lsl #16
    cmp     w0, w1
    mov     x1, #KIND_SYNC
    mov     x0, #KIND_HOST_VCPU_RUN
    csel    x1, x0, x1, eq
    b       lower_el_load_ctx
    // From a guest. EC 0x20..0x3f (bit 31 of ESR_EL2) holds its aborts, which may be lazy
    // maps; nothing else need look further.
1:  mrs     x0, esr_el2
    tbnz    x0, #31, lower_guest_high_ec
3:  mov     x1, #KIND_SYNC              // (the host's traps other than HVC64 come here)
    b       lower_el_load_ctx
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
    lower_sync_entry
    lower_entry 9
    lower_entry 10
    lower_entry 11
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

// A guest's trap with EC 0x20..0x3f: x0 = ESR_EL2, its x0/x1 on the stack.
// A data or instruction abort from it tries the lazy map first (traps.rs, `lazy_abort`),
// with only the registers a call clobbers saved, and resumes the guest straight away if
// it was mapped. Anything else, and an abort on either of the two device pages (MMIO or
// vGIC) this guest touched last (Context::lazy_skip, which the lazy map keeps), takes the
// full path.
lower_guest_high_ec:
    ubfx    x0, x0, #26, #6             // EC (ESR_EL2 bits above 31 are ISS2)
    orr     x0, x0, #4                  // 0x20 (instruction abort) or 0x24 (data abort)
    cmp     x0, #0x24
    b.ne    2f
    mrs     x0, tpidr_el2
    ldr     x0, [x0, #PERCPU_CTX]
    stp     x2, x3, [x0, #16]
    mrs     x1, hpfar_el2
    ldp     x2, x3, [x0, #CTX_LAZY_SKIP]
    cmp     x1, x2
    ccmp    x1, x3, #4, ne              // either of the two device pages noted last
    b.eq    3f
    save_x4_to_x19_and_x30
    bl      stile_guest_lazy_abort      // x19..x29 survive the call
    mrs     x1, tpidr_el2
    tbz     w0, #0, 1f                  // a bool: only bit 0 is defined
    ldr     x0, [x1, #PERCPU_CTX]
    ldp     x2, x3, [x0, #16]
    load_x4_to_x17
    ldr     x18, [x0, #144]
    ldr     x30, [x0, #240]
    ldp     x0, x1, [sp], #16
    eret
1:  ldr     x0, [x1, #PERCPU_CTX]       // declined: x2..x19 and x30 are saved already
    mov     x1, #KIND_SYNC
    b       lower_el_save_rest
3:  mov     x1, #KIND_SYNC              // x0 = Context; x2/x3 saved (no longer the guest's)
    b       lower_el_save_x4
2:  mov     x1, #KIND_SYNC
    // fall through

// x1 = kind; the trapped world's x0/x1 are on the stack.
lower_el_load_ctx:
    mrs     x0, tpidr_el2
    ldr     x0, [x0, #PERCPU_CTX]
    // fall through

// x0 = Context of the world that trapped, x1 = kind; its x0/x1 are on the stack.
lower_el_common:
    stp     x2, x3, [x0, #16]
lower_el_save_x4:                       // x2/x3 saved already
    save_x4_to_x19_and_x30
// x0 = Context, x1 = kind; x2..x19 and x30 saved, x0/x1 on the stack.
lower_el_save_rest:
    stp     x20, x21, [x0, #160]
    stp     x22, x23, [x0, #176]
    stp     x24, x25, [x0, #192]
    stp     x26, x27, [x0, #208]
    stp     x28, x29, [x0, #224]
    ldp     x2, x3, [sp], #16
    stp     x2, x3, [x0, #0]
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x2, x3, [x0, #CTX_ELR]
    b       stile_lower_el_trap         // ends in world_resume(Context to resume)

// Enter a world for the first time: x0 = Context, x1 = this CPU's EL2 stack top.
.global world_enter
world_enter:
    mov     sp, x1
    // fall through

// x0 = Context to run; becomes this CPU's current world. The EL2 stack starts over.
.global world_resume
world_resume:
    mrs     x1, tpidr_el2
    str     x0, [x1, #PERCPU_CTX]
    ldr     x2, [x1, #PERCPU_STACK_TOP]
    mov     sp, x2
    ldp     x2, x3, [x0, #CTX_ELR]
    msr     elr_el2, x2
    msr     spsr_el2, x3
    ldp     x2, x3, [x0, #16]
    load_x4_to_x17
    ldp     x18, x19, [x0, #144]
    ldp     x20, x21, [x0, #160]
    ldp     x22, x23, [x0, #176]
    ldp     x24, x25, [x0, #192]
    ldp     x26, x27, [x0, #208]
    ldp     x28, x29, [x0, #224]
    ldr     x30, [x0, #240]
    ldp     x0, x1, [x0, #0]
    eret
