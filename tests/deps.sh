# shellcheck shell=bash
#
# tests/deps.sh - the Debian packages ghostfs needs to build, test and run,
# and a function that installs whichever of them are missing. Sourced by
# tests/run.sh and examples/demo.sh; it changes nothing when all are present.
#
#   libfuse3-dev fuse3  the filesystem (fs/) and mounting it
#   liblmdb-dev         the store's B+tree
#   libxxhash-dev       the XXH3-64 checksum in every record
#   check               the unit test framework
#   meson ninja-build pkg-config gcc libc6-dev   the build
#   git sqlite3 rsync attr   real programs the mount tests run on a mount
#   clang-format        the code's layout, checked by tests/check_format.sh
#   python3             run.sh's tally of results, and mount tests' syscall checks
#   man-db              man, which checks that ghostfs(1) formats (tests/mount/install.sh)

GHOST_DEPS=(libfuse3-dev fuse3 liblmdb-dev libxxhash-dev check
            meson ninja-build pkg-config gcc libc6-dev
            git sqlite3 rsync attr clang-format python3 man-db)

ghost_missing_deps() {
    local p status
    for p in "${GHOST_DEPS[@]}"; do
        # sed reads all of dpkg's output: `grep -q` would stop early, and the
        # SIGPIPE that dpkg then gets fails the pipe under `set -o pipefail`.
        status=$(dpkg -s "$p" 2>/dev/null | sed -n 's/^Status: //p') || true
        if [ "$status" != "install ok installed" ]; then
            echo "$p"
        fi
    done
}

ghost_install_deps() {
    local missing sudo=()
    missing=$(ghost_missing_deps | paste -sd ' ' -)
    if [ -z "$missing" ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null; then
            echo "missing packages: $missing; run as root or install sudo" >&2
            return 1
        fi
        sudo=(sudo)
    fi
    echo "installing missing packages: $missing"
    "${sudo[@]}" apt-get update
    # shellcheck disable=SC2086  # $missing is a list of package names
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends $missing
}
