#!/usr/bin/env bash
#
# tests/check_format.sh - every C source and header of the project is as
# clang-format formats it with the project's .clang-format. Prints the files
# that differ (with `clang-format --dry-run`'s first complaints) and exits 1;
# exits 77 (skipped) when clang-format is missing. Fix with:
#   clang-format -i $(git ls-files '*.c' '*.h')
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
if ! command -v clang-format >/dev/null; then
    echo "clang-format is not installed: format check skipped"
    exit 77
fi
bad=0
while IFS= read -r f; do
    if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f"
        clang-format --dry-run -Werror "$f" 2>&1 | head -4
        bad=1
    fi
done < <(git ls-files '*.c' '*.h' 2>/dev/null || find src fs tests examples -name '*.[ch]')
exit "$bad"
