#!/usr/bin/env bash
#
# examples/demo.sh - install what is missing, build, make a ghostfs store, mount
# it, write and list files, show that an inode number is an object's OID,
# unmount, mount again and show that everything is still there. Then the
# rest of what ghostfs promises: ghostfs inspect and the system.ghostfs.*
# attributes of one file, a second daemon on the same store seeing the
# first one's changes (and the other way round), a snapshot taken with mkdir
# in /.ghostfs/snapshots, browsed and diffed (ghostfs diff), a send/receive backup mounted and
# compared with diff -r, and ghostfs status. Every mount is unmounted and
# every daemon stopped (by PID) at the end, also when a step fails.
# Works from any directory on a fresh Debian machine; needs /dev/fuse (and
# root, or fuse3's fusermount3 for a normal user).
#
#   examples/demo.sh            (examples/counter.sh shows the object store alone)
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
# shellcheck source=SCRIPTDIR/../tests/deps.sh
. tests/deps.sh
ghost_install_deps

if [ ! -f build/meson-private/coredata.dat ]; then
    meson setup build
fi
ninja -C build fs/ghostfs
ghostfs=$PWD/build/fs/ghostfs

tmp=$(mktemp -d)
mnt=$tmp/mnt
mkdir "$mnt"
pids=() # daemons started in the foreground (-f) here, stopped by PID at exit
cleanup() {
    local m p
    for m in "$tmp/backup-mnt" "$tmp/mnt2" "$mnt"; do
        if grep -qs " $m " /proc/self/mountinfo; then
            fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" || true
        fi
    done
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }
die() {
    echo "demo: FAILED: $*" >&2
    exit 1
}
# fg_mount STORE DIR [ARG...]: a daemon in the foreground, in the background
# of this script, so that its PID is known; wait until DIR is mounted.
fg_mount() {
    local store=$1 dir=$2
    shift 2
    "$ghostfs" mount "$store" "$dir" -f "$@" >"$tmp/daemon.$$.${#pids[@]}.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        if grep -qs " $dir " /proc/self/mountinfo; then
            return 0
        fi
        sleep 0.1
    done
    die "$dir was not mounted in 10 s"
}

step "make a store: ghostfs mkfs $tmp/store"
"$ghostfs" mkfs "$tmp/store"

step "mount it: ghostfs mount $tmp/store $mnt"
"$ghostfs" mount "$tmp/store" "$mnt"
findmnt -n -o TARGET,FSTYPE,SOURCE "$mnt" | sed 's/^/   /'

step "write some files"
mkdir -p "$mnt/docs/notes"
echo "Every file is an object; its inode number is its OID." >"$mnt/docs/README"
seq 1 100000 >"$mnt/docs/numbers.txt"
cp -a examples/counter.c "$mnt/docs/"
ln -s README "$mnt/docs/LINK"
dd if=/dev/urandom of="$mnt/docs/notes/random.bin" bs=64k count=16 status=none
sum_before=$(cd "$mnt" && find . -type f -print0 | sort -z | xargs -0 sha256sum)

step "list them (ls -li shows each inode number: the object's OID)"
ls -liR "$mnt/docs"
oid=$(stat -c %i "$mnt/docs/README")
echo "   docs/README is object $oid"

step "unmount"
"$ghostfs" umount "$mnt"
sleep 0.5

step "mount again and check every file"
"$ghostfs" mount "$tmp/store" "$mnt"
sum_after=$(cd "$mnt" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
if [ "$sum_before" != "$sum_after" ]; then
    echo "demo: FAILED: files differ after remounting" >&2
    diff <(echo "$sum_before") <(echo "$sum_after") >&2 || true
    exit 1
fi
echo "$sum_after" | sed 's/^/   /'
echo "   docs/README is still object $(stat -c %i "$mnt/docs/README"): $(cat "$mnt/docs/README")"
df -h "$mnt" | sed 's/^/   /'

echo "   OK: the files survived a remount, byte for byte."

step "an inode number is an OID: ghostfs inspect reads that object from the store"
ls -i "$mnt/docs/README" | sed 's/^/   /'
"$ghostfs" inspect "$tmp/store" "$oid" | sed 's/^/   /'
"$ghostfs" inspect "$tmp/store" "$oid" --json | grep -q "\"path\":\"/docs/README\"" ||
    die "ghostfs inspect $oid does not name /docs/README"

step "each inode's OID, generation and checksum state, as extended attributes"
getfattr --absolute-names -d -m - "$mnt/docs/README" | sed 's/^/   /'
[ "$(getfattr --only-values -n system.ghostfs.oid "$mnt/docs/README")" = "$oid" ] ||
    die "system.ghostfs.oid is not the inode number"

step "a second daemon on the same store: each sees the other's changes"
mkdir "$tmp/mnt2"
fg_mount "$tmp/store" "$tmp/mnt2"
echo "written through the first mount" >"$mnt/from-first"
echo "written through the second mount" >"$tmp/mnt2/from-second"
sleep 1.2 # the kernel caches names and attributes for up to a second
sed 's/^/   second mount reads: /' "$tmp/mnt2/from-first"
sed 's/^/   first mount reads:  /' "$mnt/from-second"
[ "$(stat -c %i "$tmp/mnt2/docs/README")" = "$oid" ] || die "the second mount's inode differs"

step "a snapshot: mkdir $mnt/.ghostfs/snapshots/before"
mkdir "$mnt/.ghostfs/snapshots/before"
echo "changed after the snapshot" >"$mnt/docs/README"
rm "$mnt/docs/numbers.txt"
ls "$mnt/.ghostfs/snapshots/" | sed 's/^/   snapshots: /'
echo "   now:    $(cat "$mnt/docs/README")"
echo "   before: $(cat "$mnt/.ghostfs/snapshots/before/docs/README")"
[ -f "$mnt/.ghostfs/snapshots/before/docs/numbers.txt" ] || die "the snapshot lost a file"
"$ghostfs" snapshot list "$tmp/store" | sed 's/^/   /'

step "what changed since it: ghostfs diff"
sync -f "$mnt"
"$ghostfs" diff "$tmp/store" before | sed 's/^/   /'
"$ghostfs" diff "$tmp/store" before | grep -q "^-	/docs/numbers.txt$" ||
    die "the diff does not list the removed file"

step "a backup: ghostfs send | ghostfs receive, then mounted and compared"
"$ghostfs" send "$tmp/store" before | "$ghostfs" receive "$tmp/backup"
mkdir "$tmp/backup-mnt"
fg_mount "$tmp/backup" "$tmp/backup-mnt" -o snapshot=before
diff -r "$mnt/.ghostfs/snapshots/before" "$tmp/backup-mnt" ||
    die "the backup differs from the snapshot"
echo "   diff -r: the received backup is the snapshot, file for file"
fusermount3 -u "$tmp/backup-mnt"

step "ghostfs status: the store and its crawler"
"$ghostfs" status "$mnt" | sed 's/^/   /'

step "unmount both"
fusermount3 -u "$tmp/mnt2"
"$ghostfs" umount "$mnt"
for p in "${pids[@]}"; do # each daemon ends once its mount is gone
    for _ in $(seq 50); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.1
    done
done
echo
echo "OK: inode = OID, two daemons on one store, a snapshot, a verified backup."
