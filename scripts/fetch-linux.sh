#!/usr/bin/env bash
# Fetches Debian's arm64 Linux kernel package (and busybox-static:arm64) with `apt-get
# download`, unpacks them with `dpkg-deb -x` (nothing is installed) and caches the result
# under build/linux/. Writes the paths into an env file other scripts source:
#
#   LINUX_PKG LINUX_VERSION LINUX_RELEASE  package, Debian version, `uname -r`
#   LINUX_IMAGE     the raw arm64 Image (Debian's vmlinuz; checked, gunzip'd if needed)
#   LINUX_CONFIG    the kernel's config file
#   LINUX_MODULES   lib/modules/<release> of the same package (virtio_mmio, virtio_blk, ext4...)
#   BUSYBOX         a static arm64 busybox (unless --kernel-only)
#
# Used by `make run-linux` / `make linux` (scripts/build-linux.sh) and scripts/bench-kvm.sh.
# Docs: docs/LINUX-HOST.md.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: scripts/fetch-linux.sh [--kernel PACKAGE] [--backports] [--kernel-only] [--env FILE]
  --kernel       Debian arm64 kernel package (default: what linux-image-arm64:arm64 depends
                 on today; also LINUX_KERNEL_PKG in the environment)
  --backports    take the kernel from this release's backports suite, through a private apt
                 state under build/linux/apt-backports (the machine's apt sources stay as
                 they are)
  --kernel-only  do not fetch busybox-static
  --env FILE     where to write the paths (default build/linux/linux.env)
EOF
}

kernel_pkg=${LINUX_KERNEL_PKG:-}
backports=0
kernel_only=0
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$repo/build/linux
env_file=$work/linux.env
while (($#)); do
    case $1 in
    --kernel) kernel_pkg=${2:?}; shift 2 ;;
    --backports) backports=1; shift ;;
    --kernel-only) kernel_only=1; shift ;;
    --env) env_file=${2:?}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
mkdir -p "$work/debs"

say() { echo "fetch-linux: $*" >&2; }
fail() {
    echo "fetch-linux: error: $*" >&2
    exit 1
}

# apt-get as root, quietly (scripts/lib/apt.sh: as_root, apt_try, apt_quiet).
source "$repo/scripts/lib/apt.sh"

command -v apt-get >/dev/null 2>&1 || fail "no apt-get: fetching Debian's kernel needs Debian (or Ubuntu)"
command -v dpkg-deb >/dev/null 2>&1 || fail "no dpkg-deb (package dpkg)"

# --- where arm64 packages come from -------------------------------------------------------------
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    say "adding the arm64 architecture to dpkg (to download, not install, arm64 packages)"
    "${as_root[@]}" dpkg --add-architecture arm64 || fail "dpkg --add-architecture arm64 failed (not root?)"
    apt_quiet "indexing arm64 packages" update
fi
apt_opts=() # extra options for apt-get/apt-cache: a private state for --backports
if ((backports)); then
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [[ -n $codename ]] || fail "--backports: /etc/os-release names no VERSION_CODENAME"
    # The mirror this machine already uses for the release itself.
    mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' |
        awk -v r="$codename" '$2 == r && $3 == "main" { print $1; exit }')
    [[ -n $mirror ]] || fail "--backports: no apt source for $codename main to take the mirror from"
    state=$work/apt-backports
    mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
    echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $codename-backports main" \
        >"$state/sources.list"
    apt_opts=(-o "Dir::Etc::sourcelist=$state/sources.list" -o Dir::Etc::sourceparts=-
        -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache"
        -o APT::Architecture=arm64 -o APT::Architectures=arm64)
    [[ -n $(ls "$state/lists" 2>/dev/null | grep -v partial) ]] ||
        apt_quiet "indexing $codename-backports" "${apt_opts[@]}" update
fi

resolve_kernel() {
    apt-cache "${apt_opts[@]}" depends linux-image-arm64:arm64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*-arm64\)\(:arm64\)\?$/\1/p' | head -n 1
}
if [[ -z $kernel_pkg ]]; then
    kernel_pkg=$(resolve_kernel)
    if [[ -z $kernel_pkg ]]; then
        apt_quiet "indexing arm64 packages" "${apt_opts[@]}" update
        kernel_pkg=$(resolve_kernel)
    fi
    [[ -n $kernel_pkg ]] ||
        fail "cannot tell which kernel linux-image-arm64:arm64 depends on (apt-cache depends linux-image-arm64:arm64)"
fi

# The newest cached .deb of package $1 (names carry the version, with ':' as %3a).
cached_deb() { ls "$work/debs/$1"_*_arm64.deb 2>/dev/null | sort -V | tail -n 1 || true; }

# Prints the path of package $1's .deb, downloading it when it is not cached.
fetch_deb() {
    local pkg=$1 deb
    deb=$(cached_deb "$pkg")
    if [[ -z $deb ]]; then
        say "downloading $pkg:arm64"
        download() { (cd "$work/debs" && apt-get "${apt_opts[@]}" download "$pkg:arm64") >"$work/apt.log" 2>&1; }
        if ! download; then
            apt_quiet "indexing arm64 packages" "${apt_opts[@]}" update
            download || {
                tail -n 15 "$work/apt.log" | sed 's/^/  /' >&2
                fail "apt-get download $pkg:arm64 failed (no network to Debian's mirrors, or no such package: see apt-cache policy $pkg:arm64)"
            }
        fi
        deb=$(cached_deb "$pkg")
        [[ -n $deb ]] || fail "apt-get download $pkg:arm64 left no .deb in $work/debs"
    fi
    echo "$deb"
}

# --- the kernel ---------------------------------------------------------------------------------
deb=$(fetch_deb "$kernel_pkg")
kernel_version=$(dpkg-deb -f "$deb" Version)
tree=$work/${kernel_pkg}_$kernel_version
image=$tree/Image
if [[ ! -s $image ]]; then
    say "unpacking $(basename "$deb")"
    rm -rf "$tree"
    mkdir -p "$tree"
    dpkg-deb -x "$deb" "$tree" || fail "cannot unpack $deb"
    vmlinuz=$(ls "$tree"/boot/vmlinuz-* 2>/dev/null | head -n 1)
    [[ -n $vmlinuz ]] || fail "$deb has no boot/vmlinuz-*"
    # arm64 vmlinuz: a plain Image (Debian 12; PE/EFI stub header, maybe signed), or gzip'd.
    case $(head -c 2 "$vmlinuz" | od -An -tx1 | tr -d ' ') in
    1f8b) gzip -dc "$vmlinuz" >"$image.tmp" ;;
    *) cp "$vmlinuz" "$image.tmp" ;;
    esac
    if [[ $(head -c 8 "$image.tmp" | tail -c 4) == zimg ]]; then
        fail "$vmlinuz is an EFI zboot image (compressed, needs firmware to unpack); QEMU -kernel and Stile want the arm64 Image"
    fi
    [[ $(dd if="$image.tmp" bs=1 skip=56 count=4 2>/dev/null) == $'ARM\x64' ]] ||
        fail "$vmlinuz is not an arm64 Image (no ARM\\x64 magic at offset 0x38)"
    mv "$image.tmp" "$image"
fi
release=$(basename "$(ls -d "$tree"/lib/modules/*/ 2>/dev/null | head -n 1)")
[[ -n $release && -d $tree/lib/modules/$release/kernel ]] || fail "$deb has no lib/modules/<release>/kernel"
config=$(ls "$tree"/boot/config-* 2>/dev/null | head -n 1)

# --- busybox ------------------------------------------------------------------------------------
busybox=
if ((!kernel_only)); then
    bdeb=$(fetch_deb busybox-static)
    bversion=$(dpkg-deb -f "$bdeb" Version)
    btree=$work/busybox-static_${bversion//:/%3a}
    if [[ ! -x $btree/bin/busybox ]]; then
        rm -rf "$btree"
        mkdir -p "$btree"
        dpkg-deb -x "$bdeb" "$btree" || fail "cannot unpack $bdeb"
        [[ -x $btree/bin/busybox ]] || fail "$bdeb has no bin/busybox"
    fi
    busybox=$btree/bin/busybox
fi

mkdir -p "$(dirname "$env_file")"
cat >"$env_file.tmp" <<EOF
LINUX_PKG='$kernel_pkg'
LINUX_VERSION='$kernel_version'
LINUX_RELEASE='$release'
LINUX_IMAGE='$image'
LINUX_CONFIG='$config'
LINUX_MODULES='$tree/lib/modules/$release'
BUSYBOX='$busybox'
EOF
mv "$env_file.tmp" "$env_file"
say "$kernel_pkg $kernel_version (uname -r $release)${busybox:+, busybox-static $bversion}: $env_file"
