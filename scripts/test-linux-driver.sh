#!/usr/bin/env bash
# `make test-driver`: Debian's Linux as Stile's host (4 CPUs) loads /dev/stile and drives
# guests with stile-vmm; linux/driver/test/init prints one `check linux-<name>: ok|FAIL`
# line per check (docs/LINUX-DRIVER.md, "Tests"). One boot per CPU model on a GICv3, and one
# on a GICv2 (-cpu max; its checks are named `driver-max-gicv2-<name>`: the Linux guest then
# gets a virtual GICv2); every check line
# comes out here as `check driver-<cpu>-<name>: ...`, plus a line per boot for Stile's own
# log (no `stile: error:` beyond the boot's region refusals, no panic), then
# `N passed, M failed`. Exit status 0 iff all passed.
#
# Needs: make image guest driver vmm, and the kernel + busybox of scripts/fetch-linux.sh
# (build/linux/linux.env). Until the host bundle exists the kernel goes in as QEMU's -initrd
# (Stile loads a plain Image from there) and the initramfs is placed by QEMU's loader device
# at 0x70000000 and named with Linux's early `initrd=<addr>,<size>` parameter.
set -euo pipefail
cd "$(dirname "$0")/.."

cpus="cortex-a72 max"
timeout=400
mode=check
gic=
while (($#)); do
    case $1 in
    --cpu) cpus=${2:?}; custom=1; shift 2 ;;
    --gic) gic=${2:?}; custom=1; shift 2 ;;
    --timeout) timeout=${2:?}; shift 2 ;;
    --demo) mode=demo; shift ;;
    --bench) mode=bench; shift ;;
    --guest-demo) mode=guest; shift ;;
    *) echo "usage: scripts/test-linux-driver.sh [--cpu \"cortex-a72 max\"] [--gic 2|3] [--timeout SECS] [--demo | --guest-demo | --bench]" >&2; exit 2 ;;
    esac
done

work=build/driver-test
mkdir -p "$work"
image=build/qemu-virt/stile.bin
guest=build/qemu-virt/guest.bin
module=build/linux-driver/stile.ko
vmm=build/linux-driver/stile-vmm
for f in "$image" "$guest" "$module" "$vmm"; do
    [[ -f $f ]] || { echo "test-linux-driver: error: no $f (make image guest driver vmm)" >&2; exit 1; }
done
if [[ ! -f build/linux/linux.env ]]; then
    [[ -x scripts/fetch-linux.sh ]] || { echo "test-linux-driver: error: no scripts/fetch-linux.sh (the Linux-host branch) and no build/linux/linux.env" >&2; exit 1; }
    scripts/fetch-linux.sh >/dev/null
fi
# shellcheck source=/dev/null
source build/linux/linux.env
python3 scripts/driver-initramfs.py --busybox "$BUSYBOX" --module "$module" --vmm "$vmm" \
    --guest "$guest" --linux-guest "$LINUX_IMAGE" -o "$work/initramfs.cpio.gz"
size=$(stat -c %s "$work/initramfs.cpio.gz")

# The check boots, as cpu/gic-version: by default both CPU models on GICv3 and max on GICv2.
boots="cortex-a72/3 max/3 max/2"
if [[ -n ${custom:-} ]]; then
    boots=$(for c in $cpus; do printf '%s/%s ' "$c" "${gic:-3}"; done)
fi

qemu_args() { # cpu [smp [gic]]
    echo -M virt,virtualization=on,highmem=off,gic-version="${3:-${gic:-3}}" -cpu "$1" -smp "${2:-4}" -m 1G \
        -nographic -no-reboot -kernel "$image" -initrd "$LINUX_IMAGE" \
        -device loader,file="$work/initramfs.cpio.gz",addr=0x70000000,force-raw=on
}
if [[ $mode == demo || $mode == guest ]]; then
    # `make run-driver`: the module, `stile-vmm caps`, the guest payload's run, power-off.
    # `make run-guest`: the module, then Debian's kernel as a guest through stile-vmm.
    # shellcheck disable=SC2046
    exec qemu-system-aarch64 $(qemu_args "${cpus%% *}") \
        -append "console=ttyAMA0 quiet cma=256M initrd=0x70000000,$size rdinit=/init stiledrv.mode=$mode"
fi

if [[ $mode == bench ]]; then
    # `make bench-driver` (docs/PERFORMANCE.md, "Linux userspace VMM"): one CPU under
    # -icount shift=0 (one instruction per nanosecond, so CNTVCT counts instructions), with a
    # clock and seed that make every run count the same. The guest times its MMIO reads and
    # the VMM its RUN ioctls (tools/stile-vmm/src/bench.rs); the TCG plugin of bench-linux
    # counts the instructions in Stile's image. Two boots, N and 2N reads: the differences
    # per read are the round trip and its EL2 part, whatever the boot and the warm-up cost.
    cpu=${cpus%% *}
    plugin=$work/insn-split.so
    gcc -O2 -Wall -Wextra -shared -fPIC -fvisibility=hidden -o "$plugin" linux/bench/insn-split.c
    el2_lo=0x40200000 # QEMU puts -kernel at RAM base + 2 MiB
    el2=$(printf '%x-%x' $el2_lo $((el2_lo + $(stat -c %s "$image"))))
    echo "bench-driver: $(qemu-system-aarch64 --version | head -n 1); -cpu $cpu -smp 1; $LINUX_PKG $LINUX_VERSION"
    declare -A tot el2n
    for n in 10000 20000; do
        log=$work/bench-$cpu-$n.log
        # shellcheck disable=SC2046
        timeout "$timeout" qemu-system-aarch64 $(qemu_args "$cpu" 1) \
            -icount shift=0,sleep=off -seed 1 -rtc base=2025-01-01T00:00:00,clock=vm \
            -d plugin -D "$log.plugin" -plugin "$plugin,el2=$el2,ram=40000000-80000000" \
            -append "console=ttyAMA0 quiet panic=-1 initrd=0x70000000,$size rdinit=/init stiledrv.mode=bench stiledrv.reads=$n" \
            </dev/null >"$log" 2>&1 || true
        grep -q "image \[$el2_lo\.\." "$log" || { echo "bench-driver: Stile's image is not at $el2_lo (log $log)" >&2; exit 1; }
        lines=$(tr -d '\r' <"$log" | sed -n 's/^stile-vmm: bench: /bench-driver: /p' | tail -n 2)
        [[ -n $lines ]] || { echo "bench-driver: no bench lines (log $log)" >&2; exit 1; }
        echo "$lines" | sed "s/^bench-driver: /bench-driver: $n reads: /"
        split=$(grep -h '^insn-split:' "$log.plugin")
        tot[$n]=$(sed -n 's/.* total \([0-9]*\).*/\1/p' <<<"$split")
        el2n[$n]=$(sed -n 's/.* el2 \([0-9]*\).*/\1/p' <<<"$split")
    done
    total=$(sed -n 's/^bench-driver: mmio-read-round-trip \([0-9.]*\).*/\1/p' <<<"$lines")
    span=$(sed -n 's/^bench-driver: run-ioctl-span \([0-9.]*\).*/\1/p' <<<"$lines")
    user=$(sed -n 's/.*; userspace \([0-9.]*\).*/\1/p' <<<"$lines")
    awk -v t0="${tot[10000]}" -v t1="${tot[20000]}" -v e0="${el2n[10000]}" -v e1="${el2n[20000]}" \
        -v total="$total" -v span="$span" -v user="$user" 'BEGIN {
        per = (t1 - t0) / 10000; el2 = (e1 - e0) / 10000
        printf "bench-driver: guest MMIO read to stile-vmm and back: %s instructions (goal <= 2500: %s)\n",
            total, (total <= 2500) ? "met" : "not met"
        printf "bench-driver: the plugin, 20000 - 10000 reads: %.2f per read, of which EL2 %.2f\n", per, el2
        printf "bench-driver: split: EL2 %.2f, Linux kernel and driver %.2f (RUN ioctl %s less EL2), VMM userspace %s\n",
            el2, span - el2, span, user
    }'
    exit 0
fi

passed=0
failed=0
for boot in $boots; do
    cpu=${boot%/*} v=${boot#*/}
    # The check names keep their GICv3 form; a GICv2 boot's say so.
    tag=$cpu$([[ $v == 3 ]] || echo "-gicv$v")
    log=$work/$tag.log
    set +e
    # shellcheck disable=SC2046
    timeout "$timeout" qemu-system-aarch64 $(qemu_args "$cpu" 4 "$v") \
        -append "console=ttyAMA0 quiet panic=-1 oops=panic cma=256M initrd=0x70000000,$size rdinit=/init stiledrv.mode=check" \
        </dev/null >"$log" 2>&1
    status=$?
    set -e
    tr -d '\r' <"$log" | sed -n "s/^check linux-\([^:]*\): /check driver-$tag-\1: /p"
    p=$(grep -c '^check linux-[^:]*: ok' "$log" || true)
    f=$(grep -c '^check linux-[^:]*: FAIL' "$log" || true)
    passed=$((passed + p))
    failed=$((failed + f))
    # Every check the init script runs must have printed (a hang or a crash prints fewer).
    if ! grep -q '^linux: driver checks: [0-9]* passed, 0 failed' "$log" || ((p < 11)); then
        echo "check driver-$tag-complete: FAIL only $p checks passed, QEMU status $status (log $log)"
        failed=$((failed + 1))
    else
        echo "check driver-$tag-complete: ok"
        passed=$((passed + 1))
    fi
    errors=$(grep 'stile: error:' "$log" | grep -v "stile: error: region '[^']*' refused" || true)
    if [[ -n $errors || $(grep -c 'panicked\|stile: fatal' "$log") != 0 ]]; then
        echo "check driver-$tag-stile-log: FAIL $(echo "$errors" | head -n 1)"
        failed=$((failed + 1))
    else
        echo "driver-$tag: $(grep -c 'refused: ' "$log") refused hypercalls logged, $(grep -c 'stile: vm [0-9]*: destroyed' "$log") VMs destroyed"
        echo "check driver-$tag-stile-log: ok"
        passed=$((passed + 1))
    fi
done
# Without Stile the module must refuse to load: Linux at EL1 on a CPU without EL2, and
# Linux with EL2 to itself (KVM there answers CALL_UID with something else).
for machine in virt virt,virtualization=on; do
    name=driver-nostile-$([[ $machine == virt ]] && echo el1 || echo kvm)
    log=$work/$name.log
    timeout "$timeout" qemu-system-aarch64 -M "$machine",highmem=off -cpu cortex-a72 -smp 2 \
        -m 1G -nographic -no-reboot -kernel "$LINUX_IMAGE" -initrd "$work/initramfs.cpio.gz" \
        -append "console=ttyAMA0 quiet rdinit=/init stiledrv.mode=nostile" </dev/null >"$log" 2>&1 || true
    grep 'stile: not loaded' "$log" | tr -d '\r' | sed "s/^/$name: /" | head -n 1
    if grep -q '^check linux-driver-refuses-without-stile: ok' "$log"; then
        echo "check $name-refuses: ok"
        passed=$((passed + 1))
    else
        echo "check $name-refuses: FAIL $(grep -a '^check' "$log" | head -n 1) (log $log)"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
((failed == 0))
