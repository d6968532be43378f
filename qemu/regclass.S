// Accessors for the isolation checks' registers (qemu/guest/src/regclass.rs: REGS, in this
// order), shared by the host and the guest payloads. Entry n of regclass_read is at
// regclass_read + 8 * n: one instruction that reads the register into x0, then `ret`;
// regclass_write likewise writes x0. Each payload runs an entry armed at its first
// instruction, so an UNDEFINED access is recorded and stepped over to the `ret` (a read then
// returns x0 as the caller passed it). Registers go by encoding where an assembler would
// want a feature flag.
.arch_extension fp
.arch_extension simd
.arch_extension sve

.macro rd n, insn:vararg
    .org    regclass_read + \n * 8
    \insn
    ret
.endm

.macro wr n, insn:vararg
    .org    regclass_write + \n * 8
    \insn
    ret
.endm

.section .text.regclass, "ax"
.balign 8
.global regclass_read
regclass_read:
    rd 0, fmov x0, d0
    rd 1, fmov x0, v31.d[1]
    rd 2, mrs x0, fpcr
    rd 3, mrs x0, fpsr
    rd 4, mrs x0, S3_0_C1_C2_0          // ZCR_EL1
    rd 5, cntp x0, p0, p0.b
    rd 6, mrs x0, S3_3_C13_C0_5         // TPIDR2_EL0
    rd 7, mrs x0, S3_0_C2_C1_0          // APIAKeyLo_EL1
    rd 8, mrs x0, S3_0_C2_C1_1
    rd 9, mrs x0, S3_0_C2_C1_2          // APIBKeyLo_EL1
    rd 10, mrs x0, S3_0_C2_C1_3
    rd 11, mrs x0, S3_0_C2_C2_0         // APDAKeyLo_EL1
    rd 12, mrs x0, S3_0_C2_C2_1
    rd 13, mrs x0, S3_0_C2_C2_2         // APDBKeyLo_EL1
    rd 14, mrs x0, S3_0_C2_C2_3
    rd 15, mrs x0, S3_0_C2_C3_0         // APGAKeyLo_EL1
    rd 16, mrs x0, S3_0_C2_C3_1
    rd 17, mrs x0, cntp_ctl_el0
    rd 18, mrs x0, cntp_cval_el0
    rd 19, mrs x0, cntv_ctl_el0
    rd 20, mrs x0, cntv_cval_el0
    rd 21, mrs x0, cntkctl_el1
    rd 22, mrs x0, mdscr_el1
    rd 23, mrs x0, dbgbvr0_el1
    rd 24, mrs x0, dbgbcr0_el1
    rd 25, mrs x0, dbgwvr0_el1
    rd 26, mrs x0, dbgwcr0_el1
    rd 27, mrs x0, pmcr_el0
    rd 28, mrs x0, pmselr_el0
    rd 29, mrs x0, pmcntenset_el0
    rd 30, mrs x0, pmintenset_el1
    rd 31, mrs x0, pmovsset_el0
    rd 32, mrs x0, pmuserenr_el0
    rd 33, mrs x0, pmevtyper0_el0
    rd 34, mrs x0, pmevcntr0_el0
    rd 35, mrs x0, pmccfiltr_el0
    rd 36, mrs x0, tpidr_el0
    rd 37, mrs x0, tpidrro_el0
    rd 38, mrs x0, tpidr_el1
    rd 39, mrs x0, contextidr_el1
    rd 40, mrs x0, par_el1
    rd 41, mrs x0, far_el1
    rd 42, mrs x0, S3_0_C12_C1_1        // DISR_EL1
    rd 43, mrs x0, S3_0_C10_C4_0        // LORSA_EL1
    rd 44, mrs x0, S3_0_C10_C4_1        // LOREA_EL1
    rd 45, mrs x0, S3_0_C10_C4_2        // LORN_EL1
    rd 46, mrs x0, S3_0_C10_C4_3        // LORC_EL1
    rd 47, mrs x0, actlr_el1
    .org    regclass_read + 48 * 8

.balign 8
.global regclass_write
regclass_write:
    wr 0, fmov d0, x0
    wr 1, fmov v31.d[1], x0
    wr 2, msr fpcr, x0
    wr 3, msr fpsr, x0
    wr 4, msr S3_0_C1_C2_0, x0
    wr 5, whilelo p0.b, xzr, x0
    wr 6, msr S3_3_C13_C0_5, x0
    wr 7, msr S3_0_C2_C1_0, x0
    wr 8, msr S3_0_C2_C1_1, x0
    wr 9, msr S3_0_C2_C1_2, x0
    wr 10, msr S3_0_C2_C1_3, x0
    wr 11, msr S3_0_C2_C2_0, x0
    wr 12, msr S3_0_C2_C2_1, x0
    wr 13, msr S3_0_C2_C2_2, x0
    wr 14, msr S3_0_C2_C2_3, x0
    wr 15, msr S3_0_C2_C3_0, x0
    wr 16, msr S3_0_C2_C3_1, x0
    wr 17, msr cntp_ctl_el0, x0
    wr 18, msr cntp_cval_el0, x0
    wr 19, msr cntv_ctl_el0, x0
    wr 20, msr cntv_cval_el0, x0
    wr 21, msr cntkctl_el1, x0
    wr 22, msr mdscr_el1, x0
    wr 23, msr dbgbvr0_el1, x0
    wr 24, msr dbgbcr0_el1, x0
    wr 25, msr dbgwvr0_el1, x0
    wr 26, msr dbgwcr0_el1, x0
    wr 27, msr pmcr_el0, x0
    wr 28, msr pmselr_el0, x0
    wr 29, msr pmcntenset_el0, x0
    wr 30, msr pmintenset_el1, x0
    wr 31, msr pmovsset_el0, x0
    wr 32, msr pmuserenr_el0, x0
    wr 33, msr pmevtyper0_el0, x0
    wr 34, msr pmevcntr0_el0, x0
    wr 35, msr pmccfiltr_el0, x0
    wr 36, msr tpidr_el0, x0
    wr 37, msr tpidrro_el0, x0
    wr 38, msr tpidr_el1, x0
    wr 39, msr contextidr_el1, x0
    wr 40, msr par_el1, x0
    wr 41, msr far_el1, x0
    wr 42, msr S3_0_C12_C1_1, x0
    wr 43, msr S3_0_C10_C4_0, x0
    wr 44, msr S3_0_C10_C4_1, x0
    wr 45, msr S3_0_C10_C4_2, x0
    wr 46, msr S3_0_C10_C4_3, x0
    wr 47, msr actlr_el1, x0
    .org    regclass_write + 48 * 8
