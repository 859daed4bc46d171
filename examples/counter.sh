#!/usr/bin/env bash
#
# examples/counter.sh - install the packages that are missing, build, and run two
# counter processes at once against one store; then check that the totals in
# the store are exactly the sum of what the two processes added: the object
# store used directly, without the filesystem. Works from any directory.
#
#   examples/counter.sh [ADDS_PER_THREAD [THREADS]]     (default 2000 and 4)
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
# shellcheck source=SCRIPTDIR/../tests/deps.sh
. tests/deps.sh
ghost_install_deps

adds=${1:-2000}
threads=${2:-4}

if [ ! -f build/meson-private/coredata.dat ]; then
    meson setup build
fi
ninja -C build examples/counter
counter=$PWD/build/examples/counter

tmp=$(mktemp -d)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

store=$tmp/store
echo
echo "== a new store: $store"
"$counter" "$store" --mkfs --adds 0 >/dev/null

echo "== two counters at once, each $threads threads x $adds hits on 8 pages"
"$counter" "$store" --adds "$adds" --threads "$threads" >"$tmp/a.out" &
pids+=($!)
"$counter" "$store" --adds "$adds" --threads "$threads" >"$tmp/b.out" &
pids+=($!)
rc=0
for pid in "${pids[@]}"; do
    wait "$pid" || rc=$?
done
pids=()
for out in a b; do
    echo "-- counter $out:"
    cat "$tmp/$out.out"
done
if [ "$rc" -ne 0 ]; then
    echo "demo: a counter failed (exit $rc)" >&2
    exit 1
fi

echo "-- the store afterwards:"
"$counter" "$store" --adds 0 | tee "$tmp/final.out"

added() { awk '$3 == "added" { print $4 }' "$1"; }
commits() { awk '$3 == "ghost_stats:" { sub(",", "", $5); print $5 }' "$1"; }
a=$(added "$tmp/a.out")
b=$(added "$tmp/b.out")
total=$(awk '$1 == "all" && $2 == "pages" { print $3 }' "$tmp/final.out")
echo
if [ "$((a + b))" -ne "$total" ]; then
    echo "demo: FAILED: $a + $b = $((a + b)), but the store holds $total" >&2
    exit 1
fi
echo "OK: $a + $b = $total: no increment was lost."
# Every hit that changed a counter added 1 and was one commit; bot hits wrote
# nothing and so committed nothing.
if [ "$(commits "$tmp/a.out")" != "$a" ] || [ "$(commits "$tmp/b.out")" != "$b" ]; then
    echo "demo: FAILED: ghost_stats counted commits that wrote nothing" >&2
    exit 1
fi
echo "OK: the commits each process made are exactly its increments; bot hits committed nothing."
