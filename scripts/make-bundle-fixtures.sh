#!/usr/bin/env bash
# Regenerates the host-bundle fixtures used by `cargo test` (hyp/testdata/bundle/): small
# FITs made by U-Boot's own mkimage (Debian's u-boot-tools), so the parser is tested against
# what the tool really writes. The outputs are committed: `cargo test` needs no mkimage.
set -euo pipefail
cd "$(dirname "$0")/../hyp/testdata/bundle"
command -v mkimage >/dev/null || { echo "needs mkimage: apt-get install u-boot-tools" >&2; exit 1; }
# A 4 KiB stand-in kernel: an arm64 Image header (text_offset 0, image_size 64 KiB, flags
# LE | 4K pages | anywhere, magic "ARM\x64" at 0x38), then a byte pattern.
python3 - <<'PY'
import struct
head = struct.pack("<IIQQQQQQI I", 0x14000000, 0, 0, 0x10000, 0xa, 0, 0, 0, 0x644d5241, 0)
body = bytes((i * 7 + 3) & 0xff for i in range(4096 - len(head)))
open("kernel.bin", "wb").write(head + body)
open("ramdisk.bin", "wb").write(bytes((i * 13 + 1) & 0xff for i in range(3000)))
PY
its() { # its <out> <bootargs line or empty> <compression>
    cat >"$1" <<ITS
/dts-v1/;
/ {
    description = "Stile host bundle fixture";
    #address-cells = <1>;
    images {
        kernel-1 {
            description = "stand-in arm64 Image";
            data = /incbin/("kernel.bin");
            type = "kernel";
            arch = "arm64";
            os = "linux";
            compression = "$3";
            load = <0>;
            entry = <0>;
            hash-1 { algo = "crc32"; };
        };
        ramdisk-1 {
            description = "stand-in initramfs";
            data = /incbin/("ramdisk.bin");
            type = "ramdisk";
            arch = "arm64";
            os = "linux";
            compression = "none";
        };
    };
    configurations {
        default = "conf-1";
        conf-1 {
            kernel = "kernel-1";
            ramdisk = "ramdisk-1";
            $2
        };
    };
};
ITS
}
its host.its 'bootargs = "console=ttyAMA0 rdinit=/init quiet";' none
mkimage -q -f host.its host.itb
mkimage -q -E -f host.its host-external.itb
mkimage -q -E -p 0x1000 -f host.its host-position.itb
its host-gzip.its '' gzip
mkimage -q -f host-gzip.its host-gzip.itb
rm -f host.its host-gzip.its
echo "bundle fixtures regenerated in $(pwd)"
