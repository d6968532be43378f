#!/usr/bin/env bash
# Makes a fresh Debian 12 machine able to build and boot Stile: QEMU (qemu-system-aarch64),
# dtc, with --debug also gdb-multiarch, and the Rust toolchain + targets that
# rust-toolchain.toml names. Idempotent: when everything is there it installs nothing and
# prints one line. Run as root, or as a user with sudo.
set -euo pipefail

usage() {
    echo "usage: scripts/setup.sh [--debug] [--linux]"
    echo "  --debug  also installs gdb-multiarch; --linux also mkimage (u-boot-tools, for make run-linux)"
}

debug=0
linux=0
for arg in "$@"; do
    case $arg in
    --debug) debug=1 ;;
    --linux) linux=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)

fail() {
    echo "setup: error: $*" >&2
    exit 1
}

# --- Debian packages --------------------------------------------------------------------------
# command -> the Debian package that provides it.
tools=(qemu-system-aarch64 dtc)
declare -A package=([qemu-system-aarch64]=qemu-system-arm [dtc]=device-tree-compiler
    [gdb-multiarch]=gdb-multiarch [mkimage]=u-boot-tools)
((debug)) && tools+=(gdb-multiarch)
((linux)) && tools+=(mkimage)

missing=() # packages
provides=() # "package (for command)", for messages
for tool in "${tools[@]}"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        missing+=("${package[$tool]}")
        provides+=("${package[$tool]} (for $tool)")
    fi
done

if ((${#missing[@]})); then
    # Say exactly what to install, whatever stops us from doing it ourselves.
    cannot() {
        local list
        printf -v list '%s, ' "${provides[@]}"
        fail "$1. Install ${list%, } as root: apt-get install ${missing[*]}"
    }
    if ((EUID == 0)); then
        as_root=()
    elif command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        cannot "not root and no sudo"
    fi
    command -v apt-get >/dev/null 2>&1 || cannot "no apt-get on this machine"
    echo "setup: installing ${missing[*]}"
    log=$(mktemp)
    trap 'rm -f "$log"' EXIT
    if ! "${as_root[@]}" apt-get update -q >"$log" 2>&1 ||
        ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q "${missing[@]}" >>"$log" 2>&1; then
        tail -n 15 "$log" | sed 's/^/  /' >&2
        cannot "apt-get failed (no network or no such package?)"
    fi
    for tool in "${tools[@]}"; do
        command -v "$tool" >/dev/null 2>&1 ||
            fail "installed ${package[$tool]} but $tool is still not on PATH"
    done
fi

qemu_version=$(qemu-system-aarch64 --version | sed -n '1s/.*version \([0-9][0-9.]*\).*/\1/p')
dtc_version=$(dtc --version | sed -n '1s/.*DTC \([0-9][0-9.]*\).*/\1/p')
summary="qemu-system-aarch64 ${qemu_version:-?}, dtc ${dtc_version:-?}"
((linux)) && summary+=", mkimage $(mkimage -V | sed -n '1s/.* //p')"
if ((debug)); then
    summary+=", gdb-multiarch $(gdb-multiarch --version | sed -n '1s/.* //p')"
fi
case $qemu_version in
7.2.*) ;;
# Not fatal: newer QEMU mostly works, but docs/notes record what 7.2 does.
*) echo "setup: note: QEMU ${qemu_version:-of unknown version}; the boot notes were observed on 7.2" >&2 ;;
esac

# --- QEMU >= 10 for the tests 7.2 cannot run (build/qemu-10; the system QEMU stays) -------------
# Not fatal: without it `make test` skips those cases and says so.
if ! qemu10_line=$("$repo/scripts/setup-qemu10.sh" 2>&1 | tail -n 1); then
    echo "setup: note: no QEMU >= 10 (${qemu10_line#setup-qemu10: }); its test cases will be skipped" >&2
fi

# --- Debian's U-Boot for QEMU virt, for the `booti` test (build/u-boot) -----------------------------
if ! uboot_line=$("$repo/scripts/setup-uboot.sh" 2>&1 | tail -n 1); then
    echo "setup: note: no U-Boot for the booti test (${uboot_line#setup-uboot: })" >&2
fi

# --- Rust ---------------------------------------------------------------------------------------
command -v rustup >/dev/null 2>&1 ||
    fail "rustup not found: install rustup (the Rust toolchain installer) for this user," \
        "then re-run scripts/setup.sh; rust-toolchain.toml pins the toolchain and targets"

cd "$repo"
# Everything rust-toolchain.toml asks for: `targets = [...]` and `components = [...]`.
toml_list() { sed -n "s/^$1 *= *\[\(.*\)\].*/\1/p" rust-toolchain.toml | tr -d '",' ; }
toolchain_complete() {
    rustup show active-toolchain >/dev/null 2>&1 || return 1
    local have t c
    have=$(rustup target list --installed 2>/dev/null) || return 1
    for t in $(toml_list targets); do grep -qx "$t" <<<"$have" || return 1; done
    have=$(rustup component list --installed 2>/dev/null) || return 1
    for c in $(toml_list components); do grep -q "^$c\(-\|$\)" <<<"$have" || return 1; done
}
if ! toolchain_complete; then
    echo "setup: installing the Rust toolchain from rust-toolchain.toml"
    # `rustup toolchain install` with no name reads rust-toolchain.toml (rustup >= 1.28);
    # older rustup adds targets and components to the active toolchain instead.
    rustup toolchain install >/dev/null 2>&1 ||
        { rustup target add $(toml_list targets) && rustup component add $(toml_list components); } ||
        fail "could not install the Rust toolchain/targets in rust-toolchain.toml (no network?)"
    toolchain_complete || fail "rustup installed the toolchain but targets are still missing"
fi
summary+=", $(rustc --version | cut -d' ' -f1-2)"

echo "setup: $summary: ok"
