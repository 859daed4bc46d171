#!/usr/bin/env bash
#
# tests/mount/help.sh - every command of ghostfs answers --help and -h:
# exit 0, a usage text on stdout that names the command, nothing on stderr,
# and nothing done (no store made, nothing mounted). Also the mount helper
# forms (mount.ghostfs, mount.fuse.ghostfs: what mount(8) runs), and the
# other side: an unknown command is refused, with status 2. It mounts
# nothing, so it runs without /dev/fuse; it is listed with the mount tests
# because it runs the built ghostfs as a user would.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

if [ -z "${GHOSTFS:-}" ] || [ ! -x "$GHOSTFS" ]; then
    say "set GHOSTFS to the ghostfs binary (e.g. build/fs/ghostfs)"
    exit 1
fi
GHOSTFS=$(readlink -f "$GHOSTFS")
T=$(mktemp -d "${TMPDIR:-/tmp}/ghostfs-help.XXXXXX")
trap 'rm -rf "$T"' EXIT

# help_ok DESC WORD CMD...: CMD exits 0, says "usage" and WORD on stdout,
# and writes nothing on stderr.
help_ok() {
    local desc=$1 word=$2 rc=0
    shift 2
    "$@" >"$T/out" 2>"$T/err" || rc=$?
    if [ "$rc" -eq 0 ] && grep -q '^usage' "$T/out" && grep -q -- "$word" "$T/out" &&
        [ ! -s "$T/err" ]; then
        pass "$desc: exit 0, usage on stdout"
    else
        fail "$desc: exit $rc; stdout: $(head -n 2 "$T/out"); stderr: $(head -n 2 "$T/err")"
    fi
}

cd "$T"
help_ok "ghostfs --help" "ghostfs mount" "$GHOSTFS" --help
help_ok "ghostfs -h" "ghostfs mount" "$GHOSTFS" -h
for cmd in mkfs mount umount fsck snapshot inspect diff send receive backup status; do
    for h in --help -h; do
        help_ok "ghostfs $cmd $h" "ghostfs $cmd" "$GHOSTFS" "$cmd" "$h"
    done
done
# The mount help carries the mount options.
"$GHOSTFS" mount --help >"$T/out"
for opt in ro snapshot= sync= cache_size= commit_interval= crawl_cpu= crawl_slice= log= \
    crawl_cycle= read_ahead= spin= writeback accept_rollback; do
    check "ghostfs mount --help lists $opt" grep -q -- "^  $opt" "$T/out"
done
# mount(8)'s helper names: a symlink to ghostfs, as meson makes and installs.
for alias in mount.ghostfs mount.fuse.ghostfs; do
    ln -s "$GHOSTFS" "$T/$alias"
    help_ok "$alias --help" "ghostfs mount" "$T/$alias" --help
done
made=$(find "$T" -mindepth 1 ! -name out ! -name err ! -name 'mount.*')
check "no file was made by any --help" test -z "$made"

rc=0
"$GHOSTFS" frobnicate >/dev/null 2>"$T/err" || rc=$?
check "an unknown command: exit 2 ($rc), named on stderr" \
    test "$rc" -eq 2 -a -n "$(grep -F "'frobnicate'" "$T/err")"
rc=0
"$GHOSTFS" mkfs --bogus >/dev/null 2>"$T/err" || rc=$?
check "mkfs --bogus: refused ($rc), named on stderr" \
    test "$rc" -ne 0 -a -n "$(grep -F -- "--bogus" "$T/err")"
finish
