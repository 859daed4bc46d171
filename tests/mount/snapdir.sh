#!/usr/bin/env bash
#
# tests/mount/snapdir.sh - snapshots inside a mount (/.ghostfs/snapshots) and
# mounted alone (-o snapshot=NAME):
#
#   /.ghostfs answers a lookup, is absent from the root's listing, is
#   read-only, and its name cannot be created, removed or renamed over;
#   mkdir in /.ghostfs/snapshots takes a snapshot (of what this daemon still
#   buffers, too), rmdir deletes it;
#   `tar --sort=name -c` of a snapshot's directory is byte for byte the tar
#   of a copy made when it was taken, read three times while a background
#   job keeps changing the live tree (rewrites, appends, new and deleted
#   files, renames, xattrs); hard links, symlinks and xattrs are there;
#   no inode number is shared by the live tree and a snapshot, nor by two
#   snapshots (find -printf %i), and hard links inside a snapshot share one;
#   every change inside a snapshot fails with EROFS;
#   bad names (256 bytes, an existing one, "." and "..", a missing one to
#   rmdir, a file instead of a directory) get the errno mkdir/rmdir(2) give,
#   and the daemon logs a line for each refused one;
#   a snapshot taken in one daemon is listed and browsed in a second daemon
#   of the same store at once;
#   -o snapshot=NAME serves that snapshot alone (root inode 1, the same tar,
#   EROFS); deleting it then is EBUSY, by rmdir and by `ghostfs snapshot
#   delete`, until it is unmounted; a killed one's mark does not block.
#
# Needs GHOSTFS, python3, GNU tar (--sort) and getfattr/setfattr; skips (77)
# without /dev/fuse.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init python3 tar sha256sum setfattr getfattr timeout find

S=$T/store
A=$T/a
B=$T/b
C=$T/c
COPY=$T/copy
mkdir -p "$A" "$B" "$C" "$COPY"
"$GHOSTFS" mkfs "$S" >/dev/null
mount_fs "$S" "$A" || { fail "mount A"; finish; }
SN=$A/.ghostfs/snapshots

# errno NAME of running python3 code $1 on path $2 (and $3): OK or the name.
errno_of() {
    timeout -k 5 30 python3 - "$@" <<'EOF'
import errno, os, sys
code, args = sys.argv[1], sys.argv[2:]
try:
    exec(code, {"os": os, "a": args})
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF
}

expect_errno() { # MSG WANT CODE ARG...
    local msg=$1 want=$2 got
    shift 2
    got=$(errno_of "$@")
    if [ "$got" = "$want" ]; then pass "$msg: $want"; else fail "$msg: got $got, want $want"; fi
}

# A tar of a tree, the same bytes for the same tree: names sorted, mtimes in
# ns, user xattrs, and pax headers without a PID, atime or ctime in them.
TAR_OPTS=(--sort=name --format=posix --xattrs --xattrs-include='user.*'
    --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime')
tar_of() { tar -C "$1" "${TAR_OPTS[@]}" -cf - . | sha256sum; }
# What differs between the tars of two trees, as tar's verbose listings.
tar_diff() {
    diff <(tar -C "$1" "${TAR_OPTS[@]}" -cvvf - . 2>&1 >/dev/null) \
        <(tar -C "$2" "${TAR_OPTS[@]}" -cvvf - . 2>&1 >/dev/null) | head -20 >&2 || true
}

# ---- the live tree ------------------------------------------------------------------
mkdir -p "$A/d/e" "$A/empty"
head -c 300000 /dev/urandom >"$A/big"
printf 'small\n' >"$A/d/small"
head -c 70000 /dev/urandom >"$A/d/e/mid"
ln "$A/d/small" "$A/d/hard"
ln -s d/small "$A/sym"
truncate -s 200000 "$A/sparse"
printf x | dd of="$A/sparse" bs=1 seek=150000 conv=notrunc status=none
setfattr -n user.color -v blue "$A/d/small"
for i in $(seq 1 40); do printf 'file %d\n' "$i" >"$A/d/f$i"; done

# ---- /.ghostfs itself ----------------------------------------------------------------
check "/.ghostfs answers a lookup" test -d "$A/.ghostfs"
check "/.ghostfs/snapshots is there" test -d "$SN"
# shellcheck disable=SC2010 # the listing itself is what is checked
if ls -a "$A" | grep -qx .ghostfs; then fail "/.ghostfs is listed in the root"; else pass "/.ghostfs is not in the root's listing"; fi
check "find of the mount does not walk /.ghostfs" test -z "$(find "$A" -name snapshots)"
expect_errno "mkdir /.ghostfs" EEXIST 'os.mkdir(a[0])' "$A/.ghostfs"
expect_errno "create /.ghostfs" EEXIST 'os.close(os.open(a[0], os.O_CREAT|os.O_EXCL|os.O_WRONLY))' "$A/.ghostfs"
expect_errno "rmdir /.ghostfs" EPERM 'os.rmdir(a[0])' "$A/.ghostfs"
expect_errno "rename a directory onto /.ghostfs" EPERM 'os.rename(a[0], a[1])' "$A/empty" "$A/.ghostfs"
expect_errno "rename /.ghostfs away" EPERM 'os.rename(a[0], a[1])' "$A/.ghostfs" "$A/elsewhere"
expect_errno "symlink as /.ghostfs" EEXIST 'os.symlink("x", a[0])' "$A/.ghostfs"
expect_errno "a file in /.ghostfs" EROFS 'open(a[0], "w")' "$A/.ghostfs/x"
expect_errno "chmod /.ghostfs" EROFS 'os.chmod(a[0], 0o777)' "$A/.ghostfs"
expect_errno "a file in /.ghostfs/snapshots" EPERM 'open(a[0], "w")' "$SN/x"

# ---- take one, with a copy made at the same moment ---------------------------------------
# Something still buffered in this daemon: the snapshot must hold it too.
exec 7>"$A/buffered"
printf 'not closed yet\n' >&7
cp -a "$A/." "$COPY/"
check "mkdir in snapshots takes a snapshot" mkdir "$SN/one"
exec 7>&-
check "the CLI lists it" bash -c "'$GHOSTFS' snapshot list '$S' | grep -qw one"
check "the snapshot holds what was still buffered" grep -q 'not closed yet' "$SN/one/buffered"
WANT=$(tar_of "$COPY")

# ---- browse it while the live tree changes --------------------------------------------
churn() {
    local n=0
    while [ ! -e "$T/stop" ]; do
        n=$((n + 1))
        head -c 4096 /dev/urandom >>"$A/big"
        printf 'rewritten %d\n' "$n" >"$A/d/small"
        head -c 70000 /dev/urandom >"$A/d/e/mid"
        printf 'new %d\n' "$n" >"$A/d/new$n"
        rm -f "$A/d/f$((n % 40 + 1))"
        mv "$A/d/new$n" "$A/d/f$((n % 40 + 1))"
        setfattr -n user.color -v "c$n" "$A/d/hard"
        mkdir -p "$A/made/$n"
    done
}
churn 2>"$T/churn.err" &
CHURN=$!
for round in 1 2 3; do
    GOT=$(tar_of "$SN/one")
    if [ "$GOT" = "$WANT" ]; then
        pass "tar of the snapshot = tar of the copy (round $round, live tree changing)"
    else
        fail "tar of the snapshot differs from the copy (round $round)"
        tar_diff "$COPY" "$SN/one"
    fi
    sleep 0.3
done
touch "$T/stop"
wait "$CHURN" || fail "the background writer failed: $(cat "$T/churn.err")"
if [ "$(cat "$A/d/small")" != small ]; then pass "the live tree did change"; else fail "the live tree did not change"; fi
check "snapshot: hard link shares an inode" test "$(stat -c %i "$SN/one/d/small")" = "$(stat -c %i "$SN/one/d/hard")"
check "snapshot: symlink" test "$(readlink "$SN/one/sym")" = d/small
check "snapshot: xattr" test "$(getfattr --absolute-names --only-values -n user.color "$SN/one/d/small")" = blue
check "snapshot: sparse file" cmp "$SN/one/sparse" "$COPY/sparse"
check "snapshot: the hole reads zeros" test "$(od -An -tx1 -j100 -N4 "$SN/one/sparse" | tr -d ' ')" = 00000000

# ---- inode numbers ---------------------------------------------------------------------
mkdir "$SN/two"
find "$A" -printf '%i\n' | sort -u >"$T/live.ino"
find "$SN/one" -printf '%i\n' | sort -u >"$T/one.ino"
find "$SN/two" -printf '%i\n' | sort -u >"$T/two.ino"
check "the snapshot has inodes" test "$(wc -l <"$T/one.ino")" -gt 40
check "no inode shared by the live tree and a snapshot" test -z "$(comm -12 "$T/live.ino" "$T/one.ino")"
check "no inode shared by two snapshots" test -z "$(comm -12 "$T/one.ino" "$T/two.ino")"
check "no inode shared by the live tree and the second snapshot" test -z "$(comm -12 "$T/live.ino" "$T/two.ino")"
check "a snapshot's root is not the live root" test "$(stat -c %i "$SN/one")" != "$(stat -c %i "$A")"

# ---- every change inside a snapshot is EROFS ---------------------------------------------
F=$SN/one/d/small
expect_errno "write into a snapshot's file" EROFS 'open(a[0], "r+")' "$F"
expect_errno "truncate a snapshot's file" EROFS 'os.truncate(a[0], 0)' "$F"
expect_errno "create in a snapshot" EROFS 'open(a[0], "w")' "$SN/one/d/newfile"
expect_errno "mkdir in a snapshot" EROFS 'os.mkdir(a[0])' "$SN/one/d/newdir"
expect_errno "unlink in a snapshot" EROFS 'os.unlink(a[0])' "$F"
expect_errno "rmdir in a snapshot" EROFS 'os.rmdir(a[0])' "$SN/one/empty"
expect_errno "rename in a snapshot" EROFS 'os.rename(a[0], a[1])' "$F" "$SN/one/d/moved"
expect_errno "symlink in a snapshot" EROFS 'os.symlink("x", a[0])' "$SN/one/d/ln"
expect_errno "hard link in a snapshot" EROFS 'os.link(a[0], a[1])' "$F" "$SN/one/d/ln2"
expect_errno "chmod in a snapshot" EROFS 'os.chmod(a[0], 0o600)' "$F"
expect_errno "utime in a snapshot" EROFS 'os.utime(a[0], (1, 1))' "$F"
expect_errno "setxattr in a snapshot" EROFS 'os.setxattr(a[0], "user.x", b"1")' "$F"
expect_errno "removexattr in a snapshot" EROFS 'os.removexattr(a[0], "user.color")' "$F"
expect_errno "a snapshot's file linked into the live tree" EXDEV 'os.link(a[0], a[1])' "$F" "$A/stolen"
expect_errno "reading is fine" OK 'open(a[0]).read()' "$F"

# ---- bad names ----------------------------------------------------------------------------
LONG=$(printf 'n%.0s' $(seq 1 256))
expect_errno "mkdir of a 256-byte name" ENAMETOOLONG 'os.mkdir(a[0])' "$SN/$LONG"
expect_errno "mkdir of an existing snapshot" EEXIST 'os.mkdir(a[0])' "$SN/one"
expect_errno "mkdir ." EEXIST 'os.mkdir(a[0])' "$SN/."
expect_errno "mkdir .." EEXIST 'os.mkdir(a[0])' "$SN/.."
expect_errno "rmdir of a missing snapshot" ENOENT 'os.rmdir(a[0])' "$SN/missing"
expect_errno "rmdir of ." EINVAL 'os.rmdir(a[0])' "$SN/."
expect_errno "a file as a snapshot" EPERM 'open(a[0], "w")' "$SN/file"
expect_errno "a name with '/' (its parent is no snapshot)" ENOENT 'os.mkdir(a[0])' "$SN/no/such"
check "a 255-byte name is fine" mkdir "$SN/${LONG:1}"
check "and is listed" bash -c "ls '$SN' | grep -qx '${LONG:1}'"
check "the daemon logged the over-long name" grep -q "snapshot name of 256 bytes refused" "$(daemon_log "$A")"
check "the snapshot list is unchanged by the refusals" test "$(find "$SN" -mindepth 1 -maxdepth 1 | wc -l)" = 3

# ---- a second daemon of the same store ------------------------------------------------------
mount_fs "$S" "$B" || fail "mount B"
printf 'from A\n' >"$A/crossing"
mkdir "$SN/three"
printf 'after three\n' >"$A/crossing"
check "B lists the snapshot A took" bash -c "ls '$B/.ghostfs/snapshots' | grep -qx three"
check "B reads it as A wrote it then" test "$(cat "$B/.ghostfs/snapshots/three/crossing")" = "from A"
check "B's tar of snapshot one is the copy's" test "$(tar_of "$B/.ghostfs/snapshots/one")" = "$WANT"
mkdir "$B/.ghostfs/snapshots/fromb"
check "A browses the snapshot B took" test "$(cat "$SN/fromb/crossing")" = "after three"
rmdir "$B/.ghostfs/snapshots/fromb"
sleep 1.2 # (A's kernel caches a name in snapshots/ for a second)
check "A no longer sees the snapshot B deleted" test ! -e "$SN/fromb"
umount_fs "$B"

# ---- rmdir ----------------------------------------------------------------------------------
check "rmdir deletes a snapshot" rmdir "$SN/two"
check "it is gone from the list" bash -c "! '$GHOSTFS' snapshot list '$S' | grep -qw two"
check "and from the directory" test ! -e "$SN/two"

# ---- a snapshot mounted alone ------------------------------------------------------------------
mount_fs "$S" "$C" -o snapshot=one || fail "mount -o snapshot=one"
check "-o snapshot: the root is inode 1" test "$(stat -c %i "$C")" = 1
check "-o snapshot: tar is the copy's" test "$(tar_of "$C")" = "$WANT"
check "-o snapshot: no control tree" test ! -e "$C/.ghostfs"
expect_errno "-o snapshot: writing" EROFS 'open(a[0], "w")' "$C/new"
expect_errno "-o snapshot: deleting it by rmdir" EBUSY 'os.rmdir(a[0])' "$SN/one"
if "$GHOSTFS" snapshot delete "$S" one 2>"$T/del.err"; then
    fail "the CLI deleted a mounted snapshot"
else
    check "the CLI refuses to delete a mounted snapshot, naming why" grep -q "mounted" "$T/del.err"
fi
umount_fs "$C"
check "unmounted, it can be deleted" rmdir "$SN/one"
mount_fs "$S" "$C" -o snapshot=three || fail "mount -o snapshot=three"
kill_daemon "$C" KILL
check "a killed mount's mark does not block the delete" bash -c "'$GHOSTFS' snapshot delete '$S' three >/dev/null"
if "$GHOSTFS" mount "$S" "$C" -o snapshot=gone 2>"$T/mnt.err"; then
    fail "mounted a missing snapshot"
    fusermount3 -u "$C" || true
else
    check "a missing snapshot is named" grep -q "no snapshot named 'gone'" "$T/mnt.err"
fi

umount_fs "$A"
check "fsck is clean" "$GHOSTFS" fsck "$S"
finish
