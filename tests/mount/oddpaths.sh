#!/usr/bin/env bash
#
# tests/mount/oddpaths.sh - a store whose path holds a comma, a space and a
# backslash, mounted on a mountpoint whose path holds a space and a comma:
#
#   - `ghostfs mount` (detached) mounts it: the store's path, which becomes
#     the mount's source (fsname=), is not split into options at its comma;
#   - a file written reads back; `ghostfs status MNT` names the store;
#   - /proc/self/mountinfo shows the mountpoint and the source escaped
#     (\040 for the space, \134 for the backslash), findmnt shows them as
#     they are, with type fuse.ghostfs;
#   - a second mount on it is refused, saying it is busy, and the first
#     still serves;
#   - `ghostfs umount MNT` unmounts it, and its daemon exits;
#   - the same through mount(8)'s helper (mount.ghostfs STORE MNT -o ...),
#     through mount.fuse3 with "ghostfs#STORE" (what an old-style fstab line
#     runs), and in the foreground (-f);
#   - -o log= with an escaped comma ("log=DIR/a\,b") writes to DIR/a,b.
#
# Needs GHOSTFS; skips (77) without /dev/fuse or findmnt.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init findmnt timeout

SD="$T/stores, with a comma\\and a backslash"
S="$SD/the store"
M="$T/mount point,1"
LOG="$T/log,with comma"
LOGOPT="log=$T/log\\,with comma" # the comma escaped, as in any -o list
mkdir -p "$SD" "$M"
"$GHOSTFS" mkfs "$S" >/dev/null

# The PIDs of the daemons that wrote to the log (a detached daemon's is
# known only from there); lib.sh sweeps them at exit.
log_pids() {
    grep -oE 'ghostfs\[[0-9]+\]' "$LOG" 2>/dev/null | tr -dc '0-9\n' | sort -u
}

# escaped PATH: PATH as mountinfo writes it.
escaped() {
    local s=${1//\\/\\134}
    s=${s// /\\040}
    printf '%s' "$s"
}

# serves HOW: write and read a file, status, mountinfo, findmnt, a second
# mount refused.
serves() {
    local how=$1 rc
    echo "through $how" >"$M/f, 1" 2>"$T/err" || true
    check "$how: a file written reads back" test "$(cat "$M/f, 1" 2>/dev/null)" = "through $how"
    if timeout 30 "$GHOSTFS" status "$M" >"$T/status" 2>"$T/err"; then
        pass "$how: ghostfs status MNT works"
    else
        fail "$how: ghostfs status MNT: $(head -n 2 "$T/err")"
    fi
    check "$how: status names the store" grep -qF -- "the store" "$T/status"
    check "$how: mountinfo has the mountpoint and source escaped" \
        grep -qF -- " $(escaped "$M") " /proc/self/mountinfo
    check "$how: mountinfo has the source escaped" \
        grep -qF -- " fuse.ghostfs $(escaped "$S") " /proc/self/mountinfo
    check "$how: findmnt shows the source" \
        test "$(findmnt -n -o SOURCE --mountpoint "$M")" = "$S"
    check "$how: findmnt shows type fuse.ghostfs" \
        test "$(findmnt -n -o FSTYPE --mountpoint "$M")" = fuse.ghostfs
    rc=0
    timeout 60 "$GHOSTFS" mount "$S" "$M" >"$T/out" 2>"$T/err" || rc=$?
    if [ "$rc" -ne 0 ] && grep -q "busy (something is already mounted there)" "$T/err"; then
        pass "$how: a second mount on it is refused: $(head -n 1 "$T/err")"
    else
        fail "$how: a second mount: exit $rc: $(head -n 2 "$T/err")"
    fi
    check "$how: the first mount still serves" test "$(cat "$M/f, 1")" = "through $how"
}

# gone HOW: ghostfs umount MNT; nothing is mounted, the daemons exit.
gone() {
    local p
    if timeout 60 "$GHOSTFS" umount "$M" 2>"$T/err"; then
        pass "$1: ghostfs umount MNT"
    else
        fail "$1: ghostfs umount MNT: $(head -n 2 "$T/err")"
    fi
    check "$1: not mounted any more" bash -c "! grep -qF -- ' $(escaped "$M") ' /proc/self/mountinfo"
    for p in $(log_pids); do
        check "$1: daemon $p exits" wait_gone "$p" 20
    done
}

# ---- ghostfs mount, detached -------------------------------------------------------------
rc=0
timeout 60 "$GHOSTFS" mount "$S" "$M" -o "$LOGOPT" >"$T/out" 2>"$T/err" || rc=$?
for p in $(log_pids); do GHOST_ALL_PIDS+=("$p"); done
check "ghostfs mount of the odd paths: exit $rc: $(head -n 1 "$T/err")" [ "$rc" -eq 0 ]
check "is_mounted (mountinfo's escapes undone) sees it" is_mounted "$M"
check "-o 'log=...\\,...' wrote to the file with the comma" grep -qF "serving $S" "$LOG"
serves "ghostfs mount"
gone "ghostfs mount"

# ---- mount(8)'s helper, and mount.fuse3 -------------------------------------------------
HELPER=$(dirname "$GHOSTFS")/mount.ghostfs
if [ -x "$HELPER" ]; then
    rc=0
    timeout 60 "$HELPER" "$S" "$M" -o "rw,$LOGOPT" >"$T/out" 2>"$T/err" || rc=$?
    for p in $(log_pids); do GHOST_ALL_PIDS+=("$p"); done
    check "mount.ghostfs STORE MNT: exit $rc: $(head -n 1 "$T/err")" [ "$rc" -eq 0 ]
    serves "mount.ghostfs"
    gone "mount.ghostfs"
else
    say "no $HELPER next to ghostfs: not testing the helper's name"
fi
FUSE3=$(command -v mount.fuse3 || echo /sbin/mount.fuse3)
if [ -x "$FUSE3" ] && [ "$(id -u)" -eq 0 ]; then
    rc=0
    PATH="$(dirname "$GHOSTFS"):$PATH" timeout 60 "$FUSE3" "ghostfs#$S" "$M" -o "$LOGOPT" \
        >"$T/out" 2>"$T/err" || rc=$?
    for p in $(log_pids); do GHOST_ALL_PIDS+=("$p"); done
    check "mount.fuse3 ghostfs#STORE MNT: exit $rc: $(head -n 1 "$T/err")" [ "$rc" -eq 0 ]
    serves "mount.fuse3"
    gone "mount.fuse3"
else
    say "no mount.fuse3, or not root: not testing ghostfs#STORE"
fi

# ---- foreground ---------------------------------------------------------------------------
if mount_fs "$S" "$M"; then
    pass "ghostfs mount -f of the odd paths"
    serves "ghostfs mount -f"
    check "ghostfs mount -f: umount_fs" umount_fs "$M"
else
    fail "ghostfs mount -f of the odd paths"
fi
finish
