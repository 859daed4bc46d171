#!/usr/bin/env bash
#
# tests/mount/two_mounts.sh - two daemons serve one store at two mountpoints,
# A and B. What A does must show in B:
#
#   - a file written and closed in A reads back whole in B (close-to-open),
#     also after A rewrites it in place (same size), longer and shorter;
#   - attribute changes in A (chmod, mtime, truncate, a new hard link) show
#     in B's stat although B's kernel caches attributes for an hour: B's
#     daemon must push invalidations to its kernel;
#   - names created, renamed (also over an existing name, also a whole
#     directory), deleted in A appear and disappear in B's stat and ls, also
#     when B's kernel holds a cached dentry for the old name;
#   - a symlink replaced in A reads the new target in B; xattrs;
#   - and one change the other way round, B to A.
#
# Each check is tried at once, then polled every 10 ms for up to 3 s; the
# time it took is reported ("at once" or "after N ms"), and over 3 s fails.
#
# Needs GHOSTFS (the ghostfs binary); skips (77) without /dev/fuse.
# shellcheck disable=SC2317  # functions run through eventually look unreachable
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init cmp stat timeout

S=$T/store
A=$T/a
B=$T/b
mkdir -p "$A" "$B"
LIMIT_MS=3000
TIMINGS=()
DELAYED=0

# attempt FUNC ARG...: run one of the exported check functions below in a
# child bash with a time limit, so that a hung mount fails the check.
attempt() {
    timeout -k 5 10 bash -c '"$@"' check "$@" 2>/dev/null
}

# eventually DESC CMD...: CMD must succeed at once or within LIMIT_MS;
# records pass or fail and returns 0 either way.
eventually() {
    local desc=$1 t0 ms
    shift
    t0=$(now_ms)
    if attempt "$@"; then
        pass "$desc: at once"
        TIMINGS+=("at once      $desc")
        return 0
    fi
    while :; do
        sleep 0.01
        ms=$(($(now_ms) - t0))
        if attempt "$@"; then
            pass "$desc: after $ms ms (not at once)"
            TIMINGS+=("$(printf '%5d ms' "$ms")     $desc")
            DELAYED=$((DELAYED + 1))
            return 0
        fi
        if [ "$ms" -gt "$LIMIT_MS" ]; then
            fail "$desc: still not true after $ms ms"
            TIMINGS+=("FAILED >${LIMIT_MS}ms $desc")
            # say what the other mount sees now
            timeout 10 bash -c '"$@"' check "$@" || true
            return 0 # recorded; go on with the other checks
        fi
    done
}

same() { cmp -s "$1" "$2"; }
absent() { ! stat "$1" >/dev/null 2>&1; }
present() { stat "$1" >/dev/null 2>&1; }
mode_is() { [ "$(stat -c %a "$1")" = "$2" ]; }
size_is() { [ "$(stat -c %s "$1")" = "$2" ]; }
mtime_is() { [ "$(stat -c %Y "$1")" = "$2" ]; }
links_is() { [ "$(stat -c %h "$1")" = "$2" ]; }
# What ls shows is the point here; the names are plain. grep reads all of
# ls's output (no -q), or the SIGPIPE would fail the pipe under pipefail.
# shellcheck disable=SC2010
listed() { ls -a "$1" | grep -x -- "$2" >/dev/null; }
# shellcheck disable=SC2010
unlisted() { ! ls -a "$1" | grep -x -- "$2" >/dev/null; }
content_is() { [ "$(cat "$1")" = "$2" ]; }
target_is() { [ "$(readlink "$1")" = "$2" ]; }
xattr_is() { [ "$(getfattr --only-values -n user.k "$1" 2>/dev/null)" = "$2" ]; }
export -f same absent present mode_is size_is mtime_is links_is listed unlisted content_is \
    target_is xattr_is

"$GHOSTFS" mkfs "$S" >/dev/null
if ! mount_fs "$S" "$A" || ! mount_fs "$S" "$B"; then
    fail "mount one store twice, at $A and at $B"
    finish
fi
pass "one store mounted twice"

head -c 300000 /dev/urandom >"$T/c1"
head -c 300000 /dev/urandom >"$T/c2"
head -c 1234567 /dev/urandom >"$T/c3"
printf 'short file' >"$T/c4"

# ---- file contents, close to open ------------------------------------------------
cp "$T/c1" "$A/f"
eventually "new 300 KB file written and closed in A reads whole in B" same "$T/c1" "$B/f"
cat "$B/f" >/dev/null # B's page cache now holds c1
dd if="$T/c2" of="$A/f" conv=notrunc status=none
eventually "rewritten in place in A (same size): B reads the new bytes" same "$T/c2" "$B/f"
cat "$T/c3" >"$A/f"
eventually "rewritten longer in A (1.2 MB): B reads it whole" same "$T/c3" "$B/f"
cat "$T/c4" >"$A/f"
eventually "rewritten shorter in A (10 bytes): B reads exactly that" same "$T/c4" "$B/f"
dd if="$T/c1" of="$A/f" bs=1000 count=1 seek=100 status=none # extends with a hole
cat "$T/c4" >"$T/c5"
dd if="$T/c1" of="$T/c5" bs=1000 count=1 seek=100 status=none
eventually "extended with a hole in A: B reads zeros then the data" same "$T/c5" "$B/f"

# ---- attributes that B's kernel has cached ------------------------------------------
stat "$B/f" >/dev/null
chmod 600 "$A/f"
eventually "chmod 600 in A: B's stat shows 600" mode_is "$B/f" 600
stat "$B/f" >/dev/null
touch -m -d '2001-02-03 04:05:06 UTC' "$A/f"
eventually "touch -m in A: B's stat shows the new mtime" mtime_is "$B/f" 981173106
truncate -s 12345 "$A/f"
eventually "truncate -s 12345 in A: B's stat shows size 12345" size_is "$B/f" 12345
ln "$A/f" "$A/f-link"
eventually "hard link made in A: B's stat shows 2 links" links_is "$B/f" 2
eventually "the new link shows in B" same "$B/f" "$B/f-link"
rm "$A/f-link"
eventually "hard link removed in A: B's stat shows 1 link" links_is "$B/f" 1

# ---- names ------------------------------------------------------------------------
ls -a "$B" >/dev/null
stat "$B/new" >/dev/null 2>&1 || true # a negative lookup in B first
touch "$A/new"
mkdir "$A/newdir"
eventually "file created in A: B's stat finds it" present "$B/new"
eventually "file created in A: B's ls lists it" listed "$B" new
eventually "directory created in A: B's stat finds it" present "$B/newdir"
eventually "directory created in A: B's ls lists it" listed "$B" newdir

stat "$B/new" >/dev/null # B's kernel now caches the dentry "new"
mv "$A/new" "$A/renamed"
eventually "renamed in A: B's stat no longer finds the old name" absent "$B/new"
eventually "renamed in A: B's stat finds the new name" present "$B/renamed"
eventually "renamed in A: B's ls shows the new name" listed "$B" renamed
eventually "renamed in A: B's ls drops the old name" unlisted "$B" new

stat "$B/renamed" >/dev/null
rm "$A/renamed"
eventually "deleted in A: B's stat no longer finds it" absent "$B/renamed"
eventually "deleted in A: B's ls drops it" unlisted "$B" renamed
stat "$B/newdir" >/dev/null
rmdir "$A/newdir"
eventually "directory removed in A: B's stat no longer finds it" absent "$B/newdir"

echo one >"$A/t1"
echo two >"$A/t2"
eventually "two files from A read in B" content_is "$B/t2" two
cat "$B/t1" >/dev/null
mv "$A/t1" "$A/t2"
eventually "renamed over an existing name in A: B reads the moved file" content_is "$B/t2" one
eventually "renamed over an existing name in A: the old name is gone in B" absent "$B/t1"

mkdir -p "$A/d/e"
echo deep >"$A/d/e/f"
eventually "nested file from A read in B" content_is "$B/d/e/f" deep
mv "$A/d" "$A/d2"
eventually "directory renamed in A: B no longer finds d/e/f" absent "$B/d/e/f"
eventually "directory renamed in A: B reads d2/e/f" content_is "$B/d2/e/f" deep

ln -s target-one "$A/link"
eventually "symlink made in A: B reads its target" target_is "$B/link" target-one
ln -sfn target-two "$A/link"
eventually "symlink replaced in A: B reads the new target" target_is "$B/link" target-two

if command -v setfattr >/dev/null && command -v getfattr >/dev/null; then
    setfattr -n user.k -v v1 "$A/t2"
    eventually "xattr set in A: B reads it" xattr_is "$B/t2" v1
    setfattr -n user.k -v v2 "$A/t2"
    eventually "xattr changed in A: B reads the new value" xattr_is "$B/t2" v2
else
    say "no setfattr/getfattr (package attr): xattr checks left out"
fi

# ---- the other way round --------------------------------------------------------------
stat "$A/t2" >/dev/null
cp "$T/c3" "$B/fromb"
echo changed >"$B/t2"
eventually "file written in B reads whole in A" same "$T/c3" "$A/fromb"
eventually "file rewritten in B: A reads the new contents" content_is "$A/t2" changed

# ---- both unmount cleanly -----------------------------------------------------------
check "unmount A" umount_fs "$A"
check "unmount B" umount_fs "$B"

say "timings (from the end of the change in one mount to the other mount seeing it):"
for t in "${TIMINGS[@]}"; do
    say "    $t"
done
say "$DELAYED of ${#TIMINGS[@]} checks needed to wait"
finish
