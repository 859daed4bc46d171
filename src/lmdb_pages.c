/*
 * lmdb_pages.c - the LMDB engine's page checks: a delete does not let LMDB
 * rebalance a leaf with a damaged neighbour.
 *
 * When a delete leaves a page less than a quarter full, LMDB rebalances it:
 * it reads the page's left neighbour under the same parent (the right one
 * for a leftmost page) and moves a node from it or merges the two. It
 * trusts the neighbour's header and node offsets as it finds them, and a
 * zeroed or garbage neighbour then makes it copy wild sizes into a page of
 * its heap. The guard (lmdb_guard.c) cannot undo that: nothing faults and
 * no assertion fails until malloc finds its own state broken, later,
 * elsewhere. A merge that empties the parent down to one key rebalances the
 * parent the same way, one level up.
 *
 * So before each delete, engine_del and engine_cursor_del ask
 * lmdb_check_delete whether LMDB may rebalance, and if it may, check the
 * neighbour at every level that may be rebalanced, before LMDB reads it:
 * its page number, its kind, its bounds and every node's offset and size.
 * A neighbour that fails makes the delete fail with -GHOST_ECORRUPT, as a
 * damaged page on the delete's own path already does, and the store stays
 * as it was.
 *
 * The check needs what LMDB knows and does not publish: the cursor's stack
 * of pages. LMDB's cursor structure has had one layout through every 0.9
 * release; struct cursor_stack repeats the part we read, and every call
 * verifies it against LMDB's own answers (the cursor's transaction and
 * table, and the current key's address inside the top page) before
 * trusting it. An LMDB whose cursor differs fails that test: the checks
 * turn themselves off, once, with a warning, and deletes go on as before.
 * The page and node layout is LMDB's file format, fixed for a data version.
 *
 * A leaf's neighbour is first read where it lies in the file, through a
 * read-only map of our own (LMDB does not publish where its map is): its
 * number comes from the parent on the delete's path. If the page there is
 * sound, it is sound; if this transaction changed it, LMDB's copy in its
 * heap is LMDB's own work, made from a page it read whole. If it is not
 * sound there, it may be damaged, or the number may be one this
 * transaction reused for a page of its own (the file still holds what was
 * there before): a second cursor is then sent to the neighbour by key, so
 * LMDB resolves the page itself, and its stack is checked from the
 * neighbour down. That search is also how a parent's neighbour is checked
 * (a cascade, rare).
 */
#include "lmdb_int.h"

#include <string.h>
#include <sys/mman.h>

/* LMDB's cursor, as far as we read it (struct MDB_cursor in mdb.c). */
#define CURSOR_STACK 32
struct cursor_stack {
    void *next, *backup, *xcursor;
    MDB_txn *txn;
    MDB_dbi dbi;
    void *db, *dbx;
    unsigned char *dbflag;
    unsigned short snum, top;
    unsigned int flags;
    const unsigned char *pg[CURSOR_STACK];
    uint16_t ki[CURSOR_STACK];
};
#define C_INITIALIZED 0x01
/* More keys than any page holds: every node of a page. */
#define CURSOR_MAX_KEYS 0xffff

/* The page format (LMDB's data version 1, 64-bit). */
#define PAGE_HDR 16
#define P_BRANCH 0x01
#define P_LEAF 0x02
#define P_DIRTY 0x10
#define P_KEEP 0x8000
#define NODE_HDR 8
#define F_BIGDATA 0x01
#define F_SUBDATA 0x02
/* LMDB rebalances a leaf below this fill, in thousandths. */
#define FILL_THRESHOLD 250

static uint16_t u16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t page_pgno(const unsigned char *pg)
{
    uint64_t v;
    memcpy(&v, pg, sizeof v);
    return v;
}

static unsigned page_flags(const unsigned char *pg)
{
    return u16(pg + 10);
}

static unsigned page_keys(const unsigned char *pg)
{
    return (u16(pg + 12) - PAGE_HDR) >> 1;
}

static const unsigned char *node_at(const unsigned char *pg, unsigned i)
{
    return pg + u16(pg + PAGE_HDR + 2 * i);
}

static unsigned node_ksize(const unsigned char *node)
{
    return u16(node + 6);
}

static uint64_t branch_child(const unsigned char *node)
{
    return u16(node) | (uint64_t)u16(node + 2) << 16 | (uint64_t)u16(node + 4) << 32;
}

/* The bytes a leaf node takes in its page, its slot included. */
static unsigned leaf_node_bytes(const unsigned char *node)
{
    unsigned flags = u16(node + 4);
    size_t data = flags & F_BIGDATA ? sizeof(uint64_t) : (u16(node) | (size_t)u16(node + 2) << 16);
    size_t sz = NODE_HDR + node_ksize(node) + data;
    return (unsigned)((sz + 1) & ~(size_t)1) + sizeof(uint16_t);
}

/* Is the page's header sound enough for LMDB to use: numbered pgno, of
 * the kind its level says, its bounds inside the page, and nodes [from,
 * to) (clipped to its keys) inside it too? */
static bool page_sound(const unsigned char *pg, uint64_t pgno, bool leaf, unsigned psize,
                       unsigned from, unsigned to)
{
    unsigned flags = page_flags(pg), lower = u16(pg + 12), upper = u16(pg + 14);
    if (page_pgno(pg) != pgno || (flags & ~(P_BRANCH | P_LEAF | P_DIRTY | P_KEEP)) ||
        (flags & (P_BRANCH | P_LEAF)) != (leaf ? P_LEAF : P_BRANCH))
        return false;
    if (lower < PAGE_HDR + 2 || (lower & 1) || lower > upper || upper > psize)
        return false;
    unsigned n = page_keys(pg);
    for (unsigned i = from; i < to && i < n; i++) {
        unsigned off = u16(pg + PAGE_HDR + 2 * i);
        if (off < upper || off > psize - NODE_HDR)
            return false;
        const unsigned char *node = pg + off;
        unsigned nflags = u16(node + 4);
        size_t end = off + NODE_HDR + node_ksize(node);
        if (leaf) {
            if (nflags & ~(F_BIGDATA | F_SUBDATA))
                return false;
            end +=
                nflags & F_BIGDATA ? sizeof(uint64_t) : (u16(node) | (size_t)u16(node + 2) << 16);
        }
        if (end > psize)
            return false;
    }
    return true;
}

/* The fill of a page in thousandths, as LMDB reckons it. */
static unsigned page_fill(const unsigned char *pg, unsigned psize)
{
    unsigned room = psize - PAGE_HDR, free = u16(pg + 14) - u16(pg + 12);
    return free >= room ? 0 : (unsigned)(1000UL * (room - free) / room);
}

/* Is the neighbour pg, beside a leaf to be rebalanced, sound in what LMDB
 * will read of it: the node it may move over (the last of a left
 * neighbour, the first two of a right one) when it has enough to spare, or
 * else every node, to be merged? */
static bool leaf_neighbour_sound(const unsigned char *pg, uint64_t pgno, unsigned psize, bool left)
{
    if (!page_sound(pg, pgno, true, psize, 0, 0))
        return false;
    unsigned n = page_keys(pg);
    /* From a right neighbour LMDB moves node 0 and then reads the next,
     * the new node 0, for the parent's separator. */
    if (page_fill(pg, psize) >= FILL_THRESHOLD && n > 1)
        return left ? page_sound(pg, pgno, true, psize, n - 1, n)
                    : page_sound(pg, pgno, true, psize, 0, 2);
    return page_sound(pg, pgno, true, psize, 0, n);
}

/* Does LMDB's cursor c look the way struct cursor_stack says, positioned
 * where LMDB itself says it is? 1 if it does, 0 if it does not (this LMDB
 * lays its cursor out otherwise), -1 if c is on no key to tell. */
static int stack_known(MDB_cursor *c, const struct cursor_stack *s)
{
    MDB_val k, v;
    if (s->txn != mdb_cursor_txn(c) || s->dbi != mdb_cursor_dbi(c))
        return 0;
    if (mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT) != 0)
        return -1;
    if (!(s->flags & C_INITIALIZED) || s->snum == 0 || s->snum > CURSOR_STACK ||
        s->top != s->snum - 1)
        return 0;
    const unsigned char *leaf = s->pg[s->top];
    return s->ki[s->top] < page_keys(leaf) &&
           (const unsigned char *)k.mv_data == node_at(leaf, s->ki[s->top]) + NODE_HDR;
}

/* Will deleting the cursor's current key leave its leaf below LMDB's
 * rebalancing threshold? */
static bool leaf_will_underflow(const struct cursor_stack *s, unsigned psize)
{
    const unsigned char *leaf = s->pg[s->top];
    unsigned room = psize - PAGE_HDR;
    unsigned free_after =
        u16(leaf + 14) - u16(leaf + 12) + leaf_node_bytes(node_at(leaf, s->ki[s->top]));
    if (page_keys(leaf) <= 1 || free_after >= room)
        return true;
    return 1000UL * (room - free_after) / room < FILL_THRESHOLD;
}

/* Send n to the neighbour LMDB would read for the page at level l of s's
 * path: the left one, or the right one for a leftmost page. 0 with n's
 * stack through it, MDB_NOTFOUND if there is none. */
static int seek_neighbour(MDB_cursor *n, const struct cursor_stack *s, unsigned l)
{
    const unsigned char *parent = s->pg[l - 1];
    unsigned at = s->ki[l - 1], keys = page_keys(parent);
    unsigned nb = at == 0 ? 1 : at - 1;
    if (nb >= keys)
        return MDB_NOTFOUND;
    /* A branch's first key is empty; any other is at or below the least
     * key of its subtree. The neighbour at 0 is reached from ours, at 1,
     * one key back. */
    unsigned by = nb == 0 ? 1 : nb;
    const unsigned char *node = node_at(parent, by);
    MDB_val k = {node_ksize(node), (void *)(node + NODE_HDR)}, v;
    int rc = mdb_cursor_get(n, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && nb == 0)
        rc = mdb_cursor_get(n, &k, &v, MDB_PREV);
    return rc;
}

static int damaged(struct engine *e)
{
    lmdb_damage(e);
    if (!e->quiet)
        ghost_log(GHOST_LOG_ERR, "store %s: a delete would merge a damaged page", e->path);
    return ghost_set_error(-GHOST_ECORRUPT, "store %s: corrupt: a page beside a delete is damaged",
                           e->path);
}

void lmdb_pages_map(struct engine *e)
{
    lmdb_pages_unmap(e);
    void *m = mmap(NULL, e->map_size, PROT_READ, MAP_SHARED, e->fd, 0);
    if (m == MAP_FAILED)
        return; /* every neighbour through a search */
    e->pages = m;
    e->pages_len = e->map_size;
}

void lmdb_pages_unmap(struct engine *e)
{
    if (e->pages)
        munmap((void *)e->pages, e->pages_len);
    e->pages = NULL;
    e->pages_len = 0;
}

/* Is the neighbour of the leaf of s sound where it lies in the file? Pages
 * past the last one committed may lie past the file's end (a fault), and
 * are left to the search. */
static bool leaf_neighbour_in_file(struct engine *e, const struct cursor_stack *s)
{
    const unsigned char *parent = s->pg[s->top - 1];
    unsigned at = s->ki[s->top - 1], nb = at == 0 ? 1 : at - 1;
    if (nb >= page_keys(parent))
        return true; /* none: LMDB asserts its parent has two */
    uint64_t pgno = branch_child(node_at(parent, nb));
    MDB_envinfo info;
    mdb_env_info(e->env, &info);
    if (!e->pages || pgno > info.me_last_pgno || (pgno + 1) * e->psize > e->pages_len)
        return false;
    return leaf_neighbour_sound(e->pages + pgno * e->psize, pgno, e->psize, at != 0);
}

/* Check the neighbour of the page at level l of s, and its path down,
 * found by a search with cursor n. */
static int check_neighbour(struct engine *e, MDB_cursor *n, const struct cursor_stack *s,
                           unsigned l)
{
    const struct cursor_stack *ns = (const struct cursor_stack *)n;
    int rc = seek_neighbour(n, s, l);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return lmdb_err(e, rc, "checking a page beside a delete");
    unsigned nb = s->ki[l - 1] == 0 ? 1 : s->ki[l - 1] - 1;
    if (ns->snum != s->snum || ns->pg[l - 1] != s->pg[l - 1] || ns->ki[l - 1] != nb)
        return damaged(e);
    for (unsigned j = l; j <= ns->top; j++) {
        uint64_t pgno = branch_child(node_at(ns->pg[j - 1], ns->ki[j - 1]));
        if (!page_sound(ns->pg[j], pgno, j == ns->top, e->psize, 0, CURSOR_MAX_KEYS))
            return damaged(e);
    }
    return 0;
}

int lmdb_check_delete(struct engine *e, MDB_cursor *c, MDB_cursor **n)
{
    const struct cursor_stack *s = (const struct cursor_stack *)c;
    if (__builtin_expect(e->pages_checked != PAGES_CHECKED, 0)) {
        /* The first delete of this connection tells whether we know how
         * this LMDB lays its cursor out; if we do not, none is checked. */
        if (e->pages_checked == PAGES_UNCHECKED)
            return 0;
        int known = stack_known(c, s);
        if (known < 0)
            return 0; /* on no key, it cannot tell: LMDB refuses the delete */
        if (!known) {
            e->pages_checked = PAGES_UNCHECKED;
            ghost_log(GHOST_LOG_WARN,
                      "store %s: this LMDB's cursors are not laid out as expected: deletes go "
                      "on without checking the pages they may merge",
                      e->path);
            return 0;
        }
        e->pages_checked = PAGES_CHECKED;
    }
    /* On no key, LMDB's delete refuses by itself. */
    if (!(s->flags & C_INITIALIZED) || s->snum == 0 || s->ki[s->top] >= page_keys(s->pg[s->top]))
        return 0;
    if (s->top == 0 || !leaf_will_underflow(s, e->psize))
        return 0;
    if (leaf_neighbour_in_file(e, s) && (s->top == 1 || page_keys(s->pg[s->top - 1]) > 2))
        return 0;
    /* The slow way, through a search: the leaf's neighbour; then, while a
     * merge could leave the parent with one key, the parent's, and so on
     * up. */
    if (!*n) {
        int rc = mdb_cursor_open(mdb_cursor_txn(c), mdb_cursor_dbi(c), n);
        if (rc) {
            *n = NULL;
            return lmdb_err(e, rc, "opening a cursor");
        }
    }
    for (unsigned l = s->top; l >= 1; l--) {
        assert(l < s->snum);
        int r = check_neighbour(e, *n, s, l);
        if (r)
            return r;
        if (l == 1 || page_keys(s->pg[l - 1]) > 2)
            break;
    }
    return 0;
}
