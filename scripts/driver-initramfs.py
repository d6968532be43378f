#!/usr/bin/env python3
"""Builds the driver test's initramfs: a static busybox, /dev/console, linux/driver/test/init
as /init, the module (/stile.ko), the VMM (/bin/stile-vmm), the guest payload (/guest.bin) and
/spin.bin, a guest that spins forever (for the SIGKILL check).

usage: driver-initramfs.py --busybox BIN --module stile.ko --vmm stile-vmm --guest guest.bin
                           -o OUT.cpio.gz
Uses scripts/newc.py (the Linux host's initramfs writer) for the archive format.
"""
import argparse
import os
import struct
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import newc  # noqa: E402


def spin_image():
    """An arm64 Image whose first instruction branches to itself (`b .`)."""
    header = bytearray(64)
    struct.pack_into("<I", header, 0, 0x14000000)  # code0: b .
    struct.pack_into("<QQ", header, 8, 0, 0x1000)  # text_offset 0, image_size 4 KiB
    header[0x38:0x3C] = b"ARM\x64"
    return bytes(header) + bytes(0x1000 - 64)


def main():
    p = argparse.ArgumentParser()
    for a in ("--busybox", "--module", "--vmm", "--guest", "-o"):
        p.add_argument(a, required=True)
    p.add_argument("--init", default=os.path.join(here, "..", "linux", "driver", "test", "init"))
    args = p.parse_args()
    read = lambda path: open(path, "rb").read()  # noqa: E731
    ar = newc.Archive()
    for d in ("bin", "dev", "proc", "sys", "tmp"):
        ar.dir(d)
    ar.chardev("dev/console", 5, 1)
    ar.file("bin/busybox", read(args.busybox), 0o755)
    ar.symlink("bin/sh", "busybox")  # for /init's #!/bin/sh
    ar.file("bin/stile-vmm", read(args.vmm), 0o755)
    ar.file("init", read(args.init), 0o755)
    ar.file("stile.ko", read(args.module))
    ar.file("guest.bin", read(args.guest))
    ar.file("spin.bin", spin_image())
    with open(args.o, "wb") as f:
        f.write(ar.gzipped())


if __name__ == "__main__":
    main()
