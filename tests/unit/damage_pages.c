/*
 * damage_pages.c - the store's file as LMDB pages: the page size, what each
 * page is (so that the report can say whether a failure came from a meta,
 * branch, leaf or overflow page), and the damage done to one page.
 *
 * The layout read here is LMDB 0.9's on x86-64 (lmdb.h's data format 1, the
 * same that src/lmdb_open.c checks before it opens a store): a page begins
 * with a 16-byte header (pgno:8, pad:2, flags:2, lower:2, upper:2; an
 * overflow page keeps its page count where lower and upper would be); a
 * meta page follows it with magic:4, version:4, address:8, mapsize:8, two
 * database records of 48 bytes (free list, main; each pad:4 flags:2 depth:2
 * branch:8 leaf:8 overflow:8 entries:8 root:8; the free list's pad is the
 * page size), last_pg:8 and txnid:8. Nodes start with lo:2 hi:2 flags:2
 * ksize:2; in a branch page lo|hi<<16|flags<<32 is the child's page number.
 * Pages that no tree of the newest meta page reaches are "free": LMDB keeps
 * them for reuse, and what they hold is no longer read. The pages counted
 * are those up to the meta pages' last_pg: where LMDB writes through its
 * map (sync=none, or a store on tmpfs) the file is as long as the whole map,
 * and the pages past last_pg were never written.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "damage.h"
#include "util.h"

#define PAGEHDR 16
#define META_PSIZE (PAGEHDR + 24)          /* the free list's md_pad */
#define META_FREE_ROOT (PAGEHDR + 24 + 40) /* the free list's md_root */
#define META_MAIN_ROOT (PAGEHDR + 24 + 88) /* the main database's md_root */
#define META_LAST_PG (PAGEHDR + 24 + 96)   /* 136 */
#define META_TXNID (PAGEHDR + 24 + 96 + 8) /* 144 */
#define P_BRANCH 0x01
#define F_BIGDATA 0x01
#define F_SUBDATA 0x02
#define DB_ROOT 40 /* md_root in a database record */

const char *const damage_kind_name[PK_NKINDS] = {"free", "meta", "branch", "leaf", "overflow"};

/* The bytes flipped: the header (page number, flags, lower, upper), the
 * first node pointers (in a meta page: magic and version, the main
 * database's root, the transaction id), the middle, and the last byte. */
static const unsigned flip_at[DAMAGE_FLIPS] = {0,   10,  12,   14,   16,   20,
                                               128, 144, 1024, 2048, 3072, ~0u};

static uint64_t u64at(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static unsigned u16at(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static void label_overflow(struct damage_image *im, uint64_t first)
{
    if (first >= im->npages)
        return;
    uint32_t n;
    memcpy(&n, im->bytes + first * im->psize + 12, 4);
    for (uint64_t p = first; p < first + n && p < im->npages; p++)
        im->kind[p] = PK_OVERFLOW;
}

/* Label the tree rooted at page root: its branch and leaf pages, its
 * overflow pages, and the trees of the named databases it holds. */
static void label_tree(struct damage_image *im, uint64_t root, int depth)
{
    if (root >= im->npages || depth > 16 || im->kind[root] != PK_FREE)
        return; /* an empty database's root is ~0 */
    const unsigned char *pg = im->bytes + root * im->psize;
    unsigned flags = u16at(pg + 10), lower = u16at(pg + 12);
    bool branch = flags & P_BRANCH;
    im->kind[root] = branch ? PK_BRANCH : PK_LEAF;
    for (unsigned k = 0; PAGEHDR + 2 * k < lower && PAGEHDR + 2 * k < im->psize; k++) {
        unsigned at = u16at(pg + PAGEHDR + 2 * k);
        if (at + 8 > im->psize)
            continue;
        const unsigned char *node = pg + at;
        if (branch) {
            uint64_t child =
                u16at(node) | (uint64_t)u16at(node + 2) << 16 | (uint64_t)u16at(node + 4) << 32;
            label_tree(im, child, depth + 1);
            continue;
        }
        unsigned nflags = u16at(node + 4), ksize = u16at(node + 6);
        const unsigned char *data = node + 8 + ksize;
        if ((nflags & F_BIGDATA) && at + 8 + ksize + 8 <= im->psize)
            label_overflow(im, u64at(data));
        else if ((nflags & F_SUBDATA) && at + 8 + ksize + DB_ROOT + 8 <= im->psize)
            label_tree(im, u64at(data + DB_ROOT), depth + 1);
    }
}

void damage_image_load(struct damage_image *im, const char *path)
{
    struct stat st;
    int fd = open(path, O_RDONLY);
    ck_assert_msg(fd >= 0, "open %s", path);
    ck_assert_int_eq(fstat(fd, &st), 0);
    im->len = (size_t)st.st_size;
    im->bytes = malloc(im->len);
    ck_assert_ptr_nonnull(im->bytes);
    ck_assert_int_eq(pread(fd, im->bytes, im->len, 0), (ssize_t)im->len);
    close(fd);
    uint32_t psize;
    memcpy(&psize, im->bytes + META_PSIZE, 4);
    if (psize < 512 || psize > 65536 || (psize & (psize - 1)))
        psize = 4096; /* LMDB's default, if the meta page does not say */
    im->psize = psize;
    ck_assert_uint_ge(im->len / psize, 4);
    const unsigned char *m0 = im->bytes, *m1 = im->bytes + psize;
    const unsigned char *meta = u64at(m1 + META_TXNID) > u64at(m0 + META_TXNID) ? m1 : m0;
    uint64_t last = u64at(m0 + META_LAST_PG) > u64at(m1 + META_LAST_PG) ? u64at(m0 + META_LAST_PG)
                                                                        : u64at(m1 + META_LAST_PG);
    im->npages = last + 1 < im->len / psize ? last + 1 : im->len / psize;
    size_t at = im->npages * psize;
    while (at < im->len && !im->bytes[at])
        at++;
    ck_assert_msg(at == im->len, "byte %zu, past LMDB's last page, is not zero", at);
    im->kind = calloc(im->npages, 1);
    ck_assert_ptr_nonnull(im->kind);
    im->kind[0] = im->kind[1] = PK_META;
    label_tree(im, u64at(meta + META_FREE_ROOT), 0);
    label_tree(im, u64at(meta + META_MAIN_ROOT), 0);
}

void damage_image_free(struct damage_image *im)
{
    free(im->bytes);
    free(im->kind);
    memset(im, 0, sizeof *im);
}

const char *damage_mode_name(int mode)
{
    static char name[32];
    if (mode == 0)
        return "zero";
    if (mode == 1)
        return "garbage";
    unsigned at = flip_at[mode - 2];
    if (at == ~0u)
        return "flip@last";
    snprintf(name, sizeof name, "flip@%u", at);
    return name;
}

void damage_page(const struct damage_image *im, size_t page, int mode, unsigned char *buf)
{
    memcpy(buf, im->bytes + page * im->psize, im->psize);
    if (mode == 0) {
        memset(buf, 0, im->psize);
    } else if (mode == 1) {
        uint64_t x = 0x9e3779b97f4a7c15ull ^ (page * 0xbf58476d1ce4e5b9ull); /* xorshift64 */
        for (size_t i = 0; i < im->psize; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = (unsigned char)(x >> 24);
        }
    } else {
        unsigned at = flip_at[mode - 2];
        buf[at == ~0u ? im->psize - 1 : at % im->psize] ^= 0xff;
    }
}
