#!/usr/bin/env bash
#
# tests/mount/findings.sh - the crawler's findings named by path:
#
#   a file's data block is damaged in the store file while nothing is
#   mounted, and so is the name of another file (its directory entry and
#   its back reference, which hold the name); mounted with the crawler at
#   a full core and a cycle a second, the crawler finds both;
#   `ghostfs status --json` (of the mountpoint) lists the data block's
#   finding with the file's OID and path, "file data", and the back
#   reference's with its OID and no path ("path_unknown": the very link
#   the path needs is damaged), the directory entry's with the directory's
#   path; the text lists the same; the daemon's log names the file's path
#   and OID; unmounted, `ghostfs status` of the store still lists them
#   (kept in the store); the record that keeps them damaged, status says
#   it cannot read them and shows the rest, and the next crawler writes
#   them again.
#
# Needs GHOSTFS and python3; skips (77) without /dev/fuse.
# shellcheck disable=SC2317  # functions run through check and wait_for look unreachable
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init python3 timeout

S=$T/store
M=$T/mnt
mkdir -p "$M"
"$GHOSTFS" mkfs "$S" >/dev/null
DATA_NEEDLE="findings-data-$$-$RANDOM-0123456789abcdef"
NAME="findings-name-$$-$RANDOM-qwertyuiop"

# flip NEEDLE: one byte of every copy of it in the store file; prints how many.
flip() {
    python3 - "$S" "$1" <<'PY'
import mmap, sys
needle = sys.argv[2].encode()
n = 0
with open(sys.argv[1], "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
    at = m.find(needle)
    while at >= 0:
        m[at + len(needle) - 3] ^= 0x01
        n += 1
        at = m.find(needle, at + len(needle))
    m.flush()
print(n)
PY
}

status() { timeout -k 5 60 "$GHOSTFS" status "$@"; }

# finding WHERE OID: the kept finding of OID in `status WHERE --json`, as
# "path|what|kind|no-path reason" ("" if there is none).
finding() {
    status "$1" --json | python3 -c '
import json, sys
doc = json.load(sys.stdin)
assert doc["version"] == 1, doc
for f in doc["findings"]:
    if f["oid"] == int(sys.argv[1]):
        print("%s|%s|%s|%s" % (f["path"], f["what"], f["kind"], f.get("path_unknown", "")))
        assert f["generation"] > 0 and f["cycle"] > 0, f
' "$2"
}

# wait_for SECONDS CMD...: until CMD succeeds; 1 if it never did.
wait_for() {
    local deadline=$(($(now_ms) + $1 * 1000))
    shift
    until "$@"; do
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        sleep 0.3
    done
}

mount_fs "$S" "$M" -o crawl_cpu=0 || {
    fail "mount"
    finish
}
mkdir "$M/d"
python3 - "$M/d/victim" "$DATA_NEEDLE" <<'PY'
import sys
path, needle, bs = sys.argv[1], sys.argv[2].encode(), 65536
block = lambda head: (head + b"v" * bs)[:bs]
with open(path, "wb") as f:
    f.write(block(b"") + block(needle) + block(b""))
PY
echo hello >"$M/d/$NAME"
victim=$(stat -c %i "$M/d/victim")
named=$(stat -c %i "$M/d/$NAME")
dir=$(stat -c %i "$M/d")
umount_fs "$M"

n=$(flip "$DATA_NEEDLE")
check "the data block is in the store file ($n copies flipped)" [ "$n" -gt 0 ]
n=$(flip "$NAME")
check "the name is in the store file ($n copies flipped)" [ "$n" -ge 2 ]

mount_fs "$S" "$M" -o crawl_cpu=100,crawl_cycle=1 || {
    fail "mount with the crawler at a full core"
    finish
}
found() { [ -n "$(finding "$M" "$victim")" ] && [ -n "$(finding "$M" "$named")" ]; }
if wait_for 60 found; then
    pass "status of the mountpoint lists both findings"
else
    fail "findings not listed: $(status "$M" --json)"
fi
check "the data block's: OID $victim, /d/victim, file data" \
    test "$(finding "$M" "$victim")" = "/d/victim|file data|bad_record|"
got=$(finding "$M" "$named")
check "the back reference's: OID $named, no path, and why ($got)" \
    test "$got" = "None|back reference|bad_record|a back reference on the way is damaged"
check "the directory entry's: the directory's path" \
    test "$(finding "$M" "$dir")" = "/d|directory entry|bad_record|"
status "$M" >"$T/status.txt"
check "status (text) names the file's path and OID" \
    grep -q "^  /d/victim (OID $victim, file data), first found at generation" "$T/status.txt"
check "status (text) says the other's path is unknown" \
    grep -q "^  OID $named (back reference; path unknown: " "$T/status.txt"
logged() { grep -q "crawler: /d/victim (OID $victim, file data): .*fails its checksum" \
    "$(daemon_log "$M")"; }
check "the daemon's log names the path and OID" wait_for 10 logged
check "and says the other's path is unknown" \
    grep -q "crawler: OID $named (back reference; path unknown: " "$(daemon_log "$M")"
umount_fs "$M"

# Kept in the store: the store's status, nothing mounted.
check "unmounted, status of the store still lists the data block's finding" \
    test "$(finding "$S" "$victim")" = "/d/victim|file data|bad_record|"

# The record that keeps them damaged: said, and the rest still shown.
n=$(flip "fails its checksum")
check "the kept findings are in the store file ($n copies flipped)" [ "$n" -gt 0 ]
rc=0
status "$S" >"$T/damaged.txt" 2>&1 || rc=$?
check "status with the findings' record damaged exits 0 (got $rc)" [ "$rc" -eq 0 ]
check "and says they cannot be read" \
    grep -q "^findings    cannot be read: .*findings cannot be read" "$T/damaged.txt"
check "and shows the rest" grep -q "^last cycle" "$T/damaged.txt"
check "--json says it too" sh -c "timeout -k 5 60 '$GHOSTFS' status '$S' --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d[\"findings\"] is None and \"cannot be read\" in d[\"findings_error\"], d'"
mount_fs "$S" "$M" -o crawl_cpu=100,crawl_cycle=1 || {
    fail "mount over the damaged findings"
    finish
}
again() { [ "$(finding "$M" "$victim" 2>/dev/null)" = "/d/victim|file data|bad_record|" ]; }
check "the next crawler writes them again" wait_for 60 again
umount_fs "$M"
finish
