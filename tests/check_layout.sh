#!/bin/sh
# check_layout.sh - fail when LMDB leaks out of its engine.
#
# The object layer reaches the key-value engine only through src/engine.h;
# LMDB is one implementation of it (src/engine_lmdb.c, src/lmdb_*.[ch]).
# Anywhere else in src/ or fs/, an include of lmdb.h or of a header of the
# LMDB engine (lmdb_int.h, which brings lmdb.h and its types along), or an
# mdb_* / MDB_* name, is an error. Run by the build (tests/meson.build), so a
# violation fails `ninja`. Usage: check_layout.sh SOURCE_ROOT [STAMP]
set -u
root=${1:?usage: check_layout.sh SOURCE_ROOT [STAMP]}
stamp=${2:-}
pattern='^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]([^">]*/)?lmdb[^">/]*\.h[>"]'
pattern="$pattern|(^|[^A-Za-z0-9_])(mdb|MDB)_[A-Za-z]"
bad=0
for f in "$root"/src/*.c "$root"/src/*.h "$root"/fs/*.c "$root"/fs/*.h; do
    [ -e "$f" ] || continue
    case ${f##*/} in
    engine_lmdb.c | lmdb_*.c | lmdb_*.h) continue ;;
    esac
    if grep -qE "$pattern" "$f"; then
        grep -nE "$pattern" "$f" | sed "s|^|${f#"$root"/}:|" >&2
        bad=1
    fi
done
if [ $bad -ne 0 ]; then
    echo "check_layout: LMDB is used outside its engine (src/engine_lmdb.c, src/lmdb_*):" \
        "go through src/engine.h" >&2
    exit 1
fi
[ -n "$stamp" ] && : >"$stamp"
exit 0
