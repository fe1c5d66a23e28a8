/*
 * The managed views for the gateway (see views.h). The list is re-read only
 * when the catalog's files changed; each view's stale_read is parsed once per
 * list read. Whether a read may wait for a refresh is planner/backoff's word; an idle view
 * (planner/idle) is read as a never-built one: built first.
 */
#include "proxy/views.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <uthash.h>

#include "catalog/config.h"
#include "catalog/names.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "planner/backoff.h"
#include "planner/idle.h"
#include "planner/staleness.h"
#include "proxy/reads.h"

#define VIEWS_CLASSIFY_CACHE 1024 /* statements remembered; the cache starts over when full */

/* A statement's classification, remembered by its text. */
typedef struct Classified {
    char *sql;
    InterceptInfo info;
    UT_hash_handle hh;
} Classified;

/* What stat() says of a file, to notice a change without asking SQLite (which takes locks). */
typedef struct FileStamp {
    struct timespec mtime;
    off_t size;
    ino_t ino;
} FileStamp;

struct ViewsRefresh {
    SchedulerRequest req;
    Views *views;
    ViewsRefreshDone done; /* NULL when nobody waits */
    int64_t submitted_us;  /* monotonic */
    void *arg;
    struct event *done_ev;
    struct ViewsRefresh *next; /* the list of refreshes not yet freed */
    struct ViewsRefresh *prev;
};

struct Views {
    struct event_base *base;
    Scheduler *scheduler;
    Store *store;         /* the gateway's own catalog connection */
    int64_t data_version; /* of the catalog when list was read */
    bool loaded;
    char *catalog_path;
    char *catalog_wal;
    FileStamp db_stamp; /* of the catalog and its log when list was read */
    FileStamp wal_stamp;
    int64_t checked_us;    /* when SQLite was last asked (monotonic) */
    StoreView *list;       /* sorted by name */
    StaleRead *stale_read; /* of each view in list, parsed from its config */
    size_t n_views;
    const char **tables; /* the views' table names, sorted, for the pre-filter */
    size_t n_tables;
    Classified *classified;
    size_t n_classified;
    ViewsRefresh *refreshes;
    Reads *reads;
};

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static FileStamp file_stamp(const char *path)
{
    struct stat st;
    FileStamp f = {{0, 0}, -1, 0};
    if (stat(path, &st) == 0)
        f = (FileStamp){st.st_mtim, st.st_size, st.st_ino};
    return f;
}

static bool stamps_equal(const FileStamp *a, const FileStamp *b)
{
    return a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->size == b->size && a->ino == b->ino;
}

/*
 * Reads the catalog's views again when another connection changed it. Every
 * commit touches the database or its write-ahead log, so unchanged files mean
 * an unchanged catalog and the check costs two stat() calls. A shared catalog
 * (PostgreSQL) says itself, without a round trip (store_data_version).
 */
static void views_load(Views *vw)
{
    if (!vw->store)
        return;
    if (store_shared(vw->store)) {
        int64_t version = store_data_version(vw->store), now = clock_mono_us();
        if (vw->loaded && version == vw->data_version && version >= 0)
            return;
        /* The catalog's server is away: the list as it was, asked again once a second. */
        if (vw->loaded && version < 0 && now - vw->checked_us < CLOCK_US_PER_SECOND)
            return;
        vw->checked_us = now;
        goto read;
    }
    FileStamp db = file_stamp(vw->catalog_path), wal = file_stamp(vw->catalog_wal);
    int64_t now = clock_mono_us();
    /* File times are coarse (a few ms): SQLite is asked anyway at least once a second. */
    if (vw->loaded && stamps_equal(&db, &vw->db_stamp) && stamps_equal(&wal, &vw->wal_stamp) &&
        now - vw->checked_us < CLOCK_US_PER_SECOND)
        return;
    vw->db_stamp = db;
    vw->wal_stamp = wal;
    vw->checked_us = now;
    if (vw->loaded && store_data_version(vw->store) == vw->data_version)
        return;
read:;
    int64_t version = store_data_version(vw->store);
    StoreView *views = NULL;
    size_t n = 0;
    if (store_list_views(vw->store, &views, &n) != 0) {
        log_warn("gateway: cannot read the catalog: %s", store_error(vw->store));
        return;
    }
    store_views_free(vw->list, vw->n_views);
    vw->list = views;
    vw->n_views = n;
    vw->data_version = version;
    vw->loaded = true;
    free(vw->stale_read);
    vw->stale_read = xcalloc(n ? n : 1, sizeof(StaleRead));
    for (size_t i = 0; i < n; i++)
        vw->stale_read[i] = config_described_stale_read(views[i].config);
    free(vw->tables);
    vw->tables = xcalloc(n ? n : 1, sizeof(char *));
    vw->n_tables = 0;
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(views[i].name, '.');
        vw->tables[vw->n_tables++] = dot ? dot + 1 : views[i].name;
    }
    qsort(vw->tables, vw->n_tables, sizeof(char *), compare_strings);
}

ViewsRead views_read(Views *vw, const char *relation, ViewsReadInfo *info)
{
    views_load(vw);
    memset(info, 0, sizeof *info);
    char *qualified = strchr(relation, '.') ? NULL : names_qualified(NULL, relation);
    const StoreView *v = backoff_find(vw->list, vw->n_views, qualified ? qualified : relation);
    free(qualified);
    if (!v || !v->enabled)
        return VIEWS_READ_NOW;
    int64_t now = clock_wall_us();
    info->view = v->name;
    info->built = v->built_hash != NULL;
    size_t i = (size_t)(v - vw->list);
    StalenessInput in = staleness_from_store(v, now);
    if (info->built && !staleness_needs_refresh(&in))
        return VIEWS_READ_NOW; /* the common case: no walk over the other views */
    in = idle_staleness(vw->list, vw->n_views, i, now, NULL);
    BackoffHold hold = backoff_check(vw->list, vw->n_views, i, RUN_TRIGGER_READ, now);
    if (hold.failed) {
        info->failed = hold.failed->name;
        info->error = hold.failed->last_error;
        info->next_try_us = hold.until_us;
        return info->built ? VIEWS_READ_HELD : VIEWS_READ_REFUSE;
    }
    /* Never built, or idle (the schedule left it alone): built first, whatever stale_read says. */
    if (!info->built || staleness_idle(&in))
        return VIEWS_READ_WAIT;
    return vw->stale_read[i] == STALE_READ_SERVE ? VIEWS_READ_BACKGROUND : VIEWS_READ_WAIT;
}

void views_note_read(Views *vw, const char *view, const char *role)
{
    reads_note(vw->reads, view, role);
}

char *views_failure_message(const char *view, bool built, const char *failed, const char *error,
                            int64_t next_try_us)
{
    char when[64] = ""; /* no next try (a dependency cycle): none is told */
    if (next_try_us > 0) {
        time_t secs = (time_t)(next_try_us / CLOCK_US_PER_SECOND);
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(when, sizeof when, "; next try at %Y-%m-%d %H:%M:%S+00", &tm);
    }
    if (!error)
        error = "no error recorded";
    bool own = strcmp(view, failed) == 0;
    if (built && own)
        return xasprintf("duro: the last refresh of %s failed (%s); reading its current table%s",
                         view, error, when);
    if (built)
        return xasprintf("duro: the last refresh of %s, which %s reads, failed (%s); reading the "
                         "current table of %s%s",
                         failed, view, error, view, when);
    if (own)
        return xasprintf("duro: %s has never been built: its last refresh failed (%s)%s", view,
                         error, when);
    return xasprintf("duro: %s has never been built: the last refresh of %s, which it reads, "
                     "failed (%s)%s",
                     view, failed, error, when);
}

bool views_may_concern(Views *vw, const char *sql, size_t len)
{
    /*
     * Every statement passes here: the table names only change with the repository, so the
     * files are looked at once a second, not per statement (gateway_read checks them always).
     */
    if (!vw->loaded || clock_mono_us() - vw->checked_us >= CLOCK_US_PER_SECOND)
        views_load(vw);
    InterceptNameSet set = {vw->tables, vw->n_tables};
    return intercept_may_concern(sql, len, intercept_name_set_has, &set);
}

static void classified_clear(Views *vw)
{
    Classified *c, *tmp;
    HASH_ITER(hh, vw->classified, c, tmp)
    {
        HASH_DEL(vw->classified, c);
        intercept_info_free(&c->info);
        free(c->sql);
        free(c);
    }
    vw->n_classified = 0;
}

const InterceptInfo *views_classify(Views *vw, const char *sql)
{
    Classified *c;
    HASH_FIND_STR(vw->classified, sql, c);
    if (c)
        return &c->info;
    if (vw->n_classified >= VIEWS_CLASSIFY_CACHE)
        classified_clear(vw);
    c = xcalloc(1, sizeof *c);
    c->sql = xstrdup(sql);
    (void)intercept_analyze(c->sql, &c->info);
    HASH_ADD_KEYPTR(hh, vw->classified, c->sql, strlen(c->sql), c);
    vw->n_classified++;
    return &c->info;
}

static void refresh_unlink_free(ViewsRefresh *r)
{
    Views *vw = r->views;
    if (r->prev)
        r->prev->next = r->next;
    else
        vw->refreshes = r->next;
    if (r->next)
        r->next->prev = r->prev;
    event_free(r->done_ev);
    scheduler_request_clear(&r->req);
    free(r->req.view);
    free(r);
}

/* Counts a finished stale read's wait and a CALL's outcome (core/metrics). */
static void views_count_done(const ViewsRefresh *r)
{
    if (r->req.trigger == RUN_TRIGGER_READ && r->done) {
        metrics_observe(METRICS_STALE_WAIT_SECONDS, clock_mono_us() - r->submitted_us);
    } else if (r->req.trigger == RUN_TRIGGER_CALL) {
        static const MetricsCounter by_status[] = {
            [SCHEDULER_DONE] = METRICS_CALLS_OK,
            [SCHEDULER_UNKNOWN] = METRICS_CALLS_UNKNOWN,
            [SCHEDULER_FAILED] = METRICS_CALLS_FAILED,
            [SCHEDULER_CANCELLED] = METRICS_CALLS_CANCELLED,
        };
        metrics_add(by_status[r->req.status], 1);
    }
}

/* On the gateway's thread, once the scheduler is done with the request. */
static void refresh_done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ViewsRefresh *r = arg;
    views_count_done(r);
    if (r->done)
        r->done(r->arg, r);
    else
        refresh_unlink_free(r);
}

/* On the scheduler's thread. */
static void refresh_request_done(SchedulerRequest *req)
{
    ViewsRefresh *r = req->arg;
    event_active(r->done_ev, EV_TIMEOUT, 0);
}

ViewsRefresh *views_refresh(Views *vw, ViewsRefreshDone done, void *arg, const char *view,
                            bool force, bool only_if_stale, RunTrigger trigger)
{
    ViewsRefresh *r = xcalloc(1, sizeof *r);
    r->views = vw;
    r->done = done;
    r->arg = arg;
    r->done_ev = xnonnull(event_new(vw->base, -1, 0, refresh_done_cb, r));
    r->req.view = xstrdup(view);
    r->req.force = force;
    r->req.only_if_stale = only_if_stale;
    r->req.trigger = trigger;
    r->req.done = refresh_request_done;
    r->req.arg = r;
    r->submitted_us = clock_mono_us();
    if (done && trigger == RUN_TRIGGER_READ)
        metrics_add(METRICS_STALE_WAITS, 1);
    r->next = vw->refreshes;
    if (vw->refreshes)
        vw->refreshes->prev = r;
    vw->refreshes = r;
    if (vw->scheduler) {
        scheduler_submit(vw->scheduler, &r->req);
    } else {
        r->req.status = SCHEDULER_CANCELLED;
        event_active(r->done_ev, EV_TIMEOUT, 0);
    }
    return r;
}

void views_refresh_detach(ViewsRefresh *r)
{
    if (r)
        r->done = NULL;
}

const SchedulerRequest *views_refresh_result(const ViewsRefresh *r)
{
    return &r->req;
}

void views_refresh_free(ViewsRefresh *r)
{
    refresh_unlink_free(r);
}

Views *views_open(struct event_base *base, const char *path, Scheduler *sc, char **error)
{
    Views *vw = xcalloc(1, sizeof *vw);
    if (store_open(path, &vw->store, error) != 0) {
        free(vw);
        return NULL;
    }
    vw->base = base;
    vw->scheduler = sc;
    vw->catalog_path = xstrdup(path);
    vw->catalog_wal = xasprintf("%s-wal", path);
    vw->reads = reads_open(base, vw->store, path);
    return vw;
}

Store *views_store(Views *vw)
{
    return vw->store;
}

void views_free(Views *vw)
{
    if (!vw)
        return;
    while (vw->refreshes)
        refresh_unlink_free(vw->refreshes);
    reads_free(vw->reads);
    classified_clear(vw);
    store_views_free(vw->list, vw->n_views);
    free(vw->stale_read);
    free(vw->tables);
    store_close(vw->store);
    free(vw->catalog_path);
    free(vw->catalog_wal);
    free(vw);
}
