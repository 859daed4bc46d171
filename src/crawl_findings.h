/*
 * crawl_findings.h - the findings the crawler keeps (crawl_findings.c):
 * what crawl.c calls to record, age, save and tell them.
 *
 * Only the crawler thread changes a ring; other threads copy it
 * (ghost_crawl_findings). Its lock is a leaf: nothing is taken under it,
 * and it is taken under the crawler's own lock (crawl.c) or alone.
 */
#ifndef GHOST_CRAWL_FINDINGS_H
#define GHOST_CRAWL_FINDINGS_H

#include "internal.h"

struct crawl_findings {
    pthread_mutex_t lock;                               /* protects what follows */
    struct ghost_crawl_finding v[GHOST_CRAWL_FINDINGS]; /* the least recently found first */
    bool told[GHOST_CRAWL_FINDINGS]; /* the hook was told of it, or it was logged */
    unsigned n;
    bool dirty; /* changed since it was loaded or saved */
};

void findings_init(struct crawl_findings *r);
void findings_destroy(struct crawl_findings *r);

/* A finding of cycle `cycle` (1 the first): its entry made, or moved to
 * the end and updated if it was there. told: no hook will be told of it
 * (the crawler logged it). An entry pushed out before its hook was told
 * is logged here. */
void findings_add(struct crawl_findings *r, const struct ghost_finding *f, uint64_t cycle,
                  bool told);

/* Cycle `cycle` is complete: drop what it did not find again. */
void findings_cycle_done(struct crawl_findings *r, uint64_t cycle);

/* Call o->found for each entry it was not told of yet. On the crawler
 * thread, with no lock held and no view open. */
void findings_tell(struct crawl_findings *r, const struct ghost_crawl_options *o);

/* Replace r with the findings the store keeps, read in t (none if there
 * is no record). A damaged record, or one of a newer format, is logged
 * and read as none, to be written again at the next save. 0 or the
 * error of the read. */
int findings_load(struct store *s, struct engine_txn *t, struct crawl_findings *r);

/* Write r in w if it changed since it was loaded or saved; once w has
 * committed, findings_saved. */
int findings_save(struct store *s, struct engine_txn *w, struct crawl_findings *r);
void findings_saved(struct crawl_findings *r);

/* Copy r into out[0..max), their number in *n. */
void findings_copy(struct crawl_findings *r, struct ghost_crawl_finding *out, unsigned max,
                   unsigned *n);

/* crawl.c: copy the findings of g's crawler into out if it holds the
 * lease (its ring is then ahead of the store's); false otherwise. */
bool crawl_live_findings(struct ghost *g, struct ghost_crawl_finding *out, unsigned max,
                         unsigned *n);

#endif
