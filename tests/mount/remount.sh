#!/usr/bin/env bash
#
# tests/mount/remount.sh - `mount -o remount,...` through mount(8) and the
# helper, and the mount options the kernel keeps:
#
#   remount,ro is refused while a file is open for writing (the kernel's
#   EBUSY, named); then it commits and syncs everything the daemon holds:
#   after it, the daemon killed with SIGKILL, the files written read back
#   from a new mount; writes fail with EROFS while read-only; remount,rw
#   writes again; ghostfs's own options that change live (sync=,
#   cache_size=, write_buffer=, commit_interval=) are taken, and bad values
#   refused with the option named; options that cannot change live (spin=,
#   read_ahead=, writeback, accept_rollback, user_id=, fsname=) are refused
#   with their names and change nothing (and, under the sanitizers, leak
#   nothing in the daemon); an unknown option is refused by
#   name; nodev/nosuid/noexec/sync/lazytime change in the mount table, and
#   a remount by `ghostfs mount -o remount,ro` itself keeps them; a
#   store mounted ro cannot be remounted rw (message); a snapshot mounted
#   alone (-o snapshot=NAME) takes live options and refuses rw (message);
#   every VFS option
#   --help lists (relatime, strictatime, lazytime, dirsync, sync, noatime
#   ...) mounts.
#
# Needs GHOSTFS and root (skips with 77 otherwise, or without mount(8)).
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init mount findmnt timeout
need_mount_helper

S=$T/store
M=$T/mnt
mkdir -p "$M"
"$GHOSTFS" mkfs "$S" >/dev/null

remount() { timeout 60 mount -o "remount,$1" "$M"; }

# ---- read-only and back ---------------------------------------------------------------
# A long commit interval: what close does not commit stays buffered.
mount_fs "$S" "$M" -o commit_interval=3600000
exec 3>"$M/open-for-writing"
echo "held open" >&3
expect_fail "remount,ro with a file open for writing" "open for writing" remount ro
check "still writable after the refused remount" touch "$M/after-refusal"
exec 3>&-

for i in 1 2 3; do
    head -c $((i * 100000)) /dev/urandom >"$M/file$i"
done
sums=$(cd "$M" && sha256sum file1 file2 file3)
mkdir "$M/dir"
if remount ro 2>"$T/err"; then
    pass "remount,ro"
else
    fail "remount,ro: $(head -n 2 "$T/err")"
fi
check "the mount table says ro" has_opt "$M" ro
rc=0
touch "$M/nope" 2>"$T/err" || rc=$?
if [ "$rc" -ne 0 ] && grep -q "Read-only file system" "$T/err"; then
    pass "read-only: touch fails with EROFS"
else
    fail "read-only: touch gave exit $rc: $(head -n 1 "$T/err")"
fi
check "read-only: the files read back" test "$(cd "$M" && sha256sum file1 file2 file3)" = "$sums"

# Nothing the daemon held is lost: kill it, mount again, read.
kill_daemon "$M" KILL
mount_fs "$S" "$M"
check "after remount,ro and SIGKILL: the files are all there" \
    test "$(cd "$M" && sha256sum file1 file2 file3 2>/dev/null)" = "$sums"
check "after remount,ro and SIGKILL: the directory is there" test -d "$M/dir"

remount ro
if remount rw 2>"$T/err"; then
    pass "remount,rw"
else
    fail "remount,rw: $(head -n 2 "$T/err")"
fi
check "the mount table says rw" has_opt "$M" rw
echo again >"$M/again"
check "writable again" test "$(cat "$M/again")" = again

# ---- ghostfs's own options --------------------------------------------------------------
for o in sync=always sync=none sync=batch cache_size=16M write_buffer=8M commit_interval=200 \
    "sync=always,cache_size=128M,write_buffer=64M,commit_interval=1000"; do
    if remount "$o" 2>"$T/err"; then
        pass "remount,$o"
    else
        fail "remount,$o: $(head -n 2 "$T/err")"
    fi
    echo "$o" >"$M/opt"
    check "after remount,$o a file written reads back" test "$(cat "$M/opt")" = "$o"
done
# sync=none, then read-only: what was written under it is synced too.
remount sync=none
echo unsynced >"$M/under-none"
remount ro
kill_daemon "$M" KILL
mount_fs "$S" "$M"
check "written under sync=none, remounted ro, killed: still there" \
    test "$(cat "$M/under-none" 2>/dev/null)" = unsynced

expect_fail "remount,sync=sometimes" "bad value in option 'sync=sometimes'" remount sync=sometimes
expect_fail "remount,cache_size=1" "bad value in option 'cache_size=1'" remount cache_size=1
expect_fail "remount,spin=7" "cannot change while mounted: spin=7" remount spin=7
expect_fail "remount,read_ahead=64" "cannot change while mounted: read_ahead=64" \
    remount read_ahead=64
expect_fail "remount,writeback,spin=3" "cannot change while mounted: spin=3,writeback" \
    remount writeback,spin=3
expect_fail "remount,accept_rollback" "cannot change while mounted: accept_rollback" \
    remount accept_rollback
expect_fail "remount,user_id=1234" "cannot change while mounted: user_id=1234" \
    remount user_id=1234
expect_fail "remount,fsname=other" "cannot change while mounted: fsname=other" \
    remount fsname=other
expect_fail "remount,bogus" "unknown mount option 'bogus'" remount bogus
for _ in 1 2 3; do # each parsed snapshot= name was once kept for ever
    expect_fail "remount,snapshot=x" "cannot change while mounted: snapshot=x" \
        remount snapshot=x
done
expect_fail "remount,ro,spin=9 (all or nothing)" "spin=9" remount ro,spin=9
check "after the refusals: still rw" has_opt "$M" rw
touch "$M/still-writable"
check "after the refusals: still writable" test -e "$M/still-writable"
check "unchanged options are fine: remount,spin=50,read_ahead=1024" remount spin=50,read_ahead=1024

# ---- the kernel's flags ------------------------------------------------------------------
remount nodev,nosuid,noexec,sync,lazytime
for o in nodev nosuid noexec sync lazytime; do
    check "remount,$o: the mount table says $o" has_opt "$M" "$o"
done
echo synced >"$M/synced"
check "a sync mount writes" test "$(cat "$M/synced")" = synced
# Our own command, not mount(8), names only what changes: the rest stays.
for o in ro rw; do
    check "ghostfs mount -o remount,$o" "$GHOSTFS" mount -o "remount,$o" "$S" "$M"
    check "ghostfs mount -o remount,$o: the mount table says $o" has_opt "$M" "$o"
    for k in nodev nosuid noexec sync lazytime; do
        check "ghostfs mount -o remount,$o: $k is kept" has_opt "$M" "$k"
    done
done
remount dev,suid,exec,async,nolazytime
for o in nodev nosuid noexec sync lazytime; do
    if has_opt "$M" "$o"; then
        fail "remount,dev,suid,exec,async,nolazytime: $o is still there"
    else
        pass "remount without $o: gone"
    fi
done
log=$(daemon_log "$M")
umount_fs "$M"
# Under the sanitizers (tests/run.sh builds build-asan) the daemon reports
# at exit what its remounts leaked.
if grep -q "LeakSanitizer" "$log"; then
    fail "the daemon leaked: $(grep -A6 LeakSanitizer "$log" | grep -m1 -o 'in [a-z_]* [.][.]/[^ ]*')"
else
    pass "the daemon reported no leak at exit"
fi

# ---- a store mounted ro cannot become writable -----------------------------------------
mount_fs "$S" "$M" -o ro
expect_fail "remount,rw of a store mounted ro" "opened read-only.*unmount and mount it rw" \
    remount rw
check "the refused remount,rw leaves it ro" has_opt "$M" ro
umount_fs "$M"

# ---- a snapshot mounted alone: live options change, rw is refused ----------------------
"$GHOSTFS" snapshot create "$S" snap >/dev/null
mount_fs "$S" "$M" -o snapshot=snap
check "remount of a snapshot mount: cache_size=32M" remount cache_size=32M
check "remount of a snapshot mount: ro, sync=always" remount ro,sync=always
expect_fail "remount,rw of a snapshot mount" "snapshot snap is mounted alone, which is read-only" \
    remount rw
check "the refused remount,rw leaves the snapshot mount ro" has_opt "$M" ro
expect_fail "the snapshot mount still refuses writes" "Read-only file system" touch "$M/nope"
umount_fs "$M"

# ---- every VFS option --help lists mounts -------------------------------------------------
for o in relatime norelatime strictatime nostrictatime lazytime nolazytime dirsync sync async \
    noatime atime nodiratime diratime exec noexec rw; do
    grep -q -- "$o" <("$GHOSTFS" --help) || fail "--help does not list $o"
    if mount_fs "$S" "$M" -o "$o"; then
        echo "$o" >"$M/o" 2>/dev/null || true
        pass "-o $o mounts"
        umount_fs "$M"
    else
        fail "-o $o does not mount"
    fi
done
expect_fail "-o nosymfollow (unknown)" "unknown mount option 'nosymfollow'" \
    "$GHOSTFS" mount "$S" "$M" -o nosymfollow

finish
