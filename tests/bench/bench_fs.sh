#!/usr/bin/env bash
#
# tests/bench/bench_fs.sh - the same file system workloads, in one run, on
#
#   ghostfs   a ghostfs mount whose store is on tmpfs (/dev/shm)
#   zfs-fuse  a zfs-fuse pool on a 2 GiB sparse file on tmpfs (/dev/shm)
#   tmpfs     a fresh tmpfs: the kernel's own bound, no FUSE at all
#
# and a table of the times, the ratios and the daemons' CPU seconds, with the
# project's targets marked met or missed. See tests/bench/README.md.
#
#   tests/bench/bench_fs.sh [--quick] [options]
#
#   --quick              smoke run: 128 MiB, 2,000 files, a 1,000-file tree, 1 run
#   --mib N              size of the sequential file (default 1024)
#   --files N            files for the create/stat/readdir/unlink phases (20000)
#   --tree N             regular files in the untar tree (10000)
#   --passes N           passes over the files in the stat-cached and the
#                        readdir phases (default 5)
#   --runs N             run everything N times (default 3); the table shows
#                        each phase's best run, the TSV every run
#   --fs LIST            which of ghostfs,zfs-fuse,tmpfs to run (default all)
#   --ghostfs-opts OPTS  mount options for ghostfs (default sync=batch)
#   --profile DIR        record `perf record -g` of the ghostfs daemon for each
#                        phase into DIR/PHASE-runN.data (times are then perturbed)
#   --tsv FILE           also write the results as tab-separated values
#   --no-install         do not apt-get install zfs-fuse when it is missing
#
# Needs root (mounts, drop_caches, the zfs-fuse daemon). Before each "cold"
# phase every page cache is dropped (echo 3 > /proc/sys/vm/drop_caches), the
# ghostfs daemon is restarted (unmount, mount) and the zfs pool is exported
# and imported, so neither daemon keeps anything cached either.
#
# BUILD=DIR uses that build directory (default build-bench, configured with
# -Dbuildtype=release when it does not exist); GHOSTFS=PATH uses that binary.
# Whatever happens, the trap unmounts everything, ends the daemons it started
# (by PID), destroys the pool and deletes its scratch directory.
set -euo pipefail

here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
cd "$here/../.."
root=$PWD

mib=1024 files=20000 tree=10000 passes=5 runs=3
fslist="ghostfs,zfs-fuse,tmpfs"
gopts="sync=batch"
profile="" tsv="" install=1
while [ $# -gt 0 ]; do
    case $1 in
    --quick) mib=128 files=2000 tree=1000 passes=2 runs=1 ;;
    --runs) runs=$2; shift ;;
    --mib) mib=$2; shift ;;
    --files) files=$2; shift ;;
    --tree) tree=$2; shift ;;
    --passes) passes=$2; shift ;;
    --fs) fslist=$2; shift ;;
    --ghostfs-opts) gopts=$2; shift ;;
    --profile) profile=$(readlink -f "$2"); shift ;;
    --tsv) tsv=$(readlink -m "$2"); shift ;;
    --no-install) install=0 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_fs: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

log() { printf '%s\n' "=== $*" >&2; }
die() { printf 'bench_fs: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (mounts, drop_caches, zfs-fuse)"
[ -d /dev/shm ] && [ -w /dev/shm ] || die "/dev/shm is not a writable tmpfs"
has_fs() { case ",$fslist," in *",$1,"*) return 0 ;; esac; return 1; }

# ---- state the trap needs -----------------------------------------------------------

work=""              # scratch directory on /dev/shm
gmnt="" gpid=""      # ghostfs mountpoint, daemon PID
zmnt="" zpid=""      # zfs-fuse mountpoint, daemon PID (only if we started it)
pool=benchpool pool_made=0
tmnt="" tmounted=0   # tmpfs mountpoint
perf_pid=""

is_mounted() { [ -n "$1" ] && awk -v m="$1" '$5 == m {f=1} END {exit !f}' /proc/self/mountinfo; }

# wait_gone PID SECONDS: wait for a process to end; 0 if it did
wait_gone() {
    local pid=$1 n=$(($2 * 10))
    while [ "$n" -gt 0 ] && kill -0 "$pid" 2>/dev/null; do
        sleep 0.1
        n=$((n - 1))
    done
    ! kill -0 "$pid" 2>/dev/null && { wait "$pid" 2>/dev/null || true; }
}

stop_pid() { # PID: TERM, then KILL after 30 s
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 0
    kill -TERM "$1" 2>/dev/null || true
    wait_gone "$1" 30 || { kill -KILL "$1" 2>/dev/null || true; wait_gone "$1" 5 || true; }
}

cleanup() {
    set +e
    trap - EXIT INT TERM
    if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null; wait_gone "$perf_pid" 10; fi
    if is_mounted "$gmnt"; then
        fusermount3 -u "$gmnt" 2>/dev/null || fusermount3 -uz "$gmnt"
    fi
    if [ -n "$gpid" ]; then wait_gone "$gpid" 60 || stop_pid "$gpid"; fi
    if [ "$pool_made" = 1 ] && zpool list "$pool" >/dev/null 2>&1; then # not if exported
        zpool destroy -f "$pool" || echo "bench_fs: could not destroy pool $pool" >&2
    fi
    if is_mounted "$zmnt"; then fusermount3 -uz "$zmnt"; fi
    [ -z "$zpid" ] || stop_pid "$zpid"
    if [ "$tmounted" = 1 ] && is_mounted "$tmnt"; then umount "$tmnt" || umount -l "$tmnt"; fi
    if [ -n "$work" ]; then rm -rf --one-file-system "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

work=$(mktemp -d /dev/shm/ghostfs-bench.XXXXXX)
mkdir -p "$work/mnt"

# ---- build --------------------------------------------------------------------------

if [ -n "${GHOSTFS:-}" ]; then
    ghostfs=$(readlink -f "$GHOSTFS")
    buildtype="given ($ghostfs)"
elif has_fs ghostfs; then
    build=${BUILD:-build-bench}
    if [ ! -f "$build/build.ninja" ]; then
        meson setup "$build" -Dbuildtype=release >&2 || die "meson setup $build failed"
    fi
    ninja -C "$build" fs/ghostfs >&2 || die "cannot build fs/ghostfs in $build"
    ghostfs=$root/$build/fs/ghostfs
    buildtype=$(meson introspect --buildoptions "$build" 2>/dev/null |
        python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"))' 2>/dev/null ||
        echo unknown)
    [ "$buildtype" = release ] || log "warning: $build is a '$buildtype' build, not release"
fi
fileops=$work/fileops
gcc -O2 -Wall -pthread "$here/fileops.c" -o "$fileops" || die "cannot compile fileops.c"

if has_fs zfs-fuse && ! command -v zfs-fuse >/dev/null; then
    if [ "$install" = 1 ]; then
        log "installing zfs-fuse"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zfs-fuse; } >&2 ||
            die "cannot install zfs-fuse (use --fs ghostfs,tmpfs to leave it out)"
    else
        die "zfs-fuse is not installed (use --fs ghostfs,tmpfs to leave it out)"
    fi
fi

# ---- the tree for the untar phases --------------------------------------------------

tarball=$work/tree.tar
{ find /usr/include /usr/share/doc -type f 2>/dev/null | LC_ALL=C sort | head -n "$tree" |
    sed 's|^/||' >"$work/tree.list"; } || true
tree_files=$(wc -l <"$work/tree.list")
[ "$tree_files" -gt 0 ] || die "no files under /usr/include or /usr/share/doc for the tree"
tar -cf "$tarball" -C / --files-from "$work/tree.list" 2>/dev/null || die "cannot make $tarball"
tree_bytes=$(tar -tvf "$tarball" | awk '{s += $3} END {print s + 0}')
tree_dirs=$(sed 's|/[^/]*$||' "$work/tree.list" | sort -u | wc -l)
grep_word=zyzzyvaghostfsbench # matches nothing: grep reads every byte

# ---- helpers ------------------------------------------------------------------------

clk_tck=$(getconf CLK_TCK)
ticks() { # PID -> utime+stime in clock ticks, all threads, live and ended
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] || { echo 0; return; }
    sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

drop_caches() {
    sync
    echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || log "warning: cannot drop caches"
}

ghost_mount() {
    "$ghostfs" mount "$work/store" "$gmnt" -f -o "$gopts" >>"$work/ghostfs.log" 2>&1 &
    gpid=$!
    local n=300
    until is_mounted "$gmnt"; do
        kill -0 "$gpid" 2>/dev/null || die "ghostfs daemon died while mounting: $(tail -5 "$work/ghostfs.log")"
        [ $((n -= 1)) -gt 0 ] || die "ghostfs did not mount in 30 s"
        sleep 0.1
    done
}

ghost_umount() {
    fusermount3 -u "$gmnt" || die "cannot unmount $gmnt"
    wait_gone "$gpid" 120 || die "ghostfs daemon $gpid still running 120 s after unmount"
    gpid=""
}

zfs_cold() {
    zpool export "$pool" || die "zpool export $pool failed"
    zpool import -d "$work/zpool" -o cachefile=none "$pool" || die "zpool import $pool failed"
    is_mounted "$zmnt" || die "$pool did not mount again on $zmnt"
}

# cold FS: nothing cached anywhere: not in the kernel, not in the daemon
cold() {
    case $1 in
    ghostfs) ghost_umount; drop_caches; ghost_mount ;;
    zfs-fuse) sync; zfs_cold; drop_caches ;;
    tmpfs) drop_caches ;;
    esac
}

daemon_of() {
    case $1 in
    ghostfs) echo "$gpid" ;;
    zfs-fuse) echo "${zpid:-$(cat "$work/zfs-fuse.pid" 2>/dev/null || true)}" ;;
    *) echo "" ;;
    esac
}

declare -A T CPU ALL
run=0
phases=()
out=""
now() { date +%s.%N; }

# phase FS NAME CMD...: run CMD; the time is what it prints last when it is
# fileops, its wall-clock time otherwise; the daemon's CPU seconds are read
# from /proc/PID/stat before and after.
phase() {
    local fs=$1 name=$2 t0 t1 c0 c1 dpid t cpu=""
    shift 2
    dpid=$(daemon_of "$fs")
    [[ " ${phases[*]} " == *" $name "* ]] || phases+=("$name")
    if [ -n "$profile" ] && [ "$fs" = ghostfs ]; then
        mkdir -p "$profile"
        perf record -q -g -p "$dpid" -o "$profile/$name-run$run.data" 2>>"$work/perf.log" &
        perf_pid=$!
        sleep 0.5
    fi
    c0=$(ticks "$dpid")
    t0=$(now)
    out=$("$@") || die "$fs: phase $name failed: $*" # global: checked after find
    t1=$(now)
    c1=$(ticks "$dpid")
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid"
        wait_gone "$perf_pid" 30 || true
        perf_pid=""
    fi
    if [ "$1" = "$fileops" ]; then
        t=$(tail -n 1 <<<"$out")
    else
        t=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f", b - a}')
    fi
    if [ -n "$dpid" ]; then
        cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$clk_tck" 'BEGIN {printf "%.2f", (b - a) / hz}')
    fi
    ALL[$fs:$name]+="${ALL[$fs:$name]:+ }$t"
    # the table shows the best run, and the daemon CPU of that run
    if [ -z "${T[$fs:$name]:-}" ] || awk -v a="$t" -v b="${T[$fs:$name]}" 'BEGIN {exit !(a < b)}'; then
        T[$fs:$name]=$t
        CPU[$fs:$name]=$cpu
    fi
    printf 'run %d %-9s %-12s %9.3f s%s\n' "$run" "$fs" "$name" "$t" "${cpu:+   daemon CPU $cpu s}" >&2
}

# the commands of the phases that are not fileops
untar() { tar -xf "$tarball" -C "$1" && sync -f "$1"; }
find_all() { # stats every file: prints the count and the bytes, checked below
    find "$1" -type f -printf '%s\n' | awk '{n++; s += $1} END {print n + 0, s + 0}'
}
grep_all() {
    local rc=0
    grep -r -l -F "$grep_word" "$1" || rc=$?
    [ "$rc" = 1 ] # 1: read everything, matched nothing; 0 or 2 are wrong
}

workloads() {
    local fs=$1 m=$2
    log "$fs: sequential ${mib} MiB"
    phase "$fs" seq-write "$fileops" write "$m/big" "$mib"
    cold "$fs"
    phase "$fs" seq-read "$fileops" read "$m/big" "$mib"
    rm -f "$m/big"

    log "$fs: $files files"
    phase "$fs" create-1t "$fileops" create "$m/d1" "$files" 1
    phase "$fs" create-2t "$fileops" create "$m/d2" "$files" 2
    cold "$fs"
    phase "$fs" stat-cold "$fileops" stat "$m/d1" "$files" 1
    phase "$fs" stat-cached "$fileops" stat "$m/d1" "$files" 1 "$passes"
    phase "$fs" readdir "$fileops" readdir "$m/d1" "$files" "$passes"
    phase "$fs" unlink-1t "$fileops" unlink "$m/d1" "$files" 1
    phase "$fs" unlink-2t "$fileops" unlink "$m/d2" "$files" 2
    rmdir "$m/d1" "$m/d2"

    log "$fs: tree of $tree_files files"
    mkdir "$m/tree"
    phase "$fs" untar untar "$m/tree"
    cold "$fs"
    phase "$fs" find find_all "$m/tree"
    [ "$out" = "$tree_files $tree_bytes" ] ||
        die "$fs: find saw '$out' (files bytes), the tarball has '$tree_files $tree_bytes'"
    phase "$fs" grep-r grep_all "$m/tree"
    phase "$fs" rm-rf rm -rf "$m/tree"
    [ -z "$(ls -A "$m")" ] || die "$fs: $m is not empty after the run: $(ls -A "$m" | head)"
}

run_ghostfs() {
    gmnt=$work/mnt/ghostfs
    mkdir -p "$gmnt"
    rm -f "$work/store" "$work/store-lock" "$work/store-changes"
    "$ghostfs" mkfs "$work/store" >/dev/null || die "ghostfs mkfs failed"
    ghost_mount
    workloads ghostfs "$gmnt"
    ghost_umount
    log "ghostfs store after the run: $(du -h "$work/store" | cut -f1)"
}

run_zfs() {
    zmnt=$work/mnt/zfs
    mkdir -p "$work/zpool"
    rm -f "$work/zpool/pool.img"
    truncate -s 2G "$work/zpool/pool.img"
    if zpool list >/dev/null 2>&1; then
        log "a zfs-fuse daemon is already running: using it (it will not be stopped)"
    else
        zfs-fuse -n -p "$work/zfs-fuse.pid" >>"$work/zfs-fuse.log" 2>&1 &
        zpid=$!
        local n=300
        until zpool list >/dev/null 2>&1; do
            kill -0 "$zpid" 2>/dev/null || die "zfs-fuse died: $(tail -5 "$work/zfs-fuse.log")"
            [ $((n -= 1)) -gt 0 ] || die "zfs-fuse did not answer in 30 s"
            sleep 0.1
        done
    fi
    ! zpool list "$pool" >/dev/null 2>&1 || die "a pool named $pool exists already: not touching it"
    zpool create -o cachefile=none -m "$zmnt" "$pool" "$work/zpool/pool.img" >&2 ||
        die "zpool create failed"
    pool_made=1
    is_mounted "$zmnt" || die "$pool is not mounted on $zmnt"
    workloads zfs-fuse "$zmnt"
    local try
    for try in 1 2 3 4 5; do # zfs-fuse may call the pool busy for a moment
        zpool destroy "$pool" 2>/dev/null && break
        sleep 1
    done
    if [ "$try" = 5 ] && zpool list "$pool" >/dev/null 2>&1; then
        zpool destroy -f "$pool" || die "zpool destroy $pool failed"
    fi
    pool_made=0
    if [ -n "$zpid" ]; then stop_pid "$zpid"; zpid=""; fi
}

run_tmpfs() {
    tmnt=$work/mnt/tmpfs
    mkdir -p "$tmnt"
    mount -t tmpfs -o size=$((mib + 1024))m,mode=0755 benchtmpfs "$tmnt" || die "cannot mount a tmpfs"
    tmounted=1
    workloads tmpfs "$tmnt"
    umount "$tmnt"
    tmounted=0
}

# ---- run ----------------------------------------------------------------------------

cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
log "machine: $(nproc) CPUs ($cpu), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), kernel $(uname -r)"
has_fs ghostfs && log "ghostfs: $ghostfs (build: $buildtype), -o $gopts, store on /dev/shm"
has_fs zfs-fuse && log "zfs-fuse: $(dpkg-query -W -f='${Version}' zfs-fuse 2>/dev/null || echo '?'), settings from /etc/zfs/zfsrc: $(grep -v '^#' /etc/zfs/zfsrc 2>/dev/null | grep . | tr '\n' ' ' | sed 's/  */ /g')"
log "sizes: ${mib} MiB file, $files files, tree of $tree_files files in $tree_dirs directories ($((tree_bytes / 1048576)) MiB), stat-cached and readdir x$passes, $runs run(s)"

load0=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average at the start: $load0 (anything else running makes every figure worse)"
started=$(now)
# each run makes every file system anew; the runs interleave the file
# systems, so that whatever else the machine does falls on all of them
for run in $(seq 1 "$runs"); do
    for fs in ${fslist//,/ }; do
        case $fs in
        ghostfs) run_ghostfs ;;
        zfs-fuse) run_zfs ;;
        tmpfs) run_tmpfs ;;
        *) die "unknown file system '$fs' in --fs" ;;
        esac
    done
done
elapsed=$(awk -v a="$started" -v b="$(now)" 'BEGIN {printf "%.0f", b - a}')

# ---- the table ----------------------------------------------------------------------

# target PHASE -> "zfs X" (ghostfs at least X times zfs-fuse's speed),
# "tmpfs X" (at least X times tmpfs's speed) or nothing
target() {
    case $1 in
    seq-write) echo "zfs 1.5" ;;
    seq-read) echo "zfs 2" ;;
    create-*|unlink-*|untar|find|grep-r|rm-rf) echo "zfs 1" ;;
    stat-cached) echo "tmpfs 0.7" ;;
    *) echo "" ;;
    esac
}

fmt_t() { [ -n "${1:-}" ] && printf '%.3f' "$1" || printf -- '-'; }
ratio() { # speed of ghostfs relative to the other: other time / ghostfs time
    [ -n "${1:-}" ] && [ -n "${2:-}" ] && awk -v g="$1" -v o="$2" 'BEGIN {if (g > 0) printf "%.2f", o / g; else printf "inf"}' ||
        printf -- '-'
}

met=0 missed=0
{
    printf '\n%-12s %10s %10s %10s %9s %9s %8s %8s  %s\n' phase "ghostfs s" "zfs-fuse s" "tmpfs s" \
        "vs zfs" "vs tmpfs" "gfs CPU" "zfs CPU" target
    for p in "${phases[@]}"; do
        g=${T[ghostfs:$p]:-} z=${T[zfs-fuse:$p]:-} t=${T[tmpfs:$p]:-}
        rz=$(ratio "$g" "$z") rt=$(ratio "$g" "$t")
        tgt=$(target "$p") verdict=""
        if [ -n "$tgt" ]; then
            set -- $tgt
            r=$([ "$1" = zfs ] && echo "$rz" || echo "$rt")
            if [ "$r" = - ]; then
                verdict="(>= $2x $1: not measured)"
            elif awk -v r="$r" -v x="$2" 'BEGIN {exit !(r == "inf" || r + 0 >= x)}'; then
                verdict=">= $2x $1: met"
                met=$((met + 1))
            else
                verdict=">= $2x $1: MISSED"
                missed=$((missed + 1))
            fi
        fi
        printf '%-12s %10s %10s %10s %9s %9s %8s %8s  %s\n' "$p" "$(fmt_t "$g")" "$(fmt_t "$z")" \
            "$(fmt_t "$t")" "$rz" "$rt" "${CPU[ghostfs:$p]:--}" "${CPU[zfs-fuse:$p]:--}" "$verdict"
    done
    printf '\nTimes: the best of %d runs. vs zfs, vs tmpfs: how many times faster ghostfs is (other time / ghostfs time).\n' "$runs"
    printf 'gfs CPU, zfs CPU: user+system seconds of the ghostfs and zfs-fuse daemons in the phase.\n'
    printf 'targets: %d met, %d missed. Whole run: %s s; load average at the start %s, at the end %s.\n' \
        "$met" "$missed" "$elapsed" "$load0" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

if [ -n "$tsv" ]; then
    {
        printf 'phase\tghostfs_s\tzfs_fuse_s\ttmpfs_s\tghostfs_cpu_s\tzfs_fuse_cpu_s\tghostfs_all\tzfs_fuse_all\ttmpfs_all\n'
        for p in "${phases[@]}"; do
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "${T[ghostfs:$p]:-}" "${T[zfs-fuse:$p]:-}" \
                "${T[tmpfs:$p]:-}" "${CPU[ghostfs:$p]:-}" "${CPU[zfs-fuse:$p]:-}" \
                "${ALL[ghostfs:$p]:-}" "${ALL[zfs-fuse:$p]:-}" "${ALL[tmpfs:$p]:-}"
        done
    } >"$tsv"
fi
exit 0
