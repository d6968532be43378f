// The guest's bench loops (stile_guest::bench): each repeats one trapping instruction with
// as little around it as possible, so the cost per iteration is the trap's. Fixed registers
// (Stile preserves every guest register but the ones an exit completes: x0..x3 after an HVC,
// the load's destination after an MMIO read). Only caller-saved registers are used.

.section .text.guest_bench, "ax"
.balign 4

// void guest_bench_ping(u64 count, u64 id): count x (x0 = id; hvc #0).
.global guest_bench_ping
.type guest_bench_ping, %function
guest_bench_ping:
    mov     x9, x0
    mov     x10, x1
1:  mov     x0, x10
    hvc     #0
    subs    x9, x9, #1
    b.ne    1b
    ret
.size guest_bench_ping, . - guest_bench_ping

// u64 guest_bench_mmio(u64 count, u64 addr): count x `ldr w4, [addr]`; returns the last w4.
.global guest_bench_mmio
.type guest_bench_mmio, %function
guest_bench_mmio:
1:  ldr     w4, [x1]
    subs    x0, x0, #1
    b.ne    1b
    mov     x0, x4
    ret
.size guest_bench_mmio, . - guest_bench_mmio

// u64 guest_bench_alternate(u64 count, u64 a, u64 b): count x (ldr x4, [a]; ldr x4, [b]);
// returns the last x4.
.global guest_bench_alternate
.type guest_bench_alternate, %function
guest_bench_alternate:
1:  ldr     x4, [x1]
    ldr     x4, [x2]
    subs    x0, x0, #1
    b.ne    1b
    mov     x0, x4
    ret
.size guest_bench_alternate, . - guest_bench_alternate

// void guest_bench_touch(u64 count, u64 first, u64 stride): count x (ldr x4, [p]; p += stride).
.global guest_bench_touch
.type guest_bench_touch, %function
guest_bench_touch:
1:  ldr     x4, [x1]
    add     x1, x1, x2
    subs    x0, x0, #1
    b.ne    1b
    ret
.size guest_bench_touch, . - guest_bench_touch
