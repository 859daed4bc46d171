#!/usr/bin/env bash
#
# tests/mount/crash.sh - kill -9 the daemon while it writes, three times at
# different moments, and mount again each time:
#
#   - every file written, closed and synced (dd conv=fsync, or sync FILE)
#     before the kill reads back with the same checksum - also the ones a
#     writer synced under load a moment before the kill, a synced overwrite,
#     a synced rename and a synced delete (syncfs);
#   - the store mounts again after each kill (and the stale mountpoint is
#     detached with fusermount3 -uz first);
#   - no file is half-present in a way that breaks: every entry stats, every
#     file reads without an error, and what unsynced writers left is a
#     prefix of what they wrote (short or absent is fine, garbage is not);
#   - the store takes new writes and deletes after the crash;
#   - if the ghostfs command has fsck, it finds the store clean.
#
# Round 1 kills 0.3 s after the writers start (before the first commit
# interval ends), round 2 after 2.5 s (after a few commits), round 3 during
# a 64 MB dd conv=fsync with -o commit_interval=100.
#
# Needs GHOSTFS (the ghostfs binary); skips (77) without /dev/fuse.
# shellcheck disable=SC2317  # functions run in the background look unreachable
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init sha256sum cmp timeout dd sync

S=$T/store
M=$T/mnt
MANIFEST=$T/synced.sha256 # path relative to $M and checksum of synced files
ABSENT=$T/synced.absent   # synced deletes: must stay gone
PAT=$T/pattern            # what the unsynced streams write
mkdir -p "$M"
: >"$MANIFEST"
: >"$ABSENT"
head -c $((64 * 1024 * 1024)) /dev/urandom >"$PAT"
WRITERS=()

HAVE_FSCK=0
if "$GHOSTFS" --help 2>/dev/null | grep -q fsck; then
    HAVE_FSCK=1
fi

# synced_file REL SIZE: write SIZE random bytes to $M/REL with dd conv=fsync
# and note the checksum once dd has returned.
synced_file() {
    local rel=$1 size=$2
    head -c "$size" /dev/urandom >"$T/buf"
    dd if="$T/buf" of="$M/$rel" bs=256k conv=fsync status=none
    echo "$(sha256sum <"$T/buf" | cut -d' ' -f1)  $rel" >>"$MANIFEST"
}

# synced_cp REL SIZE: the same with cp, then `sync FILE` (fsync).
synced_cp() {
    local rel=$1 size=$2
    head -c "$size" /dev/urandom >"$T/buf"
    cp "$T/buf" "$M/$rel"
    sync "$M/$rel"
    echo "$(sha256sum <"$T/buf" | cut -d' ' -f1)  $rel" >>"$MANIFEST"
}

# ---- the writers that the kill interrupts -----------------------------------------------
# Each runs in the background until it is killed; errors (the mount going
# away under it) are expected and ignored.

stream_writer() { # copies of $PAT, never synced
    local d=$1 i=0
    set +e
    while :; do
        i=$((i + 1))
        dd if="$PAT" of="$d/stream-$i" bs=1M status=none 2>/dev/null || sleep 0.05
    done
}

small_writer() { # many small files, never synced
    local d=$1 i=0
    set +e
    mkdir -p "$d/small"
    while :; do
        i=$((i + 1))
        printf 'small file %d\n' "$i" >"$d/small/$i" 2>/dev/null || sleep 0.05
    done
}

log_writer() { # appends to one file, never synced
    local d=$1 i=0
    set +e
    while :; do
        i=$((i + 1))
        printf 'line %d\n' "$i" >>"$d/log" 2>/dev/null || sleep 0.05
    done
}

rename_writer() { # write a temp file, rename it over a name; never synced
    local d=$1 i=0
    set +e
    while :; do
        i=$((i + 1))
        if ! printf 'version %d\n' "$i" >"$d/.tmp" 2>/dev/null ||
            ! mv -f "$d/.tmp" "$d/renamed" 2>/dev/null; then
            sleep 0.05
        fi
    done
}

churn_writer() { # makes a small tree and deletes it again
    local d=$1 i=0 j
    set +e
    while :; do
        i=$((i + 1))
        mkdir -p "$d/churn/$i" 2>/dev/null || { sleep 0.05; continue; }
        for j in 1 2 3 4 5; do
            echo "$j" >"$d/churn/$i/$j" 2>/dev/null
        done
        rm -rf "$d/churn/$((i - 1))" 2>/dev/null
    done
}

sync_writer() { # synced files under load: recorded once sync has returned
    local d=$1 i=0 sum
    set +e
    mkdir -p "$M/$d"
    while :; do
        i=$((i + 1))
        head -c $((i * 7919 % 300000)) /dev/urandom >"$T/sbuf.$d"
        sum=$(sha256sum <"$T/sbuf.$d" | cut -d' ' -f1)
        if cp "$T/sbuf.$d" "$M/$d/$i" 2>/dev/null && sync "$M/$d/$i" 2>/dev/null; then
            echo "$sum  $d/$i" >>"$MANIFEST"
        else
            sleep 0.05
        fi
    done
}

start_writers() { # DIR (relative to $M)
    local d=$M/$1
    mkdir -p "$d"
    # their complaints when the mount goes away are expected: not shown
    stream_writer "$d" 2>/dev/null &
    WRITERS+=($!)
    small_writer "$d" 2>/dev/null &
    WRITERS+=($!)
    log_writer "$d" 2>/dev/null &
    WRITERS+=($!)
    rename_writer "$d" 2>/dev/null &
    WRITERS+=($!)
    churn_writer "$d" 2>/dev/null &
    WRITERS+=($!)
    sync_writer "$1-synced" 2>/dev/null &
    WRITERS+=($!)
}

stop_writers() {
    local pid
    for pid in "${WRITERS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${WRITERS[@]}"; do
        if ! wait_gone "$pid" 10; then
            say "writer $pid does not stop; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 5 || true
        fi
    done
    WRITERS=()
}

# ---- the checks after a crash ------------------------------------------------------------

# The synced files: every one listed must be there with its checksum.
check_synced() {
    local bad n
    n=$(wc -l <"$MANIFEST")
    bad=$(cd "$M" && timeout 120 sha256sum --quiet -c "$MANIFEST" 2>&1) || true
    if [ -z "$bad" ]; then
        pass "$1: all $n synced files intact"
    else
        fail "$1: synced files lost or changed (of $n):"
        head -n 20 <<<"$bad" | sed 's/^/    /' >&2
    fi
    bad=
    while read -r rel; do
        if [ -e "$M/$rel" ]; then
            bad+="$rel "
        fi
    done <"$ABSENT"
    if [ -z "$bad" ]; then
        pass "$1: synced deletes stay deleted"
    else
        fail "$1: deleted and synced, but back after the crash: $bad"
    fi
}

# Every entry stats and every file reads without an error.
check_readable() {
    local errs
    errs=$(cd "$M" && timeout 120 find . -print0 2>&1 >/dev/null | head -n 5) || true
    errs+=$(cd "$M" && timeout 300 find . -type f -exec cat {} + 2>&1 >/dev/null | head -n 5) ||
        true
    errs+=$(timeout 120 ls -lR "$M" 2>&1 >/dev/null | head -n 5) || true
    if [ -z "$errs" ]; then
        pass "$1: every entry stats and every file reads (find, ls -lR, cat)"
    else
        fail "$1: errors walking or reading the tree:"
        printf '    %s\n' "$errs" >&2
    fi
}

# is_prefix FILE EXPECTED: FILE is a prefix of EXPECTED (maybe empty).
is_prefix() {
    local n
    n=$(stat -c %s "$1")
    [ "$n" -le "$(stat -c %s "$2")" ] && cmp -s -n "$n" "$1" "$2"
}

# What the unsynced writers of round DIR left must be prefixes of what
# they wrote. With a third argument "report", say what is there.
check_unsynced() {
    local d=$M/$2 f bad=() n=0 i
    if [ "${3:-}" = report ]; then
        say "$1: left by the unsynced writers of $2: streams (bytes): $(
            stat -c %s "$d"/stream-* "$d"/fsync-in-flight 2>/dev/null | paste -sd ' ' -
        ); $(find "$d/small" -type f 2>/dev/null | wc -l) small files; log $(
            stat -c %s "$d/log" 2>/dev/null || echo absent) bytes"
    fi
    for f in "$d"/stream-* "$d"/fsync-in-flight; do
        [ -e "$f" ] || continue
        n=$((n + 1))
        is_prefix "$f" "$PAT" ||
            bad+=("${f#"$M"/} ($(stat -c %s "$f") bytes) is not a prefix of the data written")
    done
    if [ -d "$d/small" ]; then
        for f in "$d"/small/*; do
            [ -e "$f" ] || continue
            n=$((n + 1))
            i=${f##*/}
            printf 'small file %d\n' "$i" >"$T/expect"
            is_prefix "$f" "$T/expect" ||
                bad+=("${f#"$M"/}: '$(head -c 40 "$f" | tr -c '[:print:]' '?')'")
        done
    fi
    if [ -e "$d/log" ]; then
        n=$((n + 1))
        i=$(wc -l <"$d/log")
        seq 1 $((i + 1)) | sed 's/^/line /' >"$T/expect"
        is_prefix "$d/log" "$T/expect" ||
            bad+=("$2/log ($(stat -c %s "$d/log") bytes) is not a prefix of lines 1, 2, ...")
    fi
    if [ -e "$d/renamed" ]; then
        n=$((n + 1))
        grep -Eqx 'version [0-9]+' "$d/renamed" || [ ! -s "$d/renamed" ] ||
            bad+=("$2/renamed holds '$(head -c 40 "$d/renamed" | tr -c '[:print:]' '?')'")
    fi
    if [ "${#bad[@]}" -eq 0 ]; then
        pass "$1: the $n files unsynced writers left are absent, short or whole, never garbage"
    else
        fail "$1: unsynced files hold something never written (${#bad[@]} of $n):"
        printf '    %s\n' "${bad[@]:0:10}" >&2
    fi
}

check_writable() {
    if echo after >"$M/$2/after-crash" && [ "$(cat "$M/$2/after-crash")" = after ] &&
        rm -rf "$M/$2/churn" "$M/$2/after-crash" && mkdir "$M/$2/newdir" &&
        rmdir "$M/$2/newdir"; then
        pass "$1: the store takes writes, deletes and mkdir after the crash"
    else
        fail "$1: writing to the store after the crash failed"
    fi
}

check_fsck() {
    local out rc=0
    if [ "$HAVE_FSCK" -eq 0 ]; then
        return 0
    fi
    out=$(timeout 120 "$GHOSTFS" fsck "$S" 2>&1) || rc=$?
    if [ "$rc" -eq 0 ]; then
        pass "$1: ghostfs fsck finds the store clean"
    else
        fail "$1: ghostfs fsck exit $rc:"
        head -n 20 <<<"$out" | sed 's/^/    /' >&2
    fi
}

# ---- the rounds -------------------------------------------------------------------------------

"$GHOSTFS" mkfs "$S" >/dev/null

# round N DELAY_S [MOUNT ARG...]
round() {
    local r=$1 delay=$2 t0 ms stale=
    shift 2
    say "round $r: mount, synced files, writers, kill -9 after ${delay} s"
    if ! mount_fs "$S" "$M" "$@"; then
        fail "round $r: mount"
        return 1
    fi
    mkdir -p "$M/r$r"
    synced_file "r$r/empty" 0
    synced_file "r$r/one" 1
    synced_file "r$r/inline" 1000
    synced_file "r$r/blocks" 300000
    synced_cp "r$r/big" $((5 * 1024 * 1024 + 17))
    synced_cp "r$r/overwritten" 100000
    # a synced overwrite: the manifest's newer line is the one that counts
    sed -i "\\|  r$r/overwritten\$|d" "$MANIFEST"
    synced_file "r$r/overwritten" 70000
    # a synced rename and a synced delete, made durable by syncfs
    synced_cp "r$r/before-rename" 5000
    mv "$M/r$r/before-rename" "$M/r$r/after-rename"
    sed -i "s|  r$r/before-rename\$|  r$r/after-rename|" "$MANIFEST"
    echo doomed >"$M/r$r/deleted"
    sync "$M/r$r/deleted"
    rm "$M/r$r/deleted"
    sync -f "$M"
    echo "r$r/deleted" >>"$ABSENT"

    start_writers "r$r"
    if [ "$r" -eq 3 ]; then
        # kill during a large synced write: it must not count, nor break anything
        dd if="$PAT" of="$M/r$r/fsync-in-flight" bs=1M conv=fsync status=none 2>/dev/null &
        WRITERS+=($!)
    fi
    sleep "$delay"
    stale=$(stat -c %s "$M/r$r/log" 2>/dev/null || echo 0)
    t0=$(now_ms)
    if kill_daemon "$M" KILL; then
        pass "round $r: daemon killed with -9 (log had $stale bytes), stale mount detached"
    else
        fail "round $r: kill -9 of the daemon or detaching the stale mount"
    fi
    stop_writers
    if is_mounted "$M"; then
        fail "round $r: $M still mounted after fusermount3 -uz"
        return 1
    fi
    t0=$(now_ms)
    if mount_fs "$S" "$M"; then
        ms=$(($(now_ms) - t0))
        pass "round $r: the store mounts again after kill -9 ($ms ms)"
    else
        fail "round $r: the store does not mount after kill -9"
        return 1
    fi
    t0=$(now_ms)
    check_synced "round $r"
    check_readable "round $r"
    for ((i = 1; i < r; i++)); do
        check_unsynced "round $r" "r$i"
    done
    check_unsynced "round $r" "r$r" report
    check_writable "round $r" "r$r"
    say "time: round $r checks $(($(now_ms) - t0)) ms"
    if ! umount_fs "$M"; then
        fail "round $r: clean unmount after the checks"
        return 1
    fi
    check_fsck "round $r"
}

round 1 0.3 || true
round 2 2.5 || true
round 3 1.2 -o commit_interval=100 || true

say "final: a clean mount and every synced file once more"
if mount_fs "$S" "$M"; then
    check_synced "final"
    check_readable "final"
    check "final unmount" umount_fs "$M"
else
    fail "final mount"
fi
say "$(wc -l <"$MANIFEST") synced files checked, $(wc -l <"$ABSENT") synced deletes"
finish
