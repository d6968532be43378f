/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* Stile's hypercalls as the driver makes them (stile_hyp.c). */
#ifndef STILE_HYP_H
#define STILE_HYP_H

#include <linux/types.h>

/* x0..x3 of one call: status, then results (or the reason, when status < 0). */
struct stile_ret {
	s64 status;
	u64 x1, x2, x3;
};

struct stile_ret stile_hvc(u32 fn, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5, u64 a6);

/* 0 when Stile is the hypervisor below us; else -ENODEV and a log line saying why. */
int stile_probe(void);

/* The errno for a refused call, and its reason code in *reason. 0 for SUCCESS. */
int stile_errno(struct stile_ret r, u64 *reason);

/* Clean [va, va + len) to the point of coherency (the guest may start with caches off). */
void stile_clean_to_poc(void *va, size_t len);

#endif /* STILE_HYP_H */
