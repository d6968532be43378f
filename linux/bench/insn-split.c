/*
 * A QEMU TCG plugin (QEMU 4.2 .. 8.1 plugin API, version 1) for `make bench-linux`
 * (docs/PERFORMANCE.md, "Linux as the host"): counts every instruction the guest machine
 * retires, the part whose address lies in EL2's image, and where the first userspace
 * instruction (Linux's /init) ran.
 *
 * Arguments: el2=LO-HI (hex, Stile's image: EL2 runs identity-mapped there and nothing else
 * executes there under Stile), ram=LO-HI (hex: code in RAM at a low address is boot code with
 * the MMU off, not userspace). An instruction is "user" when its address is below 2^48 and
 * outside RAM: Linux's kernel runs at 0xffff... addresses once its MMU is on.
 *
 * At exit it prints one line:
 *   insn-split: total T el2 E kernel-va-at K el2-before-kernel-va KE first-user-at U el2-before-user UE
 * K is where Linux first ran with its MMU on (an address at 0xffff...), U where the first
 * userspace instruction ran (0 if none), each with the EL2 count at that point. TCG translates
 * a block when execution first reaches it, so those points are taken at translation, within
 * one block. Counted inline per instruction, so an exception in the middle of a block does not
 * count the rest of it. Made for -smp 1 (one vCPU: the counters are plain 64-bit adds).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The few declarations of QEMU's plugin API this plugin uses (its C ABI, version 1). */
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, qemu_plugin_vcpu_tb_trans_cb_t);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *, enum qemu_plugin_op,
                                                void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, qemu_plugin_udata_cb_t, void *userdata);
void qemu_plugin_outs(const char *);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t el2_lo, el2_hi, ram_lo, ram_hi;
static uint64_t total, el2, kernel_va_at, el2_before_kernel_va, first_user_at, el2_before_user;

static int is_user(uint64_t va)
{
    return va < (1ULL << 48) && !(va >= ram_lo && va < ram_hi);
}

static void translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t va = qemu_plugin_insn_vaddr(insn);
        if (i == 0 && !first_user_at && is_user(va)) {
            first_user_at = total;
            el2_before_user = el2;
        }
        if (i == 0 && !kernel_va_at && va >= 0xffff000000000000ULL) {
            kernel_va_at = total;
            el2_before_kernel_va = el2;
        }
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &total, 1);
        if (va >= el2_lo && va < el2_hi) {
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &el2, 1);
        }
    }
}

static void at_exit(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    char line[300];
    snprintf(line, sizeof line,
             "insn-split: total %" PRIu64 " el2 %" PRIu64 " kernel-va-at %" PRIu64
             " el2-before-kernel-va %" PRIu64 " first-user-at %" PRIu64
             " el2-before-user %" PRIu64 "\n",
             total, el2, kernel_va_at, el2_before_kernel_va, first_user_at, el2_before_user);
    qemu_plugin_outs(line);
}

/* "name=LO-HI" -> 1 and the range, else 0. */
static int range_arg(const char *arg, const char *name, uint64_t *lo, uint64_t *hi)
{
    size_t len = strlen(name);
    if (strncmp(arg, name, len) != 0 || arg[len] != '=') {
        return 0;
    }
    return sscanf(arg + len + 1, "%" SCNx64 "-%" SCNx64, lo, hi) == 2;
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
                                                               const qemu_info_t *info,
                                                               int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (!range_arg(argv[i], "el2", &el2_lo, &el2_hi) &&
            !range_arg(argv[i], "ram", &ram_lo, &ram_hi)) {
            fprintf(stderr, "insn-split: unknown argument %s (el2=LO-HI, ram=LO-HI)\n", argv[i]);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, translated);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
