#!/usr/bin/env bash
#
# tests/mount/rollback.sh - a store whose newest LMDB meta page is damaged
# does not silently mount one transaction back (docs/format.md,
# "Generations"):
#
#   - files are written through two mounts and unmounted cleanly; then one
#     byte of the newest meta page's transaction id is cleared in the store
#     file, so that LMDB would open the store at the transaction before;
#   - `ghostfs mount` refuses it with one line naming both generations and
#     what to do, and mounts nothing;
#   - `ghostfs mount -o ro` mounts it (in the foreground and as a daemon),
#     warns once, and the older files read back intact;
#   - `-o accept_rollback` mounts it writable from the older state, after
#     which a plain mount works again.
#
# Needs GHOSTFS and python3; skips (77) otherwise, or without /dev/fuse.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init python3

S=$T/store
M=$T/mnt
mkdir -p "$M"
"$GHOSTFS" mkfs "$S" >/dev/null

mount_fs "$S" "$M"
printf 'first file\n' >"$M/a"
umount_fs "$M"
mount_fs "$S" "$M"
printf 'second file\n' >"$M/b"
umount_fs "$M"

# meta PAGE [ID]: LMDB's meta page PAGE's transaction id (the page size is
# at offset 16 + 24 of page 0, the id at 16 + 128 of each page); with ID,
# write it instead of the old one.
meta() {
    python3 - "$S" "$@" <<'PY'
import struct, sys
path, page = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(16 + 24)
    psize = struct.unpack("<I", f.read(4))[0]
    at = page * psize + 16 + 128
    if len(sys.argv) > 3:
        f.seek(at)
        f.write(struct.pack("<Q", int(sys.argv[3])))
    else:
        f.seek(at)
        print(struct.unpack("<Q", f.read(8))[0])
PY
}
id0=$(meta 0)
id1=$(meta 1)
if [ "$id1" -gt "$id0" ]; then newer=1 gen=$id1; else newer=0 gen=$id0; fi
# One byte cleared: the lowest byte of the id that, cleared (keeping its
# parity bit), takes the id below the older page's.
damaged=$(python3 -c '
import sys
g = int(sys.argv[1])
for i in range(8):
    keep = 1 if i == 0 else 0
    v = g & ~((0xff & ~keep) << (8 * i))
    if v < g - 1:
        print(v)
        break
' "$gen")
meta "$newer" "$damaged"
say "newest meta page $newer: transaction $gen made $damaged; LMDB now opens $((gen - 1))"

# A writable mount is refused, with one line naming both generations.
rc=0
"$GHOSTFS" mount "$S" "$M" >"$T/out" 2>"$T/err" || rc=$?
check "a writable mount is refused (exit $rc)" [ "$rc" -ne 0 ]
# shellcheck disable=SC2317  # run through check
not_mounted() { ! is_mounted "$1"; }
check "nothing is mounted" not_mounted "$M"
lines=$(wc -l <"$T/err")
check "the refusal is one line ($lines): $(head -c 400 "$T/err")" [ "$lines" -eq 1 ]
check "it names generation $((gen - 1))" grep -q "generation $((gen - 1))" "$T/err"
check "it names generation $gen" grep -q "but $gen was committed" "$T/err"
check "it says to mount read-only" grep -q -- "-o ro" "$T/err"
check "it names accept_rollback" grep -q "accept_rollback" "$T/err"

# Read-only, in the foreground: mounted, one warning, the older files intact.
mount_fs "$S" "$M" -o ro
check "-o ro mounts it" is_mounted "$M"
check "the first file reads back" [ "$(cat "$M/a")" = "first file" ]
warnings=$(grep -c "damaged or rolled back" "$(daemon_log "$M")" || true)
check "the daemon warned once ($warnings)" [ "$warnings" -eq 1 ]
if [ -e "$M/b" ]; then
    say "the second file, one transaction back: $(wc -c <"$M/b") bytes"
fi
umount_fs "$M"

# Read-only as a daemon: `ghostfs mount` returns once it serves.
rc=0
"$GHOSTFS" mount "$S" "$M" -o ro 2>"$T/err" || rc=$?
check "ghostfs mount -o ro as a daemon succeeds (exit $rc)" [ "$rc" -eq 0 ]
check "it warned once on the terminal" [ "$(grep -c "damaged or rolled back" "$T/err")" -eq 1 ]
check "the first file reads back through it" [ "$(cat "$M/a")" = "first file" ]
fusermount3 -u "$M"
for _ in $(seq 100); do
    is_mounted "$M" || break
    sleep 0.05
done

# Still refused: the read-only mounts changed nothing.
rc=0
"$GHOSTFS" mount "$S" "$M" 2>/dev/null || rc=$?
check "still refused after the read-only mounts" [ "$rc" -ne 0 ]

# Accepted: writable from the older state, and plain mounts work after.
mount_fs "$S" "$M" -o accept_rollback
check "-o accept_rollback mounts it" is_mounted "$M"
printf 'third file\n' >"$M/c"
umount_fs "$M"
mount_fs "$S" "$M"
check "a plain mount works after accepting" [ "$(cat "$M/c")" = "third file" ]
check "and the first file is there" [ "$(cat "$M/a")" = "first file" ]
umount_fs "$M"
finish
