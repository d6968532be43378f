#!/usr/bin/env bash
# `make fuzz`: coverage-guided fuzzing of every target in fuzz/ (docs/FUZZING.md) with
# cargo-fuzz (libFuzzer) on the pinned stable toolchain: `-s none` (no sanitizer; ASan needs
# nightly), `-a` (debug assertions, so an integer overflow is a crash as in `cargo test`).
#
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_TARGETS   space-separated subset (default: every target `cargo fuzz list` names)
#
# Each target starts from its committed seeds (fuzz/corpus/<t>/) and fixed crashes
# (fuzz/regressions/<t>/) and grows a working corpus in fuzz/work/<t>/ (not committed).
# A crash or hang is saved in fuzz/artifacts/<t>/, which `make test` replays until it is
# fixed. Ends with a table: executions, edges (libFuzzer `cov`) and features (`ft`) per
# target; exits non-zero if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
flags=(-s none -a)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz not found; installing it (cargo install --locked cargo-fuzz)"
    if ! cargo install --locked cargo-fuzz; then
        echo "fuzz.sh: could not install cargo-fuzz (offline?). Install it by hand with" >&2
        echo "         'cargo install --locked cargo-fuzz'; 'make test' replays the corpora without it." >&2
        exit 1
    fi
fi

targets=${FUZZ_TARGETS:-$(cargo fuzz list)}
echo "fuzz.sh: building the targets (cargo fuzz build ${flags[*]})"
cargo fuzz build "${flags[@]}"

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
crashed=0
rows=()
for t in $targets; do
    mkdir -p "fuzz/work/$t" "fuzz/artifacts/$t" "fuzz/regressions/$t"
    echo "fuzz.sh: $t for ${seconds}s"
    set +e
    cargo fuzz run "${flags[@]}" "$t" "fuzz/work/$t" "fuzz/corpus/$t" "fuzz/regressions/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -use_value_profile=1 -print_final_stats=1 \
        >"$logs/$t" 2>&1
    status=$?
    set -e
    # The last status line (`#N ... cov: E ft: F corp: C/..`) and the final stats.
    last=$(grep -E '^#[0-9]+' "$logs/$t" | tail -n 1 || true)
    field() { sed -nE "s/.* $1: ([0-9]+).*/\1/p" <<<"$last"; }
    execs=$(sed -nE 's/^stat::number_of_executed_units: ([0-9]+)/\1/p' "$logs/$t" | tail -n 1)
    rate=$((${execs:-0} / seconds))
    result=ok
    if ((status != 0)); then
        crashed=1
        result="CRASH $(grep -oE "fuzz/artifacts/$t/[a-z]+-[0-9a-f]+" "$logs/$t" | tail -n 1)"
        grep -E 'panicked at|^thread .* panicked|ERROR: libFuzzer' -A3 "$logs/$t" | head -n 12 || true
    fi
    rows+=("$(printf '%-16s %12s %9s %7s %7s %7s  %s' "$t" "${execs:-?}" "${rate:-?}" \
        "$(field cov)" "$(field ft)" "$(field corp)" "$result")")
done

echo
printf '%-16s %12s %9s %7s %7s %7s  %s\n' target executions execs/s edges features corpus result
for r in "${rows[@]}"; do echo "$r"; done
echo "($seconds s per target; edges = libFuzzer cov, features = ft; corpus in fuzz/work/)"
((crashed == 0))
