#!/usr/bin/env bash
#
# tests/mount/flags.sh - inode flags through a mount, with chattr and lsattr:
#
#   +i and +a set and shown on a file and a directory; kept across a
#   remount; enforced by a second daemon of the same store, also on an fd
#   it opened before the first set +i;
#   refusals on an immutable file (write, append, truncate, chmod, touch,
#   setfattr, rm, mv, ln) and directory (create, rm), on an append-only file
#   (overwrite, truncate, rm; appending works) and directory (rm; creating
#   works) - each leaving the file as it was; flags other than i and a
#   (chattr +d) refused; clearing +i refused without CAP_LINUX_IMMUTABLE
#   and for a user who does not own the file; the raw 32-bit ioctls
#   (FS_IOC32_*), which skip the kernel's check, not answered; under
#   -o writeback flags are not set (not supported) and an append-only file
#   is not opened for writing.
#
# Needs GHOSTFS, FLAGS_PROBE, chattr, lsattr, setfattr and setpriv; skips (77) without
# /dev/fuse or one of them.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init chattr lsattr setfattr setpriv timeout

S=$T/store
M=$T/mnt
M2=$T/mnt2
mkdir -p "$M" "$M2"
chmod 755 "$T"
"$GHOSTFS" mkfs "$S" >/dev/null
mount_fs "$S" "$M" -o allow_other

# The flag letters lsattr shows for PATH (a directory itself with -d).
attrs() { timeout 10 lsattr -d "$1" | awk '{ print $1 }' | tr -d -; }

# refused DESC CMD...: CMD fails with "Operation not permitted".
refused() {
    local desc=$1 err
    shift
    if err=$(timeout 10 "$@" 2>&1); then
        fail "$desc: succeeded"
    elif grep -q "Operation not permitted" <<<"$err"; then
        pass "$desc: refused"
    else
        fail "$desc: failed otherwise: $err"
    fi
}

# ---- an immutable file ---------------------------------------------------------------
printf data >"$M/f"
setfattr -n user.k -v 1 "$M/f"
check "a new file has no flags" [ -z "$(attrs "$M/f")" ]
check "chattr +i" chattr +i "$M/f"
check "lsattr shows i" [ "$(attrs "$M/f")" = i ]
refused "write" sh -c "printf x >'$M/f'"
refused "append" sh -c "printf x >>'$M/f'"
refused "truncate" truncate -s 0 "$M/f"
refused "chmod" chmod 600 "$M/f"
refused "touch" touch "$M/f"
refused "setfattr" setfattr -n user.k -v 2 "$M/f"
refused "setfattr -x" setfattr -x user.k "$M/f"
refused "rm" rm -f "$M/f"
refused "mv" mv "$M/f" "$M/g"
refused "ln" ln "$M/f" "$M/h"
check "the file is as it was" [ "$(cat "$M/f")" = data ]
check "no other name came" sh -c "[ ! -e '$M/g' ] && [ ! -e '$M/h' ]"
refused "chattr -i without CAP_LINUX_IMMUTABLE" \
    setpriv --inh-caps=-linux_immutable --bounding-set=-linux_immutable chattr -i "$M/f"
refused "chattr -i by a user who does not own it" \
    setpriv --reuid=65534 --regid=65534 --clear-groups chattr -i "$M/f"
check "still i" [ "$(attrs "$M/f")" = i ]
err=$(chattr +d "$M/f" 2>&1) && fail "chattr +d: succeeded" ||
    check "chattr +d (a flag not kept): not supported" grep -q "not supported" <<<"$err"

# ---- an append-only file ----------------------------------------------------------------
printf log >"$M/a"
check "chattr +a" chattr +a "$M/a"
check "lsattr shows a" [ "$(attrs "$M/a")" = a ]
check "append" sh -c "printf more >>'$M/a'"
refused "overwrite" sh -c "printf x >'$M/a'"
refused "truncate" truncate -s 0 "$M/a"
refused "rm" rm -f "$M/a"
check "appended, nothing lost" [ "$(cat "$M/a")" = logmore ]

# ---- the 32-bit ioctls, sent raw by the file's owner ---------------------------------------
# The kernel checks CAP_LINUX_IMMUTABLE for FS_IOC_SETFLAGS only; a 64-bit
# process's FS_IOC32_SETFLAGS reaches the daemon unchecked, so it must not
# change anything.
printf log >"$M/owned"
chown 65534:65534 "$M/owned"
check "chattr +a on a file nobody owns" chattr +a "$M/owned"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
out=$(as_nobody "$FLAGS_PROBE" set32 "$M/owned" 0) && rc=0 || rc=$?
check "FS_IOC32_SETFLAGS by the owner without the capability: refused ($out)" \
    [ "$rc" = 2 ]
check "still a" [ "$(attrs "$M/owned")" = a ]
out=$("$FLAGS_PROBE" set32 "$M/owned" 0) && rc=0 || rc=$?
check "FS_IOC32_SETFLAGS by root: not answered ($out)" [ "$rc:$out" = 2:ENOTTY ]
check "still a after root's raw ioctl" [ "$(attrs "$M/owned")" = a ]
check "chattr -a by root" chattr -a "$M/owned"

# ---- directories ----------------------------------------------------------------------------
mkdir "$M/d" "$M/l"
printf in >"$M/d/x"
printf in >"$M/l/x"
check "chattr +i on a directory" chattr +i "$M/d"
check "lsattr -d shows i" [ "$(attrs "$M/d")" = i ]
refused "create in an immutable directory" touch "$M/d/new"
refused "mkdir in it" mkdir "$M/d/sub"
refused "rm in it" rm -f "$M/d/x"
refused "rmdir it" rmdir "$M/d"
check "write to a file in it" sh -c "printf changed >'$M/d/x'"
check "chattr +a on a directory" chattr +a "$M/l"
check "create in an append-only directory" touch "$M/l/new"
refused "rm in it" rm -f "$M/l/x"
refused "mv out of it" mv "$M/l/x" "$M/x"

# ---- across a second daemon and a remount --------------------------------------------------
printf open >"$M/held"
mount_fs "$S" "$M2"
# An fd the second daemon opened before the first set +i: its writes stop.
exec 5>>"$M2/held"
check "chattr +i in the first daemon, the file open in the second" chattr +i "$M/held"
if err=$( (printf more >&5) 2>&1); then
    fail "a write through the second daemon's open fd after +i: succeeded"
elif grep -q "Operation not permitted" <<<"$err"; then
    pass "a write through the second daemon's open fd after +i: refused"
else
    fail "a write through the second daemon's open fd after +i: failed otherwise: $err"
fi
exec 5>&-
check "the held file is as it was" [ "$(cat "$M/held")" = open ]
check "chattr -i" chattr -i "$M/held"
rm "$M/held"
check "a second daemon shows i" [ "$(attrs "$M2/f")" = i ]
refused "a second daemon refuses a write" sh -c "printf x >>'$M2/f'"
refused "a second daemon refuses rm in the immutable directory" rm -f "$M2/d/x"
umount_fs "$M2"
umount_fs "$M"
mount_fs "$S" "$M"
check "after remount: i" [ "$(attrs "$M/f")" = i ]
check "after remount: a" [ "$(attrs "$M/a")" = a ]
check "after remount: the directory's i" [ "$(attrs "$M/d")" = i ]
refused "after remount: rm" rm -f "$M/f"

# ---- under the kernel's writeback cache: flags cannot be kept ----------------------------
mount_fs "$S" "$M2" -o writeback
printf wb >"$M2/wb"
err=$(chattr +i "$M2/wb" 2>&1) && fail "writeback: chattr +i: succeeded" ||
    check "writeback: chattr +i not supported" grep -q "not supported" <<<"$err"
check "writeback: no flag set" [ -z "$(attrs "$M2/wb")" ]
check "writeback: lsattr still shows a" [ "$(attrs "$M2/a")" = a ]
refused "writeback: appending to the append-only file" sh -c "printf x >>'$M2/a'"
check "writeback: it reads" [ "$(cat "$M2/a")" = logmore ]
rm "$M2/wb"
umount_fs "$M2"

# ---- cleared, everything works again -------------------------------------------------------
check "chattr -i -a" chattr -i "$M/f" "$M/d"
check "chattr -a" chattr -a "$M/a" "$M/l"
check "no flags left" [ -z "$(attrs "$M/f")$(attrs "$M/a")$(attrs "$M/d")$(attrs "$M/l")" ]
check "write" sh -c "printf new >'$M/f'"
check "rm" rm "$M/f" "$M/a" "$M/d/x" "$M/l/x"

finish
