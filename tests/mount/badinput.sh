#!/usr/bin/env bash
#
# tests/mount/badinput.sh - bad input gets a one-line error that names the
# problem, a non-zero exit (not a crash), and changes nothing on disk:
#
#   mount of a missing store, a text file, an empty file, random bytes, a
#   directory, a truncated store, stores with zeroed or 0xFF-filled B-tree
#   pages; mkfs over a file or a store, mkfs without a name or in a missing
#   directory; a missing mountpoint, a mountpoint that is a file, a busy
#   mountpoint; unknown and bad options; missing and extra arguments; an
#   unknown command; umount of something not mounted;
#   inside a mount, names of 256 bytes -> "File name too long" (255 works).
#
# Also --help exits 0 and --version prints a version. "Nothing changed" is
# checked by listing the stores' directory (names, types, sizes, modes) and
# checksumming every file in it but the LMDB lock files, before and after.
#
# Needs GHOSTFS (the ghostfs binary); skips (77) without /dev/fuse.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init sha256sum timeout

D=$T/stores # the bad and good stores the failing commands are pointed at
M=$T/mnt    # a mountpoint nothing should get mounted on
L=$T/live   # a store that is mounted for real
LM=$T/live-mnt
mkdir -p "$D" "$M" "$LM"

"$GHOSTFS" mkfs "$D/store" >/dev/null
"$GHOSTFS" mkfs "$L" >/dev/null
echo "just some text" >"$D/text"
: >"$D/empty"
head -c 1048576 /dev/urandom >"$D/random"
mkdir "$D/a-directory"
echo "a file" >"$D/a-file"
PAGES=$(($(stat -c %s "$D/store") / 4096))
cp "$D/store" "$D/truncated"
truncate -s $((PAGES * 4096 / 2)) "$D/truncated"
# Pages 0 and 1 are LMDB's meta pages; spoil the B-tree pages after them.
cp "$D/store" "$D/zeroed-pages"
dd if=/dev/zero of="$D/zeroed-pages" bs=4096 seek=2 count=$((PAGES - 2)) \
    conv=notrunc status=none
cp "$D/store" "$D/ff-pages"
head -c $(((PAGES - 2) * 4096)) /dev/zero | tr '\0' '\377' |
    dd of="$D/ff-pages" bs=4096 seek=2 conv=notrunc status=none
rm -f "$D"/*-lock

# What is on disk in $D: names, types, sizes, modes; checksums of contents.
disk_state() {
    (cd "$D" && find . -printf '%P %y %s %m\n' | LC_ALL=C sort &&
        find . -type f ! -name '*-lock' -exec sha256sum {} + | LC_ALL=C sort)
}

mounts_in_tmp() { mounts_under "$T" | LC_ALL=C sort; }

# expect_error DESC PATTERN [usage-ok] -- ARG...: run ghostfs ARG...; it must
# exit 1..123 (no crash, no timeout), print nothing on stdout, and one line
# on stderr (more only with usage-ok, after the first) that matches the
# extended regex PATTERN (case-insensitive); $D must be unchanged and no
# new mount may appear.
expect_error() {
    local desc=$1 pattern=$2 usage_ok=0 rc=0 before after mbefore mafter problems=()
    shift 2
    if [ "$1" = usage-ok ]; then
        usage_ok=1
        shift
    fi
    shift # --
    before=$(disk_state)
    mbefore=$(mounts_in_tmp)
    timeout -k 5 30 "$GHOSTFS" "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
    after=$(disk_state)
    mafter=$(mounts_in_tmp)
    if [ "$rc" -eq 0 ]; then
        problems+=("exit status 0")
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        problems+=("timed out after 30 s")
    elif [ "$rc" -gt 128 ]; then
        problems+=("killed by signal $((rc - 128)) ($(kill -l "$rc" 2>/dev/null || echo ?))")
    fi
    if [ ! -s "$T/err" ]; then
        problems+=("no error message")
    elif ! head -n 1 "$T/err" | grep -Eiq -- "$pattern"; then
        problems+=("first line does not match /$pattern/")
    fi
    if [ "$usage_ok" -eq 0 ] && [ "$(wc -l <"$T/err")" -gt 1 ]; then
        problems+=("$(wc -l <"$T/err") lines on stderr, not one")
    fi
    if [ -s "$T/out" ]; then
        problems+=("output on stdout")
    fi
    if [ "$before" != "$after" ]; then
        problems+=("the stores' directory changed")
        diff <(echo "$before") <(echo "$after") | sed 's/^/        /' >&2 || true
    fi
    if [ "$mbefore" != "$mafter" ]; then
        problems+=("a mount appeared")
        comm -13 <(echo "$mbefore") <(echo "$mafter") | while read -r m; do
            fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || true
        done
    fi
    rm -f "$D"/*-lock.new
    if [ "${#problems[@]}" -eq 0 ]; then
        pass "$desc (exit $rc): $(head -n 1 "$T/err")"
    else
        fail "$desc: ghostfs $* -> exit $rc; $(printf '%s; ' "${problems[@]}")stderr:"
        head -n 5 "$T/err" | sed 's/^/        /' >&2
    fi
}

# ---- stores that are not stores ---------------------------------------------------
expect_error "mount of a missing store" 'nope.*(no such|not exist|missing)' \
    -- mount "$D/nope" "$M"
if [ -e "$D/nope" ] || [ -e "$D/nope-lock" ] || [ -e "$D/nope-changes" ]; then
    fail "mount of a missing store created $D/nope, $D/nope-lock or $D/nope-changes"
fi
expect_error "mount of a text file" 'text.*not a ghostfs store' -- mount "$D/text" "$M"
expect_error "mount of a text file, foreground" 'text.*not a ghostfs store' \
    -- mount "$D/text" "$M" -f
expect_error "mount of a zero-length file" 'empty.*not a ghostfs store' -- mount "$D/empty" "$M"
expect_error "mount of 1 MB of random bytes" 'random.*not a ghostfs store' \
    -- mount "$D/random" "$M"
expect_error "mount of a directory as the store" 'a-directory.*(not a|directory)' \
    -- mount "$D/a-directory" "$M"
expect_error "mount of a store truncated to half" 'truncated.*truncated' \
    -- mount "$D/truncated" "$M"
expect_error "mount of a store with zeroed B-tree pages" 'zeroed-pages.*corrupt' \
    -- mount "$D/zeroed-pages" "$M"
expect_error "mount of a store with 0xFF-filled B-tree pages" 'ff-pages.*corrupt' \
    -- mount "$D/ff-pages" "$M"
rm -f "$D/ff-pages-lock" # left behind by a crash; reported above

# ---- mkfs ----------------------------------------------------------------------------
expect_error "mkfs over an existing text file" 'text.*exists' -- mkfs "$D/text"
expect_error "mkfs over an existing zero-length file" 'empty.*exists' -- mkfs "$D/empty"
expect_error "mkfs over an existing store" 'store.*exists' -- mkfs "$D/store"
expect_error "mkfs without a store" 'store|usage' -- mkfs
expect_error "mkfs in a missing directory" 'no-such-dir.*(no such|not exist)' \
    -- mkfs "$D/no-such-dir/store"
expect_error "mkfs with a bad block size" 'block size' -- mkfs --block-size 1000 "$D/new"
expect_error "mkfs with an unknown option" 'unknown.*--bogus' -- mkfs --bogus "$D/new"

# ---- mountpoints -----------------------------------------------------------------------
expect_error "missing mountpoint" 'no-such-mnt.*(no such|not exist)' \
    -- mount "$D/store" "$T/no-such-mnt"
expect_error "mountpoint that is a file" 'a-file.*not a directory' \
    -- mount "$D/store" "$D/a-file"
if mount_fs "$L" "$LM"; then
    expect_error "busy mountpoint (another store mounted there)" 'busy|already mounted' \
        -- mount "$D/store" "$LM"
    expect_error "busy mountpoint (the same store again)" 'busy|already mounted' \
        -- mount "$L" "$LM"
    check "the first mount still serves" test -d "$LM/."
else
    fail "mount $L on $LM (for the busy-mountpoint case)"
fi

# ---- options and arguments ---------------------------------------------------------------
expect_error "unknown option -o bogus" "unknown.*bogus" -- mount "$D/store" "$M" -o bogus
expect_error "unknown option among good ones" "unknown.*bogus" \
    -- mount "$D/store" "$M" -o ro,bogus,noatime
expect_error "bad value -o sync=sometimes" "sync=sometimes" \
    -- mount "$D/store" "$M" -o sync=sometimes
expect_error "bad value -o cache_size=abc" "cache_size=abc" \
    -- mount "$D/store" "$M" -o cache_size=abc
expect_error "bad value -o cache_size=-1M" "cache_size=-1M" \
    -- mount "$D/store" "$M" -o cache_size=-1M
expect_error "bad value -o write_buffer=12Q" "write_buffer=12Q" \
    -- mount "$D/store" "$M" -o write_buffer=12Q
expect_error "bad value -o commit_interval=0" "commit_interval=0" \
    -- mount "$D/store" "$M" -o commit_interval=0
expect_error "bad value -o spin=fast" "spin=fast" -- mount "$D/store" "$M" -o spin=fast
expect_error "bad value -o spin=" "spin=" -- mount "$D/store" "$M" -o spin=
expect_error "bad value -o spin=20000" "spin=20000" -- mount "$D/store" "$M" -o spin=20000
expect_error "bad value -o read_ahead=1M" "read_ahead=1M" -- mount "$D/store" "$M" -o read_ahead=1M
expect_error "bad value -o read_ahead=-1" "read_ahead=-1" -- mount "$D/store" "$M" -o read_ahead=-1
expect_error "-o without a list" "-o" -- mount "$D/store" "$M" -o
expect_error "unknown flag --bogus" "unknown.*--bogus" -- mount "$D/store" "$M" --bogus
expect_error "mount without arguments" "store.*mountpoint|usage" -- mount
expect_error "mount without a mountpoint" "mountpoint|usage" -- mount "$D/store"
expect_error "mount with an extra argument" "extra" -- mount "$D/store" "$M" extra
expect_error "unknown command" "unknown command.*frobnicate" usage-ok -- frobnicate
expect_error "umount of a directory nothing is mounted on" "not mounted" -- umount "$M"
HELPER=$(dirname "$GHOSTFS")/mount.ghostfs
if [ -x "$HELPER" ]; then
    before=$(disk_state)
    rc=0
    timeout 30 "$HELPER" "$D/store" "$M" -o bogus 2>"$T/err" || rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -lt 124 ] && grep -q bogus "$T/err" &&
        [ "$before" = "$(disk_state)" ]; then
        pass "mount.ghostfs -o bogus (exit $rc): $(head -n 1 "$T/err")"
    else
        fail "mount.ghostfs STORE MNT -o bogus: exit $rc, stderr: $(head -n 2 "$T/err")"
    fi
fi

# ---- --help, --version -------------------------------------------------------------------
rc=0
"$GHOSTFS" --help >"$T/out" 2>"$T/err" || rc=$?
if [ "$rc" -eq 0 ] && grep -qi usage "$T/out" && [ ! -s "$T/err" ]; then
    pass "--help exits 0 and prints the usage on stdout"
else
    fail "--help: exit $rc, stdout $(wc -l <"$T/out") lines, stderr: $(head -n 1 "$T/err")"
fi
rc=0
"$GHOSTFS" --version >"$T/out" 2>"$T/err" || rc=$?
if [ "$rc" -eq 0 ] && grep -Eq '^ghostfs [0-9]+\.[0-9]+' "$T/out"; then
    pass "--version: $(head -n 1 "$T/out")"
else
    fail "--version: exit $rc, stdout: $(head -n 1 "$T/out")"
fi
rc=0
"$GHOSTFS" >"$T/out" 2>"$T/err" || rc=$?
if [ "$rc" -ne 0 ] && grep -qi usage "$T/err"; then
    pass "no arguments: usage on stderr, exit $rc"
else
    fail "no arguments: exit $rc, stderr: $(head -n 1 "$T/err")"
fi

# ---- over-long names inside a mount ------------------------------------------------------------
# expect_toolong DESC CMD...: CMD fails with "File name too long".
expect_toolong() {
    local desc=$1 rc=0
    shift
    timeout 30 "$@" 2>"$T/err" || rc=$?
    if [ "$rc" -ne 0 ] && grep -q "File name too long" "$T/err"; then
        pass "$desc: ${1##*/}: $(head -n 1 "$T/err" | sed 's/.*: //')"
    else
        fail "$desc: exit $rc, stderr: $(head -n 1 "$T/err"), expected 'File name too long'"
    fi
}
if is_mounted "$LM"; then
    N255=$(printf 'x%.0s' $(seq 1 255))
    N256=${N255}y
    echo data >"$LM/f"
    mkdir "$LM/sub"
    expect_toolong "touch of a 256-byte name" touch "$LM/$N256"
    expect_toolong "mkdir of a 256-byte name" mkdir "$LM/$N256"
    expect_toolong "symlink with a 256-byte name" ln -s f "$LM/$N256"
    expect_toolong "hard link with a 256-byte name" ln "$LM/f" "$LM/$N256"
    # mv looks the target up first; perl's rename goes straight to rename(2)
    if command -v perl >/dev/null; then
        # shellcheck disable=SC2016  # perl's variables, not the shell's
        expect_toolong "rename(2) to a 256-byte name" \
            perl -e 'rename($ARGV[0], $ARGV[1]) or die "rename: $!\n"' "$LM/f" "$LM/sub/$N256"
    fi
    expect_toolong "mv to a 256-byte name" mv -T "$LM/f" "$LM/sub/$N256"
    expect_toolong "stat of a 256-byte name" stat "$LM/$N256"
    check "the file is still there after the failed rename" test -f "$LM/f"
    check "nothing with a 256-byte name was made" test -z "$(find "$LM" -name "$N256*")"
    if touch "$LM/$N255" && echo ok >"$LM/sub/$N255" && [ "$(cat "$LM/sub/$N255")" = ok ] &&
        mv "$LM/$N255" "$LM/sub/renamed" && [ -e "$LM/sub/renamed" ]; then
        pass "255-byte names work (create, write, read, rename)"
    else
        fail "255-byte names do not work"
    fi
    check "unmount the live store" umount_fs "$LM"
    if mount_fs "$L" "$LM" && [ "$(cat "$LM/sub/$N255" 2>/dev/null)" = ok ]; then
        pass "the live store mounts again and keeps its 255-byte name"
    else
        fail "the live store after the over-long-name checks"
    fi
fi

finish
