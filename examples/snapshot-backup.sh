#!/usr/bin/env bash
#
# examples/snapshot-backup.sh - a nightly backup of a ghostfs store:
#
#   snapshot-backup.sh SOURCE DEST
#
#   SOURCE  a store file, or the mountpoint of a ghostfs mount (then the
#           snapshot is taken with mkdir in MOUNTPOINT/.ghostfs/snapshots,
#           which first commits what that daemon still buffers)
#   DEST    an existing directory: each snapshot is written there as a
#           stream file, NAME.stream (the first full, then incrementals);
#           anything else: a backup store, made by the first run, into
#           which each stream is piped through `ghostfs receive`
#
# Each run takes the snapshot PREFIX + the date and time (nightly-20240501-
# 020000), sends it - whole the first time, else as the changes since the
# newest of PREFIX's snapshots that DEST already has - and then deletes the
# source's PREFIX snapshots beyond the newest KEEP (never the one DEST has
# last: the next run's base). In a backup store it keeps the newest KEEP
# too. Stream files are never deleted: restoring replays them in order
# (receive the full one, then each incremental, into a new store); to start
# a new chain, move them away and the next run sends a full stream.
#
# Variables (environment):
#   KEEP=7            snapshots of PREFIX kept in the source (and backup store)
#   PREFIX=nightly-   what this script's snapshot names start with; others
#                     are left alone. One PREFIX per DEST: two DESTs
#                     sharing one would prune each other's bases
#   GHOSTFS=ghostfs   the ghostfs command
#
# Exit status 0 when the snapshot was taken, sent and old ones deleted; on
# any failure a line saying what failed on stderr and exit 1 (a half-written
# stream file is removed; a failed receive leaves the backup store as it
# was). A cron line:
#
#   30 2 * * *  root  /usr/local/bin/snapshot-backup.sh /srv/data.ghost /backup/data.ghost
set -euo pipefail

KEEP=${KEEP:-7}
PREFIX=${PREFIX:-nightly-}
GHOSTFS=${GHOSTFS:-ghostfs}
me=$(basename "$0")

die() {
    echo "$me: $*" >&2
    exit 1
}

usage() { sed -n '3,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    usage
    exit 0
fi
if [ $# -ne 2 ]; then
    usage >&2
    exit 2
fi
src=$1
dest=$2
case $KEEP in
'' | *[!0-9]* | 0) die "KEEP=$KEEP: want a whole number of snapshots, at least 1" ;;
esac
case $PREFIX in
'' | */* | -*) die "PREFIX=$PREFIX: want the start of a name, without '/', not starting with '-'" ;;
esac
command -v "$GHOSTFS" >/dev/null || die "$GHOSTFS: no such command (set GHOSTFS)"

# The store, and the mountpoint if SOURCE is one.
mnt=
if [ -d "$src" ]; then
    [ "$(findmnt -n -o FSTYPE --mountpoint "$src" 2>/dev/null)" = fuse.ghostfs ] ||
        die "$src: a directory, and no ghostfs filesystem is mounted there"
    mnt=$src
    store=$(findmnt -n -o SOURCE --mountpoint "$mnt")
    [ -f "$store" ] || die "$mnt: its store '$store' is not a file here"
else
    [ -f "$src" ] || die "$src: no such store or mountpoint"
    store=$src
fi

# names_in STORE: PREFIX's snapshots in STORE, oldest first (by generation).
names_in() {
    local out
    out=$("$GHOSTFS" snapshot list "$1") || die "cannot list the snapshots of $1"
    awk -v p="$PREFIX" 'NR > 1 && index($3, p) == 1 && NF == 3 { print $1, $3 }' <<<"$out" |
        sort -n | awk '{ print $2 }'
}

# dest_names: PREFIX's snapshots DEST holds, oldest first. (grep without -q
# below: -q would stop reading early and fail the pipe under pipefail.)
if [ -d "$dest" ]; then
    mode=files
    dest_names() { names_in "$store" | while read -r n; do
        if [ -s "$dest/$n.stream" ]; then echo "$n"; fi
    done; }
else
    mode=store
    dest_names() { if [ -e "$dest" ]; then names_in "$dest"; fi; }
fi
base=$(dest_names | tail -n 1)
# The base must still be in the source (someone may have deleted it).
if [ -n "$base" ] && ! names_in "$store" | grep -xF -- "$base" >/dev/null; then
    die "$base, the newest snapshot $dest has, is gone from $store: cannot send incrementally"
fi

# Take the snapshot. Its name is the time to the second, never one used
# before: a name taken (two runs in one second) waits for the next second,
# so that names sort as the snapshots were taken and a stream's name is
# never reused for another.
taken() {
    names_in "$store" | grep -xF -- "$1" >/dev/null && return 0
    if [ "$mode" = files ]; then
        [ -e "$dest/$1.stream" ] || [ -e "$dest/$1.stream.part" ]
    else
        [ -e "$dest" ] && names_in "$dest" | grep -xF -- "$1" >/dev/null
    fi
}
name=$PREFIX$(date +%Y%m%d-%H%M%S)
while taken "$name"; do
    sleep 1
    name=$PREFIX$(date +%Y%m%d-%H%M%S)
done
if [ -n "$mnt" ]; then
    mkdir "$mnt/.ghostfs/snapshots/$name" || die "cannot take snapshot $name in $mnt"
else
    "$GHOSTFS" snapshot create "$store" "$name" >/dev/null ||
        die "cannot take snapshot $name of $store"
fi

# Send it.
from=()
if [ -n "$base" ]; then
    from=(--from "$base")
fi
if [ "$mode" = files ]; then
    out=$dest/$name.stream
    if ! "$GHOSTFS" send "$store" "$name" "${from[@]}" >"$out.part"; then
        rm -f "$out.part"
        die "sending $name${base:+ from $base} to $out failed"
    fi
    sync "$out.part" 2>/dev/null || sync
    mv "$out.part" "$out"
else
    if ! "$GHOSTFS" send "$store" "$name" "${from[@]}" | "$GHOSTFS" receive "$dest"; then
        die "sending $name${base:+ from $base} into $dest failed"
    fi
fi
echo "$me: $name sent ${base:+(changes since $base) }to $dest"

# Delete what is beyond KEEP, oldest first; never the one just sent.
prune() { # prune STORE MOUNTPOINT-or-empty
    local s=$1 m=$2 old
    names_in "$s" | head -n -"$KEEP" | while read -r old; do
        [ "$old" != "$name" ] || continue
        if [ -n "$m" ]; then
            rmdir "$m/.ghostfs/snapshots/$old" || die "cannot delete snapshot $old in $m"
        else
            "$GHOSTFS" snapshot delete "$s" "$old" >/dev/null ||
                die "cannot delete snapshot $old of $s"
        fi
        echo "$me: deleted $old from $s"
    done
}
prune "$store" "$mnt"
if [ "$mode" = store ]; then
    prune "$dest" ""
fi
