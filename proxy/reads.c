/*
 * Reads counted in memory (see reads.h): a hash of the views read since the
 * last flush, each with its hour's count, last read and up to
 * STORE_MAX_READERS roles (then "…"). The timer hands a snapshot to a writer
 * thread with a catalog connection of its own, so a slow catalog write never
 * holds the gateway's loop; while one is being written, counting goes on.
 */
#include "proxy/reads.h"

#include <pthread.h>
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
    Store *store; /* the gateway's: for what is left at the end */
    char *catalog_path;
    pthread_t writer;
    bool writer_started;
    pthread_mutex_t lock; /* guards the four below */
    pthread_cond_t wake;
    StoreReads *handed; /* the snapshot the writer writes; NULL when it is idle */
    size_t n_handed;
    bool stop;
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

/* What was counted, as rows for the catalog (caller frees with store_reads_free); counts reset. */
static StoreReads *take_snapshot(Reads *r, size_t *n)
{
    StoreReads *rows = xcalloc(r->n_counted ? r->n_counted : 1, sizeof *rows);
    *n = 0;
    Counted *c, *tmp;
    HASH_ITER(hh, r->counted, c, tmp)
    {
        rows[(*n)++] = (StoreReads){.view = c->view,
                                    .hour = c->hour,
                                    .reads = c->reads,
                                    .last_read_us = c->last_read_us,
                                    .readers = readers_text(c)};
        c->view = NULL; /* now the row's */
        HASH_DEL(r->counted, c);
        counted_free(c);
    }
    r->n_counted = 0;
    return rows;
}

/* Puts rows that could not be written back into the counts (kept to try again). */
static void put_back(Reads *r, StoreReads *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        Counted *c;
        HASH_FIND_STR(r->counted, rows[i].view, c);
        if (c)
            continue; /* counted again meanwhile: that count goes, this one is lost */
        c = xcalloc(1, sizeof *c);
        c->view = rows[i].view;
        rows[i].view = NULL;
        c->hour = rows[i].hour;
        c->reads = rows[i].reads;
        c->last_read_us = rows[i].last_read_us;
        c->more = rows[i].readers && strstr(rows[i].readers, "…") != NULL;
        char *save = NULL;
        for (char *t = strtok_r(rows[i].readers, ",", &save); t && c->n_readers < STORE_MAX_READERS;
             t = strtok_r(NULL, ",", &save))
            if (strcmp(t, "…") != 0)
                c->readers[c->n_readers++] = xstrdup(t);
        HASH_ADD_KEYPTR(hh, r->counted, c->view, strlen(c->view), c);
        r->n_counted++;
    }
}

int reads_flush(Reads *r)
{
    if (!r || r->off || r->n_counted == 0)
        return 0;
    size_t n = 0;
    StoreReads *rows = take_snapshot(r, &n);
    int rc = store_reads_add(r->store, rows, n, clock_wall_us());
    if (rc != 0) {
        log_warn("gateway: cannot record reads in the catalog (kept to try again): %s",
                 store_error(r->store));
        put_back(r, rows, n);
    }
    store_reads_free(rows, n);
    return rc;
}

/* The writer thread: writes each snapshot handed to it on a catalog connection of its own. */
static void *writer_main(void *arg)
{
    Reads *r = arg;
    Store *store = NULL;
    char *error = NULL;
    if (store_open(r->catalog_path, &store, &error) != 0) {
        log_warn("gateway: reads will not be recorded: %s", error);
        free(error);
    }
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (!r->handed && !r->stop)
            pthread_cond_wait(&r->wake, &r->lock);
        if (!r->handed)
            break;
        StoreReads *rows = r->handed;
        size_t n = r->n_handed;
        pthread_mutex_unlock(&r->lock);
        if (store && store_reads_add(store, rows, n, clock_wall_us()) != 0)
            log_warn("gateway: cannot record reads in the catalog: %s", store_error(store));
        store_reads_free(rows, n);
        pthread_mutex_lock(&r->lock);
        r->handed = NULL;
        r->n_handed = 0;
    }
    pthread_mutex_unlock(&r->lock);
    store_close(store);
    return NULL;
}

/* On the loop: hands what was counted to the writer, unless it is still writing the last. */
static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Reads *r = arg;
    if (r->n_counted == 0)
        return;
    pthread_mutex_lock(&r->lock);
    bool busy = r->handed != NULL;
    pthread_mutex_unlock(&r->lock);
    if (busy)
        return; /* counting goes on; the next tick hands it over */
    size_t n = 0;
    StoreReads *rows = take_snapshot(r, &n);
    pthread_mutex_lock(&r->lock);
    r->handed = rows;
    r->n_handed = n;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
}

Reads *reads_open(struct event_base *base, Store *store, const char *catalog_path)
{
    Reads *r = xcalloc(1, sizeof *r);
    const char *env = getenv("DURO_RECORD_READS");
    r->off = env && strcmp(env, "off") == 0;
    r->store = store;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    if (!r->off && base && catalog_path) {
        r->catalog_path = xstrdup(catalog_path);
        if (pthread_create(&r->writer, NULL, writer_main, r) != 0) {
            log_warn("gateway: cannot start the thread that records reads; reads not recorded");
            r->off = true;
            return r;
        }
        r->writer_started = true;
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
        /*
         * A new hour: the counts of the old one go first, to the writer when it is idle,
         * else (once an hour at most) written here; kept if the catalog cannot take them.
         */
        if (r->writer_started)
            flush_cb(-1, 0, r);
        if (r->n_counted > 0 && reads_flush(r) != 0)
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
    if (r->writer_started) {
        pthread_mutex_lock(&r->lock);
        r->stop = true;
        pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->lock);
        pthread_join(r->writer, NULL); /* it writes what it was handed first */
    }
    (void)reads_flush(r);
    Counted *c, *tmp;
    HASH_ITER(hh, r->counted, c, tmp)
    {
        HASH_DEL(r->counted, c);
        counted_free(c);
    }
    if (r->timer)
        event_free(r->timer);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->wake);
    free(r->catalog_path);
    free(r);
}
