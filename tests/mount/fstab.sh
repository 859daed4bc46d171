#!/usr/bin/env bash
#
# tests/mount/fstab.sh - mount(8) can mount ghostfs:
#
#   1. through mount.fuse3 (what mount -t fuse.ghostfs uses when there is
#      no mount.fuse.ghostfs): with `ghostfs` on PATH it runs
#      `ghostfs STORE DIR -o ...`;
#   2. through the helper: /sbin/mount.fuse.ghostfs -> $GHOSTFS (a temporary
#      symlink made ONLY if /sbin/mount.fuse.ghostfs does not exist, and
#      removed at exit): mount -t fuse.ghostfs, with -o ro, with a bad
#      option, and from an fstab line (mount -T FILE DIR) with the options
#      fstab lines carry (defaults, noatime, x-..., nofail, sync=always);
#   3. remounts of an fstab line that names fsname=, subtype= and
#      auto_unmount (mount(8) passes them again, unchanged: taken), and
#      real changes of them (refused by name);
#
# each time: the mount table names the store and the type, a file written
# reads back, umount(8) unmounts and the daemon exits.
#
# Needs GHOSTFS and root (skips with 77 otherwise, or without mount(8)).
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init mount umount findmnt timeout
if [ "$(id -u)" -ne 0 ]; then
    skip "mount(8) of a FUSE type and /sbin need root"
fi

S=$T/store
M=$T/mnt
HELPER=/sbin/mount.fuse.ghostfs
MADE_HELPER=0
mkdir -p "$M" "$T/bin"
"$GHOSTFS" mkfs "$S" >/dev/null

# The daemons mount(8) starts are not our children: find them by the store's
# path (unique to this test) in their command line.
daemons_of_store() {
    local p
    for p in /proc/[0-9]*; do
        if tr '\0' '\n' 2>/dev/null <"$p/cmdline" | grep -xF "$S" >/dev/null; then
            echo "${p#/proc/}"
        fi
    done
}

stop_daemons() {
    local pid
    for pid in $(daemons_of_store); do
        if ! wait_gone "$pid" 5; then
            kill -TERM "$pid" 2>/dev/null || true
            wait_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

# shellcheck disable=SC2317  # run by cleanup
remove_helper() {
    if [ "$MADE_HELPER" -eq 1 ] && [ -L "$HELPER" ] &&
        [ "$(readlink "$HELPER")" = "$GHOSTFS" ]; then
        rm -f "$HELPER"
        say "removed the temporary $HELPER"
    fi
}
at_cleanup stop_daemons
at_cleanup remove_helper

# mount_ok DESC MOUNT-ARG...: mount(8) must mount $S on $M; then check the
# table, a round trip of a file, umount(8) and the daemon's exit.
mount_ok() {
    local desc=$1 rc=0 t0 ms
    shift
    t0=$(now_ms)
    timeout 30 "$@" 2>"$T/err" || rc=$?
    ms=$(($(now_ms) - t0))
    if [ "$rc" -ne 0 ] || ! is_mounted "$M"; then
        fail "$desc: $* -> exit $rc, mounted: $(is_mounted "$M" && echo yes || echo no): $(
            head -n 3 "$T/err")"
        return 0
    fi
    pass "$desc: mounted in $ms ms"
    check "$desc: the mount table says fuse.ghostfs from $S" \
        test "$(findmnt -n -o FSTYPE,SOURCE "$M" | tr -s ' ')" = "fuse.ghostfs $S"
    echo "$desc" >"$M/probe-$$"
    check "$desc: a file written reads back" test "$(cat "$M/probe-$$")" = "$desc"
    rm -f "$M/probe-$$"
    if timeout 30 umount "$M" 2>"$T/err"; then
        pass "$desc: umount(8)"
    else
        fail "$desc: umount(8): $(head -n 1 "$T/err")"
        fusermount3 -uz "$M" 2>/dev/null || true
    fi
    local left=()
    for pid in $(daemons_of_store); do
        wait_gone "$pid" 5 || left+=("$pid")
    done
    if [ "${#left[@]}" -eq 0 ]; then
        pass "$desc: the daemon exits after umount"
    else
        fail "$desc: daemon ${left[*]} still running 5 s after umount"
    fi
}

# ---- 1. mount.fuse3 running `ghostfs` from PATH ------------------------------------
# Without a mount.fuse.ghostfs, mount(8) runs mount.fuse3, which runs
# `ghostfs STORE DIR -o OPTS` from PATH. mount(8) gives its helpers a PATH
# of its own, so call mount.fuse3 directly with ours.
FUSE3=$(command -v mount.fuse3 || echo /sbin/mount.fuse3)
if [ -x "$FUSE3" ]; then
    ln -s "$GHOSTFS" "$T/bin/ghostfs"
    mount_ok "mount.fuse3 running ghostfs from PATH" \
        env PATH="$T/bin:$PATH" "$FUSE3" "$S" "$M" -t fuse.ghostfs -o noatime
else
    say "no mount.fuse3: not testing the mount.fuse3 route"
fi

# ---- 2. the /sbin/mount.fuse.ghostfs helper --------------------------------------------
if [ -e "$HELPER" ] || [ -L "$HELPER" ]; then
    say "using the existing $HELPER -> $(readlink -f "$HELPER"), not $GHOSTFS"
else
    ln -s "$GHOSTFS" "$HELPER"
    MADE_HELPER=1
    say "made a temporary $HELPER -> $GHOSTFS"
fi

mount_ok "mount -t fuse.ghostfs" mount -t fuse.ghostfs "$S" "$M"

rc=0
timeout 30 mount -t fuse.ghostfs -o ro "$S" "$M" 2>"$T/err" || rc=$?
if [ "$rc" -eq 0 ] && is_mounted "$M"; then
    pass "mount -t fuse.ghostfs -o ro"
    rc=0
    touch "$M/nope" 2>"$T/err" || rc=$?
    if [ "$rc" -ne 0 ] && grep -q "Read-only file system" "$T/err"; then
        pass "-o ro: writing fails with 'Read-only file system'"
    else
        fail "-o ro: touch gave exit $rc: $(head -n 1 "$T/err")"
    fi
    if findmnt -n "$M" -O ro >/dev/null; then
        pass "-o ro: findmnt shows ro"
    else
        fail "-o ro: findmnt does not show ro: $(findmnt -n -o OPTIONS "$M")"
    fi
    check "-o ro: umount(8)" timeout 30 umount "$M"
    stop_daemons
else
    fail "mount -t fuse.ghostfs -o ro: exit $rc: $(head -n 2 "$T/err")"
fi

rc=0
timeout 30 mount -t fuse.ghostfs -o bogus "$S" "$M" 2>"$T/err" || rc=$?
if [ "$rc" -ne 0 ] && ! is_mounted "$M" && grep -q bogus "$T/err"; then
    pass "mount -t fuse.ghostfs -o bogus fails (exit $rc): $(head -n 1 "$T/err")"
else
    fail "mount -t fuse.ghostfs -o bogus: exit $rc, mounted: $(
        is_mounted "$M" && echo yes || echo no): $(head -n 2 "$T/err")"
    if is_mounted "$M"; then
        umount "$M" || fusermount3 -uz "$M" || true
    fi
fi

printf '# a test fstab\n%s %s fuse.ghostfs %s 0 0\n' "$S" "$M" \
    "defaults,noatime,nofail,x-systemd.automount-not-really,sync=always,cache_size=16M" \
    >"$T/fstab"
mount_ok "fstab line (mount -T FILE DIR)" mount -T "$T/fstab" "$M"

# ---- 3. remounting an fstab line ------------------------------------------------------------
# mount(8) hands every remount the line's options again: fsname=, subtype=
# and auto_unmount that did not change are fine; a real change is refused.
printf '%s %s fuse.ghostfs %s 0 0\n' "$S" "$M" \
    "defaults,fsname=$S,subtype=ghostfs,auto_unmount,nosuid" >"$T/fstab2"
if timeout 30 mount -T "$T/fstab2" "$M" 2>"$T/err"; then
    pass "fstab line with fsname=, subtype=, auto_unmount mounts"
    check "remount,ro of that line (mount -T FILE -o remount,ro DIR)" \
        timeout 30 mount -T "$T/fstab2" -o remount,ro "$M"
    check "it is ro" has_opt "$M" ro
    check "it is still nosuid" has_opt "$M" nosuid
    check "remount,rw of that line" timeout 30 mount -T "$T/fstab2" -o remount,rw "$M"
    check "it is rw" has_opt "$M" rw
    expect_fail "remount,subtype=other" "cannot change while mounted: subtype=other" \
        timeout 30 mount -T "$T/fstab2" -o remount,subtype=other "$M"
    expect_fail "remount,fsname=other" "cannot change while mounted: fsname=other" \
        timeout 30 mount -T "$T/fstab2" -o remount,fsname=other "$M"
    check "umount(8)" timeout 30 umount "$M"
    stop_daemons
else
    fail "fstab line with fsname=, subtype=, auto_unmount: $(head -n 2 "$T/err")"
fi
# A mount without auto_unmount cannot take it by a remount.
printf '%s %s fuse.ghostfs %s 0 0\n' "$S" "$M" "defaults" >"$T/fstab3"
if timeout 30 mount -T "$T/fstab3" "$M" 2>"$T/err"; then
    expect_fail "remount,auto_unmount of a mount without it" \
        "cannot change while mounted: auto_unmount" \
        timeout 30 mount -T "$T/fstab3" -o remount,auto_unmount "$M"
    check "still rw after the refusal" has_opt "$M" rw
    check "umount(8)" timeout 30 umount "$M"
    stop_daemons
else
    fail "fstab line 'defaults': $(head -n 2 "$T/err")"
fi

finish
