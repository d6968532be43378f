// A world's EL1 system registers in and out of the CPU, in El1Regs order (vcpu.rs; the
// offsets are asserted in el1_state.rs). Pairs of MRS/MSR with one STP/LDP each: the world
// switch moves all of them twice per round trip, so every instruction here counts.
//
// None of these registers affects EL2 itself: they configure the EL1&0 regime, which only
// runs after the ERET that follows (a context synchronization event).

.section .text.el1_state, "ax"

.global stile_el1_save
// x0 = El1Regs to fill from the live registers.
stile_el1_save:
    mrs     x2, sctlr_el1
    mrs     x3, cpacr_el1
    stp     x2, x3, [x0, #0]
    mrs     x2, ttbr0_el1
    mrs     x3, ttbr1_el1
    stp     x2, x3, [x0, #16]
    mrs     x2, tcr_el1
    mrs     x3, mair_el1
    stp     x2, x3, [x0, #32]
    mrs     x2, amair_el1
    mrs     x3, vbar_el1
    stp     x2, x3, [x0, #48]
    mrs     x2, contextidr_el1
    mrs     x3, tpidr_el0
    stp     x2, x3, [x0, #64]
    mrs     x2, tpidrro_el0
    mrs     x3, tpidr_el1
    stp     x2, x3, [x0, #80]
    mrs     x2, sp_el0
    mrs     x3, sp_el1
    stp     x2, x3, [x0, #96]
    mrs     x2, elr_el1
    mrs     x3, spsr_el1
    stp     x2, x3, [x0, #112]
    mrs     x2, esr_el1
    mrs     x3, far_el1
    stp     x2, x3, [x0, #128]
    mrs     x2, par_el1
    mrs     x3, afsr0_el1
    stp     x2, x3, [x0, #144]
    mrs     x2, afsr1_el1
    mrs     x3, cntkctl_el1
    stp     x2, x3, [x0, #160]
    mrs     x2, csselr_el1
    mrs     x3, cntv_ctl_el0
    stp     x2, x3, [x0, #176]
    mrs     x2, cntv_cval_el0
    mrs     x3, mdscr_el1
    stp     x2, x3, [x0, #192]
    ret

.global stile_el1_load
// x0 = El1Regs to load into the live registers.
stile_el1_load:
    ldp     x2, x3, [x0, #0]
    msr     sctlr_el1, x2
    msr     cpacr_el1, x3
    ldp     x2, x3, [x0, #16]
    msr     ttbr0_el1, x2
    msr     ttbr1_el1, x3
    ldp     x2, x3, [x0, #32]
    msr     tcr_el1, x2
    msr     mair_el1, x3
    ldp     x2, x3, [x0, #48]
    msr     amair_el1, x2
    msr     vbar_el1, x3
    ldp     x2, x3, [x0, #64]
    msr     contextidr_el1, x2
    msr     tpidr_el0, x3
    ldp     x2, x3, [x0, #80]
    msr     tpidrro_el0, x2
    msr     tpidr_el1, x3
    ldp     x2, x3, [x0, #96]
    msr     sp_el0, x2
    msr     sp_el1, x3
    ldp     x2, x3, [x0, #112]
    msr     elr_el1, x2
    msr     spsr_el1, x3
    ldp     x2, x3, [x0, #128]
    msr     esr_el1, x2
    msr     far_el1, x3
    ldp     x2, x3, [x0, #144]
    msr     par_el1, x2
    msr     afsr0_el1, x3
    ldp     x2, x3, [x0, #160]
    msr     afsr1_el1, x2
    msr     cntkctl_el1, x3
    ldp     x2, x3, [x0, #176]
    msr     csselr_el1, x2
    msr     cntv_ctl_el0, x3
    ldp     x2, x3, [x0, #192]
    msr     cntv_cval_el0, x2
    msr     mdscr_el1, x3
    ret

.global stile_el1_switch
// x0 = El1Regs to save the live registers into, x1 = El1Regs to load (one pass: each
// pair is read out before the incoming pair is written).
stile_el1_switch:
    mrs     x2, sctlr_el1
    mrs     x3, cpacr_el1
    ldp     x4, x5, [x1, #0]
    stp     x2, x3, [x0, #0]
    msr     sctlr_el1, x4
    msr     cpacr_el1, x5
    mrs     x2, ttbr0_el1
    mrs     x3, ttbr1_el1
    ldp     x4, x5, [x1, #16]
    stp     x2, x3, [x0, #16]
    msr     ttbr0_el1, x4
    msr     ttbr1_el1, x5
    mrs     x2, tcr_el1
    mrs     x3, mair_el1
    ldp     x4, x5, [x1, #32]
    stp     x2, x3, [x0, #32]
    msr     tcr_el1, x4
    msr     mair_el1, x5
    mrs     x2, amair_el1
    mrs     x3, vbar_el1
    ldp     x4, x5, [x1, #48]
    stp     x2, x3, [x0, #48]
    msr     amair_el1, x4
    msr     vbar_el1, x5
    mrs     x2, contextidr_el1
    mrs     x3, tpidr_el0
    ldp     x4, x5, [x1, #64]
    stp     x2, x3, [x0, #64]
    msr     contextidr_el1, x4
    msr     tpidr_el0, x5
    mrs     x2, tpidrro_el0
    mrs     x3, tpidr_el1
    ldp     x4, x5, [x1, #80]
    stp     x2, x3, [x0, #80]
    msr     tpidrro_el0, x4
    msr     tpidr_el1, x5
    mrs     x2, sp_el0
    mrs     x3, sp_el1
    ldp     x4, x5, [x1, #96]
    stp     x2, x3, [x0, #96]
    msr     sp_el0, x4
    msr     sp_el1, x5
    mrs     x2, elr_el1
    mrs     x3, spsr_el1
    ldp     x4, x5, [x1, #112]
    stp     x2, x3, [x0, #112]
    msr     elr_el1, x4
    msr     spsr_el1, x5
    mrs     x2, esr_el1
    mrs     x3, far_el1
    ldp     x4, x5, [x1, #128]
    stp     x2, x3, [x0, #128]
    msr     esr_el1, x4
    msr     far_el1, x5
    mrs     x2, par_el1
    mrs     x3, afsr0_el1
    ldp     x4, x5, [x1, #144]
    stp     x2, x3, [x0, #144]
    msr     par_el1, x4
    msr     afsr0_el1, x5
    mrs     x2, afsr1_el1
    mrs     x3, cntkctl_el1
    ldp     x4, x5, [x1, #160]
    stp     x2, x3, [x0, #160]
    msr     afsr1_el1, x4
    msr     cntkctl_el1, x5
    mrs     x2, csselr_el1
    mrs     x3, cntv_ctl_el0
    ldp     x4, x5, [x1, #176]
    stp     x2, x3, [x0, #176]
    msr     csselr_el1, x4
    msr     cntv_ctl_el0, x5
    mrs     x2, cntv_cval_el0
    mrs     x3, mdscr_el1
    ldp     x4, x5, [x1, #192]
    stp     x2, x3, [x0, #192]
    msr     cntv_cval_el0, x4
    msr     mdscr_el1, x5
    ret

// Pointer-authentication keys (PauthKeys in vcpu.rs: APIA, APIB, APDA, APDB, APGA, each Lo
// then Hi), by encoding so that no assembler feature flag is needed. Only called on CPUs
// with FEAT_PAuth, from a guest's first pointer-authentication trap and its exit.

.global stile_keys_save
// x0 = PauthKeys to fill.
stile_keys_save:
    mrs     x2, S3_0_C2_C1_0            // APIAKeyLo_EL1
    mrs     x3, S3_0_C2_C1_1            // APIAKeyHi_EL1
    stp     x2, x3, [x0, #0]
    mrs     x2, S3_0_C2_C1_2            // APIBKeyLo_EL1
    mrs     x3, S3_0_C2_C1_3
    stp     x2, x3, [x0, #16]
    mrs     x2, S3_0_C2_C2_0            // APDAKeyLo_EL1
    mrs     x3, S3_0_C2_C2_1
    stp     x2, x3, [x0, #32]
    mrs     x2, S3_0_C2_C2_2            // APDBKeyLo_EL1
    mrs     x3, S3_0_C2_C2_3
    stp     x2, x3, [x0, #48]
    mrs     x2, S3_0_C2_C3_0            // APGAKeyLo_EL1
    mrs     x3, S3_0_C2_C3_1
    stp     x2, x3, [x0, #64]
    ret

.global stile_keys_load
// x0 = PauthKeys to load.
stile_keys_load:
    ldp     x2, x3, [x0, #0]
    msr     S3_0_C2_C1_0, x2
    msr     S3_0_C2_C1_1, x3
    ldp     x2, x3, [x0, #16]
    msr     S3_0_C2_C1_2, x2
    msr     S3_0_C2_C1_3, x3
    ldp     x2, x3, [x0, #32]
    msr     S3_0_C2_C2_0, x2
    msr     S3_0_C2_C2_1, x3
    ldp     x2, x3, [x0, #48]
    msr     S3_0_C2_C2_2, x2
    msr     S3_0_C2_C2_3, x3
    ldp     x2, x3, [x0, #64]
    msr     S3_0_C2_C3_0, x2
    msr     S3_0_C2_C3_1, x3
    ret

.global stile_read_id_space
// x0 = [[u64; 8]; 7] to fill with op0 3, op1 0, CRn 0, CRm 1..7, op2 0..7 (the ID space:
// unallocated encodings there read as zero).
stile_read_id_space:
.irp crm, 1, 2, 3, 4, 5, 6, 7
.irp op2, 0, 1, 2, 3, 4, 5, 6, 7
    mrs     x2, S3_0_C0_C\crm\()_\op2
    str     x2, [x0], #8
.endr
.endr
    ret
