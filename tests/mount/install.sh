#!/usr/bin/env bash
#
# tests/mount/install.sh - what `meson install` leaves runs as it is: the
# build is installed into a DESTDIR (meson install --no-rebuild, from
# $MESON_BUILD with $MESON), and there, with no LD_LIBRARY_PATH, the
# installed ghostfs finds the installed libghost (its RUNPATH is relative
# to itself, fs/meson.build) and answers --version and --help; the man page
# ghostfs(1) is in share/man/man1 and formats without a warning; mount(8)'s
# helpers in sbin point at the installed ghostfs. Mounts nothing.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

if [ -z "${MESON:-}" ] || [ -z "${MESON_BUILD:-}" ]; then
    say "set MESON (the meson program) and MESON_BUILD (a configured build directory)"
    exit 1
fi
command -v readelf >/dev/null || skip "readelf is not installed"
command -v ldd >/dev/null || skip "ldd is not installed"
T=$(mktemp -d "${TMPDIR:-/tmp}/ghostfs-install.XXXXXX")
trap 'rm -rf "$T"' EXIT

D=$T/dest
"$MESON" install -C "$MESON_BUILD" --no-rebuild --quiet --destdir "$D" >"$T/install.log" 2>&1 ||
    {
        cat "$T/install.log" >&2
        fail "meson install --destdir failed"
        finish
    }
pass "meson install --destdir"

# The build's own prefix and directories, from meson itself.
"$MESON" introspect "$MESON_BUILD" --buildoptions >"$T/options.json"
opt() { python3 -c 'import json,sys; print(next(o["value"] for o in json.load(open(sys.argv[1]))
    if o["name"] == sys.argv[2]))' "$T/options.json" "$1"; }
prefix=$(opt prefix)
bin=$D$prefix/$(opt bindir)/ghostfs
lib=$D$prefix/$(opt libdir)
man=$D$prefix/$(opt mandir)/man1/ghostfs.1

check "ghostfs is installed in bindir" test -x "$bin"
check "libghost.so.0 is installed in libdir" test -e "$lib/libghost.so.0"
check "the installed ghostfs has a RUNPATH" grep -q RUNPATH <(readelf -d "$bin")
# ldd resolves libraries as the loader would at run time: libghost must come
# from the installed libdir, whatever else the machine holds.
found=$(env -u LD_LIBRARY_PATH ldd "$bin" | awk '$1 == "libghost.so.0" { print $3 }')
check "the installed ghostfs finds the installed libghost ($found)" \
    test "$(readlink -f "$found")" = "$(readlink -f "$lib/libghost.so.0")"
check "the installed ghostfs runs: --version" \
    grep -q '^ghostfs ' <(env -u LD_LIBRARY_PATH "$bin" --version)
check "the installed ghostfs runs: --help" \
    grep -q '^usage: ghostfs mkfs' <(env -u LD_LIBRARY_PATH "$bin" --help)
for alias in mount.ghostfs mount.fuse.ghostfs; do
    link=$D$prefix/$(opt sbindir)/$alias
    check "sbin/$alias points at the installed ghostfs" \
        test "$(readlink "$link")" = "$prefix/$(opt bindir)/ghostfs"
done

check "ghostfs(1) is installed in share/man/man1" test -s "$man"
if command -v man >/dev/null; then
    MANWIDTH=80 man --warnings -l "$man" >"$T/man.txt" 2>"$T/man.err" || true
    check "man formats ghostfs(1) without a warning" test ! -s "$T/man.err"
    for section in NAME SYNOPSIS DESCRIPTION COMMANDS 'MOUNT OPTIONS' 'THE CONTROL TREE' \
        'EXTENDED ATTRIBUTES' 'EXIT STATUS' FILES 'SEE ALSO'; do
        check "ghostfs(1) has the section $section" grep -qx "$section" "$T/man.txt"
    done
    # Every mount option ghostfs --help lists is in the man page.
    "$bin" --help | sed -n '/^Mount options/,/^  and the usual/p' |
        sed -n 's/^  \([a-z_][a-z_]*=\{0,1\}\)[A-Za-z|]* .*/\1/p' | grep -vx and |
        sort -u >"$T/opts"
    check "ghostfs --help lists mount options ($(wc -l <"$T/opts"))" test "$(wc -l <"$T/opts")" -gt 10
    while read -r o; do
        check "ghostfs(1) describes the mount option $o" grep -q -- "$o" "$T/man.txt"
    done <"$T/opts"
else
    fail "man is not installed (tests/deps.sh installs man-db): ghostfs(1) was not checked"
fi
finish
