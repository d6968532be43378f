#!/usr/bin/env bash
# The peer of `make bench`: Linux KVM owning EL2 on the same QEMU command line Stile runs on,
# timing the same guest MMIO-read round trip (KVM_EXIT_MMIO answered by a userspace VMM) and a
# guest HVC round trip (answered inside the kernel), in instructions per operation: CNTVCT
# under `-icount shift=0` on QEMU 7.2 virt ticks once per 16 instructions, at every EL. Then,
# in a second VM with KVM's in-kernel vGICv3, Stile's vGIC rows: virtual timer delivery, an SPI
# the VMM injects with KVM_IRQ_LINE, and a guest SGI to itself, each to the first instruction of
# the guest's IRQ vector, and a guest read of GICD_TYPER.
#
# It fetches Debian's arm64 kernel package with scripts/fetch-linux.sh (apt-get download),
# builds the in-guest VMM qemu/kvm-bench (Rust, aarch64-unknown-linux-musl, linked by rust-lld)
# as a static /init, packs an initramfs, and boots once per KVM mode. Whatever it needs it
# installs itself (apt-get, rustup target add) and says what failed if it cannot.
# Docs: docs/PERFORMANCE-KVM.md. Output: `bench-kvm: ...` lines; full logs in build/kvm-bench/.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: scripts/bench-kvm.sh [--modes "nvhe vhe protected"] [--iterations N] [--rounds R]
                            [--kernel PACKAGE] [--backports] [--plain-icount]
  --modes         KVM modes to boot, in order (default: nvhe vhe protected). nvhe is the
                  headline (kernel at EL1, KVM's hypervisor alone at EL2: Stile's split); vhe is
                  the kernel's default on -cpu max; protected is pKVM as in the kernel used.
  --iterations    round trips (interrupts for the vGIC rows) per timed loop (default 10000,
                  at least 10000)
  --rounds        timed rounds per boot; the fewest-tick round counts (default 5)
  --kernel        Debian arm64 kernel package (default: what linux-image-arm64 depends on now;
                  also KVM_KERNEL_PKG in the environment)
  --backports     take the kernel from this release's backports suite (Linux 6.12 for Debian
                  12, which has the SMCCC filter: adds the forwarded-to-userspace HVC). Uses a
                  private apt state under build/linux/ (scripts/fetch-linux.sh); the machine's
                  apt sources stay as they are.
  --plain-icount  run QEMU with `-icount shift=0` alone. By default the script adds
                  sleep=off, -seed 1 and `-rtc base=2025-01-01,clock=vm`, which change no
                  instruction the benchmark runs but make Linux's boot, and so every number,
                  identical from run to run (see docs/PERFORMANCE-KVM.md).
EOF
}

modes="nvhe vhe protected"
iterations=10000
rounds=5
kernel_pkg=${KVM_KERNEL_PKG:-}
backports=0
plain=0
while (($#)); do
    case $1 in
    --modes) modes=${2:?}; shift 2 ;;
    --iterations) iterations=${2:?}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    --kernel) kernel_pkg=${2:?}; shift 2 ;;
    --backports) backports=1; shift ;;
    --plain-icount) plain=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
[[ $iterations =~ ^[0-9]+$ ]] && ((iterations >= 10000)) || { usage >&2; exit 2; }
[[ $rounds =~ ^[0-9]+$ ]] && ((rounds >= 1)) || { usage >&2; exit 2; }
for mode in $modes; do
    case $mode in nvhe | vhe | protected) ;; *) usage >&2; exit 2 ;; esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$repo/build/kvm-bench
mkdir -p "$work/debs"
start_time=$SECONDS

say() { echo "bench-kvm: $*"; }
fail() {
    echo "bench-kvm: error: $*" >&2
    exit 1
}

# apt-get as root, quietly (scripts/lib/apt.sh: as_root, apt_try, apt_quiet).
source "$repo/scripts/lib/apt.sh"

# --- host tools ---------------------------------------------------------------------------------
declare -A tool_package=([qemu-system-aarch64]=qemu-system-arm [python3]=python3 [dpkg-deb]=dpkg)
missing=()
for tool in qemu-system-aarch64 python3 dpkg-deb; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${tool_package[$tool]}")
done
command -v apt-get >/dev/null 2>&1 || fail "no apt-get: this script needs Debian (or Ubuntu) to fetch the kernel"
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    apt_quiet "installing host tools" update
    apt_quiet "installing host tools" install -y "${missing[@]}"
fi
command -v cargo >/dev/null 2>&1 || fail "no cargo: run scripts/setup.sh (or install rustup) first"

# --- Debian's arm64 kernel (scripts/fetch-linux.sh: apt-get download, cached under build/linux) --
fetch_args=(--kernel-only --env "$work/kernel.env")
[[ -n $kernel_pkg ]] && fetch_args+=(--kernel "$kernel_pkg")
((backports)) && fetch_args+=(--backports)
"$repo/scripts/fetch-linux.sh" "${fetch_args[@]}" || fail "cannot fetch Debian's arm64 kernel (above)"
# shellcheck source=/dev/null
. "$work/kernel.env"
kernel_pkg=$LINUX_PKG
kernel_version=$LINUX_VERSION
image=$LINUX_IMAGE
grep -q '^CONFIG_KVM=y' "$LINUX_CONFIG" ||
    say "warning: $kernel_pkg's config does not say CONFIG_KVM=y; /dev/kvm may be missing"

# --- the VMM, as a static /init -----------------------------------------------------------------
target=aarch64-unknown-linux-musl
cd "$repo" # so that rust-toolchain.toml picks the pinned toolchain
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    say "adding the Rust target $target"
    rustup target add "$target" >"$work/rustup.log" 2>&1 || {
        tail -n 15 "$work/rustup.log" | sed 's/^/  /' >&2
        fail "rustup target add $target failed"
    }
fi
# Not a workspace member: built on its own, linked by the toolchain's rust-lld (no cross gcc).
if ! env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
    cargo build --release --locked --manifest-path qemu/kvm-bench/Cargo.toml \
    --target "$target" --target-dir target/kvm-bench >"$work/cargo.log" 2>&1; then
    tail -n 30 "$work/cargo.log" | sed 's/^/  /' >&2
    fail "building qemu/kvm-bench failed (log: build/kvm-bench/cargo.log)"
fi
vmm=target/kvm-bench/$target/release/stile-kvm-bench
python3 scripts/kvm/mkinitramfs.py "$vmm" "$work/initramfs.cpio.gz" ||
    fail "cannot write the initramfs"

# --- boot once per mode -------------------------------------------------------------------------
qemu=${QEMU:-qemu-system-aarch64}
qemu_version=$("$qemu" --version | head -n 1)
say "qemu: $qemu_version"
say "kernel: $kernel_pkg $kernel_version (Debian, arm64)"
icount=(-icount shift=0,sleep=off -seed 1 -rtc base=2025-01-01T00:00:00,clock=vm)
((plain)) && icount=(-icount shift=0)
say "method: qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 -cpu max -smp 1 -m 1G ${icount[*]};" \
    "$iterations round trips per loop, fewest-tick of $rounds rounds, minus the same loop without the exit;" \
    "vGIC rows: $iterations interrupts per round, fewest-tick of $rounds rounds, to the IRQ vector's first instruction;" \
    "instructions per op = CNTVCT ticks * (1 GHz / CNTFRQ: 16 on 7.2, 1 on 9+) / $iterations"

status=0
for mode in $modes; do
    case $mode in
    # What the kernel logs when KVM comes up in that mode. 6.1: "Hyp mode", "VHE mode",
    # "Protected nVHE mode"; 6.12: "Hyp nVHE mode", "VHE mode", "Protected hVHE mode".
    nvhe) arg="kvm-arm.mode=nvhe" expect="Hyp \(nVHE \)\?mode initialized" prefix="kvm" ;;
    vhe) arg="" expect="VHE mode initialized" prefix="kvm-vhe" ;;
    protected) arg="kvm-arm.mode=protected" expect="Protected [nh]VHE mode initialized" prefix="kvm-protected" ;;
    esac
    log=$work/$mode.log
    t0=$SECONDS
    timeout 900 "$qemu" -M virt,virtualization=on,gic-version=3 -cpu max -smp 1 \
        -m 1G -nographic -no-reboot "${icount[@]}" \
        -kernel "$image" -initrd "$work/initramfs.cpio.gz" \
        -append "console=ttyAMA0 quiet panic=-1 $arg kvmbench_n=$iterations kvmbench_rounds=$rounds" \
        </dev/null >"$log" 2>&1 || true
    took=$((SECONDS - t0))
    tr -d '\r' <"$log" >"$log.tmp" && mv "$log.tmp" "$log"
    if ! grep -q '^stile-kvm-bench: end (ok)' "$log"; then
        grep -a '^stile-kvm-bench: error' "$log" | sed 's/^stile-kvm-bench: /  /' >&2 || true
        tail -n 20 "$log" | sed 's/^/  | /' >&2
        say "$mode: FAILED after ${took}s (log: build/kvm-bench/$mode.log)"
        status=1
        continue
    fi
    if ! grep -q "kernel log: kvm \[[0-9]*\]: $expect" "$log"; then
        say "$mode: FAILED: the kernel did not say \"$expect\" (log: build/kvm-bench/$mode.log)"
        status=1
        continue
    fi
    say "$mode: $(sed -n 's/^stile-kvm-bench: kernel log: kvm \[[0-9]*\]: //p' "$log" | head -n 1);" \
        "boot + run ${took}s (log: build/kvm-bench/$mode.log)"
    { grep -a '^stile-kvm-bench: warning' "$log" || true; } | sed 's/^stile-kvm-bench: //' |
        while IFS= read -r line; do say "$mode: $line"; done
    if [[ $mode == "${modes%% *}" ]]; then
        sed -n 's/^stile-kvm-bench: kernel: /uname: /p; s/^stile-kvm-bench: \(clock: .*\)/\1/p; s/^stile-kvm-bench: \(kvm: SMCCC.*\)/\1/p' "$log" |
            while IFS= read -r line; do say "$line"; done
    fi
    # result NAME VALUE  ->  bench-kvm: <prefix>-NAME VALUE ; split/detail lines follow it.
    sed -n 's/^stile-kvm-bench: result \([a-z-]*\) \(.*\)$/\1 \2/p' "$log" | while read -r name value; do
        say "$prefix-$name $value"
        sed -n "s/^stile-kvm-bench: detail $name: /  /p; s/^stile-kvm-bench: split $name /  per op by where it ran: /p" "$log" |
            while IFS= read -r line; do say "$line"; done
    done
done
say "took $((SECONDS - start_time))s"
exit $status
