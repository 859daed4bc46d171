#!/usr/bin/env bash
#
# tests/mount/inspect.sh - `ghostfs inspect` and the system.ghostfs.*
# attributes on a mounted store:
#
#   `ghostfs inspect STORE OID` beside the live mount, for the OID `ls -i`
#   shows, and by path, name the same object; --json parses (python3) with
#   "format": 1 and the right kind, entries, target, links and generation,
#   for a directory, a file, a symlink, a fifo, hard links and names in
#   UTF-8 and not; the root by default; the same again offline;
#   `getfattr -d -m -` shows system.ghostfs.oid equal to `ls -i`, the
#   generation inspect shows, and checksum "ok", on symlinks and fifos too;
#   setting or removing those names fails (EOPNOTSUPP) while user.* names
#   keep working, and `cp -a` copies none of them;
#   bad input - an unknown OID, OID 0, a number over 2^63-1, a non-number,
#   a relative path, a path that does not exist or goes through a file, a
#   missing store, a file that is not a store, a directory, no store, an
#   unknown option, an extra argument - gets one error line, nothing on
#   stdout, and the documented exit status (1 failed, 2 usage);
#   a block damaged in the store file (offline): exit status 3, the
#   document says "damaged" and names the blocks, and still has the rest.
#
# Needs GHOSTFS (the ghostfs binary), python3, getfattr and setfattr;
# skips (77) without /dev/fuse.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init python3 getfattr setfattr timeout

S=$T/store
M=$T/mnt
mkdir -p "$M"
"$GHOSTFS" mkfs "$S" >/dev/null
mount_fs "$S" "$M"

insp() { timeout -k 5 60 "$GHOSTFS" inspect "$@"; }

mkdir -p "$M/a/b"
echo hello >"$M/a/f"
head -c 200000 /dev/urandom >"$M/big"
ln "$M/big" "$M/a/hard"
ln -s ../big "$M/a/lnk"
mkfifo "$M/a/fifo"
U=$(printf 'caf\xc3\xa9')
B=$(printf 'bad\xffname')
touch "$M/$U" "$M/$B"
setfattr -n user.colour -v blue "$M/a/f"
# A file whose middle block holds a needle, to be damaged offline.
NEEDLE="inspect-victim-$$-$RANDOM"
python3 - "$M/victim" "$NEEDLE" <<'PY'
import sys
path, needle, bs = sys.argv[1], sys.argv[2].encode(), 65536
block = lambda head: (head + b"v" * bs)[:bs]
with open(path, "wb") as f:
    f.write(block(b"") + block(needle) + block(b""))
PY
sync -f "$M"

ino() { stat -c %i "$1"; }

# json_get STORE WHAT EXPR: inspect --json, parsed, EXPR (Python, over doc)
# printed; fails if the output is not JSON or not format 1.
json_get() {
    insp "$1" "$2" --json | python3 -c '
import json, sys
doc = json.load(sys.stdin)
assert doc["format"] == 1, doc
print(eval(sys.argv[1]))' "$3"
}

# ---- by OID and by path, beside the mount -----------------------------------------
for p in a a/f a/lnk a/fifo big "$U" "$B"; do
    i=$(ino "$M/$p")
    check "inspect $(printf %q "$p") by its ls -i OID $i" \
        test "$(json_get "$S" "$i" 'doc["oid"]')" = "$i"
    check "inspect /$(printf %q "$p") by path names OID $i" \
        test "$(json_get "$S" "/$p" 'doc["oid"]')" = "$i"
done
check "inspect --json | python3 -m json.tool" \
    sh -c "'$GHOSTFS' inspect '$S' $(ino "$M/a") --json | python3 -m json.tool >/dev/null"
check "text names the OID ls -i shows" \
    sh -c "'$GHOSTFS' inspect '$S' /a/f | grep -qx 'oid          $(ino "$M/a/f")'"
check "no argument: the root" test "$(json_get "$S" / 'doc["oid"], doc["kind"]')" = "(1, 'directory')"
check "the root's entries" \
    test "$(insp "$S" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(ascii(sorted(e["name"] for e in d["entries"]["listed"])), d["entries"]["total"])')" = \
    "['a', 'bad\\xffname', 'big', 'caf\\xe9', 'victim'] 5"
check "a name that is not UTF-8 has its bytes in name_hex" \
    test "$(json_get "$S" / '[e["name_hex"] for e in doc["entries"]["listed"] if "name_hex" in e]')" \
    = "['626164ff6e616d65']"
check "kinds" test "$(json_get "$S" /a '[doc["kind"]] + sorted((e["name"], e["kind"]) for e in doc["entries"]["listed"])')" \
    = "['directory', ('b', 'directory'), ('f', 'file'), ('fifo', 'fifo'), ('hard', 'file'), ('lnk', 'symlink')]"
check "a symlink's target" test "$(json_get "$S" /a/lnk 'doc["kind"], doc["target"]')" = "('symlink', '../big')"
check "a file's blocks, bytes and links" \
    test "$(json_get "$S" /big 'doc["data"]["blocks"], doc["data"]["bytes_stored"], doc["attributes"]["nlink"], sorted(l["name"] for l in doc["links"]["listed"])')" \
    = "(4, 200000, 2, ['big', 'hard'])"
check "a file's xattr names and path" \
    test "$(json_get "$S" /a/f '[x["name"] for x in doc["xattrs"]["listed"]], doc["path"], doc["checksum"]["state"]')" \
    = "(['user.colour'], '/a/f', 'ok')"
check "the superblock" test "$(json_get "$S" 2 'doc["kind"], doc["superblock"]["block_size"]')" = "('superblock', 65536)"

# ---- the attributes ------------------------------------------------------------------
attr_of() { getfattr -h --only-values -n "system.ghostfs.$2" "$1" 2>/dev/null; }
for p in a/f a/lnk a/fifo "$B"; do
    i=$(ino "$M/$p")
    check "getfattr -d -m - $(printf %q "$p") shows system.ghostfs.oid=\"$i\"" \
        sh -c "getfattr -h -d -m - '$M/$p' 2>/dev/null | grep -qx 'system.ghostfs.oid=\"$i\"'"
    check "$(printf %q "$p"): the generation inspect shows" \
        test "$(attr_of "$M/$p" generation)" = "$(json_get "$S" "$i" 'doc["generation"]')"
    check "$(printf %q "$p"): checksum ok" test "$(attr_of "$M/$p" checksum)" = ok
done
check "setfattr on system.ghostfs.oid fails" sh -c "! setfattr -n system.ghostfs.oid -v 7 '$M/a/f' 2>/dev/null"
check "setfattr on system.ghostfs.oid: Operation not supported" \
    sh -c "setfattr -n system.ghostfs.oid -v 7 '$M/a/f' 2>&1 | grep -q 'Operation not supported'"
check "setfattr on a new system.ghostfs. name fails" \
    sh -c "setfattr -n system.ghostfs.x -v 7 '$M/a/f' 2>&1 | grep -q 'Operation not supported'"
check "setfattr -x system.ghostfs.checksum: Operation not supported" \
    sh -c "setfattr -x system.ghostfs.checksum '$M/a/f' 2>&1 | grep -q 'Operation not supported'"
check "the OID is unchanged" test "$(attr_of "$M/a/f" oid)" = "$(ino "$M/a/f")"
check "user.* names still set, read and removed" \
    sh -c "setfattr -n user.k -v v '$M/a/f' && getfattr --only-values -n user.k '$M/a/f' | grep -qx v &&
           setfattr -x user.k '$M/a/f'"
new_tmpdir C
check "cp -a copies the file and none of the system.ghostfs names" \
    sh -c "cp -a '$M/a/f' '$C/f' && getfattr -d -m - '$C/f' 2>/dev/null | grep -q user.colour &&
           ! getfattr -d -m - '$C/f' 2>/dev/null | grep -q system.ghostfs"

# ---- bad input -----------------------------------------------------------------------------
echo 'not a store' >"$T/text"
# bad WANT_STATUS PATTERN ARGS...: the exit status, one stderr line matching
# PATTERN, nothing on stdout.
bad() {
    local want=$1 pat=$2 rc=0
    shift 2
    insp "$@" >"$T/out" 2>"$T/err" || rc=$?
    if [ "$rc" -eq "$want" ] && [ ! -s "$T/out" ] && [ "$(wc -l <"$T/err")" -eq 1 ] &&
        grep -q -- "$pat" "$T/err"; then
        pass "inspect $* -> $want: $(cat "$T/err")"
    else
        fail "inspect $*: status $rc (want $want), stdout $(wc -c <"$T/out") bytes, stderr: $(cat "$T/err")"
    fi
}
bad 1 "no object has OID 999999 in" "$S" 999999
bad 2 "0 is not an OID an object can have" "$S" 0
bad 2 "not an OID an object can have" "$S" 9223372036854775808
bad 2 "from 2^63 up are inode numbers of the control tree" "$S" "$(stat -c %i "$M/.ghostfs")"
mkdir "$M/.ghostfs/snapshots/insp"
vino=$(stat -c %i "$M/.ghostfs/snapshots/insp/a")
bad 2 "is an inode number inside /.ghostfs/snapshots: OID $(stat -c %i "$M/a") in the snapshot" \
    "$S" "$vino"
rmdir "$M/.ghostfs/snapshots/insp"
bad 2 "'abc' is neither an OID (a number) nor an absolute path" "$S" abc
bad 2 "'12abc' is neither" "$S" 12abc
bad 2 "'a/f' is neither" "$S" a/f
bad 1 "path /nope: No such file or directory" "$S" /nope
bad 1 "path /a/f/x: Not a directory" "$S" /a/f/x
bad 1 "$T/missing: no such store" "$T/missing" 1
bad 1 "$T/text: " "$T/text" 1
bad 1 "$T: " "$T" 1
bad 2 "which store?" --json
bad 2 "unknown option '--bogus'" "$S" --bogus
bad 2 "unexpected argument 'x'" "$S" 1 x
check "--help: the usage, status 0" sh -c "'$GHOSTFS' inspect --help | grep -q 'ghostfs inspect STORE'"
check "ghostfs --help lists inspect" sh -c "'$GHOSTFS' --help | grep -q 'ghostfs inspect STORE'"

# ---- offline -------------------------------------------------------------------------------
# The object as the store held it live and offline, but for the store's
# generation (the unmount may commit).
doc_of() { json_get "$S" "$1" '{k: v for k, v in doc.items() if k != "store_generation"}'; }
live=$(doc_of /a)
umount_fs "$M"
check "offline: the same object" test "$(doc_of /a)" = "$live"
check "offline: by OID" test "$(json_get "$S" "$(json_get "$S" /big 'doc["oid"]')" 'doc["path"]')" = /big

# ---- damage: exit status 3, the problem named, the rest decoded -------------------------
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
insp "$S" /victim --json >"$T/victim.json" 2>"$T/err" || rc=$?
check "inspect of a damaged file exits 3 (got $rc)" test "$rc" -eq 3
check "its document says damaged, names the blocks, and still has the rest" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
c = d["checksum"]
assert c["state"] == "damaged" and c["problems"][0].startswith("blocks: "), c
assert d["data"]["blocks"] == 3 and d["path"] == "/victim", d
' "$T/victim.json"
rc=0
insp "$S" /victim >"$T/out" 2>"$T/err" || rc=$?
check "as text too: exit 3, \"checksum     damaged\"" \
    sh -c "test $rc -eq 3 && grep -qx 'checksum     damaged' '$T/out'"
check "an intact file beside it: exit 0" sh -c "'$GHOSTFS' inspect '$S' /a/f >/dev/null 2>&1"

finish
