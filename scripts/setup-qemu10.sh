#!/usr/bin/env bash
# Provides QEMU >= 10 for the tests that need it (board models, CPU models and CTR_EL0.DIC=1
# that Debian 12's QEMU 7.2 lacks) without touching the machine's QEMU: if the system's
# qemu-system-aarch64 is older than 10, it downloads qemu-system-arm/-common/-data from this
# release's backports (a private apt state under build/qemu-10; the machine's sources stay as
# they are), unpacks them with dpkg-deb into build/qemu-10/root and writes the wrapper
# build/qemu-10/qemu-system-aarch64, which points QEMU at its own modules and ROMs.
# Prints the QEMU it provides; exits 1 (saying why) if it cannot. Cached: quick when done.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$repo/build/qemu-10
wrapper=$work/qemu-system-aarch64
say() { echo "setup-qemu10: $*"; }
fail() {
    echo "setup-qemu10: error: $*" >&2
    exit 1
}
major() { "$1" --version 2>/dev/null | sed -n '1s/.*version \([0-9]*\)\..*/\1/p'; }

system_major=$(major qemu-system-aarch64 || true)
if [[ -n $system_major ]] && ((system_major >= 10)); then
    mkdir -p "$work"
    ln -sf "$(command -v qemu-system-aarch64)" "$wrapper"
    say "the system QEMU is $system_major.x: using it ($wrapper)"
    exit 0
fi
if [[ -x $wrapper ]] && [[ $(major "$wrapper") -ge 10 ]]; then
    say "$("$wrapper" --version | head -n 1) (build/qemu-10, cached)"
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || fail "no apt-get: install QEMU >= 10 yourself"
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[[ -n $codename ]] || fail "/etc/os-release names no VERSION_CODENAME"
mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' |
    awk -v r="$codename" '$2 == r && $3 == "main" { print $1; exit }')
[[ -n $mirror ]] || fail "no apt source for $codename main to take the mirror from"
arch=$(dpkg --print-architecture)
state=$work/apt
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$work/debs"
echo "deb [arch=$arch signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $codename-backports main" \
    >"$state/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$state/sources.list" -o Dir::Etc::sourceparts=-
    -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache")
say "indexing $codename-backports (private apt state in build/qemu-10/apt)"
apt-get -q "${apt_opts[@]}" update >"$work/apt.log" 2>&1 || fail "apt-get update of $codename-backports failed (no network?)"
rm -f "$work"/debs/*.deb
(cd "$work/debs" && apt-get -q "${apt_opts[@]}" download \
    qemu-system-arm/"$codename"-backports qemu-system-common/"$codename"-backports \
    qemu-system-data/"$codename"-backports) >>"$work/apt.log" 2>&1 ||
    fail "apt-get download of QEMU from $codename-backports failed (see build/qemu-10/apt.log)"
rm -rf "$work/root"
mkdir -p "$work/root"
for deb in "$work"/debs/*.deb; do
    dpkg-deb -x "$deb" "$work/root" || fail "cannot unpack $deb"
done
root=$work/root
moddir=$(ls -d "$root"/usr/lib/*/qemu 2>/dev/null | head -n 1)
[[ -x $root/usr/bin/qemu-system-aarch64 && -n $moddir ]] || fail "the packages hold no qemu-system-aarch64 or modules"
# Its own modules first (QEMU_MODULE_DIR) and its own ROMs (-L); `-audio none` so it never
# probes an audio module, which it would otherwise also look for among the system QEMU's
# modules and abort on ("Only modules from the same build can be loaded").
cat >"$wrapper" <<WRAP
#!/bin/sh
# Written by scripts/setup-qemu10.sh: QEMU from $codename-backports, unpacked in build/qemu-10/root.
case "\$1" in --version | -version | --help | -h) exec "$root/usr/bin/qemu-system-aarch64" "\$@" ;; esac
QEMU_MODULE_DIR="$moddir" exec "$root/usr/bin/qemu-system-aarch64" -L "$root/usr/share/qemu" -audio none "\$@"
WRAP
chmod +x "$wrapper"
[[ $(major "$wrapper") -ge 10 ]] || fail "the unpacked QEMU does not run: $("$root/usr/bin/qemu-system-aarch64" --version 2>&1 | head -n 1)"
say "$("$wrapper" --version | head -n 1) in build/qemu-10"
