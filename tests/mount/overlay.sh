#!/usr/bin/env bash
#
# tests/mount/overlay.sh - overlayfs with its upper and work directories on
# ghostfs, the lower one a plain directory beside it:
#
#   the kernel takes a FUSE upper only if it has d_type, xattrs and
#   RENAME_WHITEOUT (it counts FUSE as a remote filesystem), so the overlay
#   mount itself is the first check; ghostfs is mounted nodev, as FUSE
#   mounts usually are, since whiteouts are made, never opened;
#   a round trip through the merged view: a lower file modified (copied up),
#   deleted (a whiteout in upper: a character device 0:0), renamed (the
#   rename leaves a whiteout: RENAME_WHITEOUT), a lower directory removed,
#   new files and directories; the merged view, the upper directory and the
#   untouched lower directory are what overlayfs promises - while mounted,
#   after the overlay is mounted again, and after ghostfs is unmounted and
#   mounted again; then `ghostfs fsck` finds the store clean;
#   the same with -o userxattr (overlayfs's xattrs in user.*);
#   a crash: renames through the overlay in the background, and kill -9 of
#   the daemon while they run; after it, every renamed name in upper has its
#   whiteout at the old name and no whiteout lacks its renamed name (the
#   rename and the whiteout are one transaction), and fsck is clean.
#
# Needs root, GHOSTFS and overlayfs; skips (77) without them or /dev/fuse.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init stat mount umount timeout

[ "$(id -u)" -eq 0 ] || skip "mounting overlayfs needs root"
if ! grep -qw overlay /proc/filesystems; then
    modprobe overlay 2>/dev/null || true
    grep -qw overlay /proc/filesystems || skip "the kernel has no overlayfs"
fi

S=$T/store
M=$T/mnt
L=$T/lower
O=$T/merged
mkdir -p "$M" "$L" "$O"
"$GHOSTFS" mkfs "$S" >/dev/null

# The overlay is unmounted before anything else at exit: it holds ghostfs.
overlay_down() {
    if is_mounted "$O"; then
        umount "$O" 2>/dev/null || umount -l "$O" 2>/dev/null || true
    fi
}
# shellcheck disable=SC2317 # run by the EXIT trap
on_exit() {
    local rc=$?
    set +e
    overlay_down
    (exit "$rc") # cleanup exits with the status it finds
    cleanup
}
trap on_exit EXIT

# overlay_up [OPT]: mount the overlay of $L under $M/upper (work $M/work).
overlay_up() {
    local opts="lowerdir=$L,upperdir=$M/upper,workdir=$M/work${1:+,$1}"
    if ! mount -t overlay overlay -o "$opts" "$O"; then
        say "mount -t overlay -o $opts failed; the kernel said:"
        dmesg 2>/dev/null | grep -i overlayfs | tail -n 5 | sed 's/^/    /' >&2 || true
        return 1
    fi
}

# kind PATH: what stat says it is, with a device's numbers and links.
kind() {
    stat -c '%F %t:%T %a %h' "$1" 2>/dev/null || echo absent
}

# is_whiteout PATH: a character device 0:0 with no permission bits.
is_whiteout() {
    [ "$(stat -c '%F %t:%T %a' "$1" 2>/dev/null)" = "character special file 0:0 0" ]
}

# expect_content PATH TEXT MSG
expect_content() {
    local got
    got=$(cat "$1" 2>/dev/null) || got="<unreadable>"
    if [ "$got" = "$2" ]; then
        pass "$3"
    else
        fail "$3: $1 holds '$got', expected '$2'"
    fi
}

expect_absent() {
    if [ -e "$1" ] || [ -L "$1" ]; then
        fail "$2: $1 exists ($(kind "$1"))"
    else
        pass "$2"
    fi
}

expect_whiteout() {
    if is_whiteout "$1"; then
        pass "$2"
    else
        fail "$2: $1 is $(kind "$1"), not a whiteout"
    fi
}

fsck_clean() {
    local out rc=0
    out=$(timeout 120 "$GHOSTFS" fsck "$S" 2>&1) || rc=$?
    if [ "$rc" -eq 0 ]; then
        pass "$1: ghostfs fsck finds the store clean"
    else
        fail "$1: ghostfs fsck exit $rc:"
        head -n 20 <<<"$out" | sed 's/^/    /' >&2
    fi
}

# ---- the lower layer and the changes made through the overlay ----------------------------------

make_lower() {
    rm -rf "${L:?}"/*
    echo keep >"$L/keep"
    echo mod >"$L/mod"
    echo del >"$L/del"
    echo ren >"$L/ren"
    mkdir "$L/dir" "$L/sub"
    echo in >"$L/dir/in"
    echo inner >"$L/sub/inner"
    echo other >"$L/sub/other"
}

change_merged() {
    echo more >>"$O/mod"
    rm "$O/del"
    mv "$O/ren" "$O/ren2"
    rm -r "$O/dir"
    echo new >"$O/new"
    mkdir "$O/newdir"
    echo deep >"$O/newdir/deep"
    echo changed >"$O/sub/inner"
}

# check_round WHEN: the merged view, upper and lower after change_merged.
check_round() {
    local w=$1
    expect_content "$O/keep" keep "$w: an untouched lower file shows through"
    expect_content "$O/mod" "$(printf 'mod\nmore')" "$w: a modified lower file"
    expect_absent "$O/del" "$w: a deleted lower file is gone from the merged view"
    expect_absent "$O/ren" "$w: a renamed lower file is gone from its old name"
    expect_content "$O/ren2" ren "$w: a renamed lower file at its new name"
    expect_absent "$O/dir" "$w: a removed lower directory"
    expect_content "$O/new" new "$w: a new file"
    expect_content "$O/newdir/deep" deep "$w: a file in a new directory"
    expect_content "$O/sub/inner" changed "$w: a modified file in a lower directory"
    expect_content "$O/sub/other" other "$w: its untouched sibling"

    expect_whiteout "$M/upper/del" "$w: upper holds a whiteout for the deleted file"
    expect_whiteout "$M/upper/ren" "$w: upper holds a whiteout for the renamed file"
    expect_whiteout "$M/upper/dir" "$w: upper holds a whiteout for the removed directory"
    expect_content "$M/upper/mod" "$(printf 'mod\nmore')" "$w: the modified file is copied up"
    expect_content "$M/upper/ren2" ren "$w: the renamed file is in upper at its new name"
    expect_content "$M/upper/sub/inner" changed "$w: the modified inner file is copied up"
    expect_absent "$M/upper/keep" "$w: an untouched lower file is not copied up"
    expect_absent "$M/upper/sub/other" "$w: nor its untouched sibling"
    expect_content "$M/upper/new" new "$w: the new file is in upper"

    expect_content "$L/mod" mod "$w: lower keeps the file as it was"
    expect_content "$L/del" del "$w: lower keeps the deleted file"
    expect_content "$L/ren" ren "$w: lower keeps the renamed file"
    expect_content "$L/dir/in" in "$w: lower keeps the removed directory"
}

# round NAME [OVERLAY OPT]: the whole round trip on a fresh upper.
round() {
    local name=$1 opt=${2:-}
    make_lower
    rm -rf "$M/upper" "$M/work"
    mkdir "$M/upper" "$M/work"
    if ! overlay_up "$opt"; then
        fail "$name: overlayfs refuses ghostfs as its upper layer"
        return
    fi
    pass "$name: overlayfs mounts with its upper layer on ghostfs"
    change_merged
    check_round "$name, mounted"

    umount "$O"
    overlay_up "$opt" || { fail "$name: the overlay mounts again"; return; }
    check_round "$name, overlay mounted again"
    umount "$O"

    umount_fs "$M" || fail "$name: unmounting ghostfs"
    fsck_clean "$name"
    mount_fs "$S" "$M" -o nodev || { fail "$name: ghostfs mounts again"; return; }
    overlay_up "$opt" || { fail "$name: the overlay mounts on the remounted store"; return; }
    check_round "$name, ghostfs mounted again"
    umount "$O"
}

mount_fs "$S" "$M" -o nodev || { fail "mounting ghostfs"; finish; }
if grep -q " $(readlink -m "$M") .*nodev" /proc/self/mountinfo; then
    pass "ghostfs is mounted nodev"
else
    fail "ghostfs is not mounted nodev: $(grep " $(readlink -m "$M") " /proc/self/mountinfo)"
fi

round "trusted xattrs"
round "userxattr" userxattr

# ---- a crash in the middle of renames through the overlay ---------------------------------------

N=400
rm -rf "${L:?}"/*
for i in $(seq 1 $N); do echo "f$i" >"$L/f$i"; done
rm -rf "$M/upper" "$M/work"
mkdir "$M/upper" "$M/work"
sync -f "$M" # the empty upper and work directories are on disk
overlay_up || { fail "crash: overlay mount"; finish; }
# The renames run in the background and the daemon is killed while they
# do: some done, some torn in flight, some never started.
(
    for i in $(seq 1 $N); do
        mv "$O/f$i" "$O/g$i" 2>/dev/null || true
    done
) &
movers=$!
moved_so_far() { find "$M/upper" -maxdepth 1 -name 'g*' 2>/dev/null | wc -l; }
for _ in $(seq 600); do
    [ "$(moved_so_far)" -lt $((N / 8)) ] || break
    sleep 0.01
done
kill_daemon "$M" KILL
wait "$movers" || true
overlay_down

mount_fs "$S" "$M" -o nodev || { fail "crash: ghostfs mounts after kill -9"; finish; }
renamed=0
torn=0
lost=0
for i in $(seq 1 $N); do
    if [ -e "$M/upper/g$i" ]; then
        renamed=$((renamed + 1))
        if ! is_whiteout "$M/upper/f$i"; then
            torn=$((torn + 1))
            [ "$torn" -gt 3 ] || say "g$i is in upper but f$i is $(kind "$M/upper/f$i")"
        fi
    elif is_whiteout "$M/upper/f$i"; then
        # the old name hidden, the new one not there: the file is gone
        lost=$((lost + 1))
        [ "$lost" -gt 3 ] || say "f$i is a whiteout but g$i is not in upper"
    fi
done
say "crash: $renamed of $N renames survived the kill"
check "crash: the kill came in the middle of the renames ($renamed of $N)" \
    [ "$renamed" -gt 0 -a "$renamed" -lt "$N" ]
if [ "$torn" -eq 0 ]; then
    pass "crash: every rename that survived has its whiteout"
else
    fail "crash: $torn renames survived without their whiteout"
fi
if [ "$lost" -eq 0 ]; then
    pass "crash: no whiteout without its renamed file"
else
    fail "crash: $lost names whited out with no renamed file"
fi
umount_fs "$M" || fail "crash: unmounting ghostfs"
fsck_clean "crash"

finish
