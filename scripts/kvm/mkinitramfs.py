#!/usr/bin/env python3
"""Writes a gzip'd newc cpio initramfs holding one static program as /init.

usage: mkinitramfs.py INIT_BINARY OUTPUT.cpio.gz

The archive holds /dev (with /dev/console, which the kernel opens for init's stdin/stdout/stderr
before /init runs), /proc, /sys and /init. It is byte-for-byte reproducible (scripts/newc.py).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import newc  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    init_path, out_path = sys.argv[1], sys.argv[2]
    with open(init_path, "rb") as f:
        init = f.read()
    archive = newc.Archive()
    archive.dir("dev")
    archive.chardev("dev/console", 5, 1)
    archive.dir("proc")
    archive.dir("sys")
    archive.file("init", init, mode=0o755)
    with open(out_path, "wb") as f:
        f.write(archive.gzipped())


if __name__ == "__main__":
    main()
