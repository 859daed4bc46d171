/*
 * findings.c - the crawler's findings named by path.
 *
 * The object store finds damage by OID (src/crawl_findings.c keeps the
 * last findings); only the filesystem knows that OID 150 is /home/ann/
 * notes. This file turns a finding into a place a person can act on:
 * the kind of record (an inode, its file data, a directory entry...)
 * and one path from the root, walked up the back references as
 * `ghostfs inspect` does (path.c). The walk reads the store at its
 * head, and damage may have taken the very links it needs: then the path
 * is said to be unknown, and why.
 *
 * The crawler calls fs_crawl_found after the slice that made the finding,
 * on its own thread, outside any read view and with no lock of fs/ held;
 * it logs the finding with the path instead of the crawler's own line.
 * `ghostfs status` resolves the kept findings again when it prints them
 * (finding_place), so a path is as the store is then, not as it was.
 */
#include "findings.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli_escape.h"
#include "fsint.h"
#include "path.h"

static const char *map_what(int map)
{
    switch (map) {
    case FS_MAP_DIRENT:
        return "directory entry";
    case FS_MAP_BACKREF:
        return "back reference";
    case FS_MAP_DATA:
        return "file data";
    case FS_MAP_XATTR:
        return "extended attribute";
    case FS_MAP_ORPHAN:
        return "orphan list";
    case FS_MAP_SNAPMOUNT:
        return "mounted snapshot's mark";
    }
    return "unknown map";
}

/* Set place->what; whether the object is one that has a path. */
static bool describe(const struct ghost_crawl_finding *f, struct finding_place *p)
{
    bool objects = !strcmp(f->table, "objects"), maps = !strcmp(f->table, "maps");
    p->what = "record";
    if (f->kind == GHOST_FIND_ENGINE)
        p->what = "a damaged store page";
    else if (!strcmp(f->table, "meta"))
        p->what = "the store's own records";
    else if (!strcmp(f->table, "snapshots"))
        p->what = "a snapshot's record";
    else if (objects && f->map >= 0) {
        snprintf(p->what_buf, sizeof p->what_buf, "the tally of its %s", map_what(f->map));
        p->what = p->what_buf;
    } else if (objects && f->oid == FS_SUPER_OID)
        p->what = "the superblock";
    else if (objects)
        p->what = "inode";
    else if (maps)
        p->what = map_what(f->map);
    return f->oid >= FS_ROOT_INO && f->oid != FS_SUPER_OID && f->oid != FS_ORPHAN_OID &&
           f->oid != FS_SNAPMOUNT_OID;
}

int finding_place(struct fs *fs, const struct ghost_crawl_finding *f, struct finding_place *place)
{
    memset(place, 0, sizeof *place);
    if (!describe(f, place)) {
        place->why = "not a file's object";
        return 0;
    }
    int e = path_find(fs, f->oid, &place->path);
    if (e == -ENOMEM)
        return e;
    place->unknown = e != 0;
    if (e == -ENOENT)
        place->why = "no chain of back references reaches the root: unlinked, deleted, "
                     "or a link lost";
    else if (e)
        place->why = "a back reference on the way is damaged";
    return 0;
}

void finding_place_free(struct finding_place *place)
{
    free(place->path);
    place->path = NULL;
}

const char *finding_kind_word(enum ghost_finding_kind kind)
{
    switch (kind) {
    case GHOST_FIND_BAD_RECORD:
        return "bad_record";
    case GHOST_FIND_ENGINE:
        return "engine_page";
    case GHOST_FIND_MAP_SHORT:
        return "map_short";
    case GHOST_FIND_MAP_LONG:
        return "map_long";
    case GHOST_FIND_MAP_STALE:
        return "map_stale";
    case GHOST_FIND_TALLY_MISSING:
        return "tally_missing";
    }
    return "unknown";
}

void finding_place_text(FILE *f, const struct ghost_crawl_finding *fd,
                        const struct finding_place *place)
{
    if (place->path) {
        escape_text(f, place->path, strlen(place->path));
        fprintf(f, " (OID %llu, %s)", (unsigned long long)fd->oid, place->what);
    } else if (fd->oid) {
        fprintf(f, "OID %llu (%s; %s: %s)", (unsigned long long)fd->oid, place->what,
                place->unknown ? "path unknown" : "no path", place->why);
    } else {
        fprintf(f, "%s", place->what);
    }
}

void fs_crawl_found(void *arg, const struct ghost_crawl_finding *f)
{
    struct fs *fs = arg;
    struct finding_place place;
    char *where = NULL;
    size_t len = 0;
    FILE *m = NULL;
    if (finding_place(fs, f, &place) == 0 && (m = open_memstream(&where, &len)))
        finding_place_text(m, f, &place);
    if (m)
        fclose(m);
    finding_place_free(&place);
    if (where)
        ghost_log_error("crawler: %s: %s", where, f->message);
    else /* out of memory: the finding still reaches the log */
        ghost_log_error("crawler: object %llu: %s", (unsigned long long)f->oid, f->message);
    free(where);
}
