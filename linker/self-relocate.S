// Shared by every position-independent image Stile builds (the EL2 image, the host payload):
// apply our own R_AARCH64_RELATIVE relocations, *(r_offset + delta) = r_addend + delta,
// where delta = (where we run) - __link_base. Runs with the MMU off, before any Rust.
// In: \base = runtime address of the image start. Clobbers x9-x13 and \delta.
// pack-image.sh refuses an image with any other relocation type.

.equ R_AARCH64_RELATIVE, 1027

.macro self_relocate base, delta
    ldr     \delta, =__link_base            // a literal: absolute, never relocated
    sub     \delta, \base, \delta
    adrp    x9, __rela_start
    add     x9, x9, :lo12:__rela_start
    adrp    x10, __rela_end
    add     x10, x10, :lo12:__rela_end
1:  cmp     x9, x10
    b.hs    2f
    ldp     x11, x12, [x9], #16             // r_offset, r_info
    ldr     x13, [x9], #8                   // r_addend
    cmp     x12, #R_AARCH64_RELATIVE
    b.ne    1b
    add     x13, x13, \delta
    str     x13, [x11, \delta]
    b       1b
2:
.endm
