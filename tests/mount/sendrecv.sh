#!/usr/bin/env bash
#
# tests/mount/sendrecv.sh - `ghostfs send`, `receive` and `backup` on a
# mounted store that a writer in the background keeps changing:
#
#   four snapshots, each taken while the writer pauses (after syncfs), with
#   a copy of the tree made then as the reference; each sent (the first
#   whole, the others --from the one before) while the writer runs again;
#   the four streams received into a store that does not exist yet (the
#   first through a pipe, so spooled); that store lists the four snapshots,
#   and mounted read-only its tree is the reference of the last one
#   (diff -r, and every path's type, mode, size and link target);
#   a backup taken while the writer runs is clean (fsck), and one taken
#   after it stopped, mounted read-only, is the source's tree;
#   bad input gets one error line and a non-zero exit, and leaves the
#   receiving store's file byte for byte as it was: a truncated stream, a
#   flipped byte, an incremental whose base is missing (into an existing
#   store, and into none: no store is made), a full stream into a store
#   with snapshots, the same stream twice, a stream that is not one, a snapshot that does not exist,
#   a stream to a terminal, DEST that exists, a file that is not a store.
#
# Needs GHOSTFS and python3 (to flip a byte); skips (77) without /dev/fuse.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init sha256sum timeout diff cmp script

S=$T/src
R=$T/received
M=$T/mnt
M2=$T/mnt2
mkdir -p "$M" "$M2"
"$GHOSTFS" mkfs "$S" >/dev/null
mount_fs "$S" "$M" || { fail "mount the source"; finish; }

g() { timeout -k 5 120 "$GHOSTFS" "$@"; }

# The writer: files made, rewritten, appended to, renamed and deleted, in
# a few directories, until $T/stop appears; it rests while $T/pause is there.
mkdir -p "$M/data/a" "$M/data/b/c"
dd if=/dev/urandom of="$M/data/big" bs=64k count=40 status=none
ln -s big "$M/data/link"
writer() {
    local n=0 f
    while [ ! -e "$T/stop" ]; do
        if [ -e "$T/pause" ]; then
            touch "$T/paused"
            sleep 0.02
            continue
        fi
        n=$((n + 1))
        f="$M/data/$(((RANDOM % 3) == 0 ? 0 : 1))$((RANDOM % 40))"
        case $((RANDOM % 6)) in
        0) rm -f "$f" ;;
        1) head -c $((RANDOM * 3)) /dev/urandom >"$f" ;;
        2) echo "line $n" >>"$f" ;;
        3) mv -f "$f" "$M/data/a/moved$((RANDOM % 10))" 2>/dev/null || true ;;
        4) echo "$n" >"$M/data/b/c/f$((RANDOM % 20))" ;;
        5) dd if=/dev/urandom of="$M/data/big" bs=4k count=1 seek=$((RANDOM % 600)) \
            conv=notrunc status=none ;;
        esac
    done
}
writer &
WRITER=$!
stop_writer() {
    touch "$T/stop"
    wait "$WRITER" 2>/dev/null || true
}
at_cleanup stop_writer

# Pause the writer, commit what the mount buffers, run "$@", resume.
paused() {
    rm -f "$T/paused"
    touch "$T/pause"
    while [ ! -e "$T/paused" ]; do sleep 0.01; done
    sync -f "$M"
    "$@"
    rm -f "$T/pause"
}

take() {
    g snapshot create "$S" "$1" >/dev/null && cp -a "$M/data" "$T/ref-$1"
}

# What diff -r does not compare: types, modes, sizes, link targets.
listing() {
    (cd "$1" && find . \( -type d -printf '%p d %m\n' \) -o -printf '%p %y %m %s %l\n' |
        LC_ALL=C sort)
}

prev=
for s in s1 s2 s3 s4; do
    sleep 0.5 # the writer writes
    check "snapshot $s taken while the writer rests" paused take "$s"
    if [ -z "$prev" ]; then
        check "send $s (full) while the store is written" g send "$S" "$s" >"$T/$s.stream"
    else
        check "send $s --from $prev while the store is written" \
            g send "$S" "$s" --from "$prev" >"$T/$s.stream"
    fi
    prev=$s
done
backup_live=$T/backup-live
check "backup while the store is written" g backup "$S" "$backup_live" >"$T/backup.out"
stop_writer
check "the backup is clean" g fsck "$backup_live" >/dev/null
check "backup prints size and time" grep -Eq '^backup: .*bytes.*generation [0-9]+.* in [0-9.]+ s$' \
    "$T/backup.out"

# Received into a store that does not exist: the full stream through a
# pipe (spooled), the incrementals from files.
check "receive s1 through a pipe makes the store" \
    bash -c 'cat "$1" | "$2" receive "$3"' _ "$T/s1.stream" "$GHOSTFS" "$R"
for s in s2 s3 s4; do
    check "receive $s" g receive "$R" <"$T/$s.stream"
done
check "the received store lists s1..s4" \
    [ "$(g snapshot list "$R" | awk 'NR > 1 { print $3 }' | tr '\n' ' ')" = "s1 s2 s3 s4 " ]

if mount_fs "$R" "$M2" -o ro; then
    check "the received tree is s4's (diff -r)" diff -r "$T/ref-s4" "$M2/data"
    check "... types, modes, sizes, links" \
        [ "$(listing "$T/ref-s4")" = "$(listing "$M2/data")" ]
    check "... and differs from s1's (the test can fail)" \
        bash -c '! diff -rq "$1" "$2" >/dev/null' _ "$T/ref-s1" "$M2/data"
    umount_fs "$M2"
else
    fail "mount the received store"
fi

# A backup of the source, now still, mounted read-only, is its tree.
check "backup of the still store" g backup "$S" "$T/backup" >/dev/null
if mount_fs "$T/backup" "$M2" -o ro; then
    check "the backup's tree is the source's" diff -r "$M/data" "$M2/data"
    umount_fs "$M2"
else
    fail "mount the backup"
fi

# ---- bad input: an error line, a non-zero exit, the store unchanged ----
sum() { sha256sum <"$1"; }
# refused WHAT STORE CMD...: CMD fails with a message, STORE is unchanged.
refused() {
    local what=$1 store=$2 before rc=0
    shift 2
    before=$(sum "$store")
    "$@" 2>"$T/err" >/dev/null || rc=$?
    if [ "$rc" -ne 0 ] && [ -s "$T/err" ] && [ "$(sum "$store")" = "$before" ]; then
        pass "$what: $(head -c 150 "$T/err")"
    else
        fail "$what (exit $rc, store changed: $([ "$(sum "$store")" = "$before" ] && echo no || echo yes)): $(cat "$T/err")"
    fi
}

g snapshot create "$S" s5 >/dev/null
g send "$S" s5 --from s4 >"$T/s5.stream"
size=$(stat -c %s "$T/s5.stream")
head -c $((size - 1)) "$T/s5.stream" >"$T/cut.stream"
head -c 200 "$T/s5.stream" >"$T/cut2.stream"
cp "$T/s5.stream" "$T/flip.stream"
python3 - "$T/flip.stream" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x01
open(p, "wb").write(b)
EOF
refused "a stream cut by one byte" "$R" g receive "$R" <"$T/cut.stream"
refused "a stream cut in its first records" "$R" g receive "$R" <"$T/cut2.stream"
refused "a flipped byte" "$R" g receive "$R" <"$T/flip.stream"
check "... which names the checksum" grep -q checksum "$T/err"
refused "the same stream twice" "$R" g receive "$R" <"$T/s4.stream"
refused "a stream whose snapshot is there" "$R" g receive "$R" <"$T/s1.stream"
"$GHOSTFS" mkfs "$T/other" >/dev/null
g snapshot create "$T/other" mine >/dev/null
refused "a full stream into a store with snapshots" "$T/other" g receive "$T/other" <"$T/s1.stream"
check "... says so" grep -q "holds snapshots" "$T/err"
g snapshot delete "$T/other" mine >/dev/null
refused "a full stream into a made store without snapshots" "$T/other" \
    g receive "$T/other" <"$T/s1.stream"
check "... says it holds objects" grep -q "holds objects" "$T/err"
refused "an incremental whose base is missing" "$T/other" g receive "$T/other" <"$T/s5.stream"
check "... which names the base" grep -q "s4" "$T/err"
rc=0
g receive "$T/none" <"$T/s5.stream" 2>"$T/err" || rc=$?
check "an incremental into no store fails" [ "$rc" -ne 0 -a -s "$T/err" ]
check "... and makes none" [ ! -e "$T/none" ]
rc=0
g send "$S" nope >/dev/null 2>"$T/err" || rc=$?
check "send of a snapshot that does not exist fails, naming it" \
    [ "$rc" -ne 0 -a -n "$(grep nope "$T/err")" ]
rc=0
out=$(script -qec "$GHOSTFS send $S s5" /dev/null 2>&1) || rc=$?
check "send refuses to write to a terminal" [ "$rc" -ne 0 -a -n "$(grep terminal <<<"$out")" ]
refused "backup over a file that exists" "$T/backup" g backup "$S" "$T/backup"
echo "not a store" >"$T/text"
refused "receive into a file that is not a store" "$T/text" g receive "$T/text" <"$T/s1.stream"
refused "send from a file that is not a store" "$T/text" g send "$T/text" s1
refused "receive of a file that is not a stream" "$R" g receive "$R" <"$T/text"

# And the good one still goes in after all that.
check "the real s5 is received" g receive "$R" <"$T/s5.stream"

# A mount that writes nothing leaves the received store able to take the
# next incremental; a file written through one does not.
g snapshot create "$S" s6 >/dev/null
g send "$S" s6 --from s5 >"$T/s6.stream"
g snapshot create "$S" s7 >/dev/null
g send "$S" s7 --from s6 >"$T/s7.stream"
if mount_fs "$R" "$M2"; then
    ls -lR "$M2" >/dev/null
    umount_fs "$M2"
    check "an incremental after a mount that wrote nothing" g receive "$R" <"$T/s6.stream"
else
    fail "mount the received store read-write"
fi
if mount_fs "$R" "$M2"; then
    echo local >"$M2/data/written-here"
    umount_fs "$M2"
    refused "an incremental over a store written since its base" "$R" \
        g receive "$R" <"$T/s7.stream"
    check "... says it was written since s6" grep -q "written since its snapshot 's6'" "$T/err"
else
    fail "mount the received store read-write"
fi

umount_fs "$M"
finish
