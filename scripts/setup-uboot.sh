#!/usr/bin/env bash
# Debian's U-Boot for QEMU's arm64 virt machine (package u-boot-qemu), for the test that boots
# Stile the way a board user does: U-Boot as QEMU's firmware (-bios) at EL2, then `booti`.
# Writes build/u-boot/u-boot.bin and build/u-boot/env.img, a 64 MiB image of QEMU virt's second
# flash bank holding U-Boot's environment (CONFIG_ENV_ADDR 0x4000000, CONFIG_ENV_SIZE 0x40000
# in Debian's qemu_arm64 config), whose bootcmd is the README's recipe with QEMU's fw_cfg as
# the disk: `qfw load` (the images QEMU was given with -kernel/-initrd), then `booti`.
# Cached; exits 1 saying why if it cannot fetch the package.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$repo/build/u-boot
say() { echo "setup-uboot: $*"; }
fail() {
    echo "setup-uboot: error: $*" >&2
    exit 1
}
mkdir -p "$work/debs"

if [[ ! -s $work/u-boot.bin ]]; then
    if ! ls "$work"/debs/u-boot-qemu_*.deb >/dev/null 2>&1; then
        (cd "$work/debs" && apt-get download u-boot-qemu) >"$work/apt.log" 2>&1 ||
            fail "apt-get download u-boot-qemu failed (no network?)"
    fi
    rm -rf "$work/root"
    dpkg-deb -x "$(ls "$work"/debs/u-boot-qemu_*.deb | tail -n 1)" "$work/root"
    cp "$work/root/usr/lib/u-boot/qemu_arm64/u-boot.bin" "$work/u-boot.bin.tmp" ||
        fail "u-boot-qemu has no qemu_arm64/u-boot.bin"
    mv "$work/u-boot.bin.tmp" "$work/u-boot.bin"
fi

# The environment. U-Boot copies the initrd and the DTB to the top of the window
# [bootm_low, bootm_low + bootm_size) before `booti`; by default that is the top of RAM, where
# a board's carve-outs live (qemu-virt's fb-nc and aperture), and Stile must find both in host
# RAM. bootm_size keeps the copies in the first 256 MiB of RAM. The addresses are the defaults
# of Debian's qemu_arm64 U-Boot (a saved environment replaces all defaults).
python3 - "$work/env.img" <<'PY'
import sys, zlib
ENV_SIZE = 0x40000
BANK = 64 << 20
env = [
    "bootdelay=0",
    "kernel_addr_r=0x40400000",
    "ramdisk_addr_r=0x44000000",
    "bootm_size=0x10000000",
    "stdin=serial", "stdout=serial", "stderr=serial",
    "bootcmd=qfw load ${kernel_addr_r} ${ramdisk_addr_r} && "
    "booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdtcontroladdr}",
]
data = b"".join(v.encode() + b"\0" for v in env) + b"\0"
data = data.ljust(ENV_SIZE - 4, b"\0")
blob = zlib.crc32(data).to_bytes(4, "little") + data
with open(sys.argv[1], "wb") as f:
    f.write(blob.ljust(BANK, b"\xff"))
PY
say "build/u-boot/u-boot.bin ($(strings "$work/u-boot.bin" | grep -m1 -o 'U-Boot 20[0-9.]*[^ ]*')) and build/u-boot/env.img"
