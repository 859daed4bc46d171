#!/usr/bin/env bash
#
# tests/bench/compare_fs.sh - two builds of ghostfs, side by side: bench_fs.sh's
# workloads on ghostfs alone, one run of each build per round, the builds'
# order alternating from round to round, and for every phase the median over
# the rounds of the speed ratio within each round (before's time / after's
# time: above 1 means the second build is faster), with the lowest and
# highest round. A slow spell of the machine slows both runs of a round
# alike, so the paired ratio is steadier than either build's own times.
# Which build runs second in a round matters on a busy machine (the second
# run of a round was seen up to 2x slower), so the rounds are even by
# default and the builds take each place equally often; the table also
# gives the median ratio of the rounds where AFTER ran first and of those
# where it ran second: when the two disagree, the order, not the code, made
# the difference.
#
#   tests/bench/compare_fs.sh BEFORE AFTER [--rounds N] [bench_fs.sh options...]
#
# BEFORE and AFTER are ghostfs binaries (release builds, e.g. built with
# `meson setup DIR -Dbuildtype=release` in two checkouts). Default 4 rounds;
# the other options go to bench_fs.sh (e.g. --quick, --files N). Needs what
# bench_fs.sh needs (root, /dev/fuse, /dev/shm).
set -euo pipefail

here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
die() { printf 'compare_fs: %s\n' "$*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: compare_fs.sh BEFORE AFTER [--rounds N] [bench_fs.sh options]"
before=$(readlink -f "$1") after=$(readlink -f "$2")
shift 2
[ -x "$before" ] || die "not an executable: $before"
[ -x "$after" ] || die "not an executable: $after"
rounds=4
args=()
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=$2; shift ;;
    *) args+=("$1") ;;
    esac
    shift
done

out=$(mktemp -d "${TMPDIR:-/tmp}/compare_fs.XXXXXX")
trap 'rm -rf "$out"' EXIT

for ((r = 1; r <= rounds; r++)); do
    order=(before after)
    [ $((r % 2)) = 0 ] && order=(after before)
    for which in "${order[@]}"; do
        bin=$before
        [ "$which" = after ] && bin=$after
        printf '=== round %d of %d: %s (%s)\n' "$r" "$rounds" "$which" "$bin" >&2
        GHOSTFS=$bin "$here/bench_fs.sh" --fs ghostfs --runs 1 --no-install \
            --tsv "$out/$which-$r.tsv" "${args[@]}" >"$out/$which-$r.log" 2>&1 ||
            { cat "$out/$which-$r.log" >&2; die "bench_fs.sh failed ($which, round $r)"; }
    done
done

python3 - "$out" "$rounds" <<'PY'
import csv, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def times(which, r):
    with open(f"{out}/{which}-{r}.tsv") as f:
        return {row["phase"]: float(row["ghostfs_s"]) for row in csv.DictReader(f, delimiter="\t")
                if row["ghostfs_s"]}
b = [times("before", r) for r in range(1, rounds + 1)]
a = [times("after", r) for r in range(1, rounds + 1)]
def med(xs):
    return f"{statistics.median(xs):.2f}" if xs else "-"
print(f"{'phase':<12} {'before s':>9} {'after s':>9} {'ratio':>6}  {'rounds':<11} "
      f"{'after 1st':>9} {'after 2nd':>9}")
for p in b[0]:
    pairs = [(i, b[i][p] / a[i][p]) for i in range(rounds) if p in a[i] and a[i][p] > 0]
    if not pairs:
        continue
    ratios = [r for _, r in pairs]
    first = [r for i, r in pairs if (i + 1) % 2 == 0]  # even rounds run AFTER first
    second = [r for i, r in pairs if (i + 1) % 2 == 1]
    print(f"{p:<12} {statistics.median(x[p] for x in b):9.3f} "
          f"{statistics.median(x[p] for x in a if p in x):9.3f} "
          f"{statistics.median(ratios):6.2f}  {min(ratios):.2f}-{max(ratios):.2f}"
          f"{'':<3} {med(first):>9} {med(second):>9}")
print(f"\nbefore s, after s: median time over {rounds} rounds. ratio: median over the rounds of"
      " before/after within the round (above 1: after is faster), then the lowest and highest round;"
      " after 1st / 2nd: the median ratio of the rounds where after ran first / second.")
PY
