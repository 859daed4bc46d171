#!/bin/sh
# test_check_layout.sh - check_layout.sh passes the tree as it is and fails
# each way LMDB can leak out of its engine: its header included (directly,
# by a path, or through the engine's own lmdb_int.h) or an mdb_ name used.
# Usage: test_check_layout.sh SOURCE_ROOT
set -u
root=${1:?usage: test_check_layout.sh SOURCE_ROOT}
check="$root/tests/check_layout.sh"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0

fresh() {
    rm -rf "$tmp/src" "$tmp/fs"
    cp -R "$root/src" "$root/fs" "$tmp/"
}

fresh
if ! sh "$check" "$tmp" 2>/dev/null; then
    echo "FAIL: the tree as it is was refused" >&2
    fail=1
fi
for leak in '#include <lmdb.h>' '# include "../src/lmdb.h"' '#include "lmdb_int.h"' \
    'static MDB_env *env;' 'int x(void) { return mdb_env_sync(0, 1); }'; do
    for file in src/prune.c fs/dir.c; do
        fresh
        printf '%s\n' "$leak" >>"$tmp/$file"
        if sh "$check" "$tmp" 2>/dev/null; then
            echo "FAIL: '$leak' in $file was not caught" >&2
            fail=1
        fi
    done
done
exit $fail
