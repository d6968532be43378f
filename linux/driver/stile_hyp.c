// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Finding out whether Stile is there at all (before the first real call), and turning its
 * refusals into errnos. Calls go through stile_call() of the ABI's own C header.
 */
#include <linux/errno.h>
#include <linux/printk.h>
#include <asm/cacheflush.h>
#include <asm/cpufeature.h>
#include <asm/virt.h>

#include "stile_abi.h"
#include "stile_hyp.h"

int stile_probe(void)
{
	u64 pfr0 = read_sysreg(id_aa64pfr0_el1);
	struct stile_ret r;

	/*
	 * HVC is only safe to issue if something sits at EL2 that answers it: not when this
	 * kernel itself runs at EL2 (VHE), and not on a CPU without EL2 (HVC is UNDEFINED
	 * there). A kernel at EL1 that owns EL2 (KVM nVHE, its hyp stub) answers an unknown
	 * function ID with an error, which fails the UID check below.
	 */
	if (is_kernel_in_hyp_mode()) {
		pr_err("stile: not loaded: this kernel runs at EL2, so no Stile runs below it\n");
		return -ENODEV;
	}
	if (!((pfr0 >> ID_AA64PFR0_EL1_EL2_SHIFT) & 0xf)) {
		pr_err("stile: not loaded: this CPU has no EL2, so no hypervisor\n");
		return -ENODEV;
	}
	r = stile_call(STILE_FN_CALL_UID, 0, 0, 0, 0, 0, 0);
	if ((u32)r.status != STILE_UID_0 || (u32)r.x1 != STILE_UID_1 ||
	    (u32)r.x2 != STILE_UID_2 || (u32)r.x3 != STILE_UID_3) {
		pr_err("stile: not loaded: the hypervisor's CALL_UID is %08x %08x %08x %08x, not Stile's\n",
		       (u32)r.status, (u32)r.x1, (u32)r.x2, (u32)r.x3);
		return -ENODEV;
	}
	r = stile_call(STILE_FN_REVISION, 0, 0, 0, 0, 0, 0);
	if ((u64)r.status != STILE_REVISION_MAJOR || r.x1 < STILE_REVISION_MINOR) {
		pr_err("stile: not loaded: Stile speaks ABI %lld.%llu, this driver %u.%u\n",
		       r.status, r.x1, STILE_REVISION_MAJOR, STILE_REVISION_MINOR);
		return -ENODEV;
	}
	return 0;
}

int stile_errno(struct stile_ret r, u64 *reason)
{
	*reason = 0;
	if (r.status == STILE_STATUS_SUCCESS)
		return 0;
	if (r.status == STILE_STATUS_NOT_SUPPORTED)
		return -ENOSYS;
	*reason = r.x1;
	switch (r.x1) {
	case STILE_REASON_NO_SUCH_VM:
	case STILE_REASON_NO_SUCH_VCPU:
	case STILE_REASON_NO_SLOT:
		return -ENOENT;
	case STILE_REASON_LIMIT:
		return -ENOSPC;
	case STILE_REASON_BUSY:
		return -EBUSY;
	case STILE_REASON_NO_MEMORY:
		return -ENOMEM;
	case STILE_REASON_OVERLAP:
		return -EEXIST;
	case STILE_REASON_NEEDS_FWB:
	case STILE_REASON_NO_DIC:
		return -EOPNOTSUPP;
	default:
		return r.status == STILE_STATUS_INVALID_PARAMETERS ? -EINVAL : -EACCES;
	}
}

void stile_clean_to_poc(void *va, size_t len)
{
	/* CTR_EL0.DminLine: log2 of the smallest data cache line, in 4-byte words. */
	unsigned long line = 4ul << ((read_sysreg(ctr_el0) >> 16) & 0xf);
	unsigned long p = (unsigned long)va & ~(line - 1);
	unsigned long end = (unsigned long)va + len;

	for (; p < end; p += line)
		asm volatile("dc cvac, %0" : : "r"(p) : "memory");
	dsb(sy);
}
