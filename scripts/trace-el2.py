#!/usr/bin/env python3
"""Where EL2's instructions go, from a QEMU single-step trace (docs/PERFORMANCE.md,
"How to read the instruction stream").

usage: scripts/trace-el2.py TRACE ELF [--image-end HEX] [--show N] [--only FROM:TO] [--listing]

TRACE is QEMU's `-singlestep -d exec,nochain` log; ELF is build/qemu-virt/stile.elf. An
episode is a run of consecutive PCs inside Stile's image; it is named by the world before
and after it (host: 0x4000_0000..0x4020_0000, guest: 0x8000_0000..0x9000_0000). Prints
how often each (before, after, length) episode occurs, then for the N most frequent, the
instructions by source function (outermost inlined frames first, via llvm-addr2line -i).
With --only (e.g. guest:guest, the lazy maps), only the episodes between those worlds are
broken down. With --listing, also every instruction of those episodes, disassembled
(llvm-objdump).
"""
import collections
import re
import subprocess
import sys

IMAGE_BASE = 0x4020_0000


def world(pc):
    if pc is None:
        return "?"
    if 0x8000_0000 <= pc < 0x9000_0000:
        return "guest"
    if 0x4000_0000 <= pc < IMAGE_BASE:
        return "host"
    return hex(pc)


def episodes(path, end):
    pc_re = re.compile(r"Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")
    out, cur, prev = [], None, None
    with open(path) as f:
        for line in f:
            m = pc_re.search(line)
            if not m:
                continue
            pc = int(m.group(1), 16)
            if IMAGE_BASE <= pc < end:
                if cur is None:
                    cur = (prev, [])
                cur[1].append(pc)
            elif cur is not None:
                out.append((world(cur[0]), world(pc), cur[1]))
                cur = None
            prev = pc
    return out


def frames(elf, pcs):
    """pc -> [function, ...] outermost first (inlined frames included)."""
    uniq = sorted(set(pcs))
    lines = subprocess.run(
        ["llvm-addr2line", "-a", "-f", "-i", "-C", "-e", elf] + [hex(p) for p in uniq],
        capture_output=True, text=True, check=True).stdout.splitlines()
    # Per address: "0x..." then (function, file:line) pairs, innermost frame first.
    info, cur = {}, None
    for line in lines:
        if line.startswith("0x"):
            cur = int(line, 16)
            info[cur] = []
        elif cur is not None:
            info[cur].append(line)
    named = {}
    for pc, ls in info.items():
        funcs = [re.sub(r"::h[0-9a-f]{16}$", "", f).split("::")[-1] for f in ls[0::2]]
        named[pc] = list(reversed(funcs))
    return named


def disassembly(elf):
    """pc -> instruction text, for the whole ELF."""
    text = subprocess.run(["llvm-objdump", "-d", "--no-show-raw-insn", elf],
                          capture_output=True, text=True, check=True).stdout
    out = {}
    for line in text.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s+(.*)", line)
        if m:
            out[int(m.group(1), 16)] = m.group(2).split(" <")[0]
    return out


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        print(__doc__)
        sys.exit(2)
    trace, elf = args[0], args[1]
    end = int(args[args.index("--image-end") + 1], 16) if "--image-end" in args else IMAGE_BASE + 0x40000
    show = int(args[args.index("--show") + 1]) if "--show" in args else 4
    listing = disassembly(elf) if "--listing" in args else None
    eps = episodes(trace, end)
    count = collections.Counter((b, a, len(p)) for b, a, p in eps)
    print("episodes (count, from, to, EL2 instructions):")
    for (b, a, n), c in count.most_common(20):
        print(f"  {c:6} {b:>6} -> {a:<6} {n}")
    only = tuple(args[args.index("--only") + 1].split(":")) if "--only" in args else None
    shown = [kv for kv in count.most_common() if kv[0][2] < 20000]
    shown = [kv for kv in shown if only is None or kv[0][:2] == only]
    for (b, a, n), _ in shown[:show]:
        pcs = next(p for bb, aa, p in reversed(eps) if (bb, aa, len(p)) == (b, a, n))
        names = frames(elf, pcs)
        by = collections.Counter()
        for pc in pcs:
            chain = names.get(pc, ["?"])
            # The trap entry and the handle() layer add nothing: show what they call.
            chain = [f for f in chain if f not in ("stile_lower_el_trap", "handle")] or chain
            by[" > ".join(chain[:2])] += 1
        print(f"\n{b} -> {a}, {n} instructions:")
        for k, v in by.most_common(25):
            print(f"  {v:5} {k}")
        if listing is not None:
            for pc in pcs:
                where = " > ".join(names.get(pc, ["?"])[-1:])
                print(f"    {pc:#x}  {listing.get(pc, '?'):<40} {where}")


if __name__ == "__main__":
    main()
