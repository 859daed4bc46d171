#!/usr/bin/env bash
#
# tests/mount/crawl_safety.sh - the crawler never takes what is reachable:
#
#   two daemons mount one store, each with its crawler at a full core,
#   slices of 20 records and a cycle every second (one of them crawls at a
#   time, the other takes over when it may); meanwhile two writers, one on
#   each mount, create, rewrite, append, rename, link and unlink files
#   (big ones too, whose deletes are deferred to the crawlers) in
#   directories of their own, keeping a model (crawl_safety.py), and a
#   snapshot is taken and deleted, so that the prune pass drops versions
#   under the writers' feet. Then: the writers' files match their models,
#   the deferred deletes drain, both daemons unmount, `ghostfs fsck` finds
#   nothing (no entry lost, no inode leaked), and a fresh mount reads every
#   file of both models back by checksum.
#
# Needs GHOSTFS and python3; skips (77) without /dev/fuse.
# shellcheck disable=SC2317  # functions run through check and wait_for look unreachable
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init python3 sha256sum timeout

HERE=$(dirname "$(readlink -f "$0")")
S=$T/store
A=$T/a
B=$T/b
C=$T/c
mkdir -p "$A" "$B" "$C"
"$GHOSTFS" mkfs "$S" >/dev/null
OPTS=crawl_cpu=100,crawl_slice=20,crawl_cycle=1s

mount_fs "$S" "$A" -o "$OPTS" || { fail "mount A"; finish; }
mount_fs "$S" "$B" -o "$OPTS" || { fail "mount B"; finish; }
mkdir "$A/wa" "$A/wb"

timeout -k 5 600 python3 "$HERE/crawl_safety.py" "$A/wa" 11 400 "$T/model-a.json" \
    >"$T/writer-a.log" 2>&1 &
wa=$!
timeout -k 5 600 python3 "$HERE/crawl_safety.py" "$B/wb" 12 400 "$T/model-b.json" \
    >"$T/writer-b.log" 2>&1 &
wb=$!
sleep 1
"$GHOSTFS" snapshot create "$S" during >/dev/null
sleep 2
"$GHOSTFS" snapshot delete "$S" during >/dev/null
rc=0
wait "$wa" || rc=$?
check "writer A's files match its model" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || sed 's/^/    /' "$T/writer-a.log" >&2
rc=0
wait "$wb" || rc=$?
check "writer B's files match its model" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || sed 's/^/    /' "$T/writer-b.log" >&2

deferred() {
    timeout -k 5 60 "$GHOSTFS" status "$S" --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["deferred_files"])'
}
deadline=$(($(now_ms) + 60000))
while [ "$(deferred)" != 0 ] && [ "$(now_ms)" -lt "$deadline" ]; do
    sleep 0.5
done
check "the deferred deletes drained" [ "$(deferred)" = 0 ]
# The versions the deleted snapshot kept are pruned by a later cycle.
kept() {
    timeout -k 5 60 "$GHOSTFS" status "$S" --json | python3 -c '
import json, sys
c = json.load(sys.stdin)["crawler"]
print(c["cycles"], c.get("last", {}).get("kept_versions", -1))'
}
deadline=$(($(now_ms) + 60000))
while [ "$(kept | cut -d' ' -f2)" != 0 ] && [ "$(now_ms)" -lt "$deadline" ]; do
    sleep 0.5
done
read -r cycles left <<<"$(kept)"
check "cycles ran ($cycles) and pruned what the snapshot kept (left: $left)" \
    test "$cycles" -ge 2 -a "$left" = 0
umount_fs "$A"
umount_fs "$B"

timeout -k 5 300 "$GHOSTFS" fsck "$S" >"$T/fsck.out" 2>&1 || true
if grep -q ": clean" "$T/fsck.out"; then
    pass "fsck: clean"
else
    fail "fsck found something:"
    sed 's/^/    /' "$T/fsck.out" >&2
fi

mount_fs "$S" "$C" -o ro || { fail "mount C"; finish; }
verify() {
    python3 - "$1" "$2" <<'PY'
import hashlib, json, os, sys
root, model = sys.argv[1], json.load(open(sys.argv[2]))
bad = 0
for p, want in model.items():
    full = os.path.join(root, p)
    if want == "dir":
        ok = os.path.isdir(full)
    else:
        ok = os.path.isfile(full) and hashlib.sha256(open(full, "rb").read()).hexdigest() == want
    if not ok:
        print("lost or changed:", p)
        bad += 1
for dirpath, dirnames, filenames in os.walk(root):
    for n in dirnames + filenames:
        rel = os.path.relpath(os.path.join(dirpath, n), root)
        if rel not in model:
            print("not in the model:", rel)
            bad += 1
print(len(model), "paths checked")
sys.exit(1 if bad else 0)
PY
}
check "a fresh mount reads writer A's tree as its model" verify "$C/wa" "$T/model-a.json"
check "a fresh mount reads writer B's tree as its model" verify "$C/wb" "$T/model-b.json"
status_out=$(timeout -k 5 60 "$GHOSTFS" status "$S")
say "status after: $(echo "$status_out" | grep -E 'last cycle|pruned|findings' | tr '\n' ';')"
umount_fs "$C"
finish
