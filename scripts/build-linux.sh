#!/usr/bin/env bash
# Builds everything Linux needs to run as Stile's host (docs/LINUX-HOST.md), under build/linux/:
#
#   Image               Debian's arm64 kernel (scripts/fetch-linux.sh fetches and caches it)
#   initramfs.cpio.gz   busybox, the kernel's virtio/ext4 modules, linux/init as /init
#   host.itb            the host bundle for the tests: a U-Boot FIT (mkimage) holding the
#                       kernel, the initramfs and the command line; /init runs its checks
#   host-shell.itb      the same with hostinit.mode=shell: /init ends in a shell (make run-linux)
#   host-bench.itb      the same with hostinit.mode=bench: only the RAM fill (make bench-linux)
#   scratch.img         a 64 MiB ext4 scratch disk for make run-linux (virtio-blk, /dev/vda;
#                       the tests make their own)
#
# The same Image and initramfs also boot without Stile (QEMU -kernel Image -initrd
# initramfs.cpio.gz), which is the reference the tests compare with.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$repo/build/linux
mkdir -p "$out"

fail() {
    echo "build-linux: error: $*" >&2
    exit 1
}

"$repo/scripts/setup.sh" --linux >/dev/null
"$repo/scripts/fetch-linux.sh" --env "$out/linux.env"
# shellcheck source=/dev/null
. "$out/linux.env"
[[ -n $BUSYBOX ]] || fail "fetch-linux.sh gave no busybox"

ln -sf "$LINUX_IMAGE" "$out/Image"
python3 "$repo/linux/mkinitramfs.py" --busybox "$BUSYBOX" --modules "$LINUX_MODULES" \
    --init "$repo/linux/init" -o "$out/initramfs.cpio.gz" >&2 ||
    fail "cannot build the initramfs"

# The command lines: the tests keep the kernel quiet (its errors still reach the console) and
# turn a panic into a reboot, which ends QEMU (-no-reboot) instead of hanging until a timeout.
test_args="console=ttyAMA0 quiet panic=-1"
shell_args="console=ttyAMA0 panic=-1 hostinit.mode=shell"
bench_args="$test_args hostinit.mode=bench"

# write_its FILE BOOTARGS: the FIT source. /images/kernel is the raw arm64 Image, /images/ramdisk
# the gzip'd cpio as the kernel unpacks it (compression "none": nobody but the kernel unpacks it),
# and the configuration's bootargs is Stile's extension to FIT (mkimage keeps it as is).
write_its() {
    cat >"$1" <<EOF
/dts-v1/;

/ {
    description = "Stile host: Debian $LINUX_PKG $LINUX_VERSION + busybox initramfs";
    #address-cells = <1>;

    images {
        kernel {
            description = "Linux $LINUX_RELEASE (arm64 Image)";
            data = /incbin/("$LINUX_IMAGE");
            type = "kernel";
            arch = "arm64";
            os = "linux";
            compression = "none";
        };
        ramdisk {
            description = "initramfs: busybox, modules, linux/init";
            data = /incbin/("$out/initramfs.cpio.gz");
            type = "ramdisk";
            arch = "arm64";
            os = "linux";
            compression = "none";
        };
    };

    configurations {
        default = "conf";
        conf {
            description = "Linux as Stile's host";
            kernel = "kernel";
            ramdisk = "ramdisk";
            bootargs = "$2";
        };
    };
};
EOF
}

for variant in host host-shell host-bench; do
    case $variant in
    host) args=$test_args ;;
    host-shell) args=$shell_args ;;
    host-bench) args=$bench_args ;;
    esac
    write_its "$out/$variant.its" "$args"
    # -E -B 0x1000: the images' data follows the tree, each at a 4 KiB-aligned offset, instead of
    # sitting in `data` properties (4-byte aligned). Stile copies aligned data with whole words:
    # its boot takes 22.7M instructions instead of 100.3M (docs/PERFORMANCE.md). U-Boot and
    # Stile read both forms. SOURCE_DATE_EPOCH pins the FIT's timestamp: same inputs, same bundle.
    SOURCE_DATE_EPOCH=0 mkimage -E -B 0x1000 -f "$out/$variant.its" "$out/$variant.itb" >"$out/mkimage.log" 2>&1 || {
        sed 's/^/  /' "$out/mkimage.log" >&2
        fail "mkimage -f $out/$variant.its failed"
    }
done

if [[ ! -f $out/scratch.img ]]; then
    # An ext4 file system the shell can mount (the initramfs has the ext4 module), made with
    # e2fsprogs' mke2fs when the machine has it; otherwise a blank disk.
    rm -rf "$out/scratch"
    mkdir -p "$out/scratch"
    echo "A scratch disk for Linux on Stile: mount /dev/vda /mnt" >"$out/scratch/README"
    if ! command -v mke2fs >/dev/null 2>&1 ||
        ! mke2fs -q -F -t ext4 -L stile-scratch -d "$out/scratch" "$out/scratch.img" 64M; then
        rm -f "$out/scratch.img"
        truncate -s 64M "$out/scratch.img"
    fi
    rm -rf "$out/scratch"
fi
echo "build-linux: $LINUX_PKG $LINUX_VERSION: build/linux/{Image,initramfs.cpio.gz,host.itb,host-shell.itb,host-bench.itb}" >&2
