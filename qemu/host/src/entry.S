// The host payload's first instructions: the arm64 Image header, then the entry.
// Stile's contract (docs/HOST-PAYLOAD.md): entered at EL1h, MMU and D-cache off, DAIF masked,
// x0 = the host DTB, at a 2 MiB-aligned base where Stile copied this image (image_size bytes
// reserved from there: code, data, BSS and stack).

// Image header flags: little endian (bit 0 = 0), 4 KiB pages (bits 2:1 = 1), any 2 MiB-aligned
// base (bit 3 = 1).
.equ HOST_IMAGE_FLAGS, (1 << 1) | (1 << 3)

.macro host_adr_l reg, sym
    adrp    \reg, \sym
    add     \reg, \reg, :lo12:\sym
.endm

.section .text.head, "ax"
.global _start
_start:
    b       host_entry                  // code0
    .long   0                           // code1
    .quad   0                           // text_offset
    .quad   __image_size                // image_size: whole footprint incl. BSS and stack
    .quad   HOST_IMAGE_FLAGS
    .quad   0, 0, 0                     // reserved
    .ascii  "ARM\x64"                   // magic
    .long   0                           // reserved (PE header offset)

host_entry:
    // The bench's boot figure (boot-to-host-entry): instructions since reset / 16, read
    // before anything else (QEMU -icount: the counter starts at 0 at reset).
    mrs     x22, cntvct_el0
    mov     x19, x0                     // DTB
    host_adr_l x20, _start              // where we run
    self_relocate x20, x21
    // Zero BSS (16-byte aligned by linker/host.ld).
    host_adr_l x9, __bss_start
    host_adr_l x10, __bss_end
1:  cmp     x9, x10
    b.hs    2f
    stp     xzr, xzr, [x9], #16
    b       1b
2:
    host_adr_l x9, __stack_top
    mov     sp, x9
    // Exceptions from here on reach our vectors (qemu/el1-vectors.S), on this stack.
    host_adr_l x9, el1_vectors
    msr     vbar_el1, x9
    isb
    mov     x0, x19                     // DTB
    mov     x1, x22                     // CNTVCT_EL0 at entry
    bl      host_main
3:  wfe
    b       3b

.purgem host_adr_l
