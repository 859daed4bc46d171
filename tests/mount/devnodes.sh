#!/usr/bin/env bash
#
# tests/mount/devnodes.sh - device nodes and setuid on a ghostfs mount:
#
#   by default (`ghostfs mount`) a mount is nodev,nosuid, as FUSE's are: a
#   char device made on it (1:3, as /dev/null) cannot be opened (EACCES);
#   with -o dev,suid (root) the mount table has neither, the device opens,
#   takes a write and reads empty, and a setuid-root copy of id(1) run by
#   nobody says uid 0 (with nosuid: nobody's); remount,nodev takes the
#   device away again and remount,dev gives it back; through mount(8) and
#   its helper, -o dev,suid and -o nodev,nosuid are honoured (mount(8)
#   hands its helper no "dev": its absence means dev for root, as with
#   mount.fuse3).
#
# Needs GHOSTFS and root (skips with 77 otherwise), mknod, setpriv.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init mount findmnt mknod setpriv timeout
need_mount_helper

S=$T/store
M=$T/mnt
mkdir -p "$M"
"$GHOSTFS" mkfs "$S" >/dev/null
NOBODY=65534

# device_works: the node $M/null opens, takes a write and reads empty.
device_works() {
    { echo "into the void" >"$M/null"; } 2>"$T/dev.err" && [ -z "$(cat "$M/null")" ]
}

device_refused() {
    local rc=0
    { echo x >"$M/null"; } 2>"$T/dev.err" || rc=$?
    [ "$rc" -ne 0 ] && grep -q "Permission denied" "$T/dev.err"
}

# The effective uid a setuid-root id(1) on the mount reports when nobody runs it.
suid_uid() {
    setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$M/id" -u
}

# ---- the default: nodev,nosuid ----------------------------------------------------------
mount_fs "$S" "$M" -o allow_other
check "default: the mount table says nodev" has_opt "$M" nodev
check "default: the mount table says nosuid" has_opt "$M" nosuid
mknod "$M/null" c 1 3
chmod 666 "$M/null"
check "mknod made a char device 1:3" test "$(stat -c '%F %t:%T' "$M/null")" = \
    "character special file 1:3"
check "default nodev: opening the device is refused (EACCES)" device_refused
cp "$(command -v id)" "$M/id"
chmod 4755 "$M/id"
check "the setuid bit is kept" test -u "$M/id"
check "default nosuid: setuid id run by nobody says $NOBODY" test "$(suid_uid)" = $NOBODY
umount_fs "$M"

# ---- -o dev,suid by root ----------------------------------------------------------------
mount_fs "$S" "$M" -o dev,suid,allow_other
check "-o dev,suid: no nodev in the mount table" bash -c "! findmnt -n -o OPTIONS '$M' |
    tr , '\n' | grep -qx nodev"
check "-o dev,suid: no nosuid in the mount table" bash -c "! findmnt -n -o OPTIONS '$M' |
    tr , '\n' | grep -qx nosuid"
if device_works; then
    pass "-o dev: the device opens, takes a write and reads empty"
else
    fail "-o dev: the device: $(head -n 1 "$T/dev.err")"
fi
check "-o suid: setuid id run by nobody says 0" test "$(suid_uid)" = 0
mknod "$M/null2" c 1 3
check "-o dev: a device made now opens too" bash -c "echo x > '$M/null2'"

timeout 60 mount -o remount,nodev,nosuid "$M"
check "remount,nodev: the device is refused again" device_refused
check "remount,nosuid: setuid id says $NOBODY" test "$(suid_uid)" = $NOBODY
timeout 60 mount -o remount,dev,suid "$M"
check "remount,dev: the device opens again" device_works
check "remount,suid: setuid id says 0 again" test "$(suid_uid)" = 0
umount_fs "$M"

# ---- through mount(8) and the helper ----------------------------------------------------
# The daemons mount(8) starts are not ours: umount(8) ends them.
helper_mount() {
    timeout 60 mount -t fuse.ghostfs -o "$1" "$S" "$M"
}
helper_umount() {
    timeout 60 umount "$M"
    local deadline=$(($(now_ms) + 10000))
    while [ -n "$(pgrep -f -- "$S $M" || true)" ] && [ "$(now_ms)" -lt "$deadline" ]; do
        sleep 0.05
    done
}
helper_mount dev,suid,allow_other
check "mount(8) -o dev,suid: no nodev" bash -c "! findmnt -n -o OPTIONS '$M' | grep -qw nodev"
check "mount(8) -o dev,suid: the device works" device_works
check "mount(8) -o dev,suid: setuid id says 0" test "$(suid_uid)" = 0
helper_umount
helper_mount nodev,nosuid,allow_other
check "mount(8) -o nodev,nosuid: the mount table says nodev" has_opt "$M" nodev
check "mount(8) -o nodev,nosuid: the mount table says nosuid" has_opt "$M" nosuid
check "mount(8) -o nodev: the device is refused" device_refused
helper_umount

finish
