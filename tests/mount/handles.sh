#!/usr/bin/env bash
#
# tests/mount/handles.sh - file handles (name_to_handle_at/open_by_handle_at)
# stay valid for the life of a file:
#
#   handles of a file, a directory and the root open while mounted, also
#   after the kernel dropped its inodes (it then asks the daemon for "." and
#   ".."); after the file is renamed into another directory; on a second
#   daemon serving the same store; and after unmount and a fresh mount (a
#   daemon restart);
#   refusals: a deleted file's handle is ESTALE (before and after the
#   remount; a file created later never answers to it), and so is a handle
#   with the right inode number and a wrong generation;
#   a file in a snapshot view (/.ghostfs/snapshots): its handle opens it
#   while mounted and after a remount that gives its snapshot the same slot
#   again; it is ESTALE, never another snapshot's file, when the slot is not
#   given out yet or is given to another snapshot.
#
# Needs GHOSTFS and HANDLE_PROBE (tests/mount/handle_probe.c), python3 and
# root (open_by_handle_at, drop_caches); skips (77) without one of them, without
# /dev/fuse, or where the kernel refuses file handles here.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init python3
: "${HANDLE_PROBE:?set HANDLE_PROBE to the handle_probe binary}"
if [ "$(id -u)" -ne 0 ]; then
    skip "open_by_handle_at and dropping the kernel's caches need root"
fi

S=$T/store
M=$T/mnt
M2=$T/mnt2
mkdir -p "$M" "$M2"
"$GHOSTFS" mkfs "$S" >/dev/null
mount_fs "$S" "$M"

probe() { timeout -k 5 30 "$HANDLE_PROBE" "$@"; }

# opens_to DESC MNT HANDLE WANT: open_by_handle_at gives WANT (the file's
# bytes, a directory's names, or an errno's name).
opens_to() {
    local desc=$1 got rc=0
    got=$(probe open "$2" "$3") || rc=$?
    if [ "$got" = "$4" ]; then
        pass "$desc: $(head -c 40 <<<"$got" | tr '\n' ' ')"
    else
        fail "$desc: expected '$4', got '$got' (exit $rc)"
    fi
}

# The kernel forgets the inodes it does not use (then a handle makes it ask
# the daemon for "." and ".."): the point of half the checks, so a failure
# to drop them fails the test.
drop_caches() {
    sync
    if ! echo 2 >/proc/sys/vm/drop_caches; then
        fail "cannot drop the kernel's caches"
        finish
    fi
}

mkdir "$M/d" "$M/e"
printf alpha >"$M/a.txt"
printf gone >"$M/gone.txt"
printf inner >"$M/d/x"
rc=0
out=$(probe save "$M/a.txt" "$T/h.a") || rc=$?
if [ "$rc" -eq 2 ] && [ "$out" = EOPNOTSUPP ]; then
    skip "the kernel makes no file handles for FUSE here ($out)"
elif [ "$rc" -ne 0 ]; then
    say "handle_probe save failed (exit $rc): $out"
    exit 1
fi
check "handle of a directory" probe save "$M/d" "$T/h.d"
check "handle of the root" probe save "$M" "$T/h.root"
check "handle of a file to delete" probe save "$M/gone.txt" "$T/h.gone"

opens_to "file, inode cached" "$M" "$T/h.a" alpha
opens_to "directory, inode cached" "$M" "$T/h.d" x
opens_to "root" "$M" "$T/h.root" "$(printf 'a.txt\nd\ne\ngone.txt')"
drop_caches
opens_to "file, after dropping caches" "$M" "$T/h.a" alpha
opens_to "directory, after dropping caches" "$M" "$T/h.d" x

mv "$M/a.txt" "$M/e/renamed.txt"
mv "$M/d" "$M/e/d2"
drop_caches
opens_to "file renamed into another directory" "$M" "$T/h.a" alpha
opens_to "directory renamed into another directory" "$M" "$T/h.d" x
printf beta >>"$M/e/renamed.txt"
opens_to "file rewritten after the rename" "$M" "$T/h.a" alphabeta

rm "$M/gone.txt"
drop_caches
opens_to "deleted file" "$M" "$T/h.gone" ESTALE

# The same inode number with another generation.
python3 - "$T/h.a" "$T/h.bad" <<'EOF'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
n, kind = struct.unpack_from("=Ii", b, 0)
assert n >= 12, n  # fuse: inode number (two 32-bit words), generation
gen = struct.unpack_from("=I", b, 16)[0]
struct.pack_into("=I", b, 16, gen ^ 0x5A5A5A5A)
open(sys.argv[2], "wb").write(b)
EOF
opens_to "right inode number, wrong generation" "$M" "$T/h.bad" ESTALE

# A second daemon on the same store answers the same handles.
mount_fs "$S" "$M2"
opens_to "file, through a second daemon" "$M2" "$T/h.a" alphabeta
opens_to "deleted file, through a second daemon" "$M2" "$T/h.gone" ESTALE
umount_fs "$M2"

# A fresh mount: a new daemon, a kernel that never saw these inodes.
umount_fs "$M"
mount_fs "$S" "$M"
opens_to "file after remount" "$M" "$T/h.a" alphabeta
opens_to "directory after remount" "$M" "$T/h.d" x
opens_to "root after remount" "$M" "$T/h.root" e
opens_to "deleted file after remount" "$M" "$T/h.gone" ESTALE
opens_to "wrong generation after remount" "$M" "$T/h.bad" ESTALE
for i in 1 2 3 4 5; do printf "new$i" >"$M/new$i"; done
opens_to "deleted file, with new files made since" "$M" "$T/h.gone" ESTALE

# Deleted after the remount, while the kernel holds nothing of it.
check "handle of a file under a renamed directory" probe save "$M/e/d2/x" "$T/h.x"
opens_to "that file" "$M" "$T/h.x" inner
rm "$M/e/d2/x"
drop_caches
opens_to "that file, deleted" "$M" "$T/h.x" ESTALE
opens_to "its directory, now empty" "$M" "$T/h.d" ""
rmdir "$M/e/d2"
drop_caches
opens_to "its directory, removed" "$M" "$T/h.d" ESTALE
umount_fs "$M"
mount_fs "$S" "$M"
opens_to "removed directory after remount" "$M" "$T/h.d" ESTALE
opens_to "the renamed file, still there" "$M" "$T/h.a" alphabeta

# A file in a snapshot view: its inode number holds a slot that the daemon
# gives out in the order snapshots are looked up, so after a restart the
# same number may be another snapshot's inode of the same file.
SN=$M/.ghostfs/snapshots
printf one >"$M/snapf"
mkdir "$SN/one"
printf two >"$M/snapf"
mkdir "$SN/two"
check "handle of a file in a snapshot" probe save "$SN/one/snapf" "$T/h.s1"
opens_to "snapshot file" "$M" "$T/h.s1" one
drop_caches
opens_to "snapshot file, after dropping caches" "$M" "$T/h.s1" one
umount_fs "$M"
mount_fs "$S" "$M"
opens_to "snapshot file after remount, its slot not given out yet" "$M" "$T/h.s1" ESTALE
check "its snapshot looked up again" cat "$SN/one/snapf"
opens_to "snapshot file after remount, the same slot again" "$M" "$T/h.s1" one
# Numbers of the control tree that no inode has: a handle made up.
python3 - "$T/h.s1" "$T/h.ctl" "$T/h.slot" <<'EOF'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
struct.pack_into("=III", b, 8, 1 << 31, 7, 0)  # slot 0 (the control tree), inode 7
open(sys.argv[2], "wb").write(b)
struct.pack_into("=III", b, 8, (1 << 31) | (777 << 15), 5, 0)  # slot 777, never given out
open(sys.argv[3], "wb").write(b)
EOF
opens_to "a control tree number that names nothing" "$M" "$T/h.ctl" ESTALE
opens_to "a snapshot slot never given out" "$M" "$T/h.slot" ESTALE
umount_fs "$M"
"$GHOSTFS" snapshot delete "$S" one >/dev/null
mount_fs "$S" "$M"
check "another snapshot takes the slot" cat "$SN/two/snapf"
opens_to "snapshot file, its snapshot deleted and its slot another's" "$M" "$T/h.s1" ESTALE
umount_fs "$M"

finish
