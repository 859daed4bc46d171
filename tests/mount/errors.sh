#!/usr/bin/env bash
#
# tests/mount/errors.sh - what a program sees when the store under a mount
# is damaged: EIO, never the ERANGE that libfuse makes of a reply outside
# the errno range (the library's own codes, 1000 and up).
#
#   - a file of a hole and two blocks is written through the mount; one byte
#     of its middle block is flipped in the store file while nothing is
#     mounted;
#   - mounted again, reading the middle block, and SEEK_DATA/SEEK_HOLE
#     (which walk the blocks of a file with holes), fail with EIO; the hole
#     and the last block still read;
#   - the daemon's log names the damaged record.
#
# Needs GHOSTFS and python3 (for lseek's SEEK_DATA and errno); skips (77)
# otherwise, or without /dev/fuse.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init python3

S=$T/store
M=$T/mnt
mkdir -p "$M"
"$GHOSTFS" mkfs "$S" >/dev/null
NEEDLE='<<ghostfs-mount-errors-victim-0123456789abcdefghijklmnopqrstuv>>'
BS=65536 # the filesystem's default block size

mount_fs "$S" "$M"
python3 - "$M/f" "$NEEDLE" "$BS" <<'PY'
import sys
path, needle, bs = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
block = lambda head: (head + b"a" * bs)[:bs]
with open(path, "wb") as f:
    f.seek(bs)  # block 0 a hole
    f.write(block(needle) + block(b""))
PY
umount_fs "$M"

# flip NEEDLE: one byte of every copy of it in the store file.
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
check "the block is in the store file ($copies copies flipped)" [ "$copies" -gt 0 ]

mount_fs "$S" "$M"
# errno_of OP: the errno name the operation fails with, or "ok".
errno_of() {
    python3 - "$M/f" "$BS" "$1" <<'PY'
import errno, os, sys
path, bs, op = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fd = os.open(path, os.O_RDONLY)
try:
    if op == "read-middle":
        os.pread(fd, bs, bs)
    elif op == "read-first":
        assert os.pread(fd, bs, 0) == bytes(bs)
    elif op == "read-last":
        assert os.pread(fd, bs, 2 * bs) == b"a" * bs
    elif op == "seek-data":
        os.lseek(fd, bs, os.SEEK_DATA)
    elif op == "seek-hole":
        os.lseek(fd, 0, os.SEEK_HOLE)
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
PY
}
for op in read-middle seek-data seek-hole; do
    got=$(errno_of "$op")
    check "$op on the damaged block: $got, want EIO" [ "$got" = EIO ]
done
got=$(errno_of read-first)
check "the hole still reads as zeros: $got" [ "$got" = ok ]
got=$(errno_of read-last)
check "the last block still reads: $got" [ "$got" = ok ]
check "the daemon's log names the damaged record" \
    grep -q "fails its checksum" "$(daemon_log "$M")"
umount_fs "$M"
finish
