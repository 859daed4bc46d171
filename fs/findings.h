/*
 * findings.h - the crawler's findings named by path (findings.c): the
 * hook the crawler tells of each, and what `ghostfs status` shows of the
 * ones it keeps.
 */
#ifndef GHOSTFS_FINDINGS_H
#define GHOSTFS_FINDINGS_H

#include <stdbool.h>
#include <stdio.h>

#include "fs.h"

/* Where a finding is, as far as the store can say now. */
struct finding_place {
    char *path;       /* owned; NULL when there is none or it is unknown */
    bool unknown;     /* NULL as it could not be found (else: the object has none) */
    const char *why;  /* when path is NULL: why */
    const char *what; /* the kind of record: "inode", "file data", "the tally of ..." */
    char what_buf[64];
};

/* Find f's object's path (a read of the store, at its head): 0, or
 * -ENOMEM. Every other failure is said in place->why. */
int finding_place(struct fs *fs, const struct ghost_crawl_finding *f, struct finding_place *place);
void finding_place_free(struct finding_place *place);

/* The finding's kind as a word for programs ("bad_record", "map_short"...). */
const char *finding_kind_word(enum ghost_finding_kind kind);

/* Write "PATH (OID n, WHAT)" or "OID n (WHAT; path unknown: WHY)" to f,
 * the path escaped for a person (escape_text). */
void finding_place_text(FILE *f, const struct ghost_crawl_finding *fd,
                        const struct finding_place *place);

/* The crawler's found hook (ghost_crawl_options.found; arg is the struct
 * fs): logs the finding at the error level with its object's path. */
void fs_crawl_found(void *arg, const struct ghost_crawl_finding *f);

#endif
