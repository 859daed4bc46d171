#!/usr/bin/env bash
#
# examples/demo.sh - install what is missing, build, make a ghostfs store, mount
# it, write and list files, show that an inode number is an object's OID,
# unmount, mount again and show that everything is still there, unmount.
# Works from any directory; needs /dev/fuse (and root, or fuse3's
# fusermount3 for a normal user).
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
cleanup() {
    if grep -qs " $mnt " /proc/self/mountinfo; then
        fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }

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

step "unmount"
"$ghostfs" umount "$mnt"
echo
echo "OK: the files survived a remount, byte for byte."
