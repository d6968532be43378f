#!/usr/bin/env python3
"""Builds the Linux host's initramfs: a static busybox, /dev/console, kernel modules from the
kernel's own package (with what they depend on, in load order) and linux/init as /init.

usage: mkinitramfs.py --busybox BIN --modules DIR --init SCRIPT -o OUT.cpio.gz [MODULE...]

DIR is the kernel's lib/modules/<release>. MODULE names a module without .ko (default: the
ones the tests and `make run-linux` use). Debian's package ships no modules.dep (depmod runs at
install time), so dependencies come from each module's own .modinfo `depends=` field. The
modules land flat in /lib/modules/<release>/ and their load order in /etc/modules, one file
name a line. The archive is byte-for-byte reproducible (scripts/newc.py).
"""
import argparse
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import newc  # noqa: E402

# virtio-mmio disks and an ext4 on them; crc32c for ext4's metadata checksums (ext4 asks the
# crypto API for it at mount time, which no depends= line says).
DEFAULT_MODULES = ["virtio_mmio", "virtio_blk", "crc32c_generic", "ext4"]


def elf_section(data, wanted):
    """The bytes of section `wanted` of a 64-bit little-endian ELF file, or None."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def header(i):
        # name, type, flags, addr, offset, size
        return struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)

    strtab = header(shstrndx)
    names = data[strtab[4]:strtab[4] + strtab[5]]
    for i in range(shnum):
        name, _, _, _, off, size = header(i)
        if names[name:names.index(b"\0", name)] == wanted:
            return data[off:off + size]
    return None


def depends(ko_bytes):
    """The module names in a module's .modinfo `depends=` field."""
    info = elf_section(ko_bytes, b".modinfo") or b""
    for field in info.split(b"\0"):
        if field.startswith(b"depends="):
            return [d for d in field[len(b"depends="):].decode().split(",") if d]
    return []


def index_modules(moddir):
    """Module name (with '-' read as '_', as the kernel does) -> path of its .ko."""
    found = {}
    for root, _, files in os.walk(os.path.join(moddir, "kernel")):
        for f in files:
            if f.endswith(".ko"):
                found[f[:-3].replace("-", "_")] = os.path.join(root, f)
    return found


def load_order(wanted, index):
    """`wanted` and everything they depend on, each after its dependencies."""
    order, seen = [], set()

    def visit(name, chain):
        key = name.replace("-", "_")
        if key in seen:
            return
        if key in chain:
            sys.exit(f"mkinitramfs: error: module dependency cycle: {' -> '.join(chain + [key])}")
        if key not in index:
            sys.exit(f"mkinitramfs: error: no module {name}.ko in the kernel's package")
        with open(index[key], "rb") as f:
            deps = depends(f.read())
        for dep in deps:
            visit(dep, chain + [key])
        seen.add(key)
        order.append(key)

    for name in wanted:
        visit(name, [])
    return order


def main():
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--busybox", required=True)
    p.add_argument("--modules", required=True, help="the kernel's lib/modules/<release>")
    p.add_argument("--init", required=True, help="the /init script")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("module", nargs="*", default=DEFAULT_MODULES)
    args = p.parse_args()

    release = os.path.basename(os.path.normpath(args.modules))
    index = index_modules(args.modules)
    order = load_order(args.module, index)

    a = newc.Archive()
    for d in ["bin", "dev", "etc", "lib", "lib/modules", f"lib/modules/{release}", "mnt",
              "proc", "sys", "tmp"]:
        a.dir(d)
    # The kernel opens /dev/console for init's stdin/stdout/stderr before /init runs; devtmpfs
    # is mounted over /dev later.
    a.chardev("dev/console", 5, 1)
    with open(args.busybox, "rb") as f:
        a.file("bin/busybox", f.read(), mode=0o755)
    a.symlink("bin/sh", "busybox")
    for name in order:
        with open(index[name], "rb") as f:
            a.file(f"lib/modules/{release}/{name}.ko", f.read())
    a.file("etc/modules", "".join(f"{name}.ko\n" for name in order).encode())
    with open(args.init, "rb") as f:
        a.file("init", f.read(), mode=0o755)
    with open(args.output, "wb") as f:
        f.write(a.gzipped())
    print(f"mkinitramfs: {args.output}: busybox, modules {' '.join(order)}")


if __name__ == "__main__":
    main()
