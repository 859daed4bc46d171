#!/usr/bin/env bash
#
# tests/mount/daemonlog.sh - where a mount's daemon logs (-o log=FILE):
#
#   - a detached daemon (plain `ghostfs mount`, no -f) with log=FILE writes
#     to FILE: its "serving" line, the crawler's cycles (info), the error
#     of a damaged record it meets (a byte of a file's block flipped while
#     nothing is mounted, then read: EIO), and "unmounted"; the terminal of
#     `ghostfs mount` hears none of it;
#   - every line of the file is "TIME ghostfs[PID]: LEVEL: message", TIME
#     with milliseconds and a UTC offset; the file is made 0640;
#   - libfuse's own messages go there too: with -d, its debug lines
#     ("FUSE library version", the INIT request) land in the file and not
#     on stderr; under several threads reading at once every line is still
#     whole (one write(2) per line);
#   - two daemons share one file, each line naming its own process;
#   - log= relative, empty, a directory, in a missing directory: refused
#     with an error naming log=, exit non-zero, nothing mounted, no file;
#   - a remount refuses another log= by name, and takes the same one.
#
#   - without log=, a detached daemon logs to syslog: run in a mount
#     namespace of its own (unshare -m, as root) whose /dev is a tmpfs
#     with /dev/null and /dev/fuse bound in and, at /dev/log, a socket this
#     test listens on, it sends "<30>... ghostfs[PID]: MNT: serving ..."
#     (facility daemon, level info) there, and its terminal hears nothing.
#     Skipped without root or unshare: no system syslog is relied on.
#
# Needs GHOSTFS and python3; skips (77) otherwise, or without /dev/fuse.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init python3 timeout

S=$T/store
M=$T/mnt
L=$T/daemon.log
mkdir -p "$M"
"$GHOSTFS" mkfs "$S" >/dev/null
umask 022
LINE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}[+-][0-9]{4} ghostfs\[[0-9]+\]: (error|warning|info|debug): '

# The PIDs of the daemons that wrote to log file $1 (a detached daemon's
# is known only from its log), swept at exit by lib.sh.
log_pids() {
    grep -oE 'ghostfs\[[0-9]+\]' "$1" | tr -dc '0-9\n' | sort -u
}
track_pids() {
    local p
    for p in $(log_pids "$1"); do
        GHOST_ALL_PIDS+=("$p")
    done
}

# wait_for FILE PATTERN SECONDS: until FILE has a line matching PATTERN.
wait_for() {
    local deadline=$(($(now_ms) + $3 * 1000))
    until grep -Eq -- "$2" "$1" 2>/dev/null; do
        if [ "$(now_ms)" -gt "$deadline" ]; then
            return 1
        fi
        sleep 0.1
    done
}

# all_lines_whole FILE: every line of FILE has the time, process and level.
all_lines_whole() {
    local bad
    bad=$(grep -Evc -- "$LINE" "$1" || true)
    if [ "$bad" -ne 0 ]; then
        say "$bad lines of $1 are not whole, such as:"
        grep -Ev -- "$LINE" "$1" | head -n 3 | sed 's/^/    /' >&2
        return 1
    fi
}

# detached_umount MNT LOG: unmount a daemon that detached and wait for it.
detached_umount() {
    local p
    "$GHOSTFS" umount "$1"
    for p in $(log_pids "$2"); do
        wait_gone "$p" 20 || return 1
    done
}

# ---- a detached daemon ---------------------------------------------------------------
NEEDLE='<<ghostfs-daemonlog-victim-0123456789abcdefghijklmnopqrstuvwxyz>>'
BS=65536
rc=0
timeout 60 "$GHOSTFS" mount "$S" "$M" -o "log=$L,crawl_cpu=50,crawl_cycle=1" \
    >"$T/mount.out" 2>"$T/mount.err" || rc=$?
track_pids "$L"
check "detached mount with log=: exit 0 ($rc)" [ "$rc" -eq 0 ]
check "it is mounted" is_mounted "$M"
check "the log file is made 0640" [ "$(stat -c %a "$L")" = 640 ]
check "the log says it serves" wait_for "$L" "info: $M: serving $S" 10
check "the crawler's cycles are logged (info)" wait_for "$L" "info: crawler: cycle [0-9]+ done" 20
python3 - "$M/f" "$NEEDLE" "$BS" <<'PY'
import sys
path, needle, bs = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
with open(path, "wb") as f:
    f.write((needle + b"a" * bs)[:bs])
PY
check "unmounted: the daemon exits" detached_umount "$M" "$L"
check "the log says it unmounted" grep -q "info: $M: unmounted" "$L"

# Flip one byte of every copy of the block, mount detached again, read it.
python3 - "$S" "$NEEDLE" <<'PY'
import mmap, sys
needle = sys.argv[2].encode()
with open(sys.argv[1], "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
    at = m.find(needle)
    assert at >= 0, "the block is not in the store file"
    while at >= 0:
        m[at + len(needle) // 2] ^= 0x10
        at = m.find(needle, at + len(needle))
PY
rc=0
timeout 60 "$GHOSTFS" mount "$S" "$M" -o "log=$L" >>"$T/mount.out" 2>>"$T/mount.err" || rc=$?
track_pids "$L"
check "detached mount of the damaged store: exit 0 ($rc)" [ "$rc" -eq 0 ]
rc=0
cat "$M/f" >/dev/null 2>"$T/cat.err" || rc=$?
check "reading the damaged block fails (EIO)" grep -q "Input/output error" "$T/cat.err"
check "the detached daemon logged the damaged record as an error" \
    wait_for "$L" "error: .*fails its checksum" 10
check "unmounted again: the daemon exits" detached_umount "$M" "$L"
check "both daemons' lines are in the file ($(log_pids "$L" | wc -l) processes)" \
    [ "$(log_pids "$L" | wc -l)" -eq 2 ]
check "nothing of it reached the terminal of ghostfs mount" \
    test ! -s "$T/mount.out" -a ! -s "$T/mount.err"
check "every line of the log has its time, process and level" all_lines_whole "$L"

# ---- libfuse's messages, and several threads -------------------------------------------
"$GHOSTFS" mkfs "$T/store2" >/dev/null
DL=$T/debug.log
mount_fs "$T/store2" "$M" -d -o "log=$DL"
for i in 1 2 3 4; do
    head -c 200000 /dev/urandom >"$M/r$i"
done
for i in 1 2 3 4; do
    (for _ in 1 2 3 4 5; do cat "$M/r$i" >/dev/null; ls -l "$M" >/dev/null; done) &
done
wait
STDERR_LOG=$(daemon_log "$M")
umount_fs "$M"
check "libfuse's debug lines are in the log file" grep -q "debug: FUSE library version" "$DL"
check "libfuse's INIT request is in the log file" grep -q "debug: unique: .*opcode: INIT" "$DL"
check "and nothing on stderr" [ ! -s "$STDERR_LOG" ]
check "$(wc -l <"$DL") lines from several threads, every one whole" all_lines_whole "$DL"

# ---- bad log= --------------------------------------------------------------------------
# expect_refused DESC PATTERN OPTION [ARG...]: mount -o OPTION ARG... fails
# naming it, and nothing is mounted.
expect_refused() {
    local desc=$1 pat=$2 rc=0
    shift 2
    timeout 60 "$GHOSTFS" mount "$S" "$M" -o "$@" >"$T/out" 2>"$T/err" || rc=$?
    if [ "$rc" -ne 0 ] && grep -Eq -- "$pat" "$T/err" && ! is_mounted "$M" && [ ! -s "$T/out" ]; then
        pass "$desc: refused (exit $rc): $(head -n 1 "$T/err")"
    else
        fail "$desc: exit $rc, mounted: $(is_mounted "$M" && echo yes || echo no), stderr: $(head -n 2 "$T/err")"
        fusermount3 -u "$M" 2>/dev/null || true
    fi
}
expect_refused "log=relative" "log=relative.*absolute path" "log=relative"
check "no relative log file was made" test ! -e relative -a ! -e /relative
expect_refused "log= (empty)" "log=.*absolute path" "log="
expect_refused "log= a directory" "log=$T.*Is a directory" "log=$T"
expect_refused "log= in a missing directory" "log=$T/no-such-dir/x.*No such file" \
    "log=$T/no-such-dir/x"
check "no missing directory was made" [ ! -e "$T/no-such-dir" ]
expect_refused "log= in a missing directory, foreground" "log=$T/no-such-dir/x.*No such file" \
    "log=$T/no-such-dir/x" -f

# ---- syslog, in a mount namespace with a /dev/log of the test's -----------------------
# The namespace's script: a tmpfs over /dev with the devices the daemon
# needs, a listener on /dev/log, then a detached mount and its unmount.
# shellcheck disable=SC2016  # expanded by the inner shell
SYSLOG_SCRIPT='
set -eu
T=$1 S=$2 M=$3 GHOSTFS=$4
mkdir -p "$T/realdev"
mount --rbind /dev "$T/realdev"
mount -t tmpfs -o mode=0755,size=1m ghostfs-test-dev /dev
for n in null zero urandom fuse; do
    : >"/dev/$n"
    mount --bind "$T/realdev/$n" "/dev/$n"
done
python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(\"/dev/log\")
open(sys.argv[1] + \".ready\", \"w\").close()
with open(sys.argv[1], \"ab\", buffering=0) as out:
    while True:
        out.write(s.recv(65536) + b\"\\n\")
" "$T/syslog.txt" &
listener=$!
trap "kill $listener 2>/dev/null; fusermount3 -uz \"$M\" 2>/dev/null || true" EXIT
for _ in $(seq 100); do [ -e "$T/syslog.txt.ready" ] && break; sleep 0.05; done
"$GHOSTFS" mount "$S" "$M" -o crawl_cpu=50,crawl_cycle=1 >"$T/sys.out" 2>"$T/sys.err"
for _ in $(seq 200); do grep -q "cycle [0-9]* done" "$T/syslog.txt" && break; sleep 0.05; done
echo written >"$M/f"
pid=$(grep -o "ghostfs\[[0-9]*\]" "$T/syslog.txt" | head -n 1 | tr -dc 0-9)
echo "$pid" >"$T/syslog.pid"
"$GHOSTFS" umount "$M"
for _ in $(seq 400); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
'
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
    "$GHOSTFS" mkfs "$T/store3" >/dev/null
    rc=0
    timeout 120 unshare -m --propagation private bash -c "$SYSLOG_SCRIPT" syslog-test \
        "$T" "$T/store3" "$M" "$GHOSTFS" 2>"$T/ns.err" || rc=$?
    if [ -s "$T/syslog.pid" ]; then
        GHOST_ALL_PIDS+=("$(cat "$T/syslog.pid")")
    fi
    check "the namespace's script ran (exit $rc): $(head -n 2 "$T/ns.err")" [ "$rc" -eq 0 ]
    check "syslog got the daemon's serving line, facility daemon, level info (<30>)" \
        grep -Eq "^<30>.*ghostfs\[[0-9]+\]: $T/mnt: serving $T/store3" "$T/syslog.txt"
    check "syslog got the crawler's cycles" grep -Eq "^<30>.*crawler: cycle [0-9]+ done" \
        "$T/syslog.txt"
    check "syslog got the unmount" grep -Eq "^<30>.*: $T/mnt: unmounted" "$T/syslog.txt"
    check "the terminal of ghostfs mount heard nothing" \
        test -e "$T/sys.err" -a ! -s "$T/sys.err" -a ! -s "$T/sys.out"
    check "the daemon has exited" wait_gone "$(cat "$T/syslog.pid" 2>/dev/null || echo 0)" 10
else
    say "not root, or no unshare: syslog not tested"
fi

# ---- remount ------------------------------------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then
    mount_fs "$S" "$M" -o "log=$L"
    rc=0
    timeout 60 "$GHOSTFS" mount "$S" "$M" -o "remount,log=$T/other.log" 2>"$T/err" || rc=$?
    check "remount,log=OTHER is refused by name: $(head -n 1 "$T/err")" \
        grep -q "cannot change while mounted: log=$T/other.log" "$T/err"
    check "  (exit $rc)" [ "$rc" -ne 0 ]
    check "  and no other log file was made" [ ! -e "$T/other.log" ]
    rc=0
    timeout 60 "$GHOSTFS" mount "$S" "$M" -o "remount,log=$L,sync=always" 2>"$T/err" || rc=$?
    check "remount naming the same log= is taken (exit $rc): $(head -n 1 "$T/err")" \
        [ "$rc" -eq 0 ]
    umount_fs "$M"
else
    say "not root: remount,log= not tested"
fi
finish
