#!/usr/bin/env bash
# Turns the linked ELF into the raw arm64 Image QEMU -kernel and U-Boot booti take, after
# checking what entry.S relies on: only R_AARCH64_RELATIVE relocations, and the header magic.
set -euo pipefail
elf=$1 bin=$2 elf_out=$3

tools=$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin
objcopy=$tools/llvm-objcopy
# llvm-tools ships llvm-readobj; its GNU output style is readelf's.
readelf=("$tools/llvm-readobj" --elf-output-style=GNU)
[ -x "$objcopy" ] || objcopy=$(command -v llvm-objcopy || command -v rust-objcopy || true)
[ -x "${readelf[0]}" ] || readelf=($(command -v llvm-readelf || command -v readelf || true))
if [ -z "$objcopy" ]; then
    echo "pack-image: no llvm-objcopy (rustup component add llvm-tools, or apt-get install llvm)" >&2
    exit 1
fi

if [ -n "${readelf[0]:-}" ]; then
    bad=$("${readelf[@]}" -r "$elf" | awk '/R_AARCH64_/ && $3 != "R_AARCH64_RELATIVE" {print $3}' | sort -u)
    if [ -n "$bad" ]; then
        echo "pack-image: relocations entry.S cannot apply: $bad" >&2
        exit 1
    fi
else
    echo "pack-image: warning: no readelf; relocation types not checked" >&2
fi

"$objcopy" -O binary "$elf" "$bin"
cp "$elf" "$elf_out"
magic=$(od -An -tx1 -j56 -N4 "$bin" | tr -d ' \n')
if [ "$magic" != "41524d64" ]; then
    echo "pack-image: $bin has no arm64 Image magic at offset 0x38 (got $magic)" >&2
    exit 1
fi
echo "pack-image: $bin ($(stat -c %s "$bin") bytes), $elf_out"
