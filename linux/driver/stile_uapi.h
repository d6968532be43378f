/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * stile_uapi.h - the ioctls of /dev/stile, the Linux driver for Stile's hypercall ABI
 * (docs/LINUX-DRIVER.md explains the life of a VM; docs/ABI.md the calls underneath).
 *
 * One open file of /dev/stile is at most one VM. Every ioctl struct ends in `reason`:
 * when Stile refused the call, the ioctl fails with an errno and `reason` holds Stile's
 * reason code (STILE_REASON_* of stile_abi.h); a refusal by the driver itself leaves it 0.
 * The Rust VMM (tools/stile-vmm) mirrors these structs and checks them against this file.
 */
#ifndef STILE_UAPI_H
#define STILE_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define STILE_IOC_MAGIC 0xB7

/* Largest VM memory the driver allocates: up to 4 MiB one buddy block, above that the
 * kernel's CMA area (the host's `cma=` boot parameter bounds it; Debian's default is 64M). */
#define STILE_UAPI_MAX_MEM (1ull << 30)

/* GET_CAPS: GET_CAPS' x1 and x2, and the ABI revision. Any fd, before CREATE_VM too. */
struct stile_caps {
	__u64 caps;    /* STILE_CAP_* bits */
	__u64 reasons; /* byte n: STILE_REASON_* why bit n is off */
	__u32 major;
	__u32 minor;
	__u64 reason;
};

/* CREATE_VM: allocate `mem_size` bytes of contiguous, zeroed host RAM for the VM, rounded
 * up to whole 2 MiB blocks (mem_size says what was allocated and will be donated). */
struct stile_create_vm {
	__u64 mem_size; /* in: multiple of 4 KiB, at most STILE_UAPI_MAX_MEM; out: rounded */
	__u64 flags;    /* in: 0 */
	__u64 reason;
};

/* WRITE_MEM: copy `len` bytes from `uaddr` to offset `offset` of the VM's memory. Only
 * before DONATE: afterwards the memory belongs to the guest. */
struct stile_write_mem {
	__u64 offset;
	__u64 len;
	__u64 uaddr;
	__u64 reason;
};

/* DONATE: clean the memory to the point of coherency and VM_CREATE over it. */
struct stile_donate {
	__u64 vm_id; /* out: Stile's VM id (for logs) */
	__u64 reason;
};

/* SET_MEMSLOT / CLEAR_MEMSLOT (after DONATE). For kind `ram`, `backing` is an offset into
 * the VM's memory; for device kinds it is the board region's physical address; for
 * `mmio` it is ignored. `word` is MEMSLOT_SET's descriptor word (kind | perms | flags). */
struct stile_memslot {
	__u32 slot;
	__u32 pad;
	__u64 ipa;
	__u64 backing;
	__u64 size;
	__u64 word;
	__u64 reason;
};

/* CREATE_VCPU (after DONATE): the driver allocates the run page; mmap one page of the
 * fd at offset vcpu * page size to reach it. */
struct stile_create_vcpu {
	__u64 entry; /* in: entry PC (IPA) */
	__u64 x0;    /* in: the guest's x0 at entry */
	__u32 vcpu;  /* out */
	__u32 flags; /* in: VCPU_CREATE's x5 (STILE_VCPU_START_OFF: a PSCI secondary) */
	__u64 reason;
};

/* RUN: VCPU_RUN until an exit that is not a host interrupt (those the driver takes and
 * resumes; a pending signal ends RUN with EINTR). The exit's details are in the run page. */
struct stile_run {
	__u32 vcpu;
	__u32 exit_reason; /* out: STILE_EXIT_* */
	__u64 reason;
};

/* TRANSLATE an IPA of this VM (x1..x3 of TRANSLATE). */
struct stile_translate {
	__u64 ipa;
	__u64 pa;      /* out */
	__u64 attr;    /* out: PAR_EL1.ATTR */
	__u64 s2_bits; /* out: stage-2 descriptor attribute bits */
	__u64 reason;
};

/* STATS of this VM. */
struct stile_stats {
	__u64 lazy_maps;
	__u64 exits;
	__u64 aborts_injected;
	__u64 reason;
};

/* REGION_REVOKE / REGION_RESTORE of an assignable board region, named by its base PA: its
 * guests lose it (their next access exits SLOT_CHANGED) / it may back slots again. Any fd. */
struct stile_region {
	__u64 base;
	__u64 slots; /* out (REVOKE): slots unmapped */
	__u64 vms;   /* out (REVOKE): VMs they belong to */
	__u64 reason;
};

/* VGIC_CONFIG: give this VM a virtual GIC, the machine's version (frames at these IPAs;
 * docs/ABI.md). On a GICv2 machine `gicr` is the guest's GICC frame. */
struct stile_vgic_config {
	__u64 gicd;
	__u64 gicr;
	__u64 reason;
};

/* IRQ_LINE: drive one of this VM's SPI input lines (level 0 or 1). */
struct stile_irq_line {
	__u32 intid;
	__u32 level;
	__u64 reason;
};

/* VCPU_PENDING: whether a vCPU has an interrupt to take (after a WFI exit). */
struct stile_vcpu_pending {
	__u32 vcpu;
	__u32 pending;  /* out: 0 or 1 */
	__u64 intid;    /* out: 1023 when none */
	__u64 deadline; /* out: its virtual timer's, or UINT64_MAX */
	__u64 reason;
};

#define STILE_IOC_GET_CAPS      _IOR(STILE_IOC_MAGIC, 0x00, struct stile_caps)
#define STILE_IOC_CREATE_VM     _IOWR(STILE_IOC_MAGIC, 0x01, struct stile_create_vm)
#define STILE_IOC_WRITE_MEM     _IOWR(STILE_IOC_MAGIC, 0x02, struct stile_write_mem)
#define STILE_IOC_DONATE        _IOWR(STILE_IOC_MAGIC, 0x03, struct stile_donate)
#define STILE_IOC_SET_MEMSLOT   _IOWR(STILE_IOC_MAGIC, 0x04, struct stile_memslot)
#define STILE_IOC_CLEAR_MEMSLOT _IOWR(STILE_IOC_MAGIC, 0x05, struct stile_memslot)
#define STILE_IOC_CREATE_VCPU   _IOWR(STILE_IOC_MAGIC, 0x06, struct stile_create_vcpu)
#define STILE_IOC_RUN           _IOWR(STILE_IOC_MAGIC, 0x07, struct stile_run)
#define STILE_IOC_TRANSLATE     _IOWR(STILE_IOC_MAGIC, 0x08, struct stile_translate)
#define STILE_IOC_STATS         _IOWR(STILE_IOC_MAGIC, 0x09, struct stile_stats)
/* Numbered as the ABI's calls. */
#define STILE_IOC_REGION_REVOKE  _IOWR(STILE_IOC_MAGIC, 0x30, struct stile_region)
#define STILE_IOC_REGION_RESTORE _IOWR(STILE_IOC_MAGIC, 0x31, struct stile_region)
#define STILE_IOC_VGIC_CONFIG    _IOWR(STILE_IOC_MAGIC, 0x40, struct stile_vgic_config)
#define STILE_IOC_IRQ_LINE       _IOWR(STILE_IOC_MAGIC, 0x41, struct stile_irq_line)
#define STILE_IOC_VCPU_PENDING   _IOWR(STILE_IOC_MAGIC, 0x42, struct stile_vcpu_pending)

#endif /* STILE_UAPI_H */
