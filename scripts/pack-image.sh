#!/usr/bin/env bash
# Turns the linked ELF into the raw arm64 Image QEMU -kernel and U-Boot booti take, after
# checking what entry.S relies on: only R_AARCH64_RELATIVE relocations, and the header magic.
set -euo pipefail
elf=$1 bin=$2 elf_out=$3

tools=$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin
objcopy=$tools/llvm-objcopy
readelf=$tools/llvm-readelf
[ -x "$objcopy" ] || objcopy=$(command -v llvm-objcopy || command -v rust-objcopy || true)
[ -x "$readelf" ] || readelf=$(command -v llvm-readelf || true)
if [ -z "$objcopy" ]; then
    echo "pack-image: no llvm-objcopy (rustup component add llvm-tools, or apt-get install llvm)" >&2
    exit 1
fi

if [ -n "$readelf" ]; then
    bad=$("$readelf" -r "$elf" | awk '/R_AARCH64_/ && $3 != "R_AARCH64_RELATIVE" {print $3}' | sort -u)
    if [ -n "$bad" ]; then
        echo "pack-image: relocations entry.S cannot apply: $bad" >&2
        exit 1
    fi
fi

"$objcopy" -O binary "$elf" "$bin"
cp "$elf" "$elf_out"
magic=$(od -An -tx1 -j56 -N4 "$bin" | tr -d ' \n')
if [ "$magic" != "41524d64" ]; then
    echo "pack-image: $bin has no arm64 Image magic at offset 0x38 (got $magic)" >&2
    exit 1
fi
echo "pack-image: $bin ($(stat -c %s "$bin") bytes), $elf_out"
