#!/usr/bin/env bash
#
# tests/mount/fallocate.sh - fallocate(1) on a store with little room: the
# store lives on a tmpfs of 64 MiB, so what statfs shows free is small.
#
#   allocating more than is free fails with ENOSPC ("No space left on
#   device"), with and without --keep-size, also past the end, and leaves
#   the file as it was (size, blocks, bytes) and the free space too;
#   allocating what fits works and sets the size; a range the file already
#   stores needs no room; punching a hole over a huge range needs none.
#
# Needs GHOSTFS, fallocate and stat, and root (it mounts a tmpfs); skips
# (77) otherwise.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init fallocate stat df timeout

[ "$(id -u)" -eq 0 ] || skip "needs root to mount a tmpfs"
new_tmpdir SMALL
if ! mount -t tmpfs -o size=64m ghostfs-test "$SMALL"; then
    skip "cannot mount a tmpfs"
fi
unmount_small() { umount "$SMALL" 2>/dev/null || umount -l "$SMALL"; }
at_cleanup unmount_small

S=$SMALL/store
M=$T/mnt
mkdir -p "$M"
"$GHOSTFS" mkfs "$S" >/dev/null
mount_fs "$S" "$M"

fa() { timeout 30 fallocate "$@"; }
state() { stat -c '%s %b' "$1"; }
free_kib() { df -k --output=avail "$M" | tail -n 1 | tr -d ' '; }

# nospc DESC ARG...: fallocate ARG... fails with ENOSPC and changes neither
# the file nor the free space (give or take a page).
nospc() {
    local desc=$1 f=${*: -1} before after free0 free1 err
    shift
    before=$(state "$f")
    free0=$(free_kib)
    if err=$(fa "$@" 2>&1); then
        fail "$desc: succeeded"
        return
    fi
    after=$(state "$f")
    free1=$(free_kib)
    if ! grep -q "No space left on device" <<<"$err"; then
        fail "$desc: failed otherwise: $err"
    elif [ "$before" != "$after" ]; then
        fail "$desc: the file changed: $before -> $after"
    elif [ $((free0 - free1)) -gt 64 ]; then
        fail "$desc: free space went from $free0 to $free1 KiB"
    else
        pass "$desc: ENOSPC, nothing changed"
    fi
}

head -c 1048576 /dev/urandom >"$T/data"
cp "$T/data" "$M/f"
printf small >"$M/g"
: >"$M/empty"
say "free on the mount: $(free_kib) KiB"

nospc "1 GiB on an empty file" -l 1G "$M/empty"
nospc "1 GiB with --keep-size" -n -l 1G "$M/empty"
nospc "1 GiB past the end of a 1 MiB file" -o 1M -l 1G "$M/f"
nospc "1 GiB over a 1 MiB file" -l 1G "$M/f"
nospc "1 GiB on a small inline file" -l 1G "$M/g"
check "the 1 MiB file's bytes are intact" cmp "$T/data" "$M/f"
check "the small file too" [ "$(cat "$M/g")" = small ]

check "8 MiB fits" fa -l 8M "$M/empty"
check "... and sets the size" [ "$(stat -c %s "$M/empty")" -eq 8388608 ]
check "over what the file stores, no room needed" fa -l 1M "$M/f"
check "punching a hole over 1 GiB" fa -p -o 0 -l 1G "$M/f"
check "... keeps the size" [ "$(stat -c %s "$M/f")" -eq 1048576 ]

finish
