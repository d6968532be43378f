#!/usr/bin/env bash
# Fetches what building linux/driver (the /dev/stile module) needs for Debian's arm64 kernel,
# without installing any arm64 package: `apt-get download` of linux-headers-<release>:arm64,
# linux-headers-<common>, linux-kbuild-<major.minor> (host tools), unpacked with `dpkg-deb -x`
# into build/linux-headers/<release>/, plus the cross compiler gcc-aarch64-linux-gnu (installed
# with apt-get: the kernel's own compiler, gcc 12 on bookworm).
#
# usage: scripts/fetch-linux-headers.sh [RELEASE]   (default: 6.1.0-57-arm64, the kernel the
#        Linux-host tests boot; also LINUX_RELEASE in the environment)
# Prints the headers directory (for `make -C <dir> M=... modules`) on stdout.
set -euo pipefail

release=${1:-${LINUX_RELEASE:-6.1.0-57-arm64}}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$repo/build/linux-headers
tree=$work/$release
say() { echo "fetch-linux-headers: $*" >&2; }
fail() {
    echo "fetch-linux-headers: error: $*" >&2
    exit 1
}
# apt-get as root, quietly (scripts/lib/apt.sh: as_root, apt_try, apt_quiet).
source "$repo/scripts/lib/apt.sh"
mkdir -p "$work/debs"

if ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; then
    say "installing the cross compiler gcc-aarch64-linux-gnu"
    apt_quiet "installing the cross compiler" install -y --no-install-recommends gcc-aarch64-linux-gnu
fi

if [[ ! -f $tree/.complete ]]; then
    command -v dpkg-deb >/dev/null || fail "no dpkg-deb (package dpkg)"
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        say "adding the arm64 architecture to dpkg (to download, not install, arm64 packages)"
        "${as_root[@]}" dpkg --add-architecture arm64
        apt_quiet "indexing arm64 packages" update
    fi
    arch_pkg=linux-headers-$release
    # linux-headers-6.1.0-57-arm64 depends on linux-headers-6.1.0-57-common and
    # linux-kbuild-6.1: ask apt rather than guessing the names.
    deps=$(apt-cache depends "$arch_pkg:arm64" 2>/dev/null | sed -n 's/^ *Depends: //p' |
        tr -d '<>' | sed 's/:.*//' | grep -E '^linux-(headers-.*-common|kbuild-)' || true)
    [[ -n $deps ]] || fail "apt-cache knows no $arch_pkg:arm64 (apt-get update? another release?)"
    rm -rf "$tree" && mkdir -p "$tree.x"
    (cd "$work/debs" && apt_quiet "downloading the headers" download "$arch_pkg:arm64" $deps)
    for pkg in "$arch_pkg" $deps; do
        deb=$(ls "$work"/debs/"${pkg}"_*.deb | head -1)
        dpkg-deb -x "$deb" "$tree.x"
    done
    hdrs=$tree.x/usr/src/$arch_pkg
    [[ -f $hdrs/Makefile ]] || fail "no $arch_pkg/Makefile in the packages"
    # The arch headers' Makefile includes the common tree by an absolute /usr/src path.
    sed -i "s|^include /usr/src/|include $tree.x/usr/src/|" "$hdrs/Makefile"
    # kbuild's host tools live under /usr/lib/linux-kbuild-*; the headers link to them.
    for l in scripts tools; do
        t=$(readlink "$hdrs/$l" 2>/dev/null || true)
        if [[ $t == /* ]]; then ln -sfn "$tree.x$t" "$hdrs/$l"; fi
    done
    common=$(ls -d "$tree.x"/usr/src/linux-headers-*-common | head -1)
    for l in scripts tools; do
        t=$(readlink "$common/$l" 2>/dev/null || true)
        if [[ $t == /* ]]; then ln -sfn "$tree.x$t" "$common/$l"; fi
    done
    mv "$tree.x" "$tree"
    # Fix the paths written above now that the tree has its final name.
    grep -rl --include=Makefile "$tree.x" "$tree/usr/src" 2>/dev/null | xargs -r sed -i "s|$tree.x|$tree|g"
    find "$tree" -type l | while read -r l; do
        t=$(readlink "$l")
        if [[ $t == "$tree.x"* ]]; then ln -sfn "$tree${t#"$tree.x"}" "$l"; fi
    done
    touch "$tree/.complete"
    say "headers for $release in build/linux-headers/$release"
fi
echo "$tree/usr/src/linux-headers-$release"
