/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* Finding Stile, its refusals as errnos, cache cleaning (stile_hyp.c). */
#ifndef STILE_HYP_H
#define STILE_HYP_H

#include <linux/types.h>

/* Calls are made with stile_call() from stile_abi.h (HVC #0, x0..x6 in, x0..x3 out). */
#include "stile_abi.h"

/* 0 when Stile is the hypervisor below us; else -ENODEV and a log line saying why. */
int stile_probe(void);

/* The errno for a refused call, and its reason code in *reason. 0 for SUCCESS. */
int stile_errno(struct stile_ret r, u64 *reason);

/* Clean [va, va + len) to the point of coherency (the guest may start with caches off). */
void stile_clean_to_poc(void *va, size_t len);

#endif /* STILE_HYP_H */
