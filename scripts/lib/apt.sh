# apt-get the quiet way, for the scripts that fetch or install Debian packages (fetch-linux.sh,
# fetch-board-dtbs.sh, fetch-linux-headers.sh, bench-kvm.sh). Source it after defining
# `fail` and `$work`: apt's output goes to $work/apt.log.

# How to run a command as root: directly, with sudo, or not at all (`false` fails it).
if ((EUID == 0)); then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    as_root=(false)
fi

# apt_try ARGS...: apt-get as root, quietly, its output in $work/apt.log; apt-get's status.
apt_try() {
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q "$@" >"$work/apt.log" 2>&1
}

# apt_quiet WHAT ARGS...: apt_try, or show the log's last lines and fail saying WHAT failed.
apt_quiet() {
    local what=$1
    shift
    if ! apt_try "$@"; then
        tail -n 15 "$work/apt.log" | sed 's/^/  /' >&2
        fail "$what: apt-get $* failed (not root, no network to Debian's mirrors, or no such package?)"
    fi
}
