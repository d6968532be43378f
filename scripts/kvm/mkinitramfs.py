#!/usr/bin/env python3
"""Writes a gzip'd newc cpio initramfs holding one static program as /init.

usage: mkinitramfs.py INIT_BINARY OUTPUT.cpio.gz

The archive holds /dev (with /dev/console, which the kernel opens for init's stdin/stdout/stderr
before /init runs), /proc, /sys and /init. It is byte-for-byte reproducible: fixed inode numbers,
owner root, mtime 0, and a gzip header without a timestamp. No cpio binary or root rights needed
(device nodes exist only inside the archive).
"""
import gzip
import stat
import sys


def entry(ino, name, mode, data=b"", rdev=(0, 0), nlink=1):
    """One newc ("070701") record: header, NUL-terminated name and data, each padded to 4 bytes."""
    name_bytes = name.encode() + b"\0"
    fields = [
        ino, mode, 0, 0, nlink, 0, len(data),  # ino mode uid gid nlink mtime filesize
        0, 0, rdev[0], rdev[1],                # devmajor devminor rdevmajor rdevminor
        len(name_bytes), 0,                    # namesize check
    ]
    header = b"070701" + b"".join(b"%08X" % f for f in fields)
    out = header + name_bytes
    out += b"\0" * (-len(out) % 4)
    out += data
    out += b"\0" * (-len(out) % 4)
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    init_path, out_path = sys.argv[1], sys.argv[2]
    with open(init_path, "rb") as f:
        init = f.read()
    records = [
        entry(1, "dev", stat.S_IFDIR | 0o755, nlink=2),
        entry(2, "dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)),
        entry(3, "proc", stat.S_IFDIR | 0o755, nlink=2),
        entry(4, "sys", stat.S_IFDIR | 0o755, nlink=2),
        entry(5, "init", stat.S_IFREG | 0o755, data=init),
        entry(0, "TRAILER!!!", 0),
    ]
    archive = b"".join(records)
    archive += b"\0" * (-len(archive) % 512)
    with open(out_path, "wb") as f:
        f.write(gzip.compress(archive, compresslevel=6, mtime=0))


if __name__ == "__main__":
    main()
