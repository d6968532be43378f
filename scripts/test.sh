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
# --- board DTB corpus -------------------------------------------------------------------------
# Debian's ~580 arm64 board DTBs through Stile's discovery (hyp/src/dt/tests/corpus.rs). Fetched
# once and cached under build/board-dtbs; without network the test is skipped, and says so.
corpus_note=
if scripts/fetch-board-dtbs.sh; then
    run_logged cargo test -p stile-hyp --lib board_dtb_corpus -- --ignored --nocapture
    read -r corpus_passed corpus_failed < <(awk '
        /^test result: / {
            for (i = 2; i <= NF; i++) {
                if ($i == "passed;") p += $(i - 1)
                if ($i == "failed;") f += $(i - 1)
            }
        }
        END { print p + 0, f + 0 }' "$log")
    if ((status != 0 && corpus_failed == 0)); then corpus_failed=1; fi
    unit_passed=$((unit_passed + corpus_passed))
    unit_failed=$((unit_failed + corpus_failed))
else
    corpus_note="test.sh: SKIPPED the board-DTB corpus test: scripts/fetch-board-dtbs.sh could not fetch it"
    echo "$corpus_note"
fi

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

# --- QEMU >= 10 boots (scripts/setup-qemu10.sh puts it in build/qemu-10) ------------------------
qemu10=build/qemu-10/qemu-system-aarch64
qemu10_note=
if [[ ! -x $qemu10 ]]; then
    qemu10_note="test.sh: SKIPPED the QEMU >= 10 cases: no $qemu10 (run scripts/setup-qemu10.sh)"
    echo "$qemu10_note"
elif cargo run --release -q -p stile-harness -- --qemu10 "$@" --list >/dev/null 2>&1; then
    # The board models run the guests' fault storm on a slower machine model: 60 s each.
    run_logged cargo run --release -q -p stile-harness -- --qemu10 --qemu "$qemu10" --timeout 60 "$@"
    if summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1); then
        read -r q10_passed _ q10_failed _ <<<"$summary"
    else
        q10_passed=0 q10_failed=1
    fi
    if ((status != 0 && q10_failed == 0)); then q10_failed=1; fi
    boot_passed=$((boot_passed + q10_passed))
    boot_failed=$((boot_failed + q10_failed))
fi

# --- /dev/stile and stile-vmm under Linux on Stile (docs/LINUX-DRIVER.md) ---------------------
# Only in the full run (no --filter): it boots Linux five times, about a minute.
driver_note=
full_run=1
for arg in "$@"; do [[ $arg == --filter* ]] && full_run=0; done
if ((full_run)); then
    if [[ -f build/linux-driver/stile.ko && -x build/linux-driver/stile-vmm ]]; then
        run_logged scripts/test-linux-driver.sh
        if summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1); then
            read -r drv_passed _ drv_failed _ <<<"$summary"
        else
            drv_passed=0 drv_failed=1
        fi
        if ((status != 0 && drv_failed == 0)); then drv_failed=1; fi
    else
        driver_note="test.sh: the driver checks could not run: no build/linux-driver/stile.ko or stile-vmm (make driver vmm)"
        echo "$driver_note"
        drv_passed=0 drv_failed=1
    fi
    boot_passed=$((boot_passed + drv_passed))
    boot_failed=$((boot_failed + drv_failed))
fi

# Repeated so it is not lost above the boots' output.
[[ -z $corpus_note ]] || echo "$corpus_note"
[[ -z $qemu10_note ]] || echo "$qemu10_note"
[[ -z $driver_note ]] || echo "$driver_note"
# The closing line: nothing may be printed after it.
total_failed=$((unit_failed + boot_failed))
echo "$((unit_passed + boot_passed)) passed, $total_failed failed"
((total_failed == 0))
