#!/usr/bin/env bash
#
# tests/bench/run.sh - build bench_txn and run it twice: on a tmpfs
# (/dev/shm, where no sync costs anything and the numbers show the CPU cost
# of each layer) and on the disk ($TMPDIR or /tmp, where sync=batch and
# sync=always pay for real fsyncs). Both tables are printed.
#
#   tests/bench/run.sh [bench_txn options...]      e.g. --seconds 1 --json
#   (bench_txn --help lists them)
#
# BUILD=DIR uses that build directory (configured here if it is not yet);
# the default is build/. Published figures should come from a release build:
#   meson setup build-bench -Dbuildtype=release
#   BUILD=build-bench tests/bench/run.sh --repeat 5 --seconds 2
# If meson cannot configure the tree, bench_txn is compiled straight from
# src/*.c with gcc -O2 instead. Benchmarks never run under `meson test`.
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.."
build=${BUILD:-build}
bench=""
scratch=""
trap '[ -z "$scratch" ] || rm -rf "$scratch"' EXIT

build_with_meson() {
    if [ -f "$build/build.ninja" ]; then
        :
    elif [ -f "$build/meson-private/coredata.dat" ]; then
        meson setup --reconfigure "$build" || meson setup --wipe "$build" || return 1
    else
        meson setup "$build" || return 1
    fi
    ninja -C "$build" tests/bench/bench_txn || return 1
    bench=$build/tests/bench/bench_txn
    buildtype=$(meson introspect --buildoptions "$build" |
        python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"))' ||
        echo unknown)
}

build_with_gcc() {
    scratch=$(mktemp -d "${TMPDIR:-/tmp}/bench_txn-build.XXXXXX")
    gcc -O2 -D_GNU_SOURCE -Isrc src/*.c tests/bench/bench_txn.c -llmdb -lxxhash -lpthread \
        -o "$scratch/bench_txn" || return 1
    bench=$scratch/bench_txn
    buildtype="gcc -O2 (meson failed)"
}

if ! build_with_meson; then
    echo "=== meson could not build $build; compiling bench_txn with gcc -O2 instead" >&2
    build_with_gcc
fi

disk=${TMPDIR:-/tmp}
status=0
echo "=== bench_txn ($bench, build: $buildtype)"
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    echo "=== on tmpfs: /dev/shm"
    "$bench" --dir /dev/shm "$@" || status=$?
    echo
else
    echo "=== /dev/shm is missing or not writable: tmpfs run skipped"
fi
echo "=== on disk: $disk"
"$bench" --dir "$disk" "$@" || status=$?
exit "$status"
