#!/usr/bin/env bash
#
# tests/run.sh - install the packages that are missing, check the code's
# format, build, run every test;
# then build again with AddressSanitizer and UndefinedBehaviorSanitizer in
# build-asan/ and run every test there too (SKIP_ASAN=1 skips that part).
# Exits non-zero if anything failed. Works from any directory.
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
# shellcheck source=SCRIPTDIR/deps.sh
. tests/deps.sh
ghost_install_deps

passed=0 failed=0 skipped=0 status=0

# Add up the results of the last `meson test` in build directory $1.
count_results() {
    local counts p f s
    counts=$(python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
n = {"pass": 0, "fail": 0, "skip": 0}
try:
    lines = open(sys.argv[1]).read().splitlines()
except OSError:
    lines = []
for line in lines:
    if line.strip():
        r = json.loads(line).get("result", "")
        n["pass" if r in ("OK", "EXPECTEDFAIL") else "skip" if r == "SKIP" else "fail"] += 1
print(n["pass"], n["fail"], n["skip"])
PY
)
    read -r p f s <<<"$counts"
    passed=$((passed + ${p:-0})) failed=$((failed + ${f:-0})) skipped=$((skipped + ${s:-0}))
}

# build_and_test DIR [meson options...]: configure DIR (again, if it exists),
# build it and run its tests. Returns non-zero if any step failed. Every
# failure is handled explicitly: errexit does not apply inside `f || ...`.
build_and_test() {
    local dir=$1 rc=0
    shift
    echo "=== $dir: configure, build, test"
    if [ -f "$dir/meson-private/coredata.dat" ]; then
        meson setup --reconfigure "$dir" "$@" || meson setup --wipe "$dir" "$@" || return 1
    else
        meson setup "$dir" "$@" || return 1
    fi
    ninja -C "$dir" || return 1
    rm -f "$dir/meson-logs/testlog.json"
    meson test -C "$dir" --print-errorlogs "${test_args[@]}" || rc=$?
    count_results "$dir"
    return "$rc"
}

# run DIR [options...]: build_and_test, and remember a failure.
run() {
    if ! build_and_test "$@"; then
        echo "=== $1: FAILED" >&2
        status=1
        if [ ! -f "$1/meson-logs/testlog.json" ]; then
            failed=$((failed + 1)) # did not build: count it as one failure
        fi
    fi
}

# The code is as the project's .clang-format lays it out.
echo "=== format: clang-format on every C source and header"
fmt_rc=0
bash tests/check_format.sh || fmt_rc=$?
case $fmt_rc in
0) passed=$((passed + 1)) ;;
77) skipped=$((skipped + 1)) ;;
*) failed=$((failed + 1)) status=1 ;;
esac

test_args=()
run build
if [ "${SKIP_ASAN:-0}" = 1 ]; then
    echo "=== build-asan: skipped (SKIP_ASAN=1)"
else
    test_args=(--timeout-multiplier 3)
    # UBSan only prints by default; here a runtime error fails its test.
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
    run build-asan -Db_sanitize=address,undefined -Db_lundef=false
fi

echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
