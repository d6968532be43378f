#!/usr/bin/env bash
# `make mutants`: mutation testing of the arch-free core with cargo-mutants (docs/FUZZING.md,
# "Mutation testing"). Slow (a build and a test run per mutant); not part of `make test`.
#
#   MUTANTS_FILES   files to mutate (default: memslot validation, fault classification,
#                   stage 2, the ESR decoder, the hypercall decoder, the ABI's slot word)
#   MUTANTS_TESTS   a test-name filter for the run against each mutant (default: all of the
#                   mutated package's tests), e.g. `vm::` for the VM core's tests only
#   MUTANTS_JOBS    mutants built and tested at once (default 1)
#
# Writes build/mutants/mutants.out/ (caught.txt, missed.txt, timeout.txt, unviable.txt) and
# ends with cargo-mutants' summary line.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo mutants --version >/dev/null 2>&1; then
    echo "mutants.sh: cargo-mutants not found; installing it (cargo install --locked cargo-mutants)"
    if ! cargo install --locked cargo-mutants; then
        echo "mutants.sh: could not install cargo-mutants; install it by hand with" >&2
        echo "            'cargo install --locked cargo-mutants'." >&2
        exit 1
    fi
fi

files=${MUTANTS_FILES:-"hyp/src/vm/memslot.rs hyp/src/vm/fault.rs hyp/src/mm/stage2.rs
    hyp/src/esr.rs hyp/src/vm/hvc.rs abi/src/slot.rs"}
args=(--package stile-hyp --package stile-abi --output build/mutants
    --jobs "${MUTANTS_JOBS:-1}" --timeout 300 --gitignore true)
for f in $files; do
    args+=(--file "$f")
done
# Arguments after `--` go to `cargo test`; after a second `--`, to the test binaries.
test_args=()
if [[ -n ${MUTANTS_TESTS:-} ]]; then
    test_args=(-- --lib -- "$MUTANTS_TESTS")
fi
mkdir -p build/mutants
cargo mutants "${args[@]}" "${test_args[@]}"
