#!/usr/bin/env bash
# Regenerates the DTB fixtures used by `cargo test` (hyp/testdata/): DTBs dumped from QEMU virt
# and the 16550 board DTS compiled with dtc. The outputs are committed so `cargo test` needs
# neither QEMU nor dtc.
set -euo pipefail
cd "$(dirname "$0")/../hyp/testdata"
q() { qemu-system-aarch64 -M "virt,virtualization=on,gic-version=$1,dumpdtb=$2${6:+,$6}" -cpu "$3" -smp "$4" -m "$5" -nographic >/dev/null; }
q 3 qemu-virt-gicv3-smp4-1g.dtb max 4 1G
q 2 qemu-virt-gicv2-smp1-512m.dtb cortex-a72 1 512M
q 3 qemu-virt-gicv3-smp2-4g.dtb cortex-a57 2 4G
# The host memory map: 2 GiB (RAM past the old static region), highmem off (no PCIe windows
# above 4 GiB), and the largest RAM highmem off allows.
q 3 qemu-virt-gicv3-smp4-2g.dtb max 4 2G
q 2 qemu-virt-gicv2-smp1-1g-highmem-off.dtb cortex-a72 1 1G highmem=off
q 3 qemu-virt-gicv3-smp4-3g-highmem-off.dtb max 4 3G highmem=off
dtc -q -I dts -O dtb -o board-16550.dtb board-16550.dts
dtc -q -I dts -O dtb -o tiny-legacy-16550a.dtb tiny-legacy-16550a.dts
echo "DTB fixtures regenerated in $(pwd)"
