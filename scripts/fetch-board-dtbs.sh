#!/usr/bin/env bash
# Fetches the board device trees of Debian's arm64 kernel package (~577 DTBs from
# linux-image-<version>-arm64) for the DTB-corpus test: `apt-get download` (no install),
# `dpkg-deb` to unpack only the DTBs. Cached: once build/board-dtbs/dtbs exists for the
# package apt names, it does nothing. Prints where they are; exits 1 (saying why) if it
# cannot fetch them, e.g. without network.
#   usage: scripts/fetch-board-dtbs.sh [--kernel PACKAGE]   (default: what linux-image-arm64 needs)
set -euo pipefail

kernel_pkg=${BOARD_DTBS_KERNEL_PKG:-}
while (($#)); do
    case $1 in
    --kernel) kernel_pkg=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "usage: scripts/fetch-board-dtbs.sh [--kernel PACKAGE]" >&2; exit 2 ;;
    esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$repo/build/board-dtbs
mkdir -p "$work/debs"
say() { echo "fetch-board-dtbs: $*"; }
fail() {
    echo "fetch-board-dtbs: error: $*" >&2
    exit 1
}

# Already fetched: the stamp names the package the DTBs came from.
if [[ -z $kernel_pkg && -s $work/dtbs/SOURCE && -d $work/dtbs ]]; then
    say "$(find "$work/dtbs" -name '*.dtb' | wc -l) DTBs in build/board-dtbs/dtbs ($(cat "$work/dtbs/SOURCE"), cached)"
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || fail "no apt-get: the corpus comes from Debian's kernel package"
command -v dpkg-deb >/dev/null 2>&1 || fail "no dpkg-deb"
# apt-get as root, quietly (scripts/lib/apt.sh: as_root, apt_try, apt_quiet).
source "$repo/scripts/lib/apt.sh"
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    say "adding the arm64 architecture to dpkg (to download, not install, arm64 packages)"
    "${as_root[@]}" dpkg --add-architecture arm64 || fail "dpkg --add-architecture arm64 failed (not root?)"
    apt_quiet "indexing arm64 packages" update
fi
resolve_kernel() {
    apt-cache depends linux-image-arm64:arm64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*-arm64\)\(:arm64\)\?$/\1/p' | head -n 1
}
if [[ -z $kernel_pkg ]]; then
    kernel_pkg=$(resolve_kernel)
    if [[ -z $kernel_pkg ]]; then
        apt_quiet "indexing arm64 packages" update
        kernel_pkg=$(resolve_kernel)
    fi
    [[ -n $kernel_pkg ]] || fail "cannot tell which kernel linux-image-arm64:arm64 depends on"
fi
find_deb() { ls "$work/debs/${kernel_pkg}"_*_arm64.deb 2>/dev/null | tail -n 1 || true; }
deb=$(find_deb)
if [[ -z $deb ]]; then
    say "downloading $kernel_pkg:arm64 (about 60 MB, once)"
    download() { (cd "$work/debs" && apt-get download "$kernel_pkg:arm64") >"$work/apt.log" 2>&1; }
    if ! download; then
        apt_try update || true
        download || {
            tail -n 5 "$work/apt.log" | sed 's/^/  /' >&2
            fail "apt-get download $kernel_pkg:arm64 failed (no network?)"
        }
    fi
    deb=$(find_deb)
    [[ -n $deb ]] || fail "apt-get download left no .deb in build/board-dtbs/debs"
fi

rm -rf "$work/tree" "$work/dtbs.tmp"
mkdir -p "$work/tree"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/tree" --wildcards './usr/lib/linux-image-*/*.dtb' ||
    fail "no ./usr/lib/linux-image-*/ (the DTBs) in $deb"
mv "$(ls -d "$work"/tree/usr/lib/linux-image-* | head -n 1)" "$work/dtbs.tmp"
echo "$kernel_pkg $(dpkg-deb -f "$deb" Version)" >"$work/dtbs.tmp/SOURCE"
rm -rf "$work/dtbs" "$work/tree"
mv "$work/dtbs.tmp" "$work/dtbs"
say "$(find "$work/dtbs" -name '*.dtb' | wc -l) DTBs in build/board-dtbs/dtbs ($(cat "$work/dtbs/SOURCE"))"
