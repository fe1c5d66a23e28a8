/*
 * The catalog's record of reads through the gateway (see store.h): hourly
 * counts and readers per view, and each view's last read. The gateway counts
 * in memory and hands what it counted here every few seconds. Not for:
 * counting (proxy/reads.c) or deciding what an idle view is.
 */
#include <stdlib.h>
#include <string.h>

#include "catalog/store.h"
#include "catalog/store_db.h"
#include "core/clock.h"

#define MORE_READERS "…"
#define US_PER_HOUR  (3600 * CLOCK_US_PER_SECOND)

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Splits list at commas into names (pointers into list, which is modified); returns the count. */
static size_t split_names(char *list, char **names, size_t cap, bool *more)
{
    size_t n = 0;
    for (char *save = NULL, *t = list ? strtok_r(list, ",", &save) : NULL; t;
         t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, MORE_READERS) == 0)
            *more = true;
        else if (n < cap)
            names[n++] = t;
        else
            *more = true;
    }
    return n;
}

char *store_readers_merge(const char *a, const char *b)
{
    enum { CAP = 2 * STORE_MAX_READERS };
    char *ca = xstrdup(a ? a : ""), *cb = xstrdup(b ? b : "");
    char *names[CAP];
    bool more = false;
    size_t n = split_names(ca, names, STORE_MAX_READERS, &more);
    n += split_names(cb, names + n, STORE_MAX_READERS, &more);
    qsort(names, n, sizeof *names, compare_strings);
    size_t len = 0, kept = 0;
    char *out = xcalloc(1, n + strlen(a ? a : "") + strlen(b ? b : "") + sizeof MORE_READERS + 2);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
            continue;
        if (kept == STORE_MAX_READERS) {
            more = true;
            break;
        }
        size_t l = strlen(names[i]);
        if (kept)
            out[len++] = ',';
        memcpy(out + len, names[i], l);
        len += l;
        kept++;
    }
    if (more) {
        if (kept)
            out[len++] = ',';
        memcpy(out + len, MORE_READERS, sizeof MORE_READERS);
        len += sizeof MORE_READERS - 1;
    }
    out[len] = '\0';
    free(ca);
    free(cb);
    return out;
}

/* Adds one hour's reads of one view. Inside a write transaction. */
static int add_one(Store *s, const StoreReads *r)
{
    CdbStmt *get = NULL, *put = NULL, *last = NULL;
    char *merged = NULL;
    int rc = -1;
    if (sdb_prepare(s, "SELECT readers FROM view_reads WHERE \"view\" = ?1 AND hour = ?2", &get) ||
        sdb_bind_values(s, get, "ti", r->view, r->hour))
        goto done;
    char *old = NULL;
    int step = cdb_step(get);
    if (step == CDB_ROW)
        old = sdb_col_text(get, 0);
    else if (step != CDB_DONE) {
        sdb_set_db_error(s, "cannot read reads");
        goto done;
    }
    merged = store_readers_merge(old, r->readers);
    free(old);
    if (sdb_prepare(
            s,
            "INSERT INTO view_reads (\"view\", hour, reads, readers) VALUES (?1, ?2, ?3, ?4)"
            " ON CONFLICT (\"view\", hour) DO UPDATE SET reads = view_reads.reads + excluded.reads,"
            " readers = excluded.readers",
            &put) ||
        sdb_bind_values(s, put, "tiit", r->view, r->hour, r->reads, merged) ||
        sdb_step_done(s, put, "cannot record reads"))
        goto done;
    if (r->last_read_us > 0 &&
        (sdb_prepare(s,
                     "INSERT INTO view_last_read (\"view\", last_read_us) VALUES (?1, ?2)"
                     " ON CONFLICT (\"view\") DO UPDATE SET"
                     " last_read_us = CASE WHEN excluded.last_read_us > view_last_read.last_read_us"
                     " THEN excluded.last_read_us ELSE view_last_read.last_read_us END",
                     &last) ||
         sdb_bind_values(s, last, "ti", r->view, r->last_read_us) ||
         sdb_step_done(s, last, "cannot record the last read")))
        goto done;
    rc = 0;
done:
    free(merged);
    cdb_finalize(get);
    cdb_finalize(put);
    cdb_finalize(last);
    return rc;
}

int store_reads_add(Store *s, const StoreReads *r, size_t n, int64_t now_us)
{
    if (sdb_begin_write(s) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (add_one(s, &r[i]) != 0)
            goto fail;
    CdbStmt *prune = NULL;
    if (sdb_prepare(s, "DELETE FROM view_reads WHERE hour <= ?1", &prune) ||
        sdb_bind_values(s, prune, "i", now_us / US_PER_HOUR - STORE_READS_KEEP_HOURS) ||
        sdb_step_done(s, prune, "cannot drop old reads")) {
        cdb_finalize(prune);
        goto fail;
    }
    cdb_finalize(prune);
    return sdb_commit(s);
fail:
    sdb_rollback(s);
    return -1;
}

int store_reads_summary(Store *s, int64_t now_us, StoreReads **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    CdbStmt *st = NULL;
    /* The hours of the last 24 h: the current one and the 23 before it. */
    char *sql = xasprintf("SELECT l.\"view\", l.last_read_us,"
                          " (SELECT CAST(coalesce(sum(reads), 0) AS BIGINT) FROM view_reads r"
                          "  WHERE r.\"view\" = l.\"view\" AND r.hour > ?1),"
                          " (SELECT %s(readers, ',') FROM view_reads r"
                          "  WHERE r.\"view\" = l.\"view\" AND r.hour > ?1)"
                          " FROM view_last_read l ORDER BY l.\"view\"",
                          cdb_kind(s->db) == CDB_POSTGRES ? "string_agg" : "group_concat");
    int prepared = sdb_prepare(s, sql, &st);
    free(sql);
    if (prepared || sdb_bind_values(s, st, "i", now_us / US_PER_HOUR - 24))
        goto fail;
    size_t cap = 0;
    int step;
    while ((step = cdb_step(st)) == CDB_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        char *all = sdb_col_text(st, 3);
        /* group_concat of up to 24 bounded lists: merged down to one bounded list. */
        char *readers = NULL;
        for (char *save = NULL, *t = all ? strtok_r(all, ",", &save) : NULL; t;
             t = strtok_r(NULL, ",", &save)) {
            char *m = store_readers_merge(readers, t);
            free(readers);
            readers = m;
        }
        free(all);
        (*out)[(*n)++] = (StoreReads){
            .view = sdb_col_text_nn(st, 0),
            .last_read_us = sdb_col_time(st, 1),
            .reads = sdb_col_range(st, 2, 0, INT64_MAX, 0),
            .readers = readers ? readers : xstrdup(""),
        };
    }
    if (step != CDB_DONE) {
        sdb_set_db_error(s, "cannot read reads");
        goto fail;
    }
    cdb_finalize(st);
    return 0;
fail:
    cdb_finalize(st);
    store_reads_free(*out, *n);
    *out = NULL;
    *n = 0;
    return -1;
}

void store_reads_free(StoreReads *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].view);
        free(r[i].readers);
    }
    free(r);
}

static int compare_reads(const void *name, const void *reads)
{
    return strcmp(name, ((const StoreReads *)reads)->view);
}

const StoreReads *store_reads_find(const StoreReads *r, size_t n, const char *view)
{
    return n ? bsearch(view, r, n, sizeof *r, compare_reads) : NULL;
}
