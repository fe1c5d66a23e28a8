/*
 * The pool that evaluates Duro's SQL (see evaluate.h). Jobs wait in one bounded queue; each
 * thread takes the oldest, reads the catalog, keeps the rows of the views the role may read,
 * loads them into its own database and runs the statement under the limits. A finished job goes
 * to a list the loop empties when the pool's event fires (libevent's pthreads support makes
 * event_active safe from these threads).
 */
#include "proxy/evaluate.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/interval.h"
#include "catalog/store.h"
#include "core/clock.h"
#include "core/log.h"
#include "planner/backoff.h"
#include "planner/idle.h"
#include "planner/leader.h"
#include "planner/staleness.h"
#include "planner/status.h"
#include "planner/warehouse.h"

#define EVAL_THREADS      2   /* queries evaluated at once */
#define EVAL_MAX_QUEUED   64  /* queries waiting for a thread, across every session */
#define EVAL_GRANTS_TTL   30  /* seconds a role's privileges are remembered */
#define EVAL_GRANTS_MAX   256 /* roles remembered */
#define EVAL_GRANTS_LIMIT 10  /* seconds the privilege check may take at most */

typedef enum JobState { JOB_QUEUED, JOB_RUNNING, JOB_DONE } JobState;

struct EvalJob {
    EvalPool *pool;
    JobState state;
    bool detached;
    bool delivered; /* done has run (the loop's) */
    atomic_bool cancel;
    int64_t deadline_us;   /* clock_mono_us */
    const VtStatement *st; /* the loop's, until a thread has copied it */
    char **params;
    size_t nparams;
    char *user;
    char *timezone;
    EvalDoneFn done;
    void *arg;
    /* the outcome */
    int rc;
    VtValue *rows;
    size_t nrows, ncols;
    VtError err;
    struct EvalJob *next;
};

/* What a role may read: every view, or the listed ones (sorted). */
typedef struct Grants {
    char *user;
    bool all;
    StrVec views;
    int64_t fetched_us; /* clock_mono_us */
} Grants;

struct EvalPool {
    struct event *done_ev;
    pthread_t threads[EVAL_THREADS];
    size_t n_threads;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    EvalJob *queue, *queue_tail; /* JOB_QUEUED, oldest first */
    size_t n_queued;
    EvalJob *finished; /* JOB_DONE, for the loop */
    EvalJob *running[EVAL_THREADS];
    /* read only once started */
    Settings wh; /* only what wh_connect reads: [warehouse], and the catalog's path and
                    [worker] instance that name its sessions */
    char *catalog_path;
    StrVec admins;
    int64_t timeout_s;
    int64_t max_bytes;
    /* under lock */
    Grants grants[EVAL_GRANTS_MAX];
    size_t n_grants;
};

/* One thread's own connections. */
typedef struct Worker {
    EvalPool *pool;
    size_t index;
    Store *store;
    VtDb *db;
    Warehouse *wh;
} Worker;

/* ---- the loop's side ------------------------------------------------------------- */

static void job_free(EvalJob *j)
{
    for (size_t i = 0; i < j->nparams; i++)
        free(j->params[i]);
    free(j->params);
    free(j->user);
    free(j->timezone);
    vtable_rows_free(j->rows, j->nrows, j->ncols);
    free(j);
}

/* The loop: hands every finished job to its session. */
static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    EvalPool *p = arg;
    pthread_mutex_lock(&p->lock);
    EvalJob *list = p->finished;
    p->finished = NULL;
    pthread_mutex_unlock(&p->lock);
    /* Oldest first: the list was pushed at its head. */
    EvalJob *rev = NULL;
    while (list) {
        EvalJob *next = list->next;
        list->next = rev;
        rev = list;
        list = next;
    }
    while (rev) {
        EvalJob *j = rev;
        rev = j->next;
        j->next = NULL;
        pthread_mutex_lock(&p->lock);
        bool detached = j->detached;
        pthread_mutex_unlock(&p->lock);
        if (detached) {
            job_free(j);
        } else {
            j->delivered = true;
            j->done(j->arg);
        }
    }
}

/* Under lock: j is done; the loop hears of it. */
static void job_finish_locked(EvalJob *j)
{
    j->state = JOB_DONE;
    j->next = j->pool->finished;
    j->pool->finished = j;
    event_active(j->pool->done_ev, EV_READ, 0);
}

static void fail(VtError *err, const char *sqlstate, const char *fmt, ...) PRINTF_LIKE(3, 4);
static void fail(VtError *err, const char *sqlstate, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    snprintf(err->sqlstate, sizeof err->sqlstate, "%s", sqlstate);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

EvalJob *eval_submit(EvalPool *p, const VtStatement *st, char *const *params, size_t nparams,
                     const char *user, const char *zone, EvalDoneFn done, void *arg, VtError *err)
{
    pthread_mutex_lock(&p->lock);
    if (p->n_queued >= EVAL_MAX_QUEUED || p->stopping) {
        pthread_mutex_unlock(&p->lock);
        fail(err, "53300",
             "too many queries on duro.status and duro.runs are waiting (%d); try "
             "again later",
             EVAL_MAX_QUEUED);
        return NULL;
    }
    EvalJob *j = xcalloc(1, sizeof *j);
    j->pool = p;
    j->st = st;
    j->deadline_us = clock_mono_us() + p->timeout_s * 1000000;
    j->params = xcalloc(nparams ? nparams : 1, sizeof(char *));
    for (size_t i = 0; i < nparams; i++)
        j->params[i] = params[i] ? xstrdup(params[i]) : NULL;
    j->nparams = nparams;
    j->user = xstrdup(user ? user : "");
    j->timezone = zone && *zone ? xstrdup(zone) : NULL;
    j->done = done;
    j->arg = arg;
    if (p->queue_tail)
        p->queue_tail->next = j;
    else
        p->queue = j;
    p->queue_tail = j;
    p->n_queued++;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    return j;
}

/* Under lock: takes j out of the queue. */
static void unqueue_locked(EvalPool *p, EvalJob *j)
{
    EvalJob *prev = NULL;
    for (EvalJob *q = p->queue; q; prev = q, q = q->next) {
        if (q != j)
            continue;
        if (prev)
            prev->next = q->next;
        else
            p->queue = q->next;
        if (p->queue_tail == q)
            p->queue_tail = prev;
        p->n_queued--;
        q->next = NULL;
        return;
    }
}

void eval_cancel(EvalJob *j)
{
    EvalPool *p = j->pool;
    pthread_mutex_lock(&p->lock);
    atomic_store(&j->cancel, true);
    if (j->state == JOB_QUEUED) {
        unqueue_locked(p, j);
        j->rc = -1;
        fail(&j->err, "57014", "canceling statement due to user request");
        job_finish_locked(j);
    }
    pthread_mutex_unlock(&p->lock);
}

bool eval_finished(const EvalJob *j)
{
    return j->delivered;
}

int eval_take(EvalJob *j, VtValue **rows, size_t *nrows, VtError *err)
{
    int rc = j->rc;
    *rows = j->rows;
    *nrows = j->nrows;
    *err = j->err;
    j->rows = NULL;
    j->nrows = 0;
    job_free(j);
    return rc;
}

void eval_detach(EvalJob *j)
{
    EvalPool *p = j->pool;
    pthread_mutex_lock(&p->lock);
    atomic_store(&j->cancel, true);
    j->st = NULL;
    if (j->state == JOB_QUEUED) {
        unqueue_locked(p, j);
        pthread_mutex_unlock(&p->lock);
        job_free(j);
        return;
    }
    bool pending = !j->delivered; /* running, or on the finished list */
    j->detached = true;           /* done_cb or the thread frees it */
    pthread_mutex_unlock(&p->lock);
    if (!pending)
        job_free(j);
}

/* ---- privileges -------------------------------------------------------------------- */

static bool is_admin(const EvalPool *p, const char *user)
{
    return strcmp(user, p->wh.warehouse.user) == 0 ||
           (p->admins.n > 0 && strvec_contains(&p->admins, user));
}

/* Connects the thread's warehouse connection when it has none (or lost it). */
static int worker_warehouse(Worker *w, VtError *err)
{
    if (w->wh && wh_ok(w->wh))
        return 0;
    wh_close(w->wh);
    w->wh = NULL;
    char *error = NULL;
    if (wh_connect(&w->pool->wh, &w->wh, &error) != 0) {
        fail(err, "58000", "cannot check the role's privileges: %s", error);
        free(error);
        return -1;
    }
    return 0;
}

/* A string literal for SQL: the names are identifiers, but quote marks are doubled anyway. */
static void put_literal(StrVec *parts, const char *s)
{
    size_t n = strlen(s);
    char *q = xmalloc(2 * n + 3), *o = q;
    *o++ = '\'';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\'')
            *o++ = '\'';
        *o++ = s[i];
    }
    *o++ = '\'';
    *o = '\0';
    strvec_push_owned(parts, q);
}

/* Asks the warehouse which of views user may SELECT (a live table, USAGE on its schema and
 * SELECT on it), or whether it is a superuser (all). */
static int fetch_grants(Worker *w, const char *user, const StoreView *views, size_t nv, Grants *g,
                        VtError *err)
{
    if (worker_warehouse(w, err) != 0)
        return -1;
    int64_t deadline = clock_mono_us() + EVAL_GRANTS_LIMIT * 1000000;
    const char *params[1] = {user};
    PGresult *res = NULL;
    if (wh_exec(w->wh, "select usesuper from pg_user where usename = $1", 1, params, deadline,
                &res) != WH_OK)
        goto wh_fail;
    g->all = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    res = NULL;
    if (g->all || nv == 0)
        return 0;
    StrVec names = {0};
    for (size_t i = 0; i < nv; i++)
        put_literal(&names, views[i].name);
    char *list = strvec_join(&names, ", ");
    strvec_free(&names);
    char *sql = xasprintf(
        "select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = "
        "c.relnamespace where n.nspname || '.' || c.relname in (%s) and has_schema_privilege($1, "
        "n.nspname, 'USAGE') and has_table_privilege($1, quote_ident(n.nspname) || '.' || "
        "quote_ident(c.relname), 'SELECT')",
        list);
    free(list);
    WhStatus st = wh_exec(w->wh, sql, 1, params, deadline, &res);
    free(sql);
    if (st != WH_OK)
        goto wh_fail;
    for (int i = 0; i < PQntuples(res); i++)
        strvec_push(&g->views, PQgetvalue(res, i, 0));
    strvec_sort(&g->views);
    PQclear(res);
    return 0;
wh_fail:
    fail(err, "58000", "cannot check the role's privileges on the warehouse: %s", wh_error(w->wh));
    return -1;
}

/* What user may read: from the cache, else from the warehouse (then remembered). *out is a copy
 * the caller frees with strvec_free. */
static int role_grants(Worker *w, const char *user, const StoreView *views, size_t nv, bool *all,
                       StrVec *out, VtError *err)
{
    EvalPool *p = w->pool;
    *all = false;
    if (is_admin(p, user)) {
        *all = true;
        return 0;
    }
    int64_t now = clock_mono_us();
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->n_grants; i++) {
        Grants *g = &p->grants[i];
        if (strcmp(g->user, user) == 0 && now - g->fetched_us < EVAL_GRANTS_TTL * 1000000) {
            *all = g->all;
            strvec_copy(out, &g->views);
            pthread_mutex_unlock(&p->lock);
            return 0;
        }
    }
    pthread_mutex_unlock(&p->lock);
    Grants fresh = {.fetched_us = now};
    if (fetch_grants(w, user, views, nv, &fresh, err) != 0) {
        strvec_free(&fresh.views);
        return -1;
    }
    *all = fresh.all;
    strvec_copy(out, &fresh.views);
    /* Remembered in place of the same role's entry, else of the oldest. */
    pthread_mutex_lock(&p->lock);
    size_t slot = p->n_grants;
    for (size_t i = 0; i < p->n_grants; i++) {
        if (strcmp(p->grants[i].user, user) == 0) {
            slot = i;
            break;
        }
        if (p->n_grants == EVAL_GRANTS_MAX &&
            (slot == p->n_grants || p->grants[i].fetched_us < p->grants[slot].fetched_us))
            slot = i;
    }
    if (slot == p->n_grants)
        p->n_grants++;
    else {
        free(p->grants[slot].user);
        strvec_free(&p->grants[slot].views);
    }
    fresh.user = xstrdup(user);
    p->grants[slot] = fresh;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* ---- one job, on a thread -------------------------------------------------------------- */

static bool visible(bool all, const StrVec *views, const char *view)
{
    return all || (view && strvec_contains(views, view));
}

/* The runs a page of store_runs_newest reads at least, when a role sees only some views. */
#define EVAL_RUNS_PAGE 256

/*
 * Reads into *out the runs st may read (only one view's when its WHERE asks for one; only the
 * newest it can read when it is ordered by id and limited, vtable_runs_newest), enough of them
 * visible to the role (all, or the views in allowed): the invisible ones may be among them.
 */
static int load_runs(Store *store, const VtStatement *st, const char *const *params, size_t nparams,
                     bool all, const StrVec *allowed, StoreRun **out, size_t *n)
{
    const char *view = vtable_runs_view(st, params, nparams);
    size_t want = 0;
    bool bounded = vtable_runs_newest(st, params, nparams, &want);
    *out = NULL;
    *n = 0;
    if ((view && !visible(all, allowed, view)) || (bounded && want == 0))
        return 0;
    if (!bounded || all || view)
        return store_runs_newest(store, view, 0, bounded ? want : 0, out, n);
    /* Newest first, a page at a time, until want of them are visible or none is left. */
    size_t cap = 0, seen = 0, page_size = want > EVAL_RUNS_PAGE ? want : EVAL_RUNS_PAGE;
    int64_t before = 0;
    for (;;) {
        StoreRun *page = NULL;
        size_t np = 0;
        if (store_runs_newest(store, NULL, before, page_size, &page, &np) != 0)
            return -1;
        grow_array((void **)out, &cap, *n + np + 1, sizeof **out);
        for (size_t i = 0; i < np; i++) {
            seen += visible(all, allowed, page[i].view);
            (*out)[(*n)++] = page[i];
        }
        free(page); /* its runs moved to *out */
        if (np < page_size || seen >= want)
            return 0;
        before = (*out)[*n - 1].id;
    }
}

/* duro.leader: who leads the scheduler, as this process last heard (planner/leader). */
static int load_leader(VtDb *db, VtError *err)
{
    LeaderInfo l;
    leader_current(&l);
    VtLeaderRow row = {
        .instance = l.instance,
        .host = l.host,
        .generation = l.generation,
        .since_us = l.since_us ? l.since_us : VT_NULL_TIME,
        .this_instance = l.this_one,
    };
    char *error = NULL;
    if (vtable_load_leader(db, &row, l.known ? 1 : 0, &error) != 0) {
        fail(err, "58000", "%s", error);
        free(error);
        return -1;
    }
    return 0;
}

/* Fills w->db with the rows of the catalog that user may see, of the tables st reads: the runs
 * only when it reads duro.runs, and of those only what the statement can read (load_runs); the
 * views (their names, for the privilege check) only when it reads duro.status or the role is
 * not an admin. */
static int load_tables(Worker *w, const char *user, const VtStatement *st,
                       const char *const *params, size_t nparams, VtError *err)
{
    StoreView *views = NULL;
    StoreRun *runs = NULL;
    size_t nv = 0, nr = 0;
    char *error = NULL;
    if (!w->store && store_open(w->pool->catalog_path, &w->store, &error) != 0) {
        fail(err, "58000", "cannot read Duro's catalog: %s", error);
        free(error);
        return -1;
    }
    bool reads_status = vtable_reads(st, VT_TABLE_STATUS);
    bool reads_runs = vtable_reads(st, VT_TABLE_RUNS);
    if ((reads_status               ? store_list_views(w->store, &views, &nv)
         : !is_admin(w->pool, user) ? store_list_view_names(w->store, &views, &nv)
                                    : 0) != 0) {
        fail(err, "58000", "cannot read Duro's catalog: %s", store_error(w->store));
        return -1;
    }
    int64_t now = clock_wall_us();
    StoreReads *reads = NULL;
    size_t nrd = 0;
    if (reads_status && store_reads_summary(w->store, now, &reads, &nrd) != 0) {
        fail(err, "58000", "cannot read Duro's catalog: %s", store_error(w->store));
        store_views_free(views, nv);
        return -1;
    }
    bool all = false;
    StrVec allowed = {0};
    int rc = role_grants(w, user, views, nv, &all, &allowed, err);
    if (rc == 0 && reads_runs &&
        load_runs(w->store, st, params, nparams, all, &allowed, &runs, &nr) != 0) {
        fail(err, "58000", "cannot read Duro's catalog: %s", store_error(w->store));
        rc = -1;
    }
    VtStatusRow *status = xcalloc(nv ? nv : 1, sizeof *status);
    char **texts = xcalloc(nv ? 2 * nv : 1, sizeof(char *));
    size_t ns = 0, nt = 0;
    bool *quiet = reads_status ? idle_quiet_all(views, nv, now) : NULL;
    for (size_t i = 0; rc == 0 && reads_status && i < nv; i++) {
        const StoreView *v = &views[i];
        if (!visible(all, &allowed, v->name))
            continue;
        ViewStatus vs = view_status(views, nv, i, now, quiet);
        const StoreReads *rd = store_reads_find(reads, nrd, v->name);
        char *interval = texts[nt++] = view_status_interval(v->interval);
        char *effective = texts[nt++] = view_status_interval(v->effective_interval);
        status[ns++] = (VtStatusRow){
            .view = v->name,
            .interval = interval,
            .effective_interval = effective,
            .state = vs.state,
            .last_refresh_us = vs.last_refresh_us ? vs.last_refresh_us : VT_NULL_TIME,
            .last_duration_s = vs.last_duration_s,
            .next_refresh_us = vs.next_refresh_us ? vs.next_refresh_us : VT_NULL_TIME,
            .rows = vs.rows,
            .depends_on = v->depends_on,
            .last_error = vs.last_error,
            .source = v->source,
            .reads_24h = rd ? rd->reads : 0,
            .last_read_us = rd && rd->last_read_us ? rd->last_read_us : VT_NULL_TIME,
            .readers = rd && *rd->readers ? rd->readers : NULL,
        };
    }
    free(quiet);
    VtRunRow *rrows = xcalloc(nr ? nr : 1, sizeof *rrows);
    size_t nrr = 0;
    for (size_t i = 0; rc == 0 && i < nr; i++) {
        const StoreRun *r = &runs[i];
        if (!visible(all, &allowed, r->view))
            continue;
        rrows[nrr++] = (VtRunRow){
            .id = r->id,
            .view = r->view,
            /* 0: not recorded, or out of range in the catalog (catalog/store.h): unknown. */
            .started_us = r->started_us ? r->started_us : VT_NULL_TIME,
            .finished_us = r->finished_us ? r->finished_us : VT_NULL_TIME,
            .outcome = r->outcome,
            .duration_s = r->finished_us && r->started_us
                              ? (double)(r->finished_us - r->started_us) / 1e6
                              : NAN,
            .rows = r->rows,
            .trigger = r->trigger,
            .error = r->error,
        };
    }
    if (rc == 0 && vtable_load(w->db, status, ns, rrows, nrr, &error) != 0) {
        fail(err, "58000", "%s", error ? error : "cannot load the virtual tables");
        free(error);
        rc = -1;
    }
    if (rc == 0 && vtable_reads(st, VT_TABLE_LEADER) && load_leader(w->db, err) != 0)
        rc = -1;
    for (size_t i = 0; i < nt; i++)
        free(texts[i]);
    free(texts);
    free(status);
    free(rrows);
    strvec_free(&allowed);
    store_views_free(views, nv);
    store_runs_free(runs, nr);
    store_reads_free(reads, nrd);
    return rc;
}

/* The error of a job a limit stopped, naming the setting. */
static void limit_error(const EvalPool *p, VtStop why, VtError *err)
{
    if (why == VT_STOP_TIMEOUT)
        fail(err, "57014",
             "canceling statement due to statement timeout ([gateway] duro_query_timeout = %llds)",
             (long long)p->timeout_s);
    else if (why == VT_STOP_SIZE)
        fail(err, "54000",
             "the result is larger than [gateway] duro_query_max_bytes (%lld bytes); select "
             "fewer rows or columns",
             (long long)p->max_bytes);
}

/* Runs j on w; st is w's copy of the statement. */
static void run_job(Worker *w, EvalJob *j, VtStatement *st)
{
    EvalPool *p = w->pool;
    VtLimits lim = {.cancel = &j->cancel,
                    .deadline_us = j->deadline_us,
                    .now_us = clock_mono_us,
                    .max_bytes = (size_t)p->max_bytes};
    VtStop why = VT_STOP_NONE;
    j->rc = -1;
    if (atomic_load(&j->cancel))
        why = VT_STOP_CANCEL;
    else if (clock_mono_us() >= j->deadline_us)
        why = VT_STOP_TIMEOUT;
    else if (load_tables(w, j->user, st, (const char *const *)j->params, j->nparams, &j->err) != 0)
        return;
    if (why == VT_STOP_NONE) {
        (void)vtable_set_timezone(w->db, j->timezone);
        j->ncols = vtable_ncolumns(st);
        j->rc = vtable_execute_limited(st, (const char *const *)j->params, j->nparams, &lim,
                                       &j->rows, &j->nrows, &j->err, &why);
    }
    if (why == VT_STOP_CANCEL)
        fail(&j->err, "57014", "canceling statement due to user request");
    else if (why != VT_STOP_NONE)
        limit_error(p, why, &j->err);
    if (why != VT_STOP_NONE)
        j->rc = -1;
}

static void *worker_main(void *arg)
{
    Worker *w = arg;
    EvalPool *p = w->pool;
    char *error = NULL;
    w->db = vtable_open(&error);
    if (!w->db) {
        log_error("duro.* evaluation: %s", error);
        free(error);
    }
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stopping && !p->queue)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->stopping)
            break;
        EvalJob *j = p->queue;
        p->queue = j->next;
        if (!p->queue)
            p->queue_tail = NULL;
        p->n_queued--;
        j->next = NULL;
        j->state = JOB_RUNNING;
        p->running[w->index] = j;
        /* The loop's statement is read while the lock keeps eval_detach away. */
        VtStatement *st = NULL;
        if (w->db && j->st)
            st = vtable_statement_copy(w->db, j->st, &j->err);
        else
            fail(&j->err, "XX000", "the query cannot be evaluated");
        j->st = NULL;
        pthread_mutex_unlock(&p->lock);
        if (st)
            run_job(w, j, st);
        else
            j->rc = -1;
        vtable_statement_free(st);
        pthread_mutex_lock(&p->lock);
        p->running[w->index] = NULL;
        job_finish_locked(j);
    }
    pthread_mutex_unlock(&p->lock);
    store_close(w->store);
    vtable_close(w->db);
    wh_close(w->wh);
    free(w);
    return NULL;
}

/* ---- the pool ------------------------------------------------------------------------ */

EvalPool *eval_start(struct event_base *base, const Settings *s, char **error)
{
    EvalPool *p = xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    if (clock_cond_init(&p->wake) != 0) {
        *error = xstrdup("cannot create a condition variable");
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
    }
    p->done_ev = xnonnull(event_new(base, -1, 0, done_cb, p));
    p->wh.warehouse = s->warehouse;
    p->wh.warehouse.dialect = xstrdup(s->warehouse.dialect);
    p->wh.warehouse.host = xstrdup(s->warehouse.host);
    p->wh.warehouse.dbname = xstrdup(s->warehouse.dbname);
    p->wh.warehouse.user = xstrdup(s->warehouse.user);
    p->wh.warehouse.password = xstrdup(s->warehouse.password);
    p->wh.warehouse.sslmode = xstrdup(s->warehouse.sslmode);
    p->catalog_path = xstrdup(settings_catalog_target(s));
    p->wh.catalog.path = xstrdup(s->catalog.path);
    p->wh.catalog.url = xstrdup(s->catalog.url ? s->catalog.url : "");
    p->wh.worker.instance = xstrdup(s->worker.instance ? s->worker.instance : "");
    strvec_copy(&p->admins, &s->worker.admins);
    p->timeout_s = s->gateway.duro_query_timeout;
    p->max_bytes = s->gateway.duro_query_max_bytes;
    for (size_t i = 0; i < EVAL_THREADS; i++) {
        Worker *w = xcalloc(1, sizeof *w);
        w->pool = p;
        w->index = i;
        if (pthread_create(&p->threads[i], NULL, worker_main, w) != 0) {
            free(w);
            *error = xstrdup("cannot start the threads that evaluate duro.* queries");
            eval_free(p);
            return NULL;
        }
        p->n_threads++;
    }
    return p;
}

void eval_free(EvalPool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    for (size_t i = 0; i < EVAL_THREADS; i++)
        if (p->running[i])
            atomic_store(&p->running[i]->cancel, true);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    while (p->queue) {
        EvalJob *j = p->queue;
        p->queue = j->next;
        job_free(j);
    }
    while (p->finished) {
        EvalJob *j = p->finished;
        p->finished = j->next;
        job_free(j);
    }
    for (size_t i = 0; i < p->n_grants; i++) {
        free(p->grants[i].user);
        strvec_free(&p->grants[i].views);
    }
    event_free(p->done_ev);
    free(p->wh.warehouse.dialect);
    free(p->wh.warehouse.host);
    free(p->wh.warehouse.dbname);
    free(p->wh.warehouse.user);
    free(p->wh.warehouse.password);
    free(p->wh.warehouse.sslmode);
    free(p->wh.worker.instance);
    free(p->catalog_path);
    free(p->wh.catalog.path);
    free(p->wh.catalog.url);
    strvec_free(&p->admins);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
