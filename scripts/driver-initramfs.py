#!/usr/bin/env python3
"""Builds the driver test's initramfs: a static busybox, /dev/console, linux/driver/test/init
as /init, the module (/stile.ko), the VMM (/bin/stile-vmm), the guest payload (/guest.bin) and
/spin.bin, a guest that spins forever (for the SIGKILL check), /hello.bin, a guest
that prints a line on a PL011 and powers off, /window.bin, a guest that writes and
reads back a board region's slot in rounds (for the SLOT_CHANGED round trip), and
/mmio-bench.bin, which times MMIO reads answered by the VMM (make bench-driver). With
--linux-guest, also a Linux kernel for a guest (/linux/Image) and its initramfs
(/linux/guest.cpio.gz: busybox and linux/guest/init).

usage: driver-initramfs.py --busybox BIN --module stile.ko --vmm stile-vmm --guest guest.bin
                           [--linux-guest Image] -o OUT.cpio.gz
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


def hello_image():
    """An arm64 Image that writes a line to a PL011 at 0x09000000, then PSCI SYSTEM_OFF (HVC).

    The code, assembled once with aarch64-linux-gnu-as (listed so it can be read):
        movz x1, #0x0900, lsl #16      // the UART
        adr  x2, msg
    1:  ldrb w3, [x2], #1
        cbz  w3, 2f
        strb w3, [x1]                  // UARTDR
        b    1b
    2:  movz x0, #0x8400, lsl #16
        movk x0, #8                    // PSCI SYSTEM_OFF
        hvc  #0
        b    .
    msg: .asciz "..."                  // right after the code
    """
    code = [0xD2A12001, 0x10000122, 0x38401443, 0x34000063, 0x39000023,
            0x17FFFFFD, 0xD2B08000, 0xF2800100, 0xD4000002, 0x14000000]
    header = bytearray(64)
    struct.pack_into("<I", header, 0, 0x14000010)  # code0: b 0x40
    struct.pack_into("<QQ", header, 8, 0, 0x1000)  # text_offset 0, image_size 4 KiB
    header[0x38:0x3C] = b"ARM\x64"
    body = struct.pack("<10I", *code) + HELLO + b"\0"
    return bytes(header) + body


HELLO = b"hello from a guest, through stile-vmm's PL011\n"


def window_image():
    """An arm64 Image that, in rounds (x0 at entry, or 8), writes the round's number to IPA
    0xa0000000 (a slot over a board region), reads it back, and for the last 8 rounds prints
    the round's digit on the PL011 (an exit to the VMM each); then a line saying whether every
    round read back what it wrote, and PSCI SYSTEM_OFF. Assembled once with
    aarch64-linux-gnu-as:
        movz x1, #0x0900, lsl #16      // the UART
        movz x2, #0xa000, lsl #16      // the window
        mov  x4, #8
        cbz  x0, 1f
        mov  x4, x0                    // rounds: x0 at entry, else 8
    1:  str  x4, [x2]
        ldr  x5, [x2]
        cmp  x5, x4
        b.ne 3f
        cmp  x4, #8
        b.hi 5f                        // only the last 8 rounds print their digit
        add  w6, w4, #0x30
        strb w6, [x1]
    5:  subs x4, x4, #1
        b.ne 1b
        adr  x2, ok
        b    2f
    3:  adr  x2, bad
    2:  ldrb w3, [x2], #1
        cbz  w3, 4f
        strb w3, [x1]
        b    2b
    4:  movz x0, #0x8400, lsl #16
        movk x0, #8                    // PSCI SYSTEM_OFF
        hvc  #0
        b    .
    ok:  .asciz "..."                  // at 0x68, right after the code
    bad: .asciz "..."                  // right after ok (0x96)
    """
    code = [0xD2A12001, 0xD2B40002, 0xD2800104, 0xB4000040, 0xAA0003E4, 0xF9000044,
            0xF9400045, 0xEB0400BF, 0x54000121, 0xF100209F, 0x54000068, 0x1100C086,
            0x39000026, 0xF1000484, 0x54FFFEE1, 0x10000162, 0x14000002, 0x50000282,
            0x38401443, 0x34000063, 0x39000023, 0x17FFFFFD, 0xD2B08000, 0xF2800100,
            0xD4000002, 0x14000000]
    assert len(code) * 4 == 0x68 and 0x68 + len(WINDOW_OK) + 1 == 0x96  # the adr offsets
    header = bytearray(64)
    struct.pack_into("<I", header, 0, 0x14000010)  # code0: b 0x40
    struct.pack_into("<QQ", header, 8, 0, 0x1000)  # text_offset 0, image_size 4 KiB
    header[0x38:0x3C] = b"ARM\x64"
    body = struct.pack("<26I", *code) + WINDOW_OK + b"\0" + WINDOW_BAD + b"\0"
    return bytes(header) + body


def mmio_bench_image():
    """An arm64 Image that times x0 (>= 1) MMIO reads of the PL011 with CNTVCT and reports
    them to stile-vmm with one HVC (x0 = BENCH_REPORT 0xc600be0c, x1 = reads, x2 = ticks),
    then PSCI SYSTEM_OFF. Assembled once with aarch64-linux-gnu-as:
        movz x1, #0x0900, lsl #16      // the PL011: an mmio slot
        mov  x9, x0                    // round trips
        isb
        mrs  x10, cntvct_el0
    1:  ldr  w5, [x1, #0x18]           // UARTFR: an MMIO read exit
        subs x9, x9, #1
        b.ne 1b
        isb
        mrs  x11, cntvct_el0
        sub  x2, x11, x10
        mov  x1, x0
        movz x0, #0xc600, lsl #16
        movk x0, #0xbe0c
        hvc  #0
        movz x0, #0x8400, lsl #16
        movk x0, #8                    // PSCI SYSTEM_OFF
        hvc  #0
        b    .
    """
    code = [0xD2A12001, 0xAA0003E9, 0xD5033FDF, 0xD53BE04A, 0xB9401825, 0xF1000529,
            0x54FFFFC1, 0xD5033FDF, 0xD53BE04B, 0xCB0A0162, 0xAA0003E1, 0xD2B8C000,
            0xF297C180, 0xD4000002, 0xD2B08000, 0xF2800100, 0xD4000002, 0x14000000]
    header = bytearray(64)
    struct.pack_into("<I", header, 0, 0x14000010)  # code0: b 0x40
    struct.pack_into("<QQ", header, 8, 0, 0x1000)  # text_offset 0, image_size 4 KiB
    header[0x38:0x3C] = b"ARM\x64"
    return bytes(header) + struct.pack("<18I", *code)


WINDOW_OK = b"\nwindow: every round read back what it wrote\n"
WINDOW_BAD = b"\nwindow: FAIL: a round read back something else\n"


def main():
    p = argparse.ArgumentParser()
    for a in ("--busybox", "--module", "--vmm", "--guest", "-o"):
        p.add_argument(a, required=True)
    p.add_argument("--init", default=os.path.join(here, "..", "linux", "driver", "test", "init"))
    p.add_argument("--linux-guest")
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
    ar.file("hello.bin", hello_image())
    ar.file("window.bin", window_image())
    ar.file("mmio-bench.bin", mmio_bench_image())
    if args.linux_guest:
        guest = newc.Archive()
        for d in ("bin", "dev", "proc"):
            guest.dir(d)
        guest.chardev("dev/console", 5, 1)
        guest.file("bin/busybox", read(args.busybox), 0o755)
        guest.symlink("bin/sh", "busybox")
        guest.file("init", read(os.path.join(here, "..", "linux", "guest", "init")), 0o755)
        ar.dir("linux")
        ar.file("linux/Image", read(args.linux_guest))
        ar.file("linux/guest.cpio.gz", guest.gzipped())
    with open(args.o, "wb") as f:
        f.write(ar.gzipped())


if __name__ == "__main__":
    main()
