/*
 * lmdb_meta.c - LMDB's two meta pages, read raw before LMDB opens the file,
 * so that a file that is not a store, a truncated one, or one with a
 * damaged meta page is refused without LMDB touching it.
 *
 * The layout is LMDB's (mdb.c, format 1, 64-bit): a page header of 16
 * bytes (pgno:8, pad:2, flags:2, lower:2, upper:2), then MDB_meta: magic:4,
 * version:4, address:8, mapsize:8, two MDB_db of 48 bytes (the free-page
 * one's first field is the page size), last_pg:8, txnid:8. Pages 0 and 1
 * are the two meta pages; LMDB opens the store at the one with the larger
 * txnid.
 */
#include "lmdb_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LMDB_MAGIC 0xBEEFC0DEu
#define LMDB_DATA_VERSION 1u
#define LMDB_P_META 0x08
#define PAGE_FLAGS 10 /* in the page header */
#define PAGEHDR 16
#define M_MAGIC (PAGEHDR + 0)
#define M_VERSION (PAGEHDR + 4)
#define M_PSIZE (PAGEHDR + 24)
#define M_LAST_PG (PAGEHDR + 24 + 2 * 48)
#define M_TXNID (M_LAST_PG + 8)
#define META_BYTES (M_TXNID + 8)

struct meta {
    bool valid; /* a meta page: its flag, magic and version */
    uint32_t magic, version, psize;
    uint64_t last_pg, txnid;
};

static void parse_meta(const unsigned char *p, struct meta *m)
{
    uint16_t flags;
    memcpy(&flags, p + PAGE_FLAGS, 2);
    memcpy(&m->magic, p + M_MAGIC, 4);
    memcpy(&m->version, p + M_VERSION, 4);
    memcpy(&m->psize, p + M_PSIZE, 4);
    memcpy(&m->last_pg, p + M_LAST_PG, 8);
    memcpy(&m->txnid, p + M_TXNID, 8);
    m->valid = (flags & LMDB_P_META) && m->magic == LMDB_MAGIC && m->version == LMDB_DATA_VERSION;
}

static bool psize_ok(uint32_t psize)
{
    return psize >= 512 && psize <= 65536 && !(psize & (psize - 1));
}

static bool read_meta(int fd, off_t at, struct meta *m)
{
    unsigned char buf[META_BYTES];
    if (pread(fd, buf, sizeof buf, at) != (ssize_t)sizeof buf)
        return false;
    parse_meta(buf, m);
    return true;
}

/* Page 0 is not a meta page: is the file an LMDB file whose page 0 was
 * damaged (page 1 is one, at some page size), or not an LMDB file at all? */
static int page0_bad(int fd, const char *path)
{
    for (uint32_t psize = 512; psize <= 65536; psize *= 2) {
        struct meta m1;
        if (read_meta(fd, psize, &m1) && m1.valid && m1.psize == psize)
            return ghost_set_error(-GHOST_ECORRUPT,
                                   "%s: damaged: LMDB's meta page 0 is not a meta page (page 1 "
                                   "is, of transaction %llu); LMDB cannot open the store",
                                   path, (unsigned long long)m1.txnid);
    }
    return ghost_set_error(-GHOST_EFORMAT, "%s: not a ghostfs store (not an LMDB file)", path);
}

/* Both meta pages, and the file holding every page the newer refers to. */
static int check_pages(int fd, const char *path, off_t size, uint64_t *used)
{
    struct meta m[2];
    if (!read_meta(fd, 0, &m[0]))
        return ghost_set_error(-GHOST_EFORMAT,
                               "%s: not a ghostfs store (file too short to be an LMDB file)", path);
    if (m[0].magic == LMDB_MAGIC && m[0].version != LMDB_DATA_VERSION)
        return ghost_set_error(-GHOST_EFORMAT, "%s: unsupported LMDB data format %u", path,
                               m[0].version);
    if (!m[0].valid || !psize_ok(m[0].psize))
        return page0_bad(fd, path);
    uint32_t psize = m[0].psize;
    uint64_t need = (m[0].last_pg + 1) * psize;
    if (read_meta(fd, psize, &m[1])) {
        if (!m[1].valid)
            return ghost_set_error(-GHOST_ECORRUPT,
                                   "%s: damaged: LMDB's meta page 1 is not a meta page (page 0 "
                                   "is, of transaction %llu); LMDB cannot open the store",
                                   path, (unsigned long long)m[0].txnid);
        if (m[1].txnid > m[0].txnid)
            need = (m[1].last_pg + 1) * psize;
    }
    *used = need;
    if ((uint64_t)size < need || (uint64_t)size < 2 * (uint64_t)psize)
        return ghost_set_error(-GHOST_EFORMAT,
                               "%s: truncated store: the file is %lld bytes, its pages need "
                               "%llu",
                               path, (long long)size, (unsigned long long)need);
    return 0;
}

int lmdb_check_header(const char *path, uint64_t *used)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ghost_set_error(-errno, "%s: %s", path, strerror(errno));
    int r = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        r = ghost_set_error(-GHOST_EFORMAT, "%s: not a ghostfs store (not a regular file)", path);
    r = r ? r : check_pages(fd, path, st.st_size, used);
    close(fd);
    return r;
}
