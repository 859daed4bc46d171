#!/usr/bin/env bash
#
# tests/mount/fsck.sh - `ghostfs fsck STORE` on a store a mount wrote:
#
#   a clean store (files, directories, hard links, a symlink, xattrs)
#           exits 0, and --json says clean in a document python3 parses
#   one byte of one file's block flipped on disk (unmounted): exit 4, and
#           the finding names that file's OID (its inode number) and path;
#           --json lists it with kind, oid, map 3 and path
#   a file that is not a store, and a path that does not exist: exit 8
#           with one line naming the path
#
# Needs GHOSTFS and python3; skips (77) without /dev/fuse.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init python3 stat

S=$T/store
M=$T/mnt
mkdir -p "$M"
"$GHOSTFS" mkfs "$S" >/dev/null
NEEDLE='<<ghostfs-mount-fsck-victim-0123456789abcdefghijklmnopqrstuvwxyz>>'
BS=65536 # the filesystem's default block size

mount_fs "$S" "$M"
mkdir -p "$M/a/b" "$M/c"
echo small >"$M/a/small"
ln "$M/a/small" "$M/c/hardlink"
ln -s ../a/small "$M/c/symlink"
python3 - "$M/a/b/victim" "$NEEDLE" "$BS" <<'PY'
import sys
path, needle, bs = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
block = lambda head: (head + b"v" * bs)[:bs]
with open(path, "wb") as f:
    f.write(block(b"") + block(needle) + block(b""))
PY
head -c 300000 /dev/zero | tr '\0' 'x' >"$M/c/other"
INO=$(stat -c %i "$M/a/b/victim")
umount_fs "$M"

rc=0
out=$("$GHOSTFS" fsck "$S" 2>"$T/err") || rc=$?
check "fsck of a clean store exits 0 (got $rc: $out)" test "$rc" -eq 0
check "and says clean" grep -q clean <<<"$out"

rc=0
"$GHOSTFS" fsck --json "$S" >"$T/clean.json" 2>/dev/null || rc=$?
check "fsck --json of a clean store exits 0" test "$rc" -eq 0
check "--json parses and says clean, version 1" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["version"] == 1 and d["clean"] is True and d["findings"] == [], d
assert d["stats"]["inodes"] == d["stats"]["reached"] == 8, d["stats"]
assert d["stats"]["map_keys"]["3"] >= 3, d["stats"]
' "$T/clean.json"

copies=$(python3 - "$S" "$NEEDLE" <<'PY'
import mmap, sys
needle = sys.argv[2].encode()
n = 0
with open(sys.argv[1], "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
    at = m.find(needle)
    while at >= 0:
        m[at + len(needle) // 2] ^= 0x10
        n += 1
        at = m.find(needle, at + len(needle))
    m.flush()
print(n)
PY
)
check "the victim's block is in the store file ($copies copies)" test "$copies" -gt 0

rc=0
out=$("$GHOSTFS" fsck "$S" 2>"$T/err") || rc=$?
say "fsck said: $out"
check "fsck of the damaged store exits 4 (got $rc)" test "$rc" -eq 4
check "a finding names the victim's OID $INO and path" \
    grep -Eq "oid $INO map 3 /a/b/victim: .*checksum" <<<"$out"
check "and only the victim" test "$(grep -c '^bad-record' <<<"$out")" -eq 1

rc=0
"$GHOSTFS" fsck --json "$S" >"$T/bad.json" 2>/dev/null || rc=$?
check "fsck --json of the damaged store exits 4" test "$rc" -eq 4
check "--json lists the victim" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["version"] == 1 and d["clean"] is False, d
f = [f for f in d["findings"] if f["kind"] == "bad-record"]
assert len(f) == 1 and f[0]["oid"] == int(sys.argv[2]) and f[0]["map"] == 3, f
assert f[0]["path"] == "/a/b/victim" and "checksum" in f[0]["message"], f
' "$T/bad.json" "$INO"

echo "not a store at all, but long enough to be read as one: $(head -c 9000 /dev/zero | tr '\0' z)" >"$T/plain"
rc=0
"$GHOSTFS" fsck "$T/plain" >"$T/out" 2>"$T/err" || rc=$?
check "fsck of a non-store exits 8 (got $rc)" test "$rc" -eq 8
check "with one line naming it: $(cat "$T/err")" \
    test "$(wc -l <"$T/err")" -eq 1 -a "$(grep -c "$T/plain" "$T/err")" -eq 1

rc=0
"$GHOSTFS" fsck "$T/missing" >"$T/out" 2>"$T/err" || rc=$?
check "fsck of a missing path exits 8 (got $rc)" test "$rc" -eq 8
check "with one line naming it: $(cat "$T/err")" \
    test "$(wc -l <"$T/err")" -eq 1 -a "$(grep -c "$T/missing" "$T/err")" -eq 1

finish
