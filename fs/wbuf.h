/*
 * wbuf.h - the per-inode write buffer: what was written to a file (and the
 * attributes set on it while open) since its last commit, per dirty block
 * the bytes and the ranges of the block they cover.
 *
 * A buffer belongs to one inode (in->wb or in->wb_old) and is read and
 * changed only under that inode's rw lock; wbuf.c owns it, wb_commit.c
 * turns it into a transaction, flusher.c keeps the list of inodes that
 * have one.
 */
#ifndef GHOSTFS_WBUF_H
#define GHOSTFS_WBUF_H

#include <string.h>

#include "inode_rec.h"
#include "vec.h"

/* One dirty block of the write buffer: the bytes written and which ranges
 * of the block they cover. */
struct range {
    uint32_t lo, hi;
};
struct dblock {
    uint64_t index;
    unsigned char *data;      /* block_size bytes */
    VEC(struct range) ranges; /* written, sorted and disjoint */
};
struct wbuf {
    VEC(struct dblock) blocks; /* sorted by index */
    uint64_t end;              /* the file is at least this long */
    size_t bytes;
    bool data; /* bytes were written (else only attributes were set) */
    /* Attributes set while the file is open, committed with its data: tar
     * sets owner, mode and times on the open file before it closes it. */
    unsigned aset; /* which of FS_SET_MODE, _UID, _GID, _ATIME, _MTIME */
    uint32_t mode, uid, gid;
    int64_t atime;
    int64_t mtime; /* valid when data or FS_SET_MTIME */
    /* What each attribute in aset was when it was first set here: a commit
     * sets it only if the store still has that, so that a change another
     * daemon committed meanwhile is not undone. */
    uint32_t base_mode, base_uid, base_gid;
    int64_t base_atime, base_mtime;
    int64_t ctime; /* of the last buffered change */
};
/* Attributes set with setattr that a buffer can hold (attr.c). */
#define WB_SETTABLE                                                                                \
    (FS_SET_MODE | FS_SET_UID | FS_SET_GID | FS_SET_ATIME | FS_SET_MTIME | FS_SET_ATIME_NOW |      \
     FS_SET_MTIME_NOW)

/* The block of wb with this index, or NULL; *pos (if pos) is where it is or
 * would go. Inline: readers call it for every block they merge. */
static inline struct dblock *wb_find(struct wbuf *wb, uint64_t index, size_t *pos)
{
    size_t lo = 0, hi = wb ? wb->blocks.n : 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (wb->blocks.v[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (pos)
        *pos = lo;
    return wb && lo < wb->blocks.n && wb->blocks.v[lo].index == index ? &wb->blocks.v[lo] : NULL;
}

/* Whether d was written whole, from 0 to at least len. */
static inline bool wb_covers(const struct dblock *d, uint32_t len)
{
    return d->ranges.n == 1 && d->ranges.v[0].lo == 0 && d->ranges.v[0].hi >= len;
}

/* Copy the written bytes of d that fall in [from, to) to dst (which stands
 * for block offset `from`). */
static inline void wb_overlay(const struct dblock *d, unsigned char *dst, uint32_t from,
                              uint32_t to)
{
    for (size_t i = 0; i < d->ranges.n; i++) {
        const struct range *r = &d->ranges.v[i];
        uint32_t lo = r->lo > from ? r->lo : from;
        uint32_t hi = r->hi < to ? r->hi : to;
        if (lo < hi)
            memcpy(dst + (lo - from), d->data + lo, hi - lo);
    }
}

/* The block of wb with this index, added (zero ranges, bs bytes counted in
 * wb->bytes) if it is not there yet; NULL on no memory. */
struct dblock *wb_block(struct wbuf *wb, uint64_t index, uint32_t bs);
/* Add [lo, hi) to the block's written ranges, merging neighbours. 0 or
 * -ENOMEM (and then the ranges are as they were). */
int wb_add_range(struct dblock *d, uint32_t lo, uint32_t hi);
void wb_free(struct wbuf *wb);
/* What a commit of wb would make of attributes / of the record. */
void wb_merge_attr(const struct wbuf *wb, struct fs_attr *a);
void wb_apply(const struct wbuf *wb, struct rec *r);

#endif
