# shellcheck shell=bash
#
# tests/mount/lib.sh - helpers shared by the mount tests. Source it from a
# test that runs under `set -euo pipefail`, then call ghost_init:
#
#   . "$(dirname "$0")/lib.sh"
#   ghost_init [TOOL...]      skip (77) without /dev/fuse, fusermount3 or a TOOL;
#                             make $T (a temp dir) and install the cleanup trap
#   new_tmpdir VAR            another temp dir, removed at exit
#   mount_fs STORE MNT [ARG...]   ghostfs mount STORE MNT -f ARG... in the
#                             background; wait (10 s) until MNT is in mountinfo
#   umount_fs MNT             fusermount3 -u MNT and wait for its daemon to exit
#   kill_daemon MNT SIGNAL    signal MNT's daemon, wait for it to die (aborting
#                             its FUSE connection if it cannot), detach
#                             the stale mount with fusermount3 -uz
#   daemon_pid MNT / daemon_log MNT   its PID / the file with its output
#   is_mounted MNT, mounts_under DIR  what /proc/self/mountinfo says
#   pass MSG / fail MSG       record a check; finish exits 1 if any failed
#   check MSG CMD...          pass or fail as CMD succeeds or not
#   finish                    print the tally and exit 0 or 1
#   say MSG, skip MSG, now_ms a line on stderr; exit 77; the time in ms
#   at_cleanup FUNC           run FUNC at exit, once every mount is gone
#
# The test binary comes from $GHOSTFS. Every mount made here is unmounted at
# exit (lazily if it is busy), every daemon started here is stopped (TERM,
# then KILL after 5 s), and every temp dir is removed - also when the test
# fails, is interrupted, or dies on an error under `set -e`.

GHOST_TEST=$(basename "$0" .sh)
GHOST_MOUNTS=() # mountpoints made by mount_fs, not yet unmounted
GHOST_PIDS=()   # daemon PIDs, parallel to GHOST_MOUNTS
GHOST_LOGS=()   # numbers of their log files $T/daemon.N.log, parallel too
GHOST_ALL_PIDS=() # every daemon ever started, for the final sweep
GHOST_TMPDIRS=()
GHOST_FAILED=0
GHOST_PASSED=0
GHOST_LOGN=0
GHOST_HOOKS=() # functions cleanup runs after unmounting, before removing temp dirs
T=

say() { echo "[$GHOST_TEST] $*" >&2; }

skip() {
    say "SKIP: $*"
    exit 77
}

pass() {
    GHOST_PASSED=$((GHOST_PASSED + 1))
    say "ok: $*"
}

fail() {
    GHOST_FAILED=$((GHOST_FAILED + 1))
    say "FAIL: $*"
}

# check MSG CMD...: pass if CMD succeeds, fail otherwise.
check() {
    local msg=$1
    shift
    if "$@"; then
        pass "$msg"
    else
        fail "$msg"
    fi
}

finish() {
    say "$GHOST_PASSED passed, $GHOST_FAILED failed"
    if [ "$GHOST_FAILED" -ne 0 ]; then
        exit 1
    fi
    exit 0
}

# Milliseconds since the epoch.
now_ms() {
    local t=${EPOCHREALTIME/./}
    echo $((t / 1000))
}

# new_tmpdir VAR: make a temp dir, removed at exit, and put its path in VAR.
new_tmpdir() {
    local d
    d=$(mktemp -d "${TMPDIR:-/tmp}/ghostfs-$GHOST_TEST.XXXXXX")
    GHOST_TMPDIRS+=("$d")
    printf -v "$1" '%s' "$d"
}

# at_cleanup FUNC: run FUNC at exit, after every mount is gone.
at_cleanup() {
    GHOST_HOOKS+=("$1")
}

# mountinfo's fields with the kernel's escapes undone (a space, tab,
# newline or backslash in a path is \ and three octal digits there), for
# awk programs that compare mount points: mp(5) is the fifth field so.
MOUNTINFO_AWK='
function mp(i,   s, out, k, c) {
    s = $i
    out = ""
    for (k = 1; k <= length(s); k++) {
        c = substr(s, k, 1)
        if (c == "\\" && substr(s, k + 1, 3) ~ /^[0-3][0-7][0-7]$/) {
            out = out sprintf("%c", (substr(s, k + 1, 1) * 64 + substr(s, k + 2, 1) * 8 + \
                substr(s, k + 3, 1)))
            k += 3
        } else {
            out = out c
        }
    }
    return out
}'

# is_mounted MNT: is MNT (an absolute path) a mount point in mountinfo?
is_mounted() {
    local mnt
    mnt=$(readlink -m "$1")
    # (the path through the environment: awk -v would take its backslashes as escapes)
    M=$mnt awk "$MOUNTINFO_AWK"' mp(5) == ENVIRON["M"] { found = 1 } END { exit !found }' \
        /proc/self/mountinfo
}

# mounts_under DIR: the mount points below DIR, deepest first.
mounts_under() {
    local dir
    dir=$(readlink -m "$1")
    D=$dir/ awk "$MOUNTINFO_AWK"'
        substr(mp(5), 1, length(ENVIRON["D"])) == ENVIRON["D"] { print mp(5) }' \
        /proc/self/mountinfo | sort -r
}

# The FUSE connection number of the mount at MNT (its device's minor).
fuse_conn() {
    local mnt
    mnt=$(readlink -m "$1")
    M=$mnt awk "$MOUNTINFO_AWK"' mp(5) == ENVIRON["M"] { split($3, d, ":"); print d[2]; exit }' \
        /proc/self/mountinfo
}

mount_index() {
    local i mnt
    mnt=$(readlink -m "$1")
    for i in "${!GHOST_MOUNTS[@]}"; do
        if [ "${GHOST_MOUNTS[$i]}" = "$mnt" ]; then
            echo "$i"
            return 0
        fi
    done
    return 1
}

daemon_pid() {
    local i
    i=$(mount_index "$1") || return 1
    echo "${GHOST_PIDS[$i]}"
}

# The daemon's log (stdout and stderr) for MNT.
daemon_log() {
    local i
    i=$(mount_index "$1") || return 1
    echo "$T/daemon.${GHOST_LOGS[$i]}.log"
}

forget_mount() {
    local i
    i=$(mount_index "$1") || return 0
    unset 'GHOST_MOUNTS[i]' 'GHOST_PIDS[i]' 'GHOST_LOGS[i]'
}

# mount_fs STORE MNT [ARG...]: start a foreground daemon in the background
# and wait until the mount appears. Returns 1 (after showing the daemon's
# log) if the daemon dies or the mount does not appear within 10 s.
mount_fs() {
    local store=$1 mnt pid log deadline
    mnt=$(readlink -m "$2")
    shift 2
    GHOST_LOGN=$((GHOST_LOGN + 1))
    log="$T/daemon.$GHOST_LOGN.log"
    "$GHOSTFS" mount "$store" "$mnt" -f "$@" >"$log" 2>&1 &
    pid=$!
    # Out of the job table: no "Killed" line from bash when a test kills it.
    # bash still reaps it, and wait_gone watches the PID with kill -0.
    disown "$pid"
    GHOST_MOUNTS+=("$mnt")
    GHOST_PIDS+=("$pid")
    GHOST_LOGS+=("$GHOST_LOGN")
    GHOST_ALL_PIDS+=("$pid")
    deadline=$(($(now_ms) + 10000))
    while ! is_mounted "$mnt"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null || true
            say "daemon for $mnt exited before mounting; its output:"
            sed 's/^/    /' "$log" >&2
            forget_mount "$mnt"
            return 1
        fi
        if [ "$(now_ms)" -gt "$deadline" ]; then
            say "$mnt: not mounted after 10 s (daemon $pid); its output:"
            sed 's/^/    /' "$log" >&2
            return 1
        fi
        sleep 0.05
    done
    return 0
}

# wait_gone PID SECONDS: wait until PID has exited; 1 if it is still there.
wait_gone() {
    local pid=$1 deadline
    deadline=$(($(now_ms) + $2 * 1000))
    while kill -0 "$pid" 2>/dev/null; do
        # a zombie of ours still answers kill -0: reap it
        if [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ]; then
            break
        fi
        if [ "$(now_ms)" -gt "$deadline" ]; then
            return 1
        fi
        sleep 0.05
    done
    wait "$pid" 2>/dev/null || true
    return 0
}

# umount_fs MNT: unmount cleanly and wait (10 s) for the daemon to exit.
umount_fs() {
    local mnt pid
    mnt=$(readlink -m "$1")
    pid=$(daemon_pid "$mnt") || pid=
    if ! fusermount3 -u "$mnt"; then
        say "fusermount3 -u $mnt failed"
        return 1
    fi
    if [ -n "$pid" ] && ! wait_gone "$pid" 10; then
        say "daemon $pid for $mnt still running 10 s after unmount"
        return 1
    fi
    forget_mount "$mnt"
    return 0
}

# kill_daemon MNT SIGNAL: signal the daemon of MNT, wait for it, and detach
# the (now stale) mount lazily. Used by the crash test.
kill_daemon() {
    local mnt pid conn
    mnt=$(readlink -m "$1")
    pid=$(daemon_pid "$mnt") || return 1
    conn=$(fuse_conn "$mnt")
    kill "-$2" "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 3; then
        # A killed daemon's thread can be stuck in the kernel: a notification
        # waits for a directory lock that a client holds while it waits for a
        # reply nobody will send, and the device stays open. Aborting the
        # connection fails those requests and lets the daemon go.
        say "daemon $pid still there 3 s after SIG$2: aborting FUSE connection $conn"
        abort_conn "$conn"
        wait_gone "$pid" 10 || return 1
    fi
    if is_mounted "$mnt"; then
        fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
    fi
    forget_mount "$mnt"
}

# abort_conn CONN: abort FUSE connection CONN (every request in flight fails
# with ENOTCONN), mounting the fusectl filesystem first if we may and must.
abort_conn() {
    local d=/sys/fs/fuse/connections
    [ -n "$1" ] || return 0
    if [ ! -e "$d/$1" ] && [ "$(id -u)" -eq 0 ] && [ -d "$d" ] &&
        mount -t fusectl fusectl "$d" 2>/dev/null; then
        GHOST_FUSECTL=1 # unmounted again at exit
    fi
    if [ -w "$d/$1/abort" ]; then
        echo 1 >"$d/$1/abort"
    fi
}

cleanup() {
    local rc=$? i mnt pid conn
    trap - EXIT INT TERM
    set +e
    for i in "${!GHOST_MOUNTS[@]}"; do
        mnt=${GHOST_MOUNTS[$i]}
        if is_mounted "$mnt"; then
            conn=$(fuse_conn "$mnt")
            if ! fusermount3 -u "$mnt" 2>/dev/null; then
                say "cleanup: $mnt busy, unmounting lazily"
                fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
            fi
            # A daemon wedged in its own mount: abort the connection if we can.
            if is_mounted "$mnt"; then
                abort_conn "$conn"
            fi
        fi
    done
    for pid in "${GHOST_ALL_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null
        fi
    done
    for pid in "${GHOST_ALL_PIDS[@]}"; do
        if ! wait_gone "$pid" 5; then
            say "cleanup: daemon $pid ignored TERM for 5 s; killing it"
            kill -KILL "$pid" 2>/dev/null
            wait_gone "$pid" 5
        fi
    done
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$T" ]; then
        for i in "$T"/daemon.*.log; do
            if [ -s "$i" ]; then
                say "daemon log $(basename "$i"):"
                tail -n 30 "$i" | sed 's/^/    /' >&2
            fi
        done
    fi
    # Mounts the test did not make through mount_fs (a `ghostfs mount` that
    # daemonized, a mount(8) call) but that sit in our temp dirs.
    for i in "${GHOST_TMPDIRS[@]}"; do
        mounts_under "$i" | while read -r mnt; do
            say "cleanup: unmounting $mnt"
            fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null ||
                umount -l "$mnt" 2>/dev/null
        done
    done
    for i in "${GHOST_HOOKS[@]}"; do
        "$i"
    done
    if [ "${GHOST_FUSECTL:-0}" = 1 ]; then
        umount /sys/fs/fuse/connections 2>/dev/null
    fi
    for i in "${GHOST_TMPDIRS[@]}"; do
        rm -rf --one-file-system "$i"
    done
    exit "$rc"
}

# ghost_init [TOOL...]: check what the test needs, make $T, install the trap.
ghost_init() {
    local tool
    if [ -z "${GHOSTFS:-}" ]; then
        say "set GHOSTFS to the ghostfs binary (e.g. build/fs/ghostfs)"
        exit 1
    fi
    if [ ! -x "$GHOSTFS" ]; then
        say "GHOSTFS=$GHOSTFS is not an executable"
        exit 1
    fi
    GHOSTFS=$(readlink -f "$GHOSTFS")
    if [ ! -c /dev/fuse ]; then
        skip "/dev/fuse is missing"
    fi
    for tool in fusermount3 awk "$@"; do
        if ! command -v "$tool" >/dev/null; then
            skip "$tool is not installed"
        fi
    done
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    new_tmpdir T
}

# need_mount_helper: make mount(8) find ghostfs as /sbin/mount.fuse.ghostfs
# (a symlink to $GHOSTFS, made only if there is none, removed at exit); skip
# (77) unless root. Tests that run `mount -o remount` and `mount -t
# fuse.ghostfs` call it.
GHOST_HELPER=/sbin/mount.fuse.ghostfs
GHOST_MADE_HELPER=0
need_mount_helper() {
    if [ "$(id -u)" -ne 0 ]; then
        skip "mount(8) of a FUSE type, remounts and /sbin need root"
    fi
    if [ -e "$GHOST_HELPER" ] || [ -L "$GHOST_HELPER" ]; then
        say "using the existing $GHOST_HELPER -> $(readlink -f "$GHOST_HELPER")"
        return 0
    fi
    ln -s "$GHOSTFS" "$GHOST_HELPER"
    GHOST_MADE_HELPER=1
    at_cleanup remove_mount_helper
}

# shellcheck disable=SC2317  # run by cleanup
remove_mount_helper() {
    if [ "$GHOST_MADE_HELPER" -eq 1 ] && [ -L "$GHOST_HELPER" ] &&
        [ "$(readlink "$GHOST_HELPER")" = "$GHOSTFS" ]; then
        rm -f "$GHOST_HELPER"
    fi
}

# expect_fail DESC PATTERN CMD...: CMD must fail, and its stderr match the
# (grep -E) PATTERN.
expect_fail() {
    local desc=$1 pat=$2 rc=0
    shift 2
    "$@" 2>"$T/expect.err" >/dev/null || rc=$?
    if [ "$rc" -ne 0 ] && grep -Eq -- "$pat" "$T/expect.err"; then
        pass "$desc: refused: $(head -n 1 "$T/expect.err")"
    else
        fail "$desc: exit $rc, wanted a failure saying /$pat/: $(head -n 2 "$T/expect.err")"
    fi
}

# mount_opts MNT: the mount's options as findmnt shows them.
mount_opts() {
    findmnt -n -o OPTIONS "$1"
}

# has_opt MNT OPT: is OPT among the mount's options?
has_opt() {
    mount_opts "$1" | tr ',' '\n' | grep -qx -- "$2"
}
