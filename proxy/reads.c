/*
 * Reads counted in memory (see reads.h): a hash of the views read since the
 * last flush, each with its hour's count, last read and up to
 * STORE_MAX_READERS roles (then "…").
 */
#include "proxy/reads.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "core/clock.h"
#include "core/log.h"

#define READS_MAX_VIEWS 10000 /* views counted between two flushes; more are not counted */
#define US_PER_HOUR     (3600 * CLOCK_US_PER_SECOND)

typedef struct Counted {
    char *view;
    int64_t hour;
    int64_t reads;
    int64_t last_read_us;
    char *readers[STORE_MAX_READERS];
    size_t n_readers;
    bool more;
    UT_hash_handle hh;
} Counted;

struct Reads {
    bool off;
    Store *store;
    struct event *timer;
    Counted *counted;
    size_t n_counted;
    bool warned_full;
};

static void counted_free(Counted *c)
{
    for (size_t i = 0; i < c->n_readers; i++)
        free(c->readers[i]);
    free(c->view);
    free(c);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The roles of c as the catalog keeps them: sorted, comma-separated, "…" when some were left out.
 */
static char *readers_text(Counted *c)
{
    qsort(c->readers, c->n_readers, sizeof *c->readers, compare_strings);
    char *acc = xstrdup(c->more ? "…" : "");
    for (size_t i = 0; i < c->n_readers; i++) {
        char *m = store_readers_merge(acc, c->readers[i]);
        free(acc);
        acc = m;
    }
    return acc;
}

int reads_flush(Reads *r)
{
    if (!r || r->off || r->n_counted == 0)
        return 0;
    StoreReads *rows = xcalloc(r->n_counted, sizeof *rows);
    size_t n = 0;
    Counted *c, *tmp;
    HASH_ITER(hh, r->counted, c, tmp)
    {
        rows[n++] = (StoreReads){.view = c->view,
                                 .hour = c->hour,
                                 .reads = c->reads,
                                 .last_read_us = c->last_read_us,
                                 .readers = readers_text(c)};
    }
    int rc = store_reads_add(r->store, rows, n, clock_wall_us());
    for (size_t i = 0; i < n; i++)
        free(rows[i].readers);
    free(rows);
    if (rc != 0) {
        log_warn("gateway: cannot record reads in the catalog (kept to try again): %s",
                 store_error(r->store));
        return -1;
    }
    HASH_ITER(hh, r->counted, c, tmp)
    {
        HASH_DEL(r->counted, c);
        counted_free(c);
    }
    r->n_counted = 0;
    return 0;
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)reads_flush(arg);
}

Reads *reads_open(struct event_base *base, Store *store)
{
    Reads *r = xcalloc(1, sizeof *r);
    const char *env = getenv("DURO_RECORD_READS");
    r->off = env && strcmp(env, "off") == 0;
    r->store = store;
    if (!r->off && base) {
        r->timer = xnonnull(event_new(base, -1, EV_PERSIST, flush_cb, r));
        struct timeval every = {READS_FLUSH_SECONDS, 0};
        event_add(r->timer, &every);
    }
    return r;
}

void reads_note(Reads *r, const char *view, const char *role)
{
    if (!r || r->off)
        return;
    int64_t now = clock_wall_us();
    int64_t hour = now / US_PER_HOUR;
    Counted *c;
    HASH_FIND_STR(r->counted, view, c);
    if (c && c->hour != hour) {
        /* A new hour: the old one goes to the catalog first (kept if it cannot). */
        if (reads_flush(r) != 0)
            return;
        c = NULL;
    }
    if (!c) {
        if (r->n_counted >= READS_MAX_VIEWS) {
            if (!r->warned_full)
                log_warn("gateway: more than %d views read between two flushes; not counted",
                         READS_MAX_VIEWS);
            r->warned_full = true;
            return;
        }
        c = xcalloc(1, sizeof *c);
        c->view = xstrdup(view);
        c->hour = hour;
        HASH_ADD_KEYPTR(hh, r->counted, c->view, strlen(c->view), c);
        r->n_counted++;
    }
    c->reads++;
    c->last_read_us = now;
    if (!role || !*role || strchr(role, ','))
        return; /* a name that would not survive the list is not kept */
    for (size_t i = 0; i < c->n_readers; i++)
        if (strcmp(c->readers[i], role) == 0)
            return;
    if (c->n_readers < STORE_MAX_READERS)
        c->readers[c->n_readers++] = xstrdup(role);
    else
        c->more = true;
}

void reads_free(Reads *r)
{
    if (!r)
        return;
    (void)reads_flush(r);
    Counted *c, *tmp;
    HASH_ITER(hh, r->counted, c, tmp)
    {
        HASH_DEL(r->counted, c);
        counted_free(c);
    }
    if (r->timer)
        event_free(r->timer);
    free(r);
}
