#!/usr/bin/env bash
#
# tests/mount/backup_script.sh - examples/snapshot-backup.sh, the nightly
# backup recipe of docs/guide.md, run as a user would:
#
#   into a backup store, from a mountpoint: three runs with writes (new,
#   changed, deleted, renamed files) between them; the first sends a full
#   stream, the others incrementals; with KEEP=2 the source and the backup
#   store keep the newest two; the backup store mounted on its newest
#   snapshot (-o snapshot=) is, by diff -r, the source's newest snapshot as
#   /.ghostfs/snapshots/NAME shows it;
#   into a directory of stream files, from the store file: three runs, the
#   streams received in order into a fresh store, whose newest snapshot is
#   the source's (diff -r);
#   failures exit non-zero with a line naming the problem: KEEP=0, a SOURCE
#   that is neither a store nor a ghostfs mount, a base that was deleted
#   from the source.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init diff findmnt
SCRIPT=$(readlink -f "$(dirname "$0")/../../examples/snapshot-backup.sh")
[ -x "$SCRIPT" ] || {
    say "$SCRIPT is missing"
    exit 1
}
# The script runs `ghostfs`: the one under test.
mkdir "$T/bin"
ln -s "$GHOSTFS" "$T/bin/ghostfs"
export PATH=$T/bin:$PATH KEEP=2

S=$T/src.ghost
M=$T/mnt
B=$T/backup.ghost
mkdir "$M"
"$GHOSTFS" mkfs "$S" >/dev/null
mount_fs "$S" "$M"

# newest STORE: the newest nightly- snapshot of STORE.
newest() { "$GHOSTFS" snapshot list "$1" | awk 'NR > 1 { print $1, $3 }' | sort -n |
    awk '$2 ~ /^nightly-/ { n = $2 } END { print n }'; }
count() { "$GHOSTFS" snapshot list "$1" | awk 'NR > 1 && $3 ~ /^nightly-/' | wc -l; }

# Writes between the runs: something of every kind each time.
write_round() {
    local r=$1
    mkdir -p "$M/dir$r/sub"
    seq 1 $((r * 20000)) >"$M/dir$r/numbers"
    head -c $((r * 300000)) /dev/urandom >"$M/dir$r/sub/random.bin"
    echo "round $r" >>"$M/log.txt"
    ln -sf "dir$r/numbers" "$M/latest"
    if [ "$r" -gt 1 ]; then
        rm -f "$M/dir$((r - 1))/numbers"
        mv "$M/dir$((r - 1))/sub" "$M/dir$((r - 1))/moved"
    fi
}

for r in 1 2 3; do
    write_round "$r"
    out=$("$SCRIPT" "$M" "$B" 2>&1) || {
        fail "run $r into a backup store: $out"
        finish
    }
    if [ "$r" -eq 1 ]; then
        check "run 1 sends a full stream: $out" test -z "$(grep 'changes since' <<<"$out")"
    else
        check "run $r sends an incremental: $out" grep -q 'changes since nightly-' <<<"$out"
    fi
done
check "the source keeps KEEP=2 snapshots ($(count "$S"))" test "$(count "$S")" -eq 2
check "the backup store keeps 2 ($(count "$B"))" test "$(count "$B")" -eq 2
last=$(newest "$S")
check "the backup store's newest is the source's ($last)" test "$(newest "$B")" = "$last"
mkdir "$T/restored"
mount_fs "$B" "$T/restored" -o "snapshot=$last"
check "the backup of $last is the source's /.ghostfs/snapshots/$last (diff -r)" \
    diff -r --no-dereference "$M/.ghostfs/snapshots/$last" "$T/restored"
check "the restored tree holds round 3's file" test -s "$T/restored/dir3/sub/random.bin"
umount_fs "$T/restored"

# Stream files, from the store file (beside its mount).
mkdir "$T/streams"
for r in 4 5 6; do
    write_round "$r"
    sync
    out=$("$SCRIPT" "$S" "$T/streams" 2>&1) || {
        fail "run $r into a directory: $out"
        finish
    }
    pass "run $r into a directory: $out"
done
n=$(find "$T/streams" -name '*.stream' | wc -l)
check "three stream files ($n), no .part left" \
    test "$n" -eq 3 -a -z "$(find "$T/streams" -name '*.part')"
R=$T/fresh.ghost
# Oldest first: the names sort by date, a same-second -2, -3 after.
while read -r f; do
    "$GHOSTFS" receive "$R" <"$f" >/dev/null 2>&1 || fail "receive $(basename "$f")"
done < <(find "$T/streams" -name '*.stream' | sort -V)
last=$(newest "$S")
check "the fresh store's newest snapshot is $last" test "$(newest "$R")" = "$last"
mkdir "$T/fresh"
mount_fs "$R" "$T/fresh" -o "snapshot=$last"
check "the streams received make /.ghostfs/snapshots/$last (diff -r)" \
    diff -r --no-dereference "$M/.ghostfs/snapshots/$last" "$T/fresh"
umount_fs "$T/fresh"

# Failures.
expect_fail "KEEP=0" "KEEP=0" env KEEP=0 "$SCRIPT" "$S" "$T/streams"
expect_fail "a source that is not a store" "no such store" "$SCRIPT" "$T/none" "$T/streams"
expect_fail "a directory with no ghostfs mount" "no ghostfs filesystem" \
    "$SCRIPT" "$T/streams" "$B"
# The backup store's newest is gone from the source already: the runs into
# the directory (same PREFIX) pruned it. Make sure, then try.
base=$(newest "$B")
if "$GHOSTFS" snapshot list "$S" | awk 'NR > 1 { print $3 }' | grep -qxF -- "$base"; then
    "$GHOSTFS" snapshot delete "$S" "$base" >/dev/null
fi
expect_fail "a base deleted from the source" "is gone from" "$SCRIPT" "$M" "$B"
umount_fs "$M"
finish
