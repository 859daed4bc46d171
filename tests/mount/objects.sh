#!/usr/bin/env bash
#
# tests/mount/objects.sh - /.ghostfs/objects inside a live mount:
#
#   `cat MNT/.ghostfs/objects/$(stat -c %i F)` shows F's kind, OID and
#   path, for a file, a directory, a symlink; the document equals `ghostfs
#   inspect STORE OID` (text) and OID.json equals `--json` for the same OID
#   on the same store, but for the store's generation; python3's json.load
#   reads it with "format": 1; its links (back references) name the parent
#   directory and the name; a directory's entries name its children;
#   grep, head, cp, wc and a read in small pieces see the same bytes as
#   cat; the files are regular, mode 0400, size 0 (also after reads), their numbers apart from the
#   live tree's and the snapshot views' (bit 63 set), OID and OID.json two,
#   and `ghostfs inspect` given one says (exit 2) which objects/ file it is;
#   `ls -a MNT/.ghostfs/objects` lists only . and .., and /.ghostfs lists
#   objects beside snapshots;
#   bad names - not a number, 0, a leading zero, a sign, 2^63 (one past the
#   largest OID), 2^64 (overflow), ".json" alone, "1.JSON", "1.json.json",
#   an OID with no object - are ENOENT, by stat and by open;
#   writing, creating, unlinking, chmod, truncate, mkdir and rename there
#   fail with EROFS (as root: the kernel lets root past the mode 0400);
#   after a change to the file, re-opening its document shows the newer
#   generation and the new size, while a document open since before keeps
#   its bytes (fixed at open); what this daemon still buffers for an open
#   file is committed first, so the document shows it;
#   an object removed meanwhile is ENOENT;
#   a read-only mount has them too; a snapshot mounted alone has no
#   control tree.
#
# Needs GHOSTFS, python3, grep, head; skips (77) without /dev/fuse.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init python3 grep head timeout stat

S=$T/store
M=$T/mnt
R=$T/ro
mkdir -p "$M" "$R"
"$GHOSTFS" mkfs "$S" >/dev/null
mount_fs "$S" "$M" || { fail "mount"; finish; }
O=$M/.ghostfs/objects

insp() { timeout -k 5 60 "$GHOSTFS" inspect "$@"; }
ino() { stat -c %i "$1"; }

# errno NAME of running python3 code $1 on paths $2...: OK or the name.
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

mkdir -p "$M/dir/sub"
printf 'hello\n' >"$M/dir/f"
ln -s f "$M/dir/lnk"
for i in $(seq 1 30); do : >"$M/dir/e$i"; done
sync -f "$M"

F=$(ino "$M/dir/f")
D=$(ino "$M/dir")
L=$(ino "$M/dir/lnk")

# ---- the text document -------------------------------------------------------------
check "cat objects/OID of a file works" cat "$O/$F"
check "it names the OID and the kind" \
    sh -c "cat '$O/$F' | grep -qx 'oid *$F' && cat '$O/$F' | grep -qx 'kind *file'"
check "it names the path" grep -qx 'path */dir/f' "$O/$F"
check "it names the parent in its links" grep -qx "  in $D as f" "$O/$F"
check "a directory's document lists its entries" grep -qx "  f -> $F (file)" "$O/$D"
check "a symlink's names its target" grep -qx 'target *f' "$O/$L"
check "the root's says directory" grep -qx 'kind *directory' "$O/1"
# The same as ghostfs inspect beside the mount, but for the store's
# generation (both read at their own moment).
nogen() { grep -v '^generation '; }
for i in "$F" "$D" "$L" 1 2 3; do
    check "objects/$i = ghostfs inspect STORE $i" \
        test "$(nogen <"$O/$i")" = "$(insp "$S" "$i" | nogen)"
done
check "head sees the first line" test "$(head -n 1 "$O/$F")" = "$(cat "$O/$F" | head -n 1)"
check "a read in 7-byte pieces sees the same bytes as cat" python3 -c '
import sys
with open(sys.argv[1], "rb") as f:
    parts = iter(lambda: f.read(7), b"")
    small = b"".join(parts)
whole = open(sys.argv[1], "rb").read()
assert small == whole and len(whole) > 100, (len(small), len(whole))
' "$O/$D"

# ---- the JSON document --------------------------------------------------------------
# json_of PATH EXPR: json.load of PATH, EXPR (Python, over doc) printed.
json_of() {
    python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["format"] == 1, doc
print(eval(sys.argv[2]))' "$1" "$2"
}
check "objects/OID.json parses, format 1, the file's OID" \
    test "$(json_of "$O/$F.json" 'doc["oid"]')" = "$F"
check "its kind is file, its path /dir/f" \
    test "$(json_of "$O/$F.json" 'doc["kind"] + " " + doc["path"]')" = "file /dir/f"
check "its links name the parent and the name" \
    test "$(json_of "$O/$F.json" '[(l["parent"], l["name"]) for l in doc["links"]["listed"]]')" \
    = "[($D, 'f')]"
check "a directory's entries name its 33 children" \
    test "$(json_of "$O/$D.json" 'doc["entries"]["total"], len(doc["entries"]["listed"])')" \
    = "(33, 33)"
same_json() { # OID: the mount's .json and inspect --json, store_generation aside
    python3 -c '
import json, sys
a = json.load(open(sys.argv[1]))
b = json.loads(sys.stdin.read())
for d in (a, b):
    d.pop("store_generation")
assert a == b, (a, b)
' "$O/$1.json" < <(insp "$S" "$1" --json)
}
for i in "$F" "$D" "$L" 1 2 3; do
    check "objects/$i.json = ghostfs inspect STORE $i --json" same_json "$i"
done

# ---- what the files are ------------------------------------------------------------
# (after the reads above: a short read did not make the kernel think it knows the size)
check "a regular file, mode 0400, size 0" \
    test "$(stat -c '%F %a %s' "$O/$F")" = "regular empty file 400 0"
cp "$O/$D" "$T/copied"
check "cp copies the whole document" test "$(cat "$T/copied")" = "$(cat "$O/$D")"
check "wc -c counts it" test "$(wc -c <"$O/$D")" -gt 100
check "SEEK_DATA and SEEK_HOLE see the document's length, not the size 0" python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
n = len(os.read(fd, 1 << 20))
assert os.lseek(fd, 0, os.SEEK_DATA) == 0 and os.lseek(fd, 1, os.SEEK_HOLE) == n, n
' "$O/$D"
# shellcheck disable=SC2012 # ls's listing is the point
check "ls -a objects lists only . and .." test "$(ls -a "$O" | tr '\n' ' ')" = ". .. "
# shellcheck disable=SC2012
check "/.ghostfs lists objects and snapshots" \
    test "$(ls "$M/.ghostfs" | tr '\n' ' ')" = "objects snapshots "
ni=$(ino "$O/$F")
nj=$(ino "$O/$F.json")
check "its inode number is the control tree's (bit 63), not the file's" \
    python3 -c "import sys; a, b, f = map(int, sys.argv[1:]); assert a >> 63 and b >> 63 and a != b != f" \
    "$ni" "$nj" "$F"
rc=0
err=$(insp "$S" "$nj" 2>&1 >/dev/null) || rc=$?
check "ghostfs inspect of that number: usage (2), naming objects/$F.json (got $rc: $err)" \
    sh -c "test $rc -eq 2 && echo '$err' | grep -qF 'is the inode number of /.ghostfs/objects/$F.json'"
mkdir "$M/.ghostfs/snapshots/s"
check "and apart from the snapshot view's" test "$(ino "$M/.ghostfs/snapshots/s/dir/f")" != "$ni"
rmdir "$M/.ghostfs/snapshots/s"

# ---- bad names ------------------------------------------------------------------------
for n in x 0 00 "0$F" "+$F" "-$F" " $F" "$F " 9223372036854775808 18446744073709551616 \
    99999999999999999999 .json "$F.JSON" "$F.json.json" "$F.txt" 999999; do
    expect_errno "stat objects/'$n'" ENOENT 'os.stat(a[0])' "$O/$n"
    expect_errno "open objects/'$n'" ENOENT 'open(a[0]).read()' "$O/$n"
done

# ---- nothing changes there ------------------------------------------------------------
expect_errno "open objects/OID for writing" EROFS 'open(a[0], "w")' "$O/$F"
expect_errno "open objects/OID read-write" EROFS 'open(a[0], "r+")' "$O/$F"
expect_errno "create a file in objects" EROFS 'open(a[0], "w")' "$O/new"
expect_errno "create a file named like an OID" EROFS 'os.open(a[0], os.O_CREAT|os.O_WRONLY|os.O_EXCL)' "$O/999999"
expect_errno "unlink objects/OID" EROFS 'os.unlink(a[0])' "$O/$F"
expect_errno "chmod objects/OID" EROFS 'os.chmod(a[0], 0o644)' "$O/$F"
expect_errno "truncate objects/OID" EROFS 'os.truncate(a[0], 0)' "$O/$F"
expect_errno "mkdir in objects" EROFS 'os.mkdir(a[0])' "$O/d"
expect_errno "rmdir objects" EROFS 'os.rmdir(a[0])' "$O"
expect_errno "rename in objects" EROFS 'os.rename(a[0], a[1])' "$O/$F" "$O/$F.x"
expect_errno "setxattr on objects/OID" EROFS 'os.setxattr(a[0], "user.x", b"1")' "$O/$F"

# ---- a change, and documents fixed at open -----------------------------------------------
gen_of() { json_of "$O/$F.json" 'doc["generation"]'; }
g1=$(gen_of)
exec 8<"$O/$F.json" # opened before the change: keeps its bytes
printf 'more\n' >>"$M/dir/f"
g2=$(gen_of)
check "re-opened after a change: a newer generation ($g1 -> $g2)" test "$g2" -gt "$g1"
check "and the new size" test "$(json_of "$O/$F.json" 'doc["attributes"]["size"]')" = 11
check "a document open since before keeps the old generation" \
    test "$(python3 -c 'import json, sys; print(json.load(sys.stdin)["generation"])' <&8)" = "$g1"
exec 8<&-
# Something this daemon still buffers (the file is open, not closed).
exec 7>>"$M/dir/f"
printf 'buffered, not closed\n' >&7
check "what the daemon buffers is committed first: the size shows it" \
    test "$(json_of "$O/$F.json" 'doc["attributes"]["size"]')" = 32
exec 7>&-
rm "$M/dir/e1"
E2=$(ino "$M/dir/e2")
rm "$M/dir/e2"
expect_errno "a removed object's document" ENOENT 'open(a[0]).read()' "$O/$E2"

# ---- a read-only mount; a snapshot mounted alone ---------------------------------------
umount_fs "$M"
mount_fs "$S" "$R" -o ro || { fail "mount read-only"; finish; }
check "read-only mount: objects/OID works" grep -qx 'path */dir/f' "$R/.ghostfs/objects/$F"
check "read-only mount: the JSON parses" test "$(json_of "$R/.ghostfs/objects/$F.json" 'doc["oid"]')" = "$F"
expect_errno "read-only mount: writing objects/OID" EROFS 'open(a[0], "w")' "$R/.ghostfs/objects/$F"
umount_fs "$R"
"$GHOSTFS" snapshot create "$S" alone >/dev/null
mount_fs "$S" "$R" -o snapshot=alone || { fail "mount a snapshot alone"; finish; }
check "a snapshot mounted alone has no control tree" test ! -e "$R/.ghostfs/objects"
umount_fs "$R"

finish
