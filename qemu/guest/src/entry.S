// The guest payload's first instructions: the arm64 Image header, then the entry.
// The VMM's contract (docs/GUEST-PAYLOAD.md): entered by Stile at EL1h with the MMU off,
// x0 = what the VMM passed at VCPU_CREATE, at the IPA the VMM chose: a 2 MiB-aligned base
// in guest RAM + text_offset (image_size bytes of RAM from there: code, data, BSS, stack).

// text_offset: not 0 on purpose, so a VMM that ignores it misses the entry.
.equ GUEST_TEXT_OFFSET, 0x80000
// Image header flags: little endian, 4 KiB pages (bits 2:1 = 1), any 2 MiB-aligned base.
.equ GUEST_IMAGE_FLAGS, (1 << 1) | (1 << 3)

.macro guest_adr_l reg, sym
    adrp    \reg, \sym
    add     \reg, \reg, :lo12:\sym
.endm

.section .text.head, "ax"
.global _start
_start:
    b       guest_entry                 // code0
    .long   0                           // code1
    .quad   GUEST_TEXT_OFFSET           // text_offset
    .quad   __image_size                // image_size: whole footprint incl. BSS and stack
    .quad   GUEST_IMAGE_FLAGS
    .quad   0, 0, 0                     // reserved
    .ascii  "ARM\x64"                   // magic
    .long   0                           // reserved (PE header offset)

guest_entry:
    mov     x19, x0                     // the VMM's x0
    guest_adr_l x20, _start             // where we run (an IPA: the MMU is off)
    self_relocate x20, x21
    // Zero BSS (16-byte aligned by linker/guest.ld). With the MMU off these are
    // Device-nGnRnE stores unless stage 2 forces otherwise (FWB): aligned, so either works.
    guest_adr_l x9, __bss_start
    guest_adr_l x10, __bss_end
1:  cmp     x9, x10
    b.hs    2f
    stp     xzr, xzr, [x9], #16
    b       1b
2:
    guest_adr_l x9, __stack_top
    mov     sp, x9
    guest_adr_l x9, el1_vectors
    msr     vbar_el1, x9
    isb
    mov     x0, x19
    mov     x1, x20
    bl      guest_main
3:  wfe
    b       3b

.purgem guest_adr_l
