#!/usr/bin/env bash
#
# tests/mount/diff.sh - `ghostfs diff STORE SNAP [SNAP2] [--json]`:
#
#   between two snapshots taken in a mount (mkdir in /.ghostfs/snapshots),
#   and between a snapshot and the live tree while it is mounted: exactly
#   the created (+), removed (-), modified (M) and renamed (R) paths, for
#   files, directories, symlinks, a hard link, a move into another
#   directory, a file written in place, a chmod, and names holding a tab
#   and a newline (escaped: one line each); --json parses to the same;
#   a snapshot deleted in between changes nothing of a diff across it;
#   nothing changed: an empty list;
#   bad input - a missing snapshot, SNAP2 older than SNAP or the same, a
#   missing store, a file that is not a store, no snapshot, an unknown
#   option, an extra argument - gets one error line, nothing on stdout, and
#   exit status 1 (failed) or 2 (usage).
#
# Needs GHOSTFS (the ghostfs binary) and python3; skips (77) without
# /dev/fuse.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init python3 timeout

S=$T/store
M=$T/mnt
mkdir -p "$M"
"$GHOSTFS" mkfs "$S" >/dev/null
mount_fs "$S" "$M"

gdiff() { timeout -k 5 60 "$GHOSTFS" diff "$@"; }
# The diff's lines, sorted (its order is the inodes').
sorted_diff() { gdiff "$@" | LC_ALL=C sort; }

# A tree, then snapshot a.
mkdir -p "$M/d/sub" "$M/gone" "$M/same"
echo one >"$M/d/f"
echo two >"$M/d/sub/g"
echo three >"$M/gone/h"
echo keep >"$M/same/k"
echo w >"$M/w"
echo m >"$M/mode"
ln -s d/f "$M/link"
mkdir "$M/.ghostfs/snapshots/a"

# Every kind of change, then snapshot b.
echo new >"$M/d/new"
rm -r "$M/gone"
mv "$M/d/sub/g" "$M/g-moved"
echo more >>"$M/w"
chmod 600 "$M/mode"
ln "$M/d/f" "$M/same/hard"
rm "$M/link"
ln -s elsewhere "$M/link2"
printf x >"$M/tab	name"
printf y >"$M/nl
name"
mkdir "$M/.ghostfs/snapshots/b"

expected_ab=$(LC_ALL=C sort <<'EOT'
M	/
M	/d
+	/d/new
M	/d/sub
-	/gone
-	/gone/h
R	/d/sub/g	/g-moved
M	/w
M	/mode
M	/same
M	/d/f
-	/link
+	/link2
+	/tab\tname
+	/nl\nname
EOT
)
got=$(sorted_diff "$S" a b)
if [ "$got" = "$expected_ab" ]; then
    pass "a..b lists every change"
else
    fail "a..b: got:
$got
wanted:
$expected_ab"
fi

# The live tree, while mounted: changes after b, and a snapshot c deleted
# in between changes nothing of b..live.
echo later >"$M/d/later"
mkdir "$M/.ghostfs/snapshots/c"
mv "$M/same" "$M/same2"
rmdir "$M/.ghostfs/snapshots/c"
sync -f "$M"
expected_live=$(LC_ALL=C sort <<'EOT'
M	/
M	/d
+	/d/later
R	/same	/same2
EOT
)
got=$(sorted_diff "$S" b)
if [ "$got" = "$expected_live" ]; then
    pass "b..live (mounted, c deleted between) lists the changes since b"
else
    fail "b..live: got:
$got
wanted:
$expected_live"
fi

# a..live is a..b plus b..live, as one diff sees it.
got=$(gdiff "$S" a --json | python3 -c '
import json, sys
doc = json.load(sys.stdin)
assert doc["version"] == 1 and doc["from"] == "a" and doc["to"] is None, doc
by = {c["path"]: c for c in doc["changes"]}
assert by["/d/sub/g"]["change"] == "R" and by["/d/sub/g"]["new_path"] == "/g-moved", by
assert by["/same"]["change"] == "R" and by["/same"]["new_path"] == "/same2", by
assert by["/same"]["type"] == "dir" and by["/d/new"]["type"] == "file", by
assert by["/link2"]["type"] == "symlink" and by["/tab\tname"]["change"] == "+", by
assert by["/nl\nname"]["change"] == "+" and by["/d/later"]["change"] == "+", by
oids = [c["oid"] for c in doc["changes"]]
assert oids == sorted(oids) and len(set(oids)) == len(oids), oids
print(len(doc["changes"]))') && pass "a..live --json parses, $got changes" ||
    fail "a..live --json"

# Nothing changed since a snapshot: an empty list.
mkdir "$M/.ghostfs/snapshots/now"
sync -f "$M"
got=$(gdiff "$S" now)
check "nothing changed since 'now': empty" test -z "$got"
got=$(gdiff "$S" now --json | python3 -c '
import json, sys
print(len(json.load(sys.stdin)["changes"]))')
check "nothing changed since 'now': --json has no changes" test "$got" = 0

# A hard link added in a directory older than the file's own (the root:
# the new link sorts first): the file is modified, not renamed; a path 300
# levels deep is told whole.
echo linked >"$M/d/sub/linked"
mkdir "$M/.ghostfs/snapshots/links"
ln "$M/d/sub/linked" "$M/linked-at-root"
deep=$M
for i in $(seq 300); do deep=$deep/l; done
mkdir -p "$deep"
echo deep >"$deep/file"
sync -f "$M"
got=$(gdiff "$S" links)
if printf '%s\n' "$got" | grep -qx "M	/d/sub/linked" && ! printf '%s\n' "$got" | grep -q "^R"; then
    pass "a hard link added before the first is a change, not a rename"
else
    fail "a hard link added: $(printf "%s\n" "$got" | grep -v "/l/l/" | tr "\n" " ")"
fi
want="/$(for i in $(seq 300); do printf 'l/'; done)file"
printf '%s\n' "$got" | grep -qxF "+	$want" && pass "a path 300 levels deep is told whole" ||
    fail "the deep file is not listed as +	$want"
got=$(gdiff "$S" links | wc -l)
check "the deep tree: 300 directories and the file ($got lines)" test "$got" -ge 301

# Output that cannot be written: exit 1 and a message; --json after a
# failure leaves nothing on stdout.
rc=0
gdiff "$S" a >/dev/full 2>"$T/err" || rc=$?
check "a full output device: exit 1 ($(cat "$T/err"))" test "$rc" = 1
check "a full output device: the error says so" grep -q "cannot write the output" "$T/err"

# Bad input: one error line, nothing on stdout, the documented status.
bad() {
    local desc=$1 want_rc=$2 pat=$3 rc=0
    shift 3
    gdiff "$@" >"$T/out" 2>"$T/err" || rc=$?
    if [ "$rc" = "$want_rc" ] && [ ! -s "$T/out" ] && [ "$(wc -l <"$T/err")" = 1 ] &&
        grep -Eq -- "$pat" "$T/err"; then
        pass "$desc: $(cat "$T/err")"
    else
        fail "$desc: exit $rc (wanted $want_rc), stdout $(wc -c <"$T/out") bytes, stderr: $(cat "$T/err")"
    fi
}
echo "not a store" >"$T/text"
bad "missing snapshot" 1 "no snapshot 'nope'" "$S" nope
bad "missing second snapshot" 1 "no snapshot 'nope'" "$S" a nope
bad "missing snapshot, --json" 1 "no snapshot 'nope'" "$S" nope --json
bad "second older than first" 1 "not older" "$S" b a
bad "same snapshot twice" 1 "not older" "$S" a a
bad "missing store" 1 "no such store" "$T/nostore" a
bad "not a store" 1 "$T/text" "$T/text" a
bad "no snapshot" 2 "which snapshot" "$S"
bad "nothing" 2 "which store" 
bad "unknown option" 2 "unknown option '--frob'" "$S" a --frob
bad "extra argument" 2 "unexpected argument 'x'" "$S" a b x

umount_fs "$M"
# Offline, the same as mounted.
got=$(sorted_diff "$S" a b)
check "a..b offline is the same" test "$got" = "$expected_ab"
finish
