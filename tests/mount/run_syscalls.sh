#!/bin/sh
# run_syscalls.sh - mount a fresh ghostfs and run the syscalls checks in it.
#
#   GHOSTFS=path/to/ghostfs SYSCALLS=path/to/syscalls run_syscalls.sh [TOPIC...]
#
# Makes a temporary directory with a new store and a mountpoint, mounts the
# store with the daemon in the foreground (in the background of this
# script, so that we know its PID), runs syscalls in the mount, and always
# unmounts, stops the daemon and removes the temporary files, whatever
# happens. The exit status is syscalls' own; 77 (skipped) when there is no
# /dev/fuse or we are not root. GHOSTFS_OPTS adds mount options (-o).
set -u

skip() {
    echo "SKIP: $*"
    exit 77
}

: "${GHOSTFS:?set GHOSTFS to the ghostfs binary}"
: "${SYSCALLS:?set SYSCALLS to the syscalls binary}"
[ -c /dev/fuse ] || skip "no /dev/fuse"
[ "$(id -u)" = 0 ] || skip "the checks need root (chown, mknod, setresuid)"
command -v fusermount3 >/dev/null 2>&1 || skip "no fusermount3"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ghostfs-syscalls.XXXXXX") || exit 1
chmod 755 "$tmp" # the checks made as nobody walk in here
store=$tmp/store
mnt=$tmp/mnt
log=$tmp/daemon.log
pid=
spid=

cleanup() {
    status=$?
    trap - EXIT INT TERM HUP
    if [ -n "$spid" ] && kill -0 "$spid" 2>/dev/null; then
        kill -TERM "$spid" 2>/dev/null # it takes its running checks down with it
        wait "$spid" 2>/dev/null
    fi
    if [ -n "$pid" ]; then
        if grep -q " $mnt fuse" /proc/self/mounts 2>/dev/null; then
            fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null
        fi
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "run_syscalls: the daemon (pid $pid) did not exit after unmount; killing it"
            kill -TERM "$pid" 2>/dev/null
            sleep 1
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
        # a killed daemon leaves the mount behind, dead
        if grep -q " $mnt fuse" /proc/self/mounts 2>/dev/null; then
            fusermount3 -uz "$mnt" 2>/dev/null
        fi
    fi
    if [ $status -ne 0 ] && [ -s "$log" ]; then
        echo "---- daemon output (last 50 lines) ----"
        tail -n 50 "$log"
    fi
    rm -rf "$tmp"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mkdir "$mnt" || exit 1
"$GHOSTFS" mkfs "$store" >/dev/null || { echo "ghostfs mkfs failed"; exit 1; }

# allow_other: some checks run as the user nobody.
opts=allow_other${GHOSTFS_OPTS:+,$GHOSTFS_OPTS}
"$GHOSTFS" mount "$store" "$mnt" -o "$opts" -f >"$log" 2>&1 &
pid=$!

# Wait until it serves: the mount shows up, or the daemon dies.
i=0
until grep -q " $mnt fuse" /proc/self/mounts 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid"
        echo "ghostfs mount failed (exit $?):"
        cat "$log"
        pid=
        exit 1
    fi
    i=$((i + 1))
    if [ $i -gt 100 ]; then
        echo "ghostfs did not mount within 10 s"
        exit 1
    fi
    sleep 0.1
done

# In the background, so that a signal to us is acted on at once.
GHOSTFS_PID=$pid "$SYSCALLS" "$mnt" "$@" &
spid=$!
wait "$spid"
