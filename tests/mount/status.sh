#!/usr/bin/env bash
#
# tests/mount/status.sh - the crawler in the daemon, and `ghostfs status`:
#
#   a mount crawls its store: once the crawler has run a cycle over what
#   the test wrote, `ghostfs status` (of the store, and of the mountpoint)
#   counts the inodes, entries, file data and xattrs there are, and --json
#   says the same and parses; a snapshot keeps old versions, which status
#   shows kept, and once the snapshot is deleted the crawler's prune pass
#   drops them (pruned > 0, nothing kept); `mount -o remount,crawl_cpu=0`
#   pauses the crawler (no cycle completes while paused) and crawl_cpu=50
#   starts it again; bad crawler options are refused at mount and at
#   remount with their reason; a 70 MiB file's unlink is deferred: status
#   shows it in the backlog (files, bytes, blocks still stored), its space
#   still used in status and in statfs (df), while the crawler is slowed
#   to 0.1 %, and its blocks falling slice by slice; the daemon killed, the
#   next one's crawler deletes it and the space comes back, in status and
#   in df, fsck clean; bad arguments to status give one line and
#   a non-zero exit.
#
# Needs GHOSTFS and python3; skips (77) without /dev/fuse. The remount part
# needs root (mount(8) runs the helper).
# shellcheck disable=SC2317  # functions run through check and wait_for look unreachable
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init python3 timeout setfattr

S=$T/store
M=$T/mnt
mkdir -p "$M"
"$GHOSTFS" mkfs "$S" >/dev/null

status() { timeout -k 5 60 "$GHOSTFS" status "$@"; }

# jget FIELD...: a member of `status --json`, by path (crawler.last.inodes).
jget() {
    status "$S" --json | python3 -c '
import json, sys
doc = json.load(sys.stdin)
assert doc["version"] == 1, doc
for path in sys.argv[1:]:
    v = doc
    for k in path.split("."):
        v = v.get(k, "") if isinstance(v, dict) else ""
    print(v)
' "$@"
}

# df_used MNT: the used bytes statfs gives for the mount (what df shows).
df_used() {
    python3 -c 'import os, sys; s = os.statvfs(sys.argv[1]); print((s.f_blocks - s.f_bfree) * s.f_frsize)' "$1"
}

# wait_for SECONDS CMD...: until CMD succeeds; 1 if it never did.
wait_for() {
    local deadline=$(($(now_ms) + $1 * 1000))
    shift
    until "$@"; do
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

# A cycle every second, at a full core: the test does not wait long.
mount_fs "$S" "$M" -o crawl_cpu=100,crawl_cycle=1s,crawl_slice=50 || {
    fail "mount with crawler options"
    finish
}
mkdir "$M/d"
for i in $(seq 1 40); do
    printf 'file %s\n' "$i" >"$M/d/f$i"
done
head -c 300000 /dev/urandom >"$M/big"
setfattr -n user.colour -v blue "$M/big"
sync "$M/big"
"$GHOSTFS" snapshot create "$S" before >/dev/null
# (syncfs: every buffered write committed before the snapshot would not
# matter here; the rewrite below is what the snapshot keeps old versions of)
for i in $(seq 1 40); do
    printf 'changed %s\n' "$i" >"$M/d/f$i"
done
sync "$M/d"

# 1 root + d + 40 files + big = 43 inodes; 41 entries in / and d... (root:
# d, big; d: 40) = 42.
counted() { [ "$(jget crawler.last.inodes)" = 43 ] && [ "$(jget crawler.last.dirents)" = 42 ]; }
if wait_for 30 counted; then
    pass "a cycle counted 43 inodes and 42 entries"
else
    fail "the crawler's counts: inodes $(jget crawler.last.inodes), entries $(jget crawler.last.dirents)"
fi
blocks=$(jget crawler.last.data_blocks)
check "file data counted ($blocks blocks)" [ "$blocks" -ge 5 ]
check "one xattr counted" [ "$(jget crawler.last.xattrs)" = 1 ]
kept() { [ "$(jget crawler.last.kept_versions)" -ge 40 ]; }
check "the snapshot's old versions are shown kept" wait_for 10 kept
check "no findings on a sound store" [ "$(jget crawler.last.findings)" = 0 ]
status "$S" >"$T/status.txt"
check "status (text) names the store" grep -q "^store *$S\$" "$T/status.txt"
check "status (text) shows the last cycle" grep -q "^last cycle" "$T/status.txt"
status "$M" >"$T/status-mnt.txt"
check "status of the mountpoint is the store's" grep -q "^store *$S\$" "$T/status-mnt.txt"

# The snapshot goes: its versions are pruned by a later cycle.
"$GHOSTFS" snapshot delete "$S" before
pruned() { [ "$(jget crawler.last.pruned)" -ge 40 ]; }
if wait_for 30 pruned; then
    pass "the prune pass dropped $(jget crawler.last.pruned) versions"
else
    fail "nothing pruned after the snapshot went"
fi
none_kept() { [ "$(jget crawler.last.kept_versions)" = 0 ]; }
check "and nothing is kept after" wait_for 10 none_kept
check "the files read back as written" grep -qx 'changed 7' "$M/d/f7"

# Paused and resumed live, through mount(8)'s helper.
if [ "$(id -u)" -eq 0 ]; then
    need_mount_helper
    if mount -o remount,crawl_cpu=0 "$M" 2>"$T/remount.err"; then
        pass "remount crawl_cpu=0"
        sleep 1.5 # a cycle under way ends; none begins
        c0=$(jget crawler.cycles)
        sleep 2.5
        check "no cycle while paused" [ "$(jget crawler.cycles)" = "$c0" ]
        check "remount crawl_cpu=50" mount -o remount,crawl_cpu=50 "$M"
        more() { [ "$(jget crawler.cycles)" -gt "$c0" ]; }
        check "cycles again once resumed" wait_for 15 more
    else
        fail "remount crawl_cpu=0: $(cat "$T/remount.err")"
    fi
    expect_fail "remount crawl_cpu=101" "crawl_cpu=101" mount -o remount,crawl_cpu=101 "$M"
fi
umount_fs "$M"

# Deferred deletes: a big file's unlink returns at once and leaves its
# blocks to the crawler; at a crawler's share of 0.1 % and slices of 10
# keys the backlog stays a while (and counts as used space); a daemon
# killed with a backlog leaves it to the next, whose crawler deletes it.
mount_fs "$S" "$M" -o crawl_cpu=0.1,crawl_slice=10 || {
    fail "mount with the crawler slowed down"
    finish
}
head -c $((70 << 20)) /dev/zero | tr '\0' 'z' >"$M/huge"
sync "$M/huge"
used0=$(jget used_bytes)
df0=$(df_used "$M")
t0=$(now_ms)
rm "$M/huge"
t1=$(now_ms)
say "unlinking a 70 MiB file took $((t1 - t0)) ms"
in_backlog() { [ "$(jget deferred_files)" = 1 ]; }
check "the deferred delete is in the backlog" wait_for 10 in_backlog
check "with its size" [ "$(jget deferred_bytes)" -ge $((70 << 20)) ]
check "its blocks still count as used" [ "$(jget used_bytes)" -ge $((used0 - (4 << 20))) ]
check "in statfs too: df's used space has not dropped" [ "$(df_used "$M")" -ge $((df0 - (4 << 20))) ]
b1=$(jget deferred_blocks)
check "the backlog's blocks still stored ($b1 of 1120)" [ "$b1" -ge 1000 ] && [ "$b1" -le 1120 ]
fewer() { [ "$(jget deferred_blocks)" -lt "$b1" ] && [ "$(jget deferred_files)" = 1 ]; }
check "they fall slice by slice while the file is still in the backlog" wait_for 30 fewer
check "the name is gone" [ ! -e "$M/huge" ]
sleep 1
check "at 0.1 %, it is still there a second later" [ "$(jget deferred_files)" = 1 ]
kill_daemon "$M" KILL
mount_fs "$S" "$M" -o crawl_cpu=100 || {
    fail "mount after the kill"
    finish
}
drained() { [ "$(jget deferred_files)" = 0 ]; }
if wait_for 30 drained; then
    pass "the next daemon's crawler deleted the backlog"
else
    fail "backlog left: $(jget deferred_files) files"
fi
check "and its space came back" [ "$(jget used_bytes)" -lt $((used0 - (40 << 20))) ]
check "df's used space too" [ "$(df_used "$M")" -lt $((df0 - (40 << 20))) ]
check "no blocks left in the backlog" [ "$(jget deferred_blocks)" = 0 ]
# A big file unlinked while a process still holds it (an O_PATH descriptor,
# which the daemon never sees opened) is not deleted under it: reopened
# through /proc, it reads whole after the crawler had time to run.
head -c $((70 << 20)) /dev/zero | tr '\0' 'q' >"$M/held"
if python3 - "$M/held" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_PATH)
os.unlink(sys.argv[1])
time.sleep(3)
f = os.open("/proc/self/fd/%d" % fd, os.O_RDONLY)
n = 0
while True:
    b = os.read(f, 1 << 20)
    if not b:
        break
    assert b == b"q" * len(b), "wrong bytes"
    n += len(b)
assert n == 70 << 20, n
PY
then
    pass "a file still held reads whole after its unlink"
else
    fail "a file still held was deleted under its holder"
fi
check "and is deleted once let go" wait_for 30 drained
umount_fs "$M"
timeout -k 5 120 "$GHOSTFS" fsck "$S" >"$T/fsck.out" 2>&1
check "fsck is clean after the deferred delete" grep -q "clean" "$T/fsck.out"

# Bad crawler options at mount.
expect_fail "crawl_cpu=101" "crawl_cpu=101.*percentage" \
    timeout -k 5 30 "$GHOSTFS" mount "$S" "$M" -o crawl_cpu=101
expect_fail "crawl_cpu=ten" "crawl_cpu=ten" timeout -k 5 30 "$GHOSTFS" mount "$S" "$M" -o crawl_cpu=ten
expect_fail "crawl_slice=5" "crawl_slice=5.*records" \
    timeout -k 5 30 "$GHOSTFS" mount "$S" "$M" -o crawl_slice=5
expect_fail "crawl_cycle=2y" "crawl_cycle=2y" timeout -k 5 30 "$GHOSTFS" mount "$S" "$M" -o crawl_cycle=2y
# The mount's own names are kept, not silently replaced.
expect_fail "subtype=other" "subtype=.*fuse.ghostfs" \
    timeout -k 5 30 "$GHOSTFS" mount "$S" "$M" -o subtype=other
expect_fail "fsname=other" "fsname=.*by their store" \
    timeout -k 5 30 "$GHOSTFS" mount "$S" "$M" -o fsname=other
if timeout -k 5 30 "$GHOSTFS" mount "$S" "$M" -o "subtype=ghostfs,fsname=$S" 2>"$T/own.err"; then
    pass "subtype= and fsname= with the mount's own values"
    umount_fs "$M" || fusermount3 -u "$M"
else
    fail "the mount's own subtype= and fsname= refused: $(cat "$T/own.err")"
fi
if is_mounted "$M"; then
    fail "a refused mount left something mounted"
else
    pass "nothing mounted by the refusals"
fi

# Bad arguments to status.
expect_fail "status without a store" "which store" "$GHOSTFS" status
expect_fail "status of a missing path" "nope: No such file" "$GHOSTFS" status "$T/nope"
expect_fail "status of a plain directory" "no ghostfs filesystem is mounted there" \
    "$GHOSTFS" status "$T"
echo "not a store" >"$T/text"
expect_fail "status of a text file" "$T/text" "$GHOSTFS" status "$T/text"
expect_fail "status with an unknown option" "unexpected argument '--frob'" \
    "$GHOSTFS" status "$S" --frob

finish
