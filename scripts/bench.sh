#!/usr/bin/env bash
# `make bench` once the images are built: boots Stile with the host payload in bench mode
# (`-append bench`) under `-icount shift=0,sleep=off`, where one instruction is 1 ns of
# virtual time at any EL and one CNTVCT_EL0 tick is 16 instructions, so every figure is an
# instruction count that does not depend on the machine running QEMU. Prints the `bench:`
# lines, then the table (metric, instructions/op, EL2 share, goal, met?). docs/PERFORMANCE.md
# says what each figure measures. Full logs: build/bench/.
#
# sleep=off: with QEMU 7.2's default (sleep=on) the virtual clock also advances with the host's
# real time before the first instruction runs (90-110 us observed), so the boot figure and the
# counter's phase change from run to run; with sleep=off two runs print identical lines.
#
# Boots: 1 GiB (every metric; Stile's host stage-2 table pages), 4 GiB (`bench=boot`: the
# boot figure and table pages only). Adds `image-bytes` (size of stile.bin).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    cat <<'EOF'
usage: scripts/bench.sh [--iterations N] [--twice]
  --iterations N  iterations per metric (bench=N; default: the full bench, 10,000)
  --twice         run everything twice and check both runs print identical bench lines
  QEMU=<path> picks the QEMU binary (default: qemu-system-aarch64 from PATH).
EOF
}

append=bench
twice=0
while [ $# -gt 0 ]; do
    case $1 in
    --iterations) append="bench=${2:?--iterations needs a number}"; shift ;;
    --twice) twice=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
    shift
done

out=build/qemu-virt
image=$out/stile.bin
host=$out/host.bin
qemu=${QEMU:-qemu-system-aarch64}
logs=build/bench
for f in "$image" "$host"; do
    [ -f "$f" ] || { echo "bench.sh: $f not found: run \`make image\` first" >&2; exit 1; }
done
command -v "$qemu" >/dev/null || { echo "bench.sh: $qemu not found: run \`make setup\`" >&2; exit 1; }
mkdir -p "$logs"

# One boot: $1 = -m, $2 = -append, $3 = log file. The command line is the one
# docs/PERFORMANCE.md gives.
boot() {
    local cmd=("$qemu" -M virt,virtualization=on,gic-version=3 -cpu max -smp 1 -m "$1"
        -nographic -no-reboot -icount shift=0,sleep=off -kernel "$image" -initrd "$host" -append "$2")
    echo "bench.sh: ${cmd[*]}" >&2
    if ! timeout 900 "${cmd[@]}" </dev/null >"$3" 2>&1; then
        echo "bench.sh: QEMU failed or timed out; log: $3" >&2
        tail -n 20 "$3" >&2
        return 1
    fi
}

# `stile: host: stage 2 ready: VMID 0, 48-bit IPA, 5 table pages` -> 5
table_pages() {
    sed -n 's/^stile: host: stage 2 ready:.* \([0-9][0-9]*\) table pages.*/\1/p' "$1" | head -n 1
}

# One whole bench: the bench lines on stdout; $1 = a suffix for the log names.
bench_once() {
    local log1g=$logs/bench-1g$1.log log4g=$logs/bench-4g$1.log
    boot 1G "$append" "$log1g"
    boot 4G bench=boot "$log4g"
    if ! grep -q '^host: bench: done: .* 0 failed' "$log1g"; then
        echo "bench.sh: the bench did not finish cleanly; log: $log1g" >&2
        grep -E '^host: (bench: .*FAIL|fatal)' "$log1g" >&2 || tail -n 20 "$log1g" >&2
        return 1
    fi
    grep -E '^bench: ' "$log1g" | tr -d '\r'
    grep -E '^bench: boot-to-host-entry' "$log4g" | tr -d '\r'
    echo "bench: host-stage2-table-pages $(table_pages "$log1g")"
    echo "bench: host-stage2-table-pages-4g $(table_pages "$log4g")"
    echo "bench: image-bytes $(stat -c %s "$image")"
}

start=$(date +%s)
echo "bench.sh: $("$qemu" --version | head -n 1)"
echo "bench.sh: stile $(git describe --always --dirty 2>/dev/null || echo '(no git)'), -append $append"
lines=$(bench_once "")
echo "$lines"
if [ $twice = 1 ]; then
    again=$(bench_once "-again")
    if [ "$lines" = "$again" ]; then
        echo "bench.sh: second run: identical bench lines"
    else
        echo "bench.sh: second run differs:"
        diff <(echo "$lines") <(echo "$again") || true
        exit 1
    fi
fi
echo
echo "$lines" | cargo run -q -p stile-host --example bench-table
echo
echo "bench.sh: done in $(($(date +%s) - start)) s; logs in $logs/"
