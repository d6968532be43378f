#!/usr/bin/env bash
# The body of `make test` once the image is built: the host tests (cargo test), then the QEMU
# boots (stile-harness, which gets this script's arguments, e.g. `--filter smp4`). Shows all of
# their output and ends with exactly one line adding both up, `P passed, F failed`, so CI reads
# one total. Exits non-zero if either part failed, including a build that did not compile.
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Runs "$@" with its output shown and kept in $log; sets $status without tripping `set -e`
# (and `pipefail`) on the failure we want to count rather than die of.
run_logged() {
    set +e
    "$@" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    set -e
}

# --- host tests -------------------------------------------------------------------------------
# stile-boot is the aarch64-only image: it does not build for the host. --no-fail-fast so one
# failing test binary does not hide the counts of the others.
run_logged cargo test --workspace --exclude stile-boot --no-fail-fast
# Sum every `test result: ok. X passed; Y failed; ...` (also `test result: FAILED. ...`).
read -r unit_passed unit_failed < <(awk '
    /^test result: / {
        for (i = 2; i <= NF; i++) {
            if ($i == "passed;") p += $(i - 1)
            if ($i == "failed;") f += $(i - 1)
        }
    }
    END { print p + 0, f + 0 }' "$log")
if ((status != 0 && unit_failed == 0)); then
    # Did not compile, or a test binary crashed: no count says so, but it is a failure.
    echo "test.sh: cargo test exited with status $status"
    unit_failed=1
fi

# --- fuzz corpora ------------------------------------------------------------------------------
# Every fuzz target replays its seeds, its fixed crashes and any unfixed one libFuzzer saved
# (docs/FUZZING.md): plain `cargo test` of fuzz/targets (its own workspace), no fuzzing engine.
# Its counts join the host tests'.
run_logged cargo test --manifest-path fuzz/targets/Cargo.toml --no-fail-fast
read -r fuzz_passed fuzz_failed < <(awk '
    /^test result: / {
        for (i = 2; i <= NF; i++) {
            if ($i == "passed;") p += $(i - 1)
            if ($i == "failed;") f += $(i - 1)
        }
    }
    END { print p + 0, f + 0 }' "$log")
if ((status != 0 && fuzz_failed == 0)); then
    echo "test.sh: fuzz corpus replay exited with status $status"
    fuzz_failed=1
fi
unit_passed=$((unit_passed + fuzz_passed))
unit_failed=$((unit_failed + fuzz_failed))

# --- QEMU boots -------------------------------------------------------------------------------
run_logged cargo run --release -q -p stile-harness -- "$@"
boot_passed=0 boot_failed=0
if summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1); then
    read -r boot_passed _ boot_failed _ <<<"$summary"
fi
if ((status != 0 && boot_failed == 0)); then
    echo "test.sh: stile-harness exited with status $status"
    boot_failed=1
fi

# The closing line: nothing may be printed after it.
total_failed=$((unit_failed + boot_failed))
echo "$((unit_passed + boot_passed)) passed, $total_failed failed"
((total_failed == 0))
