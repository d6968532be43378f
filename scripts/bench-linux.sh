#!/usr/bin/env bash
# Linux as Stile's host, in instructions (docs/PERFORMANCE.md, "Linux as the host"): Debian's
# kernel boots to /init and runs the RAM-fill job (hostinit.mode=bench), once under Stile and
# once entered directly at EL1, on the same QEMU command line otherwise. A QEMU TCG plugin
# (linux/bench/insn-split.c) counts every retired instruction, those in Stile's image (EL2),
# and where Linux first ran with its MMU on and where /init began.
# Needs `make image` and `make linux` first (make bench-linux does both). Logs: build/linux/bench/.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: scripts/bench-linux.sh [--image PATH] [--cpu MODEL] [--mem SIZE]
  --image  Stile's image (default build/qemu-virt/stile.bin)
  --cpu    QEMU -cpu (default max,pauth-impdef=on)
  --mem    RAM, QEMU -m syntax in G or M (default 2G)
EOF
}

repo=$(cd "$(dirname "$0")/.." && pwd)
image=$repo/build/qemu-virt/stile.bin
cpu=max,pauth-impdef=on
mem=2G
while (($#)); do
    case $1 in
    --image) image=${2:?}; shift 2 ;;
    --cpu) cpu=${2:?}; shift 2 ;;
    --mem) mem=${2:?}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done

say() { echo "bench-linux: $*"; }
fail() {
    echo "bench-linux: error: $*" >&2
    exit 1
}

linux=$repo/build/linux
work=$linux/bench
mkdir -p "$work"
for f in "$image" "$linux/Image" "$linux/initramfs.cpio.gz" "$linux/host-bench.itb"; do
    [[ -f $f ]] || fail "$f not found: run make image and make linux first"
done
case $mem in
*G) mem_bytes=$((${mem%G} << 30)) ;;
*M) mem_bytes=$((${mem%M} << 20)) ;;
*) fail "--mem $mem: give it in G or M" ;;
esac
command -v gcc >/dev/null 2>&1 || fail "no gcc to build the QEMU plugin (apt-get install gcc)"
plugin=$work/insn-split.so
gcc -O2 -Wall -Wextra -shared -fPIC -fvisibility=hidden -o "$plugin" "$repo/linux/bench/insn-split.c" ||
    fail "cannot build linux/bench/insn-split.c"

# QEMU loads -kernel at RAM base + 2 MiB (the Image header's text_offset); EL2 code runs
# identity-mapped inside the image, which the host never maps.
ram_base=0x40000000
el2_lo=$((ram_base + 0x200000))
el2_hi=$((el2_lo + $(stat -c %s "$image")))
ram=$(printf '%x-%x' $ram_base $((ram_base + mem_bytes)))
# sleep=off, the seed and a VM clock make every run count the same (docs/PERFORMANCE-KVM.md).
common=(-cpu "$cpu" -smp 1 -m "$mem" -nographic -no-reboot
    -icount shift=0,sleep=off -seed 1 -rtc base=2025-01-01T00:00:00,clock=vm -d plugin)

# run NAME MACHINE PLUGIN_ARGS QEMU_ARGS...: one boot; its `insn-split:` line in $split.
run() {
    local name=$1 machine=$2 pargs=$3
    shift 3
    local log=$work/$name.log
    say "$name: qemu-system-aarch64 -M $machine ${common[*]} -plugin insn-split.so,$pargs $*"
    timeout 1200 qemu-system-aarch64 -M "$machine" "${common[@]}" -D "$work/$name.plugin" \
        -plugin "$plugin,$pargs" "$@" </dev/null >"$log" 2>&1 || true
    grep -q '^check linux-ram-fill: ok' "$log" || {
        tail -n 15 "$log" | sed 's/^/  | /' >&2
        fail "$name: the RAM fill did not pass (log: build/linux/bench/$name.log)"
    }
    split=$(grep -h '^insn-split:' "$work/$name.plugin") || fail "$name: the plugin printed nothing"
}
field() { sed -n "s/.* $1 \([0-9]*\).*/\1/p" <<<"$2"; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f%%", 100 * a / b }'; }

say "qemu: $(qemu-system-aarch64 --version | head -n 1)"
. "$linux/linux.env"
say "kernel: $LINUX_PKG $LINUX_VERSION; -cpu $cpu -smp 1 -m $mem; /init: hostinit.mode=bench (RAM fill)"

run direct "virt,virtualization=off,gic-version=3" "ram=$ram" \
    -kernel "$linux/Image" -initrd "$linux/initramfs.cpio.gz" \
    -append "console=ttyAMA0 quiet panic=-1 hostinit.mode=bench"
d_total=$(field total "$split")
d_init=$(field first-user-at "$split")

run stile "virt,virtualization=on,gic-version=3" "ram=$ram,el2=$(printf '%x-%x' $el2_lo $el2_hi)" \
    -kernel "$image" -initrd "$linux/host-bench.itb"
# The classifier's premise: Stile's image starts where we counted from.
grep -q "image \[$(printf '%#x' $el2_lo)\.\." "$work/stile.log" ||
    fail "Stile's image is not at $(printf '%#x' $el2_lo) (see build/linux/bench/stile.log): the EL2 range is wrong"
s_total=$(field total "$split")
s_el2=$(field el2 "$split")
s_kva=$(field kernel-va-at "$split")
s_el2_kva=$(field el2-before-kernel-va "$split")
s_init=$(field first-user-at "$split")
s_el2_init=$(field el2-before-user "$split")

linux_el2=$((s_el2 - s_el2_kva))
linux_all=$((s_total - s_kva))
say "direct: reset to /init $d_init, reset to power-off $d_total (Linux at EL1, no EL2)"
say "stile: reset to /init $s_init ($((s_init - d_init)) more, $(pct $((s_init - d_init)) "$d_init")), reset to power-off $s_total"
say "stile: EL2 $s_el2 of $s_total ($(pct "$s_el2" "$s_total")); Stile's boot until Linux's MMU is on: $s_el2_kva;" \
    "before /init $s_el2_init"
say "linux-host-el2-share $(pct $linux_el2 $linux_all) ($linux_el2 EL2 of $linux_all instructions from Linux's MMU-on to power-off; goal <= 0.5%)"
say "reset-to-init-stile $s_init, reset-to-init-direct $d_init, ratio $(awk -v a="$s_init" -v b="$d_init" 'BEGIN { printf "%.4f", a / b }')"
