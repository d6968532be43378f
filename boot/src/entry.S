// Stile's first instructions: the arm64 Image header, then the primary CPU's entry.
// Boot protocol (Linux Documentation/arch/arm64/booting.rst): x0 = DTB physical address,
// x1..x3 = 0, MMU off, D-cache off, entered at EL2 (or EL1/EL3 on a misconfigured loader).

// Image header flags: little endian (bit 0 = 0), 4 KiB pages (bits 2:1 = 1),
// may be placed anywhere in RAM at a 2 MiB-aligned base (bit 3 = 1).
.equ IMAGE_FLAGS, (1 << 1) | (1 << 3)

.equ PERCPU_BLOCK_SIZE, 64         // hyp/src/arch/world.rs: PerCpu (asserted there)

.macro adr_l reg, sym
    adrp    \reg, \sym
    add     \reg, \reg, :lo12:\sym
.endm

.section .text.head, "ax"
.global _start
_start:
    b       primary_entry               // code0
    .long   0                           // code1
    .quad   0                           // text_offset
    .quad   __image_size                // image_size: whole footprint incl. BSS and stacks
    .quad   IMAGE_FLAGS
    .quad   0, 0, 0                     // reserved
    .ascii  "ARM\x64"                   // magic
    .long   0                           // reserved (PE header offset)

primary_entry:
    mov     x19, x0                     // DTB
    mrs     x20, CurrentEL
    ubfx    x20, x20, #2, #2            // entry exception level

    adr_l   x21, _start                 // where we run
    self_relocate x21, x22
    // Zero BSS (16-byte aligned by the linker script).
    adr_l   x9, __bss_start
    adr_l   x10, __bss_end
3:  cmp     x9, x10
    b.hs    4f
    stp     xzr, xzr, [x9], #16
    b       3b
4:
    // CPU 0's stack: the top of its slot (guard page at the bottom, stack above it).
    adr_l   x9, __stacks_start
    ldr     x10, =STACK_SLOT_SIZE
    add     sp, x9, x10

    cmp     x20, #2
    b.ne    5f
    // EL2 only: exceptions go to our vectors. TPIDR_EL2 points at CPU 0's per-CPU block,
    // which sits on top of its emergency stack (hyp/src/arch/world.rs).
    adr_l   x9, __emergency_stacks_start
    ldr     x10, =EMERGENCY_STACK_SIZE
    add     x9, x9, x10
    sub     x9, x9, #PERCPU_BLOCK_SIZE
    msr     tpidr_el2, x9
    adr_l   x9, el2_vectors
    msr     vbar_el2, x9
    isb
5:
    mov     x0, x19                     // DTB
    mov     x1, x20                     // entry EL
    mov     x2, x21                     // image base (runtime)
    bl      stile_main
6:  wfe
    b       6b

.ltorg
