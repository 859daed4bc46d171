/*
 * wbuf.c - the per-inode write buffer: the blocks and ranges a file was
 * written in since its last commit, and the attributes set on it while
 * open.
 *
 * Per dirty block the buffer keeps the bytes (a whole block) and the sorted,
 * disjoint ranges of it that were written; blocks are sorted by index.
 * Every reader in this process merges the buffer over the stored data
 * (wb_find, wb_overlay in wbuf.h); wb_commit.c writes it as one
 * transaction. Attributes set on an open file (tar sets owner, mode and
 * times before it closes it) join the buffer (attr.c) with the value they
 * replaced, so that a commit never undoes a change another daemon made
 * meanwhile.
 *
 * Locks: a buffer is changed only under its inode's rw lock held
 * exclusively, and read under it held shared; nothing here takes a lock.
 */
#include "wbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void wb_free(struct wbuf *wb)
{
    if (!wb)
        return;
    for (size_t i = 0; i < wb->blocks.n; i++) {
        free(wb->blocks.v[i].data);
        vec_free(&wb->blocks.v[i].ranges);
    }
    vec_free(&wb->blocks);
    free(wb);
}

struct dblock *wb_block(struct wbuf *wb, uint64_t index, uint32_t bs)
{
    size_t pos;
    struct dblock *d = wb_find(wb, index, &pos);
    if (d)
        return d;
    if (vec_reserve(&wb->blocks, wb->blocks.n + 1))
        return NULL;
    unsigned char *data = malloc(bs);
    if (!data)
        return NULL;
    struct dblock *v = wb->blocks.v;
    memmove(&v[pos + 1], &v[pos], (wb->blocks.n - pos) * sizeof *v);
    wb->blocks.n++;
    d = &v[pos];
    memset(d, 0, sizeof *d);
    d->index = index;
    d->data = data;
    wb->bytes += bs;
    return d;
}

/* Add [lo, hi) to the block's written ranges, merging neighbours. */
int wb_add_range(struct dblock *d, uint32_t lo, uint32_t hi)
{
    struct range *r = d->ranges.v;
    size_t n = d->ranges.n, i = 0, j;
    while (i < n && r[i].hi < lo)
        i++;
    j = i;
    while (j < n && r[j].lo <= hi) {
        if (r[j].lo < lo)
            lo = r[j].lo;
        if (r[j].hi > hi)
            hi = r[j].hi;
        j++;
    }
    /* ranges i..j-1 merge into one */
    if (i == j) {
        if (vec_reserve(&d->ranges, n + 1))
            return -ENOMEM;
        r = d->ranges.v;
        memmove(&r[i + 1], &r[i], (n - i) * sizeof *r);
        d->ranges.n++;
    } else if (j - i > 1) {
        memmove(&r[i + 1], &r[j], (n - j) * sizeof *r);
        d->ranges.n -= j - i - 1;
    }
    r[i].lo = lo;
    r[i].hi = hi;
    return 0;
}

void wb_merge_attr(const struct wbuf *wb, struct fs_attr *a)
{
    if (wb->end > a->size)
        a->size = wb->end;
    a->blocks += (wb->bytes + 511) / 512; /* an estimate until commit */
    if (wb->data || (wb->aset & FS_SET_MTIME))
        a->mtime_ns = wb->mtime;
    if (wb->aset & FS_SET_MODE)
        a->mode = (a->mode & S_IFMT) | wb->mode;
    if (wb->aset & FS_SET_UID)
        a->uid = wb->uid;
    if (wb->aset & FS_SET_GID)
        a->gid = wb->gid;
    if (wb->aset & FS_SET_ATIME)
        a->atime_ns = wb->atime;
    if (wb->ctime > a->ctime_ns)
        a->ctime_ns = wb->ctime;
}

void wb_apply(const struct wbuf *wb, struct rec *r)
{
    /* An attribute set here is applied only over the value it replaced: if
     * another daemon changed it since, its change is the later one. */
    if ((wb->aset & FS_SET_MTIME) && r->mtime == wb->base_mtime)
        r->mtime = wb->mtime;
    else if (wb->data && !(wb->aset & FS_SET_MTIME))
        r->mtime = wb->mtime;
    if ((wb->aset & FS_SET_MODE) && (r->mode & 07777) == wb->base_mode)
        r->mode = (r->mode & S_IFMT) | wb->mode;
    if ((wb->aset & FS_SET_UID) && r->uid == wb->base_uid)
        r->uid = wb->uid;
    if ((wb->aset & FS_SET_GID) && r->gid == wb->base_gid)
        r->gid = wb->gid;
    if ((wb->aset & FS_SET_ATIME) && r->atime == wb->base_atime)
        r->atime = wb->atime;
    if (wb->ctime > r->ctime)
        r->ctime = wb->ctime;
}
