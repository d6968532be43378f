// Stile's first instructions: the arm64 Image header, then the primary CPU's entry.
// Boot protocol (Linux Documentation/arch/arm64/booting.rst): x0 = DTB physical address,
// x1..x3 = 0, MMU off, D-cache off, entered at EL2 (or EL1/EL3 on a misconfigured loader).

// Image header flags: little endian (bit 0 = 0), 4 KiB pages (bits 2:1 = 1),
// may be placed anywhere in RAM at a 2 MiB-aligned base (bit 3 = 1).
.equ IMAGE_FLAGS, (1 << 1) | (1 << 3)

.equ PERCPU_BLOCK_SIZE, 64         // hyp/src/arch/world.rs: PerCpu (asserted there)
.equ PERCPU_INDEX, 16
.equ MAX_CPUS, 8                    // hyp/src/arch/smp.rs, linker/stile.ld

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
    str     xzr, [x9, #PERCPU_INDEX]    // the boot CPU is CPU 0
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

// A CPU the firmware started for us (PSCI CPU_ON or a powering-down CPU_SUSPEND relayed
// by arch/smp.rs): x0 = its index, at EL2 with the MMU off. It takes its own stack and
// per-CPU block, turns the EL2 MMU on with the boot CPU's tables (mmu.rs keeps the register
// values in stile_el2_mmu, cleaned to memory), and goes on in Rust.
.global stile_warm_entry
stile_warm_entry:
    cmp     x0, #MAX_CPUS
    b.hs    8f
    mov     x19, x0
    adr_l   x9, stile_el2_mmu           // mair, tcr, ttbr0, sctlr
    ldp     x10, x11, [x9]
    ldp     x12, x13, [x9, #16]
    cbz     x13, 8f                     // the boot CPU never turned its MMU on
    msr     mair_el2, x10
    msr     tcr_el2, x11
    msr     ttbr0_el2, x12
    isb
    tlbi    alle2
    dsb     nsh
    isb
    msr     sctlr_el2, x13
    isb
    ic      iallu
    dsb     nsh
    isb
    // This CPU's stack: the top of slot x19 (guard page at the bottom of each slot).
    adr_l   x9, __stacks_start
    ldr     x10, =STACK_SLOT_SIZE
    madd    x9, x10, x19, x9
    add     sp, x9, x10
    // Per-CPU block on top of emergency stack x19.
    adr_l   x9, __emergency_stacks_start
    ldr     x10, =EMERGENCY_STACK_SIZE
    madd    x9, x10, x19, x9
    add     x9, x9, x10
    sub     x9, x9, #PERCPU_BLOCK_SIZE
    str     x19, [x9, #PERCPU_INDEX]
    msr     tpidr_el2, x9
    adr_l   x9, el2_vectors
    msr     vbar_el2, x9
    isb
    mov     x0, x19
    bl      stile_secondary_main
8:  wfe
    b       8b

.ltorg
