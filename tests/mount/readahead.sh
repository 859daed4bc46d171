#!/usr/bin/env bash
#
# tests/mount/readahead.sh - the mount's read-ahead window (read_ahead=):
#
#   - by default, as root, the mount's window in sysfs is 1024 KiB, and a
#     sequential read asks the daemon for up to 1 MiB at a time (counted in
#     the daemon's FUSE debug output), where the kernel's own window gives
#     128 KiB requests;
#   - read_ahead=256 gives 256 KiB, read_ahead=0 leaves the kernel's window;
#   - max_read=65536 mounts (in the foreground and as a daemon, whose
#     `ghostfs mount` waits for the kernel's INIT) and bounds requests to
#     64 KiB; a max_read below 4096 is refused by name;
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
# "unique: 10, success, outsize: 131088", 16 bytes of header included;
# what the daemon's log puts before each, "ghostfs: debug: ", is cut).
largest_read() {
    tr -d '\0' <"$1" | awk '
        { i = index($0, "unique: "); if (!i) next; $0 = substr($0, i) }
        /opcode: READ \(/ { u = $2; sub(",", "", u); reads[u] = 1 }
        /success, outsize:/ { u = $2; sub(",", "", u)
                              if (u in reads && $5 - 16 > m) m = $5 - 16 }
        END { print m + 0 }'
}

# try OPTS WANT_KB [WINDOW_KB]: mount with -o OPTS (and -d), check the
# window (WANT_KB unless given), the largest read and the data.
try() {
    local opts=$1 want=$2 window=${3:-$2} log got big
    mount_fs "$S" "$M" -d ${opts:+-o "$opts"} || {
        fail "mount with '${opts:-defaults}'"
        return
    }
    got=$(window_kb)
    check "read_ahead '${opts:-default}': window $got KiB, want $window" [ "$got" = "$window" ]
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
# max_read= bounds each read request: libfuse refuses INIT unless the
# daemon offers the same, which it once did not.
try "max_read=65536" 64 1024

# As a daemon: `ghostfs mount` returns 0 only once the kernel took INIT.
rc=0
timeout 30 "$GHOSTFS" mount "$S" "$M" -o max_read=65536 2>"$T/err" || rc=$?
check "ghostfs mount -o max_read=65536 as a daemon (exit $rc): $(head -n 1 "$T/err")" \
    [ "$rc" -eq 0 ]
check "it is mounted" is_mounted "$M"
check "the file reads back through it" cmp "$T/data" "$M/data"
check "the kernel keeps max_read=65536" has_opt "$M" max_read=65536
fusermount3 -u "$M"
for _ in $(seq 100); do
    is_mounted "$M" || break
    sleep 0.05
done
expect_fail "max_read=100" "bad value in option 'max_read=100'" \
    timeout 30 "$GHOSTFS" mount "$S" "$M" -o max_read=100
finish
