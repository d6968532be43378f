// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * /dev/stile: one open file is at most one VM (docs/LINUX-DRIVER.md).
 *
 *   CREATE_VM (allocate) -> WRITE_MEM* (load the image) -> DONATE (VM_CREATE) ->
 *   SET_MEMSLOT / CREATE_VCPU / RUN / TRANSLATE ... -> close (VM_DESTROY, free)
 *
 * The last close of the file (the VMM exiting, even by SIGKILL: the kernel closes its
 * files) destroys the VM; Stile scrubs its memory and gives it back before we free it.
 */
#include <linux/dma-mapping.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "stile_abi.h"
#include "stile_hyp.h"
#include "stile_uapi.h"


enum stile_vm_state { VM_EMPTY, VM_LOADING, VM_DONATED };

struct stile_vm {
	struct mutex lock; /* state, memory, slots, vCPU creation */
	enum stile_vm_state state;
	struct page *mem;  /* the donated range's first page: contiguous, 2 MiB aligned */
	unsigned int order; /* a buddy block of 2^order pages, or */
	struct page *cma;  /* a CMA allocation of cma_size bytes holding mem */
	size_t cma_size;
	u64 mem_size;      /* bytes donated */
	u64 id;            /* Stile's VM id once DONATED */
	unsigned long run_pages[STILE_MAX_VCPUS];
	unsigned int nr_vcpus; /* read without the lock by RUN and mmap: smp_load_acquire */
};

static int stile_open(struct inode *inode, struct file *file)
{
	struct stile_vm *vm = kzalloc(sizeof(*vm), GFP_KERNEL);

	if (!vm)
		return -ENOMEM;
	mutex_init(&vm->lock);
	file->private_data = vm;
	return 0;
}

static struct miscdevice stile_misc;

static void free_guest_mem(struct stile_vm *vm)
{
	if (vm->cma)
		dma_free_pages(stile_misc.this_device, vm->cma_size, vm->cma, 0, DMA_BIDIRECTIONAL);
	else
		__free_pages(vm->mem, vm->order);
}

/*
 * Guest memory: up to 4 MiB is one buddy block (contiguous, aligned to its size). More
 * than the buddy allocator's largest block (a Linux guest) comes from the kernel's CMA area
 * (the host's `cma=` size) through the DMA API, 2 MiB more than asked so that an aligned
 * range fits inside; the slack stays the host's and is never donated.
 */
static int alloc_guest_mem(struct stile_vm *vm, u64 size)
{
	unsigned int order = get_order(size);
	dma_addr_t unused;
	u64 pa;

	if (order < MAX_ORDER) {
		vm->mem = alloc_pages(GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN, order);
		vm->order = order;
		return vm->mem ? 0 : -ENOMEM;
	}
	vm->cma_size = size + PMD_SIZE;
	vm->cma = dma_alloc_pages(stile_misc.this_device, vm->cma_size, &unused, DMA_BIDIRECTIONAL,
				  GFP_KERNEL | __GFP_NOWARN);
	if (!vm->cma) {
		pr_warn_ratelimited("stile: no %llu MiB of contiguous memory for a VM (the host's cma= size bounds it)\n",
				    size >> 20);
		return -ENOMEM;
	}
	pa = round_up(page_to_phys(vm->cma), PMD_SIZE);
	vm->mem = phys_to_page(pa);
	memset(page_address(vm->mem), 0, size);
	return 0;
}

static int stile_release(struct inode *inode, struct file *file)
{
	struct stile_vm *vm = file->private_data;
	bool mem_back = true, vm_gone = true;
	u64 reason;
	int i;

	if (vm->state == VM_DONATED) {
		/* No ioctl can be running (it would hold the file): no vCPU is BUSY. */
		int err = stile_errno(stile_call(STILE_FN_VM_DESTROY, vm->id, 0, 0, 0, 0, 0), &reason);

		if (err) {
			/*
			 * Never hand out what Stile may still use: the memory (NO_MEMORY: the VM
			 * is gone but its RAM is not mapped back), and the run pages too if the
			 * VM may still exist (any other refusal).
			 */
			vm_gone = reason == STILE_REASON_NO_MEMORY;
			pr_err("stile: VM %llu: VM_DESTROY refused (%s): %llu KiB leaked\n", vm->id,
			       stile_reason_name(reason) ?: "?", vm->mem_size >> 10);
			mem_back = false;
		}
	}
	if (vm->mem && mem_back) {
		/* The ABI's promise, checked: nothing the guest wrote comes back to the host. */
		if (vm->state == VM_DONATED && memchr_inv(page_address(vm->mem), 0, vm->mem_size))
			pr_err("stile: VM %llu: memory back from VM_DESTROY but not zeroed\n", vm->id);
		free_guest_mem(vm);
	}
	/* Run pages are host RAM again after VM_DESTROY (and never left it before). */
	for (i = 0; vm_gone && i < vm->nr_vcpus; i++)
		free_page(vm->run_pages[i]);
	kfree(vm);
	return 0;
}

static long get_caps(struct stile_caps *a)
{
	struct stile_ret r = stile_call(STILE_FN_GET_CAPS, 0, 0, 0, 0, 0, 0);
	int err = stile_errno(r, &a->reason);

	if (err)
		return err;
	a->caps = r.x1;
	a->reasons = r.x2;
	a->major = STILE_REVISION_MAJOR;
	a->minor = STILE_REVISION_MINOR;
	return 0;
}

static long create_vm(struct stile_vm *vm, struct stile_create_vm *a)
{
	u64 size;
	int err;

	if (a->flags || !a->mem_size || a->mem_size % PAGE_SIZE || a->mem_size > STILE_UAPI_MAX_MEM)
		return -EINVAL;
	if (vm->state != VM_EMPTY)
		return -EEXIST;
	/*
	 * Whole 2 MiB blocks, aligned: donating them never splits a host stage-2 block that
	 * other CPUs are using at that moment (Stile's break-before-make there would abort
	 * their accesses: docs/LINUX-DRIVER.md). The caller learns the size in mem_size.
	 */
	size = round_up(a->mem_size, PMD_SIZE);
	err = alloc_guest_mem(vm, size);
	if (err)
		return err;
	vm->mem_size = size;
	a->mem_size = size;
	vm->state = VM_LOADING;
	return 0;
}

static long write_mem(struct stile_vm *vm, struct stile_write_mem *a)
{
	if (vm->state != VM_LOADING)
		return -EPERM; /* no memory yet, or it is the guest's now */
	if (a->offset > vm->mem_size || a->len > vm->mem_size - a->offset)
		return -EINVAL;
	if (copy_from_user(page_address(vm->mem) + a->offset, u64_to_user_ptr(a->uaddr), a->len))
		return -EFAULT;
	return 0;
}

static long donate(struct stile_vm *vm, struct stile_donate *a)
{
	struct stile_ret r;
	int err;

	if (vm->state != VM_LOADING)
		return vm->state == VM_EMPTY ? -EPERM : -EEXIST;
	stile_clean_to_poc(page_address(vm->mem), vm->mem_size);
	r = stile_call(STILE_FN_VM_CREATE, page_to_phys(vm->mem), vm->mem_size, 0, 0, 0, 0);
	err = stile_errno(r, &a->reason);
	if (err)
		return err;
	vm->id = r.x1;
	a->vm_id = r.x1;
	vm->state = VM_DONATED;
	return 0;
}

static long set_memslot(struct stile_vm *vm, struct stile_memslot *a)
{
	u64 pa = a->backing;

	if (vm->state != VM_DONATED)
		return -EPERM;
	if ((a->word & STILE_SLOT_KIND_MASK) == STILE_SLOT_KIND_RAM) {
		/* Guest RAM is an offset into this VM's memory, never a raw address. */
		if (a->backing > vm->mem_size || a->size > vm->mem_size - a->backing)
			return -EINVAL;
		pa = page_to_phys(vm->mem) + a->backing;
	}
	return stile_errno(stile_call(STILE_FN_MEMSLOT_SET, vm->id, a->slot, a->ipa, pa, a->size,
				     a->word),
			   &a->reason);
}

static long clear_memslot(struct stile_vm *vm, struct stile_memslot *a)
{
	if (vm->state != VM_DONATED)
		return -EPERM;
	return stile_errno(stile_call(STILE_FN_MEMSLOT_CLEAR, vm->id, a->slot, 0, 0, 0, 0),
			   &a->reason);
}

static long create_vcpu(struct stile_vm *vm, struct stile_create_vcpu *a)
{
	unsigned long page;
	struct stile_ret r;
	int err;

	if (vm->state != VM_DONATED)
		return -EPERM;
	if (vm->nr_vcpus >= STILE_MAX_VCPUS)
		return -ENOSPC;
	/* The linear map is Normal-WB, as the ABI asks of a run page. */
	page = get_zeroed_page(GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	r = stile_call(STILE_FN_VCPU_CREATE, vm->id, a->entry, virt_to_phys((void *)page), a->x0,
		      a->flags, 0);
	err = stile_errno(r, &a->reason);
	if (err) {
		free_page(page);
		return err;
	}
	/* Stile numbers vCPUs 0, 1, ... in creation order; the driver indexes by that id. */
	if (r.x1 != vm->nr_vcpus) {
		pr_warn("stile: VM %llu: VCPU_CREATE answered id %llu, expected %u\n", vm->id, r.x1,
			vm->nr_vcpus);
		/* Stile holds it as a run page now: leak it rather than free it under Stile. */
		return -EIO;
	}
	vm->run_pages[vm->nr_vcpus] = page;
	a->vcpu = vm->nr_vcpus;
	smp_store_release(&vm->nr_vcpus, vm->nr_vcpus + 1);
	return 0;
}

static long run(struct stile_vm *vm, struct stile_run *a)
{
	unsigned int nr = smp_load_acquire(&vm->nr_vcpus);
	struct stile_ret r;
	int err;

	if (a->vcpu >= nr)
		return -ENOENT;
	for (;;) {
		r = stile_call(STILE_FN_VCPU_RUN, vm->id, a->vcpu, 0, 0, 0, 0);
		err = stile_errno(r, &a->reason);
		if (err)
			return err;
		a->exit_reason = r.x1;
		/* A host interrupt stopped the guest: it is taken now that EL1 runs again. */
		if (r.x1 != STILE_EXIT_IRQ)
			return 0;
		if (signal_pending(current))
			return -EINTR;
		cond_resched();
	}
}

static long translate(struct stile_vm *vm, struct stile_translate *a)
{
	struct stile_ret r;
	int err;

	if (vm->state != VM_DONATED)
		return -EPERM;
	r = stile_call(STILE_FN_TRANSLATE, vm->id, a->ipa, 0, 0, 0, 0);
	err = stile_errno(r, &a->reason);
	if (err)
		return err;
	a->pa = r.x1;
	a->attr = r.x2;
	a->s2_bits = r.x3;
	return 0;
}

static long stats(struct stile_vm *vm, struct stile_stats *a)
{
	struct stile_ret r;
	int err;

	if (vm->state != VM_DONATED)
		return -EPERM;
	r = stile_call(STILE_FN_STATS, vm->id, 0, 0, 0, 0, 0);
	err = stile_errno(r, &a->reason);
	if (err)
		return err;
	a->lazy_maps = r.x1;
	a->exits = r.x2;
	a->aborts_injected = r.x3;
	return 0;
}

/* Not a VM's: the host takes a board region from every guest, or gives it back. */
static long region(struct stile_region *a, u32 fn)
{
	struct stile_ret r = stile_call(fn, a->base, 0, 0, 0, 0, 0);
	int err = stile_errno(r, &a->reason);

	if (err)
		return err;
	a->slots = r.x1;
	a->vms = r.x2;
	return 0;
}

union stile_args {
	struct stile_caps caps;
	struct stile_create_vm create_vm;
	struct stile_write_mem write_mem;
	struct stile_donate donate;
	struct stile_memslot memslot;
	struct stile_create_vcpu create_vcpu;
	struct stile_run run;
	struct stile_translate translate;
	struct stile_stats stats;
	struct stile_region region;
	struct stile_vgic_config vgic_config;
	struct stile_irq_line irq_line;
	struct stile_vcpu_pending vcpu_pending;
};

/* The VM's virtual GIC: VGIC_CONFIG, IRQ_LINE and VCPU_PENDING for this VM. */
static long vgic(struct stile_vm *vm, unsigned int cmd, union stile_args *a)
{
	struct stile_ret r;
	u64 *reason;
	int err;

	if (vm->state != VM_DONATED)
		return -EPERM;
	switch (cmd) {
	case STILE_IOC_VGIC_CONFIG:
		r = stile_call(STILE_FN_VGIC_CONFIG, vm->id, a->vgic_config.gicd,
			       a->vgic_config.gicr, 0, 0, 0);
		reason = &a->vgic_config.reason;
		break;
	case STILE_IOC_IRQ_LINE:
		r = stile_call(STILE_FN_IRQ_LINE, vm->id, a->irq_line.intid, a->irq_line.level, 0,
			       0, 0);
		reason = &a->irq_line.reason;
		break;
	default:
		r = stile_call(STILE_FN_VCPU_PENDING, vm->id, a->vcpu_pending.vcpu, 0, 0, 0, 0);
		reason = &a->vcpu_pending.reason;
		break;
	}
	err = stile_errno(r, reason);
	if (err || cmd != STILE_IOC_VCPU_PENDING)
		return err;
	a->vcpu_pending.pending = r.x1;
	a->vcpu_pending.intid = r.x2;
	a->vcpu_pending.deadline = r.x3;
	return 0;
}

static long stile_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct stile_vm *vm = file->private_data;
	void __user *uarg = (void __user *)arg;
	unsigned int size = _IOC_SIZE(cmd);
	union stile_args a;
	long ret;

	if (_IOC_TYPE(cmd) != STILE_IOC_MAGIC || size > sizeof(a))
		return -ENOTTY;
	memset(&a, 0, sizeof(a));
	if ((_IOC_DIR(cmd) & _IOC_WRITE) && copy_from_user(&a, uarg, size))
		return -EFAULT;

	if (cmd == STILE_IOC_RUN) {
		/* Not under the lock: vCPUs of one VM run at once, on different CPUs. */
		ret = smp_load_acquire(&vm->nr_vcpus) ? run(vm, &a.run) : -EPERM;
	} else {
		mutex_lock(&vm->lock);
		switch (cmd) {
		case STILE_IOC_GET_CAPS: ret = get_caps(&a.caps); break;
		case STILE_IOC_CREATE_VM: ret = create_vm(vm, &a.create_vm); break;
		case STILE_IOC_WRITE_MEM: ret = write_mem(vm, &a.write_mem); break;
		case STILE_IOC_DONATE: ret = donate(vm, &a.donate); break;
		case STILE_IOC_SET_MEMSLOT: ret = set_memslot(vm, &a.memslot); break;
		case STILE_IOC_CLEAR_MEMSLOT: ret = clear_memslot(vm, &a.memslot); break;
		case STILE_IOC_CREATE_VCPU: ret = create_vcpu(vm, &a.create_vcpu); break;
		case STILE_IOC_TRANSLATE: ret = translate(vm, &a.translate); break;
		case STILE_IOC_STATS: ret = stats(vm, &a.stats); break;
		case STILE_IOC_REGION_REVOKE: ret = region(&a.region, STILE_FN_REGION_REVOKE); break;
		case STILE_IOC_REGION_RESTORE: ret = region(&a.region, STILE_FN_REGION_RESTORE); break;
		case STILE_IOC_VGIC_CONFIG:
		case STILE_IOC_IRQ_LINE:
		case STILE_IOC_VCPU_PENDING: ret = vgic(vm, cmd, &a); break;
		default: ret = -ENOTTY; break;
		}
		mutex_unlock(&vm->lock);
	}
	/* Copied back on failure too: the reason code is the point of a refusal. */
	if (ret != -ENOTTY && (_IOC_DIR(cmd) & _IOC_READ) && copy_to_user(uarg, &a, size))
		return -EFAULT;
	return ret;
}

/* mmap of one page at offset vcpu * PAGE_SIZE: that vCPU's run page, shared and cacheable. */
static int stile_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct stile_vm *vm = file->private_data;
	unsigned int nr = smp_load_acquire(&vm->nr_vcpus);

	if (vma->vm_end - vma->vm_start != PAGE_SIZE || vma->vm_pgoff >= nr)
		return -EINVAL;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	vma->vm_flags |= VM_DONTEXPAND | VM_DONTDUMP | VM_DONTCOPY;
	return remap_pfn_range(vma, vma->vm_start,
			       virt_to_phys((void *)vm->run_pages[vma->vm_pgoff]) >> PAGE_SHIFT,
			       PAGE_SIZE, vma->vm_page_prot);
}

static const struct file_operations stile_fops = {
	.owner = THIS_MODULE,
	.open = stile_open,
	.release = stile_release,
	.unlocked_ioctl = stile_ioctl,
	.mmap = stile_mmap,
	.llseek = noop_llseek,
};

static struct miscdevice stile_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "stile",
	.fops = &stile_fops,
	.mode = 0600,
};

static int __init stile_init(void)
{
	int err = stile_probe();

	if (err)
		return err;
	err = misc_register(&stile_misc);
	/* The DMA API hands out CMA memory only to a device with a DMA mask (large VMs). */
	if (!err && dma_coerce_mask_and_coherent(stile_misc.this_device, DMA_BIT_MASK(64)))
		pr_warn("stile: no DMA mask: VMs are limited to 4 MiB\n");
	if (!err)
		pr_info("stile: /dev/stile ready (ABI %u.%u)\n", STILE_REVISION_MAJOR,
			STILE_REVISION_MINOR);
	return err;
}

static void __exit stile_exit(void)
{
	misc_deregister(&stile_misc);
}

module_init(stile_init);
module_exit(stile_exit);
MODULE_DESCRIPTION("/dev/stile: create and run guests under the Stile hypervisor");
MODULE_LICENSE("Dual MIT/GPL");
