/* SPDX-License-Identifier: Apache-2.0 OR MIT */
/*
 * stile_abi.h - Stile's hypercall ABI, revision 0.3, for C hosts
 * (a Linux driver, a VMM). Every call's arguments, results, status and reason
 * codes are explained in docs/ABI.md.
 *
 * GENERATED from the stile-abi crate (abi/src) by abi/tests/c_header.rs: do not
 * edit. Change the crate, then regenerate with
 *     STILE_REGEN_HEADER=1 cargo test -p stile-abi --test c_header
 * (`cargo test -p stile-abi` fails while this file and the crate disagree).
 */
#ifndef STILE_ABI_H
#define STILE_ABI_H

#ifdef __KERNEL__
#include <linux/stddef.h>
#include <linux/types.h>
#else
#include <stddef.h>
#include <stdint.h>
#endif

#ifdef __cplusplus
#define STILE_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define STILE_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/*
 * Function IDs (x0 of the HVC): SMCCC fast calls.
 * Stile's own calls are SMC64 calls of the vendor-specific hypervisor service
 * (STILE_FN_BASE | n); CALL_UID and REVISION are the standard SMC32 queries.
 * On return x0 = STILE_STATUS_*, with an error x1 = STILE_REASON_*.
 *
 *   TRANSLATE(x1 vm, x2 address) -> x1 PA, x2 PAR_EL1.ATTR, x3 stage-2 attribute bits
 *   GET_CAPS() -> x1 STILE_CAP_* bits, x2 reason bytes
 *   STATS(x1 vm) -> x1 faults mapped in EL2, x2 exits, x3 aborts injected
 *   VM_CREATE(x1 RAM PA, x2 RAM size, x3 flags = 0) -> x1 vm
 *   VM_DESTROY(x1 vm)
 *   VCPU_CREATE(x1 vm, x2 entry IPA, x3 run page PA, x4 guest x0) -> x1 vcpu
 *   VCPU_RUN(x1 vm, x2 vcpu) -> x1 STILE_EXIT_*
 *   MEMSLOT_SET(x1 vm, x2 slot, x3 IPA, x4 PA, x5 size, x6 descriptor word)
 *   MEMSLOT_CLEAR(x1 vm, x2 slot)
 *   REGION_REVOKE(x1 region base PA) -> x1 slots unmapped, x2 VMs
 *   REGION_RESTORE(x1 region base PA)
 *   VGIC_CONFIG(x1 vm, x2 GICD IPA, x3 GICR IPA; on a GICv2 machine the GICC IPA)
 *   IRQ_LINE(x1 vm, x2 SPI INTID, x3 level 0/1)
 *   VCPU_PENDING(x1 vm, x2 vcpu) -> x1 pending 0/1, x2 INTID, x3 timer deadline
 */
#define STILE_FN_BASE           0xc6000000u
#define STILE_FN_CALL_UID       0x8600ff01u
#define STILE_FN_REVISION       0x8600ff03u
#define STILE_FN_TRANSLATE      0xc6000001u
#define STILE_FN_GET_CAPS       0xc6000002u
#define STILE_FN_STATS          0xc6000003u
#define STILE_FN_VM_CREATE      0xc6000010u
#define STILE_FN_VM_DESTROY     0xc6000011u
#define STILE_FN_VCPU_CREATE    0xc6000012u
#define STILE_FN_VCPU_RUN       0xc6000013u
#define STILE_FN_MEMSLOT_SET    0xc6000020u
#define STILE_FN_MEMSLOT_CLEAR  0xc6000021u
#define STILE_FN_REGION_REVOKE  0xc6000030u
#define STILE_FN_REGION_RESTORE 0xc6000031u
#define STILE_FN_VGIC_CONFIG    0xc6000040u
#define STILE_FN_IRQ_LINE       0xc6000041u
#define STILE_FN_VCPU_PENDING   0xc6000042u

/* The ABI's name for `v` (as docs/ABI.md and Stile's logs spell it), or NULL. */
static inline const char *stile_fn_name(uint32_t v)
{
	switch (v) {
	case STILE_FN_CALL_UID: return "CALL_UID";
	case STILE_FN_REVISION: return "REVISION";
	case STILE_FN_TRANSLATE: return "TRANSLATE";
	case STILE_FN_GET_CAPS: return "GET_CAPS";
	case STILE_FN_STATS: return "STATS";
	case STILE_FN_VM_CREATE: return "VM_CREATE";
	case STILE_FN_VM_DESTROY: return "VM_DESTROY";
	case STILE_FN_VCPU_CREATE: return "VCPU_CREATE";
	case STILE_FN_VCPU_RUN: return "VCPU_RUN";
	case STILE_FN_MEMSLOT_SET: return "MEMSLOT_SET";
	case STILE_FN_MEMSLOT_CLEAR: return "MEMSLOT_CLEAR";
	case STILE_FN_REGION_REVOKE: return "REGION_REVOKE";
	case STILE_FN_REGION_RESTORE: return "REGION_RESTORE";
	case STILE_FN_VGIC_CONFIG: return "VGIC_CONFIG";
	case STILE_FN_IRQ_LINE: return "IRQ_LINE";
	case STILE_FN_VCPU_PENDING: return "VCPU_PENDING";
	default: return NULL;
	}
}

/*
 * CALL_UID answers STILE_UID_0..3 in w0..w3; REVISION answers major in x0, minor in x1.
 * A host should refuse a different major revision.
 */
#define STILE_UID_0          0x5374696cu
#define STILE_UID_1          0x65004879u
#define STILE_UID_2          0x70657276u
#define STILE_UID_3          0x69736f72u
#define STILE_REVISION_MAJOR 0u
#define STILE_REVISION_MINOR 3u

/*
 * Status (x0 on return): signed 64-bit.
 * With an error status, x1 holds a reason code (STILE_REASON_*).
 */
#define STILE_STATUS_SUCCESS            0ll
#define STILE_STATUS_NOT_SUPPORTED      (-1ll)
#define STILE_STATUS_INVALID_PARAMETERS (-2ll)
#define STILE_STATUS_DENIED             (-3ll)

/* The ABI's name for `v` (as docs/ABI.md and Stile's logs spell it), or NULL. */
static inline const char *stile_status_name(int64_t v)
{
	switch (v) {
	case STILE_STATUS_SUCCESS: return "SUCCESS";
	case STILE_STATUS_NOT_SUPPORTED: return "NOT_SUPPORTED";
	case STILE_STATUS_INVALID_PARAMETERS: return "INVALID_PARAMETERS";
	case STILE_STATUS_DENIED: return "DENIED";
	default: return NULL;
	}
}

/*
 * Reason codes: why a call was refused or a fault was not handled.
 * In x1 with an error status, in the run page's fault_reason, and one per byte in
 * GET_CAPS' x2. Logs print the same names: `stile: error: ... (NEEDS_FWB)`.
 */
#define STILE_REASON_NONE                   0ull
#define STILE_REASON_NEEDS_FWB              1ull
#define STILE_REASON_NO_DIC                 2ull
#define STILE_REASON_OUTSIDE_RAM            3ull
#define STILE_REASON_OUTSIDE_PA_RANGE       4ull
#define STILE_REASON_HYP_MEMORY             5ull
#define STILE_REASON_COLLIDES_WITH_DTB      6ull
#define STILE_REASON_COLLIDES_WITH_RESERVED 7ull
#define STILE_REASON_NO_MAPPING             8ull
#define STILE_REASON_NO_SUCH_VM             9ull
#define STILE_REASON_OUT_OF_RANGE           10ull
#define STILE_REASON_OVERLAPS_RAM           11ull
#define STILE_REASON_NOT_OPTED_IN           12ull
#define STILE_REASON_NO_SLOT                13ull
#define STILE_REASON_PERMISSION             14ull
#define STILE_REASON_SLOT_CHANGED           15ull
#define STILE_REASON_MISALIGNED             16ull
#define STILE_REASON_OVERLAP                17ull
#define STILE_REASON_NOT_OWNED              18ull
#define STILE_REASON_BAD_KIND               19ull
#define STILE_REASON_LIMIT                  20ull
#define STILE_REASON_BUSY                   21ull
#define STILE_REASON_NO_MEMORY              22ull
#define STILE_REASON_NO_SUCH_VCPU           23ull
#define STILE_REASON_EXEC_NOT_ALLOWED       24ull
#define STILE_REASON_BAD_ARGUMENT           25ull
#define STILE_REASON_REVOKED                26ull
#define STILE_REASON_NO_VGIC                27ull

/* The ABI's name for `v` (as docs/ABI.md and Stile's logs spell it), or NULL. */
static inline const char *stile_reason_name(uint64_t v)
{
	switch (v) {
	case STILE_REASON_NONE: return "NONE";
	case STILE_REASON_NEEDS_FWB: return "NEEDS_FWB";
	case STILE_REASON_NO_DIC: return "NO_DIC";
	case STILE_REASON_OUTSIDE_RAM: return "OUTSIDE_RAM";
	case STILE_REASON_OUTSIDE_PA_RANGE: return "OUTSIDE_PA_RANGE";
	case STILE_REASON_HYP_MEMORY: return "HYP_MEMORY";
	case STILE_REASON_COLLIDES_WITH_DTB: return "COLLIDES_WITH_DTB";
	case STILE_REASON_COLLIDES_WITH_RESERVED: return "COLLIDES_WITH_RESERVED";
	case STILE_REASON_NO_MAPPING: return "NO_MAPPING";
	case STILE_REASON_NO_SUCH_VM: return "NO_SUCH_VM";
	case STILE_REASON_OUT_OF_RANGE: return "OUT_OF_RANGE";
	case STILE_REASON_OVERLAPS_RAM: return "OVERLAPS_RAM";
	case STILE_REASON_NOT_OPTED_IN: return "NOT_OPTED_IN";
	case STILE_REASON_NO_SLOT: return "NO_SLOT";
	case STILE_REASON_PERMISSION: return "PERMISSION";
	case STILE_REASON_SLOT_CHANGED: return "SLOT_CHANGED";
	case STILE_REASON_MISALIGNED: return "MISALIGNED";
	case STILE_REASON_OVERLAP: return "OVERLAP";
	case STILE_REASON_NOT_OWNED: return "NOT_OWNED";
	case STILE_REASON_BAD_KIND: return "BAD_KIND";
	case STILE_REASON_LIMIT: return "LIMIT";
	case STILE_REASON_BUSY: return "BUSY";
	case STILE_REASON_NO_MEMORY: return "NO_MEMORY";
	case STILE_REASON_NO_SUCH_VCPU: return "NO_SUCH_VCPU";
	case STILE_REASON_EXEC_NOT_ALLOWED: return "EXEC_NOT_ALLOWED";
	case STILE_REASON_BAD_ARGUMENT: return "BAD_ARGUMENT";
	case STILE_REASON_REVOKED: return "REVOKED";
	case STILE_REASON_NO_VGIC: return "NO_VGIC";
	default: return NULL;
	}
}

/*
 * GET_CAPS capability bits (x1).
 * For each bit n that is off, byte n of x2 is the reason (stile_cap_reason()).
 */
#define STILE_CAP_CACHEABLE_DEVICE      (1ull << 0)
#define STILE_CAP_CACHEABLE_DEVICE_EXEC (1ull << 1)
#define STILE_CAP_DEVICE_NC             (1ull << 2)
#define STILE_CAP_MMIO_EXITS            (1ull << 3)
#define STILE_CAP_NISV_EXITS            (1ull << 4)
#define STILE_CAP_LAZY_MAPPING          (1ull << 5)
#define STILE_CAP_FWB_GUESTS            (1ull << 6)
#define STILE_CAP_VGIC                  (1ull << 7)

/* The ABI's name for `v` (as docs/ABI.md and Stile's logs spell it), or NULL. */
static inline const char *stile_cap_name(uint64_t v)
{
	switch (v) {
	case STILE_CAP_CACHEABLE_DEVICE: return "CACHEABLE_DEVICE";
	case STILE_CAP_CACHEABLE_DEVICE_EXEC: return "CACHEABLE_DEVICE_EXEC";
	case STILE_CAP_DEVICE_NC: return "DEVICE_NC";
	case STILE_CAP_MMIO_EXITS: return "MMIO_EXITS";
	case STILE_CAP_NISV_EXITS: return "NISV_EXITS";
	case STILE_CAP_LAZY_MAPPING: return "LAZY_MAPPING";
	case STILE_CAP_FWB_GUESTS: return "FWB_GUESTS";
	case STILE_CAP_VGIC: return "VGIC";
	default: return NULL;
	}
}

/* MEMSLOT_SET descriptor word (x6): slot kinds, bits [7:0]. */
#define STILE_SLOT_KIND_RAM              0ull
#define STILE_SLOT_KIND_DEVICE           1ull
#define STILE_SLOT_KIND_DEVICE_NC        2ull
#define STILE_SLOT_KIND_CACHEABLE_DEVICE 3ull
#define STILE_SLOT_KIND_MMIO             4ull

/* The ABI's name for `v` (as docs/ABI.md and Stile's logs spell it), or NULL. */
static inline const char *stile_slot_kind_name(uint64_t v)
{
	switch (v) {
	case STILE_SLOT_KIND_RAM: return "ram";
	case STILE_SLOT_KIND_DEVICE: return "device";
	case STILE_SLOT_KIND_DEVICE_NC: return "device-nc";
	case STILE_SLOT_KIND_CACHEABLE_DEVICE: return "cacheable-device";
	case STILE_SLOT_KIND_MMIO: return "mmio";
	default: return NULL;
	}
}

/*
 * MEMSLOT_SET descriptor word (x6): permissions [10:8], flags from bit 16.
 * Any bit outside STILE_SLOT_KNOWN_BITS is refused (BAD_ARGUMENT).
 */
#define STILE_SLOT_KIND_MASK             0xffull
#define STILE_SLOT_PERM_READ             (1ull << 8)
#define STILE_SLOT_PERM_WRITE            (1ull << 9)
#define STILE_SLOT_PERM_EXEC             (1ull << 10)
#define STILE_SLOT_FLAG_CACHEABLE_OPT_IN (1ull << 16)
#define STILE_SLOT_FLAG_EAGER            (1ull << 17)
#define STILE_SLOT_KNOWN_BITS            0x307ffull

/*
 * VCPU_CREATE flags (x5).
 * Any other bit is refused (BAD_ARGUMENT).
 */
#define STILE_VCPU_START_OFF   (1ull << 0)
#define STILE_VCPU_KNOWN_FLAGS 0x1ull

/* VCPU_RUN exit reasons (x1 on return; run page exit_reason). */
#define STILE_EXIT_NONE         0u
#define STILE_EXIT_MMIO         1u
#define STILE_EXIT_NISV         2u
#define STILE_EXIT_MEMORY_FAULT 3u
#define STILE_EXIT_HVC          4u
#define STILE_EXIT_SYSTEM_EVENT 5u
#define STILE_EXIT_IRQ          6u
#define STILE_EXIT_UNKNOWN      7u
#define STILE_EXIT_WFI          8u

/* The ABI's name for `v` (as docs/ABI.md and Stile's logs spell it), or NULL. */
static inline const char *stile_exit_reason_name(uint32_t v)
{
	switch (v) {
	case STILE_EXIT_NONE: return "NONE";
	case STILE_EXIT_MMIO: return "MMIO";
	case STILE_EXIT_NISV: return "NISV";
	case STILE_EXIT_MEMORY_FAULT: return "MEMORY_FAULT";
	case STILE_EXIT_HVC: return "HVC";
	case STILE_EXIT_SYSTEM_EVENT: return "SYSTEM_EVENT";
	case STILE_EXIT_IRQ: return "IRQ";
	case STILE_EXIT_UNKNOWN: return "UNKNOWN";
	case STILE_EXIT_WFI: return "WFI";
	default: return NULL;
	}
}

/*
 * What the next VCPU_RUN does with the exited instruction (run page host_action).
 * The host writes one before VCPU_RUN; Stile resets it to COMPLETE afterwards.
 */
#define STILE_HOST_ACTION_COMPLETE     0u
#define STILE_HOST_ACTION_SKIP         1u
#define STILE_HOST_ACTION_INJECT_ABORT 2u

/* Run page: access values, MMIO flag bits, layout version. */
#define STILE_ACCESS_READ      0u
#define STILE_ACCESS_WRITE     1u
#define STILE_ACCESS_EXEC      2u
#define STILE_MMIO_WRITE       (1u << 0)
#define STILE_MMIO_SIGN_EXTEND (1u << 1)
#define STILE_MMIO_REG64       (1u << 2)
#define STILE_RUN_PAGE_VERSION 1u

/*
 * Limits of this revision (exceeding one is refused with LIMIT).
 * Addresses and sizes in VM_CREATE, VCPU_CREATE and MEMSLOT_SET are multiples of
 * STILE_PAGE_SIZE; a run page is one page of host RAM the host maps Normal-WB.
 */
#define STILE_MAX_GUESTS    8ull
#define STILE_MAX_VCPUS     4ull
#define STILE_MAX_SLOTS     16ull
#define STILE_PAGE_SIZE     4096ull
#define STILE_RUN_PAGE_SIZE 4096ull

/*
 * PSCI and SMCCC architecture function IDs (Arm DEN0022, DEN0028).
 * What a guest may call over HVC/SMC, and what Stile relays for the host:
 * docs/ABI.md. The _64 IDs are the SMC64 forms.
 */
#define STILE_PSCI_VERSION           0x84000000u
#define STILE_PSCI_CPU_SUSPEND_64    0xc4000001u
#define STILE_PSCI_CPU_OFF           0x84000002u
#define STILE_PSCI_CPU_ON_64         0xc4000003u
#define STILE_PSCI_AFFINITY_INFO_64  0xc4000004u
#define STILE_PSCI_MIGRATE_INFO_TYPE 0x84000006u
#define STILE_PSCI_SYSTEM_OFF        0x84000008u
#define STILE_PSCI_SYSTEM_RESET      0x84000009u
#define STILE_PSCI_FEATURES          0x8400000au
#define STILE_PSCI_SYSTEM_RESET2_64  0xc4000012u
#define STILE_SMCCC_VERSION          0x80000000u
#define STILE_SMCCC_ARCH_FEATURES    0x80000001u

/* The ABI's name for `v` (as docs/ABI.md and Stile's logs spell it), or NULL. */
static inline const char *stile_psci_fn_name(uint32_t v)
{
	switch (v) {
	case STILE_PSCI_VERSION: return "PSCI_VERSION";
	case STILE_PSCI_CPU_SUSPEND_64: return "CPU_SUSPEND";
	case STILE_PSCI_CPU_OFF: return "CPU_OFF";
	case STILE_PSCI_CPU_ON_64: return "CPU_ON";
	case STILE_PSCI_AFFINITY_INFO_64: return "AFFINITY_INFO";
	case STILE_PSCI_MIGRATE_INFO_TYPE: return "MIGRATE_INFO_TYPE";
	case STILE_PSCI_SYSTEM_OFF: return "SYSTEM_OFF";
	case STILE_PSCI_SYSTEM_RESET: return "SYSTEM_RESET";
	case STILE_PSCI_FEATURES: return "PSCI_FEATURES";
	case STILE_PSCI_SYSTEM_RESET2_64: return "SYSTEM_RESET2";
	case STILE_SMCCC_VERSION: return "SMCCC_VERSION";
	case STILE_SMCCC_ARCH_FEATURES: return "SMCCC_ARCH_FEATURES";
	default: return NULL;
	}
}

/*
 * The reason for capability `bit` (one STILE_CAP_* bit) out of GET_CAPS' x2:
 * STILE_REASON_NONE when the bit is on, and for bits above 7.
 */
static inline uint64_t stile_cap_reason(uint64_t x2, uint64_t bit)
{
	unsigned int n = 0;

	if (bit == 0)
		return 0;
	while (!(bit & 1u)) {
		bit >>= 1;
		n++;
	}
	return n < 8 ? (x2 >> (8 * n)) & 0xffu : 0;
}

/* The MEMSLOT_SET descriptor word: kind | STILE_SLOT_PERM_* | STILE_SLOT_FLAG_*. */
static inline uint64_t stile_slot_word(uint64_t kind, uint64_t perms, uint64_t flags)
{
	return kind | perms | flags;
}

/*
 * One call: HVC #0 from EL1 with x0 = fn, x1..x6 = a1..a6 (pass 0 for arguments a
 * call does not use). SMCCC allows x4..x17 to be clobbered; x0..x3 come back.
 */
#if defined(__aarch64__)
struct stile_ret {
	int64_t status;   /* x0: STILE_STATUS_* (or CALL_UID's w0, REVISION's major) */
	uint64_t x1, x2, x3; /* results; with an error status x1 = STILE_REASON_* */
};

static inline struct stile_ret stile_call(uint32_t fn, uint64_t a1, uint64_t a2, uint64_t a3,
					   uint64_t a4, uint64_t a5, uint64_t a6)
{
	register uint64_t x0 __asm__("x0") = fn;
	register uint64_t x1 __asm__("x1") = a1, x2 __asm__("x2") = a2, x3 __asm__("x3") = a3;
	register uint64_t x4 __asm__("x4") = a4, x5 __asm__("x5") = a5, x6 __asm__("x6") = a6;
	struct stile_ret r;

	__asm__ volatile("hvc #0"
			 : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "+r"(x4), "+r"(x5), "+r"(x6)
			 :
			 : "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15",
			   "x16", "x17", "memory");
	r.status = (int64_t)x0;
	r.x1 = x1;
	r.x2 = x2;
	r.x3 = x3;
	return r;
}
#endif /* __aarch64__ */

/*
 * The run page: one 4 KiB page of host RAM per vCPU, given at VCPU_CREATE; the
 * record sits at its start. Stile writes every field except host_action, data
 * (the value an MMIO read loads) and hvc[0..3] (HVC results), which the host
 * writes before the next VCPU_RUN. Offsets are fixed: a new layout gets a new
 * STILE_RUN_PAGE_VERSION.
 */
struct stile_run_page {
	uint32_t version;      /*   0: STILE_RUN_PAGE_VERSION */
	uint32_t exit_reason;  /*   4: STILE_EXIT_* */
	uint64_t esr;          /*   8: ESR_EL2 of the exit */
	uint64_t far;          /*  16: FAR_EL2 of the exit */
	uint64_t hpfar;        /*  24: HPFAR_EL2 of the exit */
	uint64_t ipa;          /*  32: faulting IPA (aborts) */
	uint64_t pc;           /*  40: guest PC of the exiting instruction */
	uint64_t fault_reason; /*  48: STILE_REASON_* (MEMORY_FAULT) */
	uint8_t access;        /*  56: STILE_ACCESS_* */
	uint8_t size;          /*  57: access size in bytes, 0 if unknown */
	uint8_t srt;           /*  58: register of an MMIO access (31 = xzr) */
	uint8_t flags;         /*  59: STILE_MMIO_* bits */
	uint32_t host_action;  /*  60: host writes: STILE_HOST_ACTION_* */
	uint64_t data;         /*  64: MMIO: value written; host writes the value to load */
	uint64_t hvc[8];       /*  72: HVC: guest x0..x7; host writes results to hvc[0..3] */
	uint64_t system_event; /* 136: SYSTEM_EVENT: PSCI function ID */
	uint64_t exit_count;   /* 144: exits of this vCPU so far */
};

STILE_STATIC_ASSERT(sizeof(struct stile_run_page) == 152, "run page layout");
STILE_STATIC_ASSERT(offsetof(struct stile_run_page, version) == 0, "run page layout");
STILE_STATIC_ASSERT(offsetof(struct stile_run_page, exit_reason) == 4, "run page layout");
STILE_STATIC_ASSERT(offsetof(struct stile_run_page, esr) == 8, "run page layout");
STILE_STATIC_ASSERT(offsetof(struct stile_run_page, far) == 16, "run page layout");
STILE_STATIC_ASSERT(offsetof(struct stile_run_page, hpfar) == 24, "run page layout");
STILE_STATIC_ASSERT(offsetof(struct stile_run_page, ipa) == 32, "run page layout");
STILE_STATIC_ASSERT(offsetof(struct stile_run_page, pc) == 40, "run page layout");
STILE_STATIC_ASSERT(offsetof(struct stile_run_page, fault_reason) == 48, "run page layout");
STILE_STATIC_ASSERT(offsetof(struct stile_run_page, access) == 56, "run page layout");
STILE_STATIC_ASSERT(offsetof(struct stile_run_page, size) == 57, "run page layout");
STILE_STATIC_ASSERT(offsetof(struct stile_run_page, srt) == 58, "run page layout");
STILE_STATIC_ASSERT(offsetof(struct stile_run_page, flags) == 59, "run page layout");
STILE_STATIC_ASSERT(offsetof(struct stile_run_page, host_action) == 60, "run page layout");
STILE_STATIC_ASSERT(offsetof(struct stile_run_page, data) == 64, "run page layout");
STILE_STATIC_ASSERT(offsetof(struct stile_run_page, hvc) == 72, "run page layout");
STILE_STATIC_ASSERT(offsetof(struct stile_run_page, system_event) == 136, "run page layout");
STILE_STATIC_ASSERT(offsetof(struct stile_run_page, exit_count) == 144, "run page layout");

#endif /* STILE_ABI_H */
