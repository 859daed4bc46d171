#!/usr/bin/env bash
#
# tests/mount/readahead.sh - the mount's read-ahead window (read_ahead=):
#
#   - by default, as root, the mount's window in sysfs is 1024 KiB, and a
#     sequential read asks the daemon for up to 1 MiB at a time (counted in
#     the daemon's FUSE debug output), where the kernel's own window gives
#     128 KiB requests;
#   - read_ahead=256 gives 256 KiB, read_ahead=0 leaves the kernel's window;
#   - whatever the window, a file written through the mount reads back the
#     same, from start to end and from an odd offset.
#
# Needs GHOSTFS and root (sysfs); skips (77) otherwise, or without /dev/fuse.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init cmp dd
if [ "$(id -u)" -ne 0 ]; then
    skip "the mount's read-ahead window is set through sysfs, as root"
fi

S=$T/store
M=$T/mnt
mkdir -p "$M"
"$GHOSTFS" mkfs "$S" >/dev/null
head -c $((5 << 20)) /dev/urandom >"$T/data"
dd if="$T/data" of="$T/tail" bs=1 skip=777777 status=none

window_kb() {
    cat "/sys/class/bdi/0:$(fuse_conn "$M")/read_ahead_kb"
}

# largest_read LOG: the largest READ reply the daemon sent (libfuse's debug
# output: "unique: 10, opcode: READ (15), ..." and, for the reply,
# "unique: 10, success, outsize: 131088", 16 bytes of header included).
largest_read() {
    tr -d '\0' <"$1" | awk '
        /opcode: READ \(/ { u = $2; sub(",", "", u); reads[u] = 1 }
        /success, outsize:/ { u = $2; sub(",", "", u)
                              if (u in reads && $5 - 16 > m) m = $5 - 16 }
        END { print m + 0 }'
}

# try OPTS WANT_KB: mount with -o OPTS (and -d), check the window, the
# largest read and the data.
try() {
    local opts=$1 want=$2 log got big
    mount_fs "$S" "$M" -d ${opts:+-o "$opts"} || {
        fail "mount with '${opts:-defaults}'"
        return
    }
    got=$(window_kb)
    check "read_ahead '${opts:-default}': window $got KiB, want $want" [ "$got" = "$want" ]
    if [ ! -e "$M/data" ]; then
        cp "$T/data" "$M/data"
        umount_fs "$M"
        mount_fs "$S" "$M" -d ${opts:+-o "$opts"} || return
    fi
    sync
    echo 3 >/proc/sys/vm/drop_caches
    check "read_ahead '${opts:-default}': the file reads back whole" cmp "$T/data" "$M/data"
    check "read_ahead '${opts:-default}': from an odd offset" \
        cmp "$T/tail" <(dd if="$M/data" bs=1M iflag=skip_bytes skip=777777 status=none)
    log=$(daemon_log "$M")
    big=$(largest_read "$log")
    check "read_ahead '${opts:-default}': reads of up to $((big / 1024)) KiB, want $want" \
        [ "$big" -le $((want * 1024)) -a "$big" -gt $((want * 512)) ]
    umount_fs "$M"
}

try "" 1024
try "read_ahead=256" 256
try "read_ahead=0" 128
finish
