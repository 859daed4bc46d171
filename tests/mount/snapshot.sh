#!/usr/bin/env bash
#
# tests/mount/snapshot.sh - `ghostfs snapshot create|list|delete`:
#
#   on an unmounted store: create, list (table and --json), delete; the
#   longest name (255 bytes); names with a quote, a backslash, a newline, a
#   space, UTF-8 and a byte that is not UTF-8 - the table keeps one line per
#   snapshot and --json parses (python3's json) to the same names;
#   beside a live mount that is being written: a snapshot taken then lists,
#   and later writes do not change what list shows; delete works there too;
#   bad input - a name with '/', empty, of 256 bytes, "." and "..", an
#   existing name (create), a missing one (delete), a missing store, a text
#   file, a directory, missing and extra arguments, an unknown subcommand or
#   option - gets one error line naming the problem (and, where there is
#   one, the snapshot and the store), a non-zero exit, nothing on stdout,
#   and changes nothing: the store's file and its snapshot list are the same
#   after as before.
#
# Needs GHOSTFS (the ghostfs binary) and python3; skips (77) without
# /dev/fuse.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ghost_init python3 sha256sum timeout

S=$T/snapstore
M=$T/mnt
mkdir -p "$M"
"$GHOSTFS" mkfs "$S" >/dev/null

snap() { timeout -k 5 60 "$GHOSTFS" snapshot "$@"; }

# The names in `list --json`, one per line as Python's repr() of the exact
# bytes (name_hex where the name is not UTF-8); fails if it is not JSON.
json_names() {
    snap list "$S" --json | python3 -c '
import json, sys
doc = json.load(sys.stdin)
assert doc["version"] == 1, doc
for s in doc["snapshots"]:
    raw = bytes.fromhex(s["name_hex"]) if "name_hex" in s else s["name"].encode()
    assert isinstance(s["generation"], int) and s["created"].endswith("Z"), s
    print(repr(raw))'
}

# The same names, made here: repr() of each argument's bytes, sorted as the
# list is (byte order).
expected_names() {
    python3 -c '
import os, sys
for n in sorted(os.fsencode(a) for a in sys.argv[1:]):
    print(repr(n))' "$@"
}

# What bad input must not change: the snapshots, and the store's bytes while
# nothing else writes to it.
WRITING=0
state() {
    if [ "$WRITING" -eq 0 ]; then sha256sum <"$S"; fi
    snap list "$S" --json
}

# ---- create, list, delete on an unmounted store ------------------------------------
out=$(snap list "$S")
check "an empty list is its header" [ "$out" = "$(printf '%10s  %-25s  %s' GENERATION CREATED NAME)" ]
check "an empty --json list" [ "$(snap list "$S" --json)" = '{"version": 1, "snapshots": []}' ]
check "create" snap create "$S" daily
check "the table lists it" grep -Eq '^ +[0-9]+  [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[+-][0-9]{2}:[0-9]{2}  daily$' <<<"$(snap list "$S")"
check "--json lists it" [ "$(json_names)" = "$(expected_names daily)" ]
check "delete" snap delete "$S" daily
check "gone after delete" [ "$(json_names)" = "" ]
long=$(printf 'n%.0s' {1..255})
check "a name of 255 bytes" snap create "$S" "$long"
check "... lists" [ "$(json_names)" = "$(expected_names "$long")" ]
check "... deletes" snap delete "$S" "$long"
check "a name starting with '-' after --" snap create "$S" -- -dash
check "... deletes" snap delete "$S" -- -dash
check "ghostfs --help shows the command" grep -q 'ghostfs snapshot list STORE' \
    <<<"$("$GHOSTFS" --help)"
check "ghostfs snapshot --help" grep -q 'snapshot create STORE NAME' \
    <<<"$(snap --help)"

# ---- awkward names --------------------------------------------------------------------
odd=('with "quote"' 'back\slash' $'new\nline' $'not utf-8 \xff\xfe' 'caf'$'\xc3\xa9' \
    'a space' $'tab\tand \x1b[1m escape')
for n in "${odd[@]}"; do
    check "create $(printf '%q' "$n")" snap create "$S" "$n"
done
check "--json parses to the exact names" [ "$(json_names)" = "$(expected_names "${odd[@]}")" ]
lines=$(snap list "$S" | wc -l)
check "the table has one line per snapshot ($lines)" [ "$lines" -eq $((${#odd[@]} + 1)) ]
check "the table escapes the newline" grep -Fq 'new\nline' <<<"$(snap list "$S")"
check "the table writes no control byte" \
    sh -c "! $(printf '%q' "$GHOSTFS") snapshot list $(printf '%q' "$S") | grep -q '[[:cntrl:]]'"
for n in "${odd[@]}"; do
    snap delete "$S" "$n" >/dev/null || fail "delete $(printf '%q' "$n")"
done
check "all deleted" [ "$(json_names)" = "" ]

# ---- bad input ------------------------------------------------------------------------
snap create "$S" keep >/dev/null

# expect_error DESC PATTERN ARG...: ghostfs snapshot ARG... exits 1 or 2,
# prints nothing on stdout and one line on stderr matching the extended
# regex PATTERN; the store is unchanged (state).
expect_error() {
    local desc=$1 pattern=$2 rc=0 before after problems=()
    shift 2
    before=$(state)
    snap "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
    after=$(state)
    if [ "$rc" -ne 1 ] && [ "$rc" -ne 2 ]; then
        problems+=("exit status $rc")
    fi
    if [ "$(wc -l <"$T/err")" -ne 1 ]; then
        problems+=("$(wc -l <"$T/err") lines on stderr, not one")
    elif ! grep -Eq -- "$pattern" "$T/err"; then
        problems+=("stderr does not match /$pattern/")
    fi
    if [ -s "$T/out" ]; then
        problems+=("output on stdout")
    fi
    if [ "$before" != "$after" ]; then
        problems+=("the store changed")
    fi
    if [ "${#problems[@]}" -eq 0 ]; then
        pass "$desc (exit $rc): $(cat "$T/err")"
    else
        fail "$desc: ghostfs snapshot $* -> $(printf '%s; ' "${problems[@]}")stderr:"
        head -n 5 "$T/err" | sed 's/^/        /' >&2
    fi
}

bad_input() { # the checks, run on the unmounted store and beside a mount
    local w=$1
    expect_error "$w: a name with '/'" "create: .*snapstore: snapshot name 'a/b' contains '/'" \
        create "$S" a/b
    expect_error "$w: an empty name" "snapstore: snapshot name '' is empty" create "$S" ""
    expect_error "$w: a name of 256 bytes" "snapstore: snapshot name 'nnn.*' is 256 bytes" \
        create "$S" "n$long"
    expect_error "$w: the name '.'" "snapstore: snapshot name '\.' is reserved" create "$S" .
    expect_error "$w: the name '..'" "snapstore: snapshot name '\.\.' is reserved" \
        create "$S" ..
    expect_error "$w: delete '..'" "delete: .*snapstore: snapshot name '\.\.' is reserved" \
        delete "$S" ..
    expect_error "$w: an existing name" "create: .*snapstore: snapshot 'keep' already exists" \
        create "$S" keep
    expect_error "$w: a missing name" "delete: .*snapstore: no snapshot named 'gone'" \
        delete "$S" gone
    expect_error "$w: create without a name" "create: which snapshot" create "$S"
    expect_error "$w: delete without a name" "delete: which snapshot" delete "$S"
    expect_error "$w: an extra argument" "unexpected argument 'extra'" create "$S" x extra
    expect_error "$w: an unknown option" "unknown option '--xml'" list "$S" --xml
    expect_error "$w: --json on create" "unknown option '--json'" create "$S" x --json
}

expect_error "no subcommand" "which subcommand"
expect_error "an unknown subcommand" "unknown subcommand 'frob'" frob "$S"
expect_error "list without a store" "list: which store" list
echo "just some text" >"$T/text"
mkdir "$T/a-directory"
expect_error "a missing store" "list: .*/nope: no such store" list "$T/nope"
expect_error "create in a missing store" "create: .*/nope: no such store" create "$T/nope" x
check "... made no file" [ ! -e "$T/nope" ] && [ ! -e "$T/nope-lock" ]
expect_error "a text file" "create: .*/text: not a ghostfs store" create "$T/text" x
expect_error "a directory" "list: .*/a-directory: not a ghostfs store" list "$T/a-directory"
bad_input unmounted

# ---- beside a live mount that is being written ---------------------------------------
mount_fs "$S" "$M"
echo "before" >"$M/file"
sync "$M/file"
writer() {
    local i=0
    while :; do
        i=$((i + 1))
        echo "line $i" >>"$M/file"
        echo "$i" >"$M/f$((i % 50))"
        if [ $((i % 100)) -eq 0 ]; then sync "$M/file"; fi
    done
}
writer 2>/dev/null &
WRITER=$!
WRITING=1
stop_writer() {
    kill "$WRITER" 2>/dev/null || true
    wait "$WRITER" 2>/dev/null || true
}
at_cleanup stop_writer
sleep 1
check "create while mounted and written" snap create "$S" live
check "it lists" [ "$(json_names)" = "$(expected_names keep live)" ]
listed=$(snap list "$S")
listed_json=$(snap list "$S" --json)
sleep 1.5 # past the mount's commit interval: its writes are committed
sync "$M/file"
check "writes went on" [ "$(wc -l <"$M/file")" -gt 10 ]
check "later writes leave the table as it was" [ "$(snap list "$S")" = "$listed" ]
check "... and the JSON" [ "$(snap list "$S" --json)" = "$listed_json" ]
bad_input mounted
check "create a second one while written" snap create "$S" live2
check "delete while mounted" snap delete "$S" live2
check "it no longer lists" [ "$(json_names)" = "$(expected_names keep live)" ]
stop_writer
check "the mount still works" sh -c "echo after >>'$M/file' && tail -n 1 '$M/file' | grep -qx after"
check "unmount" umount_fs "$M"
check "the snapshots outlive the mount" [ "$(snap list "$S" --json)" = "$listed_json" ]

finish
