#!/usr/bin/env bash
#
# tests/mount/tools.sh - round trips through a ghostfs mount with real tools:
#
#   cp -a   /usr/include and a tree of awkward files (hard links, a sparse
#           file, block-boundary sizes, a FIFO, a device node, odd modes,
#           long names and targets, xattrs, old and nanosecond mtimes) in;
#           diff -r and compare metadata (type, mode, owner, size, links,
#           rdev, mtime in ns, symlink targets - everything but atime, ctime)
#   tar     (pax format, for ns mtimes) c from the mount | x outside, and
#           from outside into the mount; diff and compare again
#   git     a repository made inside: commits, a branch, a merge, git gc;
#           git fsck --full, status clean, a clone out of it
#   sqlite3 thousands of rows in transactions, rollback journal and WAL;
#           PRAGMA integrity_check = ok
#   rsync   -a in and out; diff; a second pass that has nothing to do
#
# then unmount, mount again and check it all once more (persistence), and
# that a listing with inode numbers and ctimes is the same as before.
#
# Needs GHOSTFS (the ghostfs binary); skips (77) without /dev/fuse or a tool.
# GHOST_TOOLS_SRC picks another source tree than /usr/include.
# shellcheck disable=SC2317  # functions run through check and try look unreachable
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init git sqlite3 rsync tar diff stat cmp timeout mkfifo

SRC=${GHOST_TOOLS_SRC:-/usr/include}
SRCN=$(basename "$SRC")
S=$T/store
M=$T/mnt
OUT=$T/out
mkdir -p "$M" "$OUT"

HAVE_XATTR=0
if command -v setfattr >/dev/null && command -v getfattr >/dev/null &&
    setfattr -n user.ghostfs.probe -v 1 "$T" 2>/dev/null; then
    HAVE_XATTR=1
fi

STEP_T0=0
STEP_NAME=
step() {
    STEP_NAME=$1
    STEP_T0=$(now_ms)
}
step_done() {
    local ms=$(($(now_ms) - STEP_T0))
    say "time: $STEP_NAME $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
}

# Run a command that works inside the mount, with a time limit so that a
# hung filesystem fails the test instead of hanging it.
run() {
    local rc=0
    timeout -k 10 "${LIMIT:-150}" "$@" || rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        say "TIMEOUT after ${LIMIT:-150} s: $*"
    fi
    return "$rc"
}

# tree_equal A B: diff -r that compares symlinks as links and lets two
# special files of the same type be equal. Prints at most 20 differences.
tree_equal() {
    local out rc=0 same
    out=$(run diff -r --no-dereference "$1" "$2" 2>&1) || rc=$?
    if [ "$rc" -eq 0 ]; then
        return 0
    fi
    same='^File .* is a (fifo|character special file|block special file|socket) '
    same+='while file .* is a \1$'
    out=$(grep -Ev "$same" <<<"$out" || true)
    if [ -z "$out" ] && [ "$rc" -eq 1 ]; then
        return 0
    fi
    say "diff -r $1 $2 (exit $rc):"
    head -n 20 <<<"$out" | sed 's/^/    /' >&2
    return 1
}

# meta DIR: one line per entry - path, raw mode, owner, size (not for
# directories), links, rdev, mtime in ns, symlink target. No atime or ctime.
meta() {
    (cd "$1" && find . -print0 | xargs -0 stat -c '%n|%f|%u|%g|%s|%h|%t,%T|%.9Y|%N' |
        awk -F'|' -v OFS='|' '$2 ~ /^4/ { $5 = "-" } { print }' | LC_ALL=C sort)
}

# meta_full DIR: meta plus inode number and ctime, for the remount check.
meta_full() {
    (cd "$1" && find . -print0 | xargs -0 stat -c '%n|%i|%f|%u|%g|%s|%h|%t,%T|%.9Y|%.9Z|%N' |
        LC_ALL=C sort)
}

# meta_equal A B WHAT: compare meta listings; on a difference, say how many
# entries differ in each field and show the first few, field by field.
meta_equal() {
    local a=$T/meta.a b=$T/meta.b
    meta "$1" >"$a"
    meta "$2" >"$b"
    if cmp -s "$a" "$b"; then
        return 0
    fi
    say "metadata of $3 differs ($1 -> $2):"
    awk -F'|' '
        BEGIN { split("path mode(hex) uid gid size links rdev mtime name", f, " ") }
        NR == FNR { a[$1] = $0; next }
        {
            if (!($1 in a)) { only_b++; if (shown++ < 20) print "    only in new: " $1; next }
            split(a[$1], x, "|"); seen[$1] = 1
            for (i = 2; i <= NF; i++)
                if (x[i] != $i) {
                    count[f[i]]++
                    if (shown++ < 20) print "    " $1 ": " f[i] " " x[i] " -> " $i
                }
        }
        END {
            for (p in a) if (!(p in seen)) { only_a++; if (shown++ < 20) print "    missing: " p }
            for (k in count) print "    " count[k] " entries differ in " k
            if (only_a) print "    " only_a " entries missing"
            if (only_b) print "    " only_b " entries only in the copy"
        }' "$a" "$b" >&2
    return 1
}

xattrs_of() {
    (cd "$1" && getfattr -R -d -m '^user\.' --absolute-names . 2>/dev/null | LC_ALL=C sort)
}

xattr_equal() {
    local a=$T/xa.a b=$T/xa.b
    if [ "$HAVE_XATTR" -eq 0 ]; then
        return 0
    fi
    xattrs_of "$1" >"$a"
    xattrs_of "$2" >"$b"
    if cmp -s "$a" "$b"; then
        return 0
    fi
    say "user xattrs differ between $1 and $2:"
    diff "$a" "$b" | head -n 20 | sed 's/^/    /' >&2
    return 1
}

# The awkward tree, made on the local disk.
make_extra() {
    local x=$1 i deep long
    mkdir -p "$x"
    : >"$x/empty"
    printf 'a' >"$x/one-byte"
    head -c 1024 /dev/urandom >"$x/inline-1024"
    head -c 1025 /dev/urandom >"$x/inline-1025"
    head -c 65535 /dev/urandom >"$x/block-minus-1"
    head -c 65536 /dev/urandom >"$x/block"
    head -c 65537 /dev/urandom >"$x/block-plus-1"
    head -c $((20 * 1024 * 1024 + 123)) /dev/urandom >"$x/big"
    truncate -s 10M "$x/sparse"
    printf 'middle' | dd of="$x/sparse" bs=1 seek=3000000 conv=notrunc status=none
    printf 'end' >>"$x/sparse"
    echo linked >"$x/hard1"
    ln "$x/hard1" "$x/hard2"
    mkdir "$x/sub"
    ln "$x/hard1" "$x/sub/hard3"
    ln -s hard1 "$x/sym-rel"
    ln -s /nonexistent/target "$x/sym-dangling"
    long=$(printf 'd%.0s' $(seq 1 1000))
    ln -s "$long" "$x/sym-long"
    ln -s sub "$x/sym-dir"
    mkfifo "$x/fifo"
    if [ "$(id -u)" -eq 0 ]; then
        mknod "$x/null-dev" c 1 3
    fi
    echo s >"$x/setuid" && chmod 4755 "$x/setuid"
    echo n >"$x/no-perms" && chmod 000 "$x/no-perms"
    mkdir "$x/sticky" && chmod 1777 "$x/sticky"
    mkdir "$x/ro-dir" && echo r >"$x/ro-dir/f" && chmod 555 "$x/ro-dir"
    echo s >"$x/with space and 'quote'"
    echo u >"$x/ünïcødé-名前"
    echo l >"$x/$(printf 'n%.0s' $(seq 1 255))"
    deep=$x/deep
    for i in $(seq 1 40); do
        deep=$deep/d$i
    done
    mkdir -p "$deep" && echo bottom >"$deep/f"
    for i in $(seq 1 300); do
        echo "$i" >"$x/sub/many-$i"
    done
    echo old >"$x/old" && touch -d '1970-01-02 00:00:00 UTC' "$x/old"
    echo ns >"$x/ns" && touch -d '2001-02-03 04:05:06.123456789 UTC' "$x/ns"
    touch -h -d '1999-12-31 23:59:59.5 UTC' "$x/sym-rel"
    echo future >"$x/future" && touch -d '2100-01-01 UTC' "$x/future"
    if [ "$HAVE_XATTR" -eq 1 ]; then
        setfattr -n user.color -v blue "$x/one-byte"
        setfattr -n user.empty "$x/empty"
        setfattr -n user.big -v "0x$(head -c 2000 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
            "$x/block"
        setfattr -n user.dir -v yes "$x/sub"
    fi
    # directories last, so that their mtimes are not changed afterwards
    touch -d '2010-10-10 10:10:10.987654321 UTC' "$x/sub" "$x/sticky"
}

"$GHOSTFS" mkfs "$S" >/dev/null
mount_fs "$S" "$M" || {
    fail "mount $S on $M"
    finish
}

make_extra "$T/extra"

# try FUNC ARG...: run FUNC in a subshell with errexit in force (it is not
# inside `if`), so that its first failing command fails it.
try() {
    local rc=0
    set +e
    (
        set -e
        "$@"
    )
    rc=$?
    set -e
    return "$rc"
}

# ---- cp -a --------------------------------------------------------------------
step "cp -a $SRC + extra into the mount"
if run cp -a "$SRC" "$M/include" && run cp -a "$T/extra" "$M/extra"; then
    pass "cp -a into the mount"
else
    fail "cp -a into the mount"
fi
step_done
step "diff -r and metadata of the copies"
check "diff -r $SRC vs mount" tree_equal "$SRC" "$M/include"
check "diff -r extra vs mount" tree_equal "$T/extra" "$M/extra"
check "metadata of the include copy (cp -a)" meta_equal "$SRC" "$M/include" "cp -a $SRC"
check "metadata of the extra copy (cp -a)" meta_equal "$T/extra" "$M/extra" "cp -a extra"
check "user xattrs kept by cp -a" xattr_equal "$T/extra" "$M/extra"
check "sparse file reads back byte-equal" cmp "$T/extra/sparse" "$M/extra/sparse"
step_done

# tar_copy FROM TO NAME...: tar c (pax, which keeps ns mtimes) | tar x -p
tar_copy() {
    local from=$1 to=$2
    shift 2
    run tar -C "$from" --format=posix -cf - "$@" |
        run tar -C "$to" --warning=no-timestamp -xpf -
}

# ---- tar ------------------------------------------------------------------------
step "tar c in the mount | tar x outside"
if tar_copy "$M" "$OUT" include extra; then
    pass "tar c | tar x out of the mount"
else
    fail "tar c | tar x out of the mount"
fi
check "diff -r $SRC vs tar copy" tree_equal "$SRC" "$OUT/include"
check "diff -r extra vs tar copy" tree_equal "$T/extra" "$OUT/extra"
check "metadata of the tar copy of include" meta_equal "$SRC" "$OUT/include" "tar of include"
check "metadata of the tar copy of extra" meta_equal "$T/extra" "$OUT/extra" "tar of extra"
rm -rf "$OUT/include"
step_done

step "tar c outside | tar x into the mount"
mkdir "$M/untar"
if tar_copy "$T" "$M/untar" extra; then
    pass "tar c | tar x into the mount"
else
    fail "tar c | tar x into the mount"
fi
check "diff -r extra vs tar x in the mount" tree_equal "$T/extra" "$M/untar/extra"
check "metadata of tar x in the mount" meta_equal "$T/extra" "$M/untar/extra" "tar x into mount"
step_done

# ---- git ------------------------------------------------------------------------
step "git repository inside the mount"
G=$M/repo
git_in() { run git -C "$G" -c user.name=ghost -c user.email=ghost@example.org \
    -c init.defaultBranch=main -c gc.auto=0 "$@"; }
git_ok() {
    mkdir "$G"
    git_in init -q
    cp -a "$SRC/linux" "$G/linux" 2>/dev/null || cp -a "$T/extra/sub" "$G/linux"
    echo "# ghost" >"$G/README"
    git_in add -A
    git_in commit -q -m "import"
    for i in 1 2 3 4 5; do
        seq 1 $((i * 1000)) >"$G/counter"
        find "$G/linux" -type f | sort | sed -n "${i}~7p" | head -n 50 |
            while read -r f; do echo "change $i" >>"$f"; done
        git_in add -A
        git_in commit -q -m "change $i"
    done
    git_in checkout -q -b feature
    echo feature >"$G/feature.txt"
    rm -rf "$G/linux/netfilter"
    git_in add -A
    git_in commit -q -m "feature: drop netfilter, add feature.txt"
    git_in mv README README.md
    git_in commit -q -m "feature: rename"
    git_in checkout -q main
    echo "main again" >>"$G/counter"
    git_in commit -q -am "main: more"
    git_in merge -q --no-ff -m "merge feature" feature
    git_in tag v1
    git_in gc -q
    git_in repack -a -d -q
    git_in gc -q --prune=now
}
if try git_ok; then
    pass "git: commits, branch, merge, gc inside the mount"
else
    fail "git: commits, branch, merge, gc inside the mount"
fi
check "git fsck --full is clean" git_in fsck --full --strict --no-progress
check "git status is clean (index stat data agrees with the mount)" \
    test -z "$(git_in status --porcelain 2>&1)"
check "git log has 10 commits" test "$(git_in rev-list --count HEAD 2>/dev/null)" = 10
if run git clone -q "$G" "$OUT/clone" && run git -C "$OUT/clone" fsck --full --no-progress &&
    tree_equal "$OUT/clone/linux" "$G/linux"; then
    pass "git clone out of the mount, fsck and compare"
else
    fail "git clone out of the mount, fsck and compare"
fi
step_done

# ---- sqlite3 ----------------------------------------------------------------------
step "sqlite3 inside the mount"
sql_fill() { # DB JOURNAL_MODE
    local db=$1 mode=$2 t
    {
        echo "PRAGMA journal_mode=$mode;"
        echo "CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT UNIQUE, v BLOB, n INTEGER);"
        for t in 0 1 2 3 4; do
            echo "BEGIN;"
            echo "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<1000)"
            echo " INSERT INTO t(k, v, n) SELECT 'k$t-'||i, randomblob(200+i%300), i FROM c;"
            echo "COMMIT;"
        done
        echo "BEGIN; UPDATE t SET v = randomblob(500) WHERE n % 3 = 0; COMMIT;"
        echo "BEGIN; DELETE FROM t WHERE n % 5 = 0; COMMIT;"
        echo "BEGIN; INSERT INTO t(k, n) VALUES ('rolled back', 0); ROLLBACK;"
        echo "CREATE INDEX t_n ON t(n);"
        echo "VACUUM;"
    } | run sqlite3 -batch -bail "$db" >/dev/null
}
sql_check() { # DB
    local r
    r=$(run sqlite3 -batch "$1" 'PRAGMA integrity_check; SELECT count(*) FROM t;' 2>&1 |
        paste -sd ' ' -) || true
    if [ "$r" != "ok 4000" ]; then
        say "sqlite3 $1: integrity_check and count gave '$r', expected 'ok 4000'"
        return 1
    fi
}
check "sqlite3: 5000 rows in transactions (rollback journal)" sql_fill "$M/db.sqlite" delete
check "sqlite3: integrity_check ok (rollback journal)" sql_check "$M/db.sqlite"
check "sqlite3: 5000 rows in transactions (WAL)" sql_fill "$M/wal.sqlite" wal
check "sqlite3: integrity_check ok (WAL)" sql_check "$M/wal.sqlite"
step_done

# ---- rsync ------------------------------------------------------------------------
step "rsync -a in and out"
RS_OPTS=(-a -H)
if [ "$HAVE_XATTR" -eq 1 ]; then
    RS_OPTS+=(-X)
fi
check "rsync -a into the mount" run rsync "${RS_OPTS[@]}" "$SRC" "$T/extra" "$M/rsync/"
check "diff -r $SRC vs rsync copy" tree_equal "$SRC" "$M/rsync/$SRCN"
check "metadata of the rsync copy" meta_equal "$T/extra" "$M/rsync/extra" "rsync in"
check "user xattrs kept by rsync -X" xattr_equal "$T/extra" "$M/rsync/extra"
again=$(run rsync "${RS_OPTS[@]}" -i "$SRC" "$T/extra" "$M/rsync/" 2>&1) || true
if [ -z "$again" ]; then
    pass "a second rsync -a has nothing to do"
else
    fail "a second rsync -a still found differences:"
    head -n 10 <<<"$again" | sed 's/^/    /' >&2
fi
check "rsync -a out of the mount" run rsync "${RS_OPTS[@]}" "$M/rsync/" "$OUT/rsync/"
check "diff -r $SRC vs rsync out" tree_equal "$SRC" "$OUT/rsync/$SRCN"
check "metadata of rsync out" meta_equal "$T/extra" "$OUT/rsync/extra" "rsync out"
rm -rf "$OUT/rsync"
step_done

# ---- persistence --------------------------------------------------------------------
step "unmount, mount again, check everything again"
meta_full "$M" >"$T/before"
if umount_fs "$M"; then
    pass "unmount"
else
    fail "unmount"
    finish
fi
if mount_fs "$S" "$M"; then
    pass "mount again"
else
    fail "mount again"
    finish
fi
meta_full "$M" >"$T/after"
if cmp -s "$T/before" "$T/after"; then
    pass "after remount: same listing (inode numbers, modes, sizes, links, mtimes, ctimes)"
else
    fail "after remount the listing changed (< before, > after):"
    diff "$T/before" "$T/after" | head -n 20 | sed 's/^/    /' >&2
fi
check "after remount: diff -r $SRC" tree_equal "$SRC" "$M/include"
check "after remount: diff -r extra" tree_equal "$T/extra" "$M/extra"
check "after remount: metadata of include" meta_equal "$SRC" "$M/include" "include (remount)"
check "after remount: metadata of extra" meta_equal "$T/extra" "$M/extra" "extra (remount)"
check "after remount: user xattrs" xattr_equal "$T/extra" "$M/extra"
check "after remount: diff -r rsync copy" tree_equal "$SRC" "$M/rsync/$SRCN"
check "after remount: git fsck --full" git_in fsck --full --strict --no-progress
check "after remount: git status clean" test -z "$(git_in status --porcelain 2>&1)"
check "after remount: sqlite3 (rollback journal)" sql_check "$M/db.sqlite"
check "after remount: sqlite3 (WAL)" sql_check "$M/wal.sqlite"
step_done

step "delete everything"
check "rm -rf of the whole tree" run rm -rf "$M/include" "$M/extra" "$M/untar" "$M/repo" \
    "$M/rsync" "$M/db.sqlite" "$M/wal.sqlite"
check "the mount is empty afterwards" test -z "$(ls -A "$M")"
step_done

check "final unmount" umount_fs "$M"
finish
