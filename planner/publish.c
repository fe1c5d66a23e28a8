/*
 * The publisher's thread (see publish.h): each [catalog] publish_every it reads the catalog,
 * makes sure the published tables exist, and when the status rows or the runs not yet final
 * changed, writes them in one warehouse transaction: DELETE + batched INSERT of the status rows,
 * DELETE of the runs after the last final id (and of those the catalog no longer keeps) +
 * batched INSERT of the runs after it. Not for: the SQL text (dialect.c) or the catalog's
 * queries (catalog/store_publish.c).
 */
#include "planner/publish.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog/interval.h"
#include "catalog/store.h"
#include "catalog/store_publish.h"
#include "core/clock.h"
#include "core/log.h"
#include "planner/backoff.h"
#include "planner/dialect.h"
#include "planner/idle.h"
#include "planner/staleness.h"
#include "planner/status.h"
#include "planner/warehouse.h"

/* Rows per INSERT statement (parameters: rows x columns, well under PostgreSQL's 65535). */
#define PUBLISH_BATCH_ROWS 500
/* Runs read from the catalog at a time. */
#define PUBLISH_PAGE_RUNS 5000
/* A statement's bound. */
#define PUBLISH_STATEMENT_S 120
/* After the warehouse refused to create the tables, how long before trying again. */
#define PUBLISH_SETUP_RETRY_S 300
/* Redshift's VARCHAR holds at most this many bytes: longer texts are cut (at a character). */
#define PUBLISH_MAX_TEXT 65535

struct Publisher {
    const Settings *s;
    Dialect d;
    const char *schema;
    StrVec readers; /* [catalog] readers, else [worker] admins, else public */
    int64_t every_us;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    Warehouse *wh; /* set and cleared under lock, used by the thread */
    Store *store;
    /* What is in the warehouse. */
    bool ready;             /* both tables exist and final_id was read from them */
    int64_t final_id;       /* the runs up to this id are published and finished */
    uint64_t status_fp;     /* of the status rows published; 0 = none */
    uint64_t runs_fp;       /* of the runs after final_id published, and the smallest kept */
    int64_t retry_setup;    /* clock_mono_us before which a refused setup is not tried again */
    char *problem;          /* the last problem logged, so that it is logged once */
    int64_t last_commit_us; /* clock_mono_us of the last transaction written; 0 = none */
};

/* ---- the rule ------------------------------------------------------------------------ */

bool publish_due(uint64_t published_fp, uint64_t current_fp, int64_t last_us, int64_t now_us,
                 int64_t every_us)
{
    if (published_fp == current_fp)
        return false;
    return last_us == 0 || now_us - last_us >= every_us;
}

void publish_format_time(int64_t us, char *buf, size_t size)
{
    int64_t secs = us / CLOCK_US_PER_SECOND, frac = us % CLOCK_US_PER_SECOND;
    if (frac < 0) {
        frac += CLOCK_US_PER_SECOND;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, size, "1970-01-01 00:00:00+00");
        return;
    }
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf, size, "%s.%06" PRId64 "+00", day, frac);
}

/* ---- rows as INSERT parameters ------------------------------------------------------- */

/* Parameters of rows being built: texts (NULL = SQL NULL), owned. */
typedef struct Params {
    char **v;
    size_t n, cap;
    uint64_t fp; /* FNV-1a of every value, NULLs told apart from "" */
} Params;

static void fp_add(uint64_t *fp, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        *fp ^= p[i];
        *fp *= 1099511628211ULL;
    }
}

/* Adds value, fingerprinted as fp_as when not NULL (else as itself). */
static void put_owned_as(Params *p, char *value, const char *fp_as)
{
    grow_array((void **)&p->v, &p->cap, p->n + 1, sizeof *p->v);
    p->v[p->n++] = value;
    static const unsigned char null_mark = 0xff, sep = 0;
    if (fp_as)
        fp_add(&p->fp, fp_as, strlen(fp_as));
    else if (value)
        fp_add(&p->fp, value, strlen(value));
    else
        fp_add(&p->fp, &null_mark, 1);
    fp_add(&p->fp, &sep, 1);
}

static void put_owned(Params *p, char *value)
{
    put_owned_as(p, value, NULL);
}

static void put_text(Params *p, const char *s)
{
    if (!s) {
        put_owned(p, NULL);
        return;
    }
    size_t n = strlen(s);
    if (n > PUBLISH_MAX_TEXT) {
        n = PUBLISH_MAX_TEXT;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* not inside a UTF-8 character */
    }
    char *c = xmalloc(n + 1);
    memcpy(c, s, n);
    c[n] = '\0';
    put_owned(p, c);
}

static void put_time(Params *p, int64_t us)
{
    if (us == 0) {
        put_owned(p, NULL);
        return;
    }
    char buf[48];
    publish_format_time(us, buf, sizeof buf);
    put_owned(p, xstrdup(buf));
}

/* A next_refresh: one already due is "now", which moves every round but is no change. */
static void put_next(Params *p, int64_t us, int64_t now)
{
    if (us == 0 || us > now) {
        put_time(p, us);
        return;
    }
    char buf[48];
    publish_format_time(now, buf, sizeof buf);
    put_owned_as(p, xstrdup(buf), "due");
}

static void put_int(Params *p, int64_t v, bool null)
{
    put_owned(p, null ? NULL : xasprintf("%" PRId64, v));
}

static void put_float(Params *p, double v)
{
    put_owned(p, isfinite(v) ? xasprintf("%.17g", v) : NULL);
}

static void params_free(Params *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i]);
    free(p->v);
    *p = (Params){0};
}

/* The status rows, as the virtual duro.status shows them to an admin (proxy/evaluate.c). */
static void status_params(const StoreView *views, size_t nv, const StoreReads *reads, size_t nrd,
                          int64_t now, Params *out)
{
    bool *quiet = idle_quiet_all(views, nv, now);
    for (size_t i = 0; i < nv; i++) {
        const StoreView *v = &views[i];
        const StoreReads *rd = store_reads_find(reads, nrd, v->name);
        ViewStatus vs = view_status(views, nv, i, now, quiet);
        put_text(out, v->name);
        put_owned(out, view_status_interval(v->interval));
        put_owned(out, view_status_interval(v->effective_interval));
        put_text(out, vs.state);
        put_time(out, vs.last_refresh_us);
        put_float(out, vs.last_duration_s);
        put_next(out, vs.next_refresh_us, now);
        put_int(out, vs.rows, vs.rows < 0);
        put_text(out, v->depends_on);
        put_text(out, vs.last_error);
        put_text(out, v->source);
        put_int(out, rd ? rd->reads : 0, false);
        put_time(out, rd ? rd->last_read_us : 0);
        put_text(out, rd && *rd->readers ? rd->readers : NULL);
    }
    free(quiet);
}

/* The runs, as the virtual duro.runs shows them. */
static void run_params(const StoreRun *r, Params *out)
{
    put_int(out, r->id, false);
    put_text(out, r->view);
    put_time(out, r->started_us);
    put_time(out, r->finished_us);
    put_text(out, r->outcome);
    put_float(out, r->finished_us && r->started_us ? (double)(r->finished_us - r->started_us) / 1e6
                                                   : NAN);
    put_int(out, r->rows, r->rows < 0);
    put_text(out, r->trigger);
    put_text(out, r->error);
}

/* ---- the warehouse ------------------------------------------------------------------- */

static int64_t deadline(void)
{
    return clock_mono_us() + PUBLISH_STATEMENT_S * CLOCK_US_PER_SECOND;
}

/* Logs a problem once (until a publish succeeds or another problem comes). */
static void problem(Publisher *p, char *message)
{
    if (!p->problem || strcmp(p->problem, message) != 0)
        log_warn("publishing duro.status and duro.runs: %s", message);
    free(p->problem);
    p->problem = message;
}

/* Runs one statement; on failure records the problem and returns -1. */
static int run(Publisher *p, const char *sql, int n, const char *const *params, PGresult **res)
{
    if (wh_exec(p->wh, sql, n, params, deadline(), res) == WH_OK)
        return 0;
    return -1;
}

/* One count from a query with the schema as $1, or -1. */
static int64_t count_in_schema(Publisher *p, const char *sql)
{
    PGresult *res = NULL;
    const char *params[] = {p->schema};
    if (run(p, sql, 1, params, &res) != 0)
        return -1;
    int64_t n = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    PQclear(res);
    return n;
}

/* The warning for a refused CREATE, with what to run. */
static void refused(Publisher *p, bool schema)
{
    char *s = sql_ident(p->schema);
    char *u = sql_ident(p->s->warehouse.user);
    char *db = sql_ident(p->s->warehouse.dbname);
    problem(p, schema ? xasprintf("the service account %s may not create schema %s (%s); run, as "
                                  "an administrator: CREATE SCHEMA %s AUTHORIZATION %s (or GRANT "
                                  "CREATE ON DATABASE %s TO %s)",
                                  u, s, wh_error(p->wh), s, u, db, u)
                      : xasprintf("the service account %s may not create tables in schema %s "
                                  "(%s); run, as an administrator: GRANT CREATE, USAGE ON SCHEMA "
                                  "%s TO %s",
                                  u, s, wh_error(p->wh), s, u));
    free(s);
    free(u);
    free(db);
    p->retry_setup = clock_mono_us() + PUBLISH_SETUP_RETRY_S * CLOCK_US_PER_SECOND;
}

/* Creates what is missing and grants. 0, or -1 (logged). */
static int setup(Publisher *p)
{
    int64_t schemas = count_in_schema(p, dialect_schema_exists_sql());
    if (schemas < 0)
        return -1;
    if (schemas == 0) {
        char *sql = dialect_create_schema(p->schema);
        int rc = run(p, sql, 0, NULL, NULL);
        free(sql);
        if (rc != 0) {
            if (strcmp(wh_sqlstate(p->wh), "42501") == 0)
                refused(p, true);
            return -1;
        }
    }
    for (int t = 0; t < PUBLISH_TABLES; t++) {
        char *sql = dialect_publish_create(p->d, p->schema, (PublishTable)t);
        int rc = run(p, sql, 0, NULL, NULL);
        free(sql);
        if (rc != 0) {
            if (strcmp(wh_sqlstate(p->wh), "42501") == 0)
                refused(p, false);
            return -1;
        }
    }
    log_info("publishing: created the tables %s.status and %s.runs in the warehouse", p->schema,
             p->schema);
    return 0;
}

/* Grants SELECT to the readers; a refused grant is logged and publishing goes on. */
static void grant(Publisher *p)
{
    StrVec sqls = {0};
    dialect_publish_grants(p->d, p->schema, &p->readers, &sqls);
    for (size_t i = 0; i < sqls.n; i++)
        if (run(p, sqls.items[i], 0, NULL, NULL) != 0) {
            problem(p,
                    xasprintf("cannot grant SELECT on the published tables: %s", wh_error(p->wh)));
            break;
        }
    strvec_free(&sqls);
}

/* INSERTs the rows of params (ncols values each) in batches. 0 or -1. */
static int insert(Publisher *p, PublishTable t, const Params *params)
{
    size_t ncols = dialect_publish_ncolumns(t), nrows = params->n / ncols;
    for (size_t r = 0; r < nrows; r += PUBLISH_BATCH_ROWS) {
        size_t n = nrows - r < PUBLISH_BATCH_ROWS ? nrows - r : PUBLISH_BATCH_ROWS;
        char *sql = dialect_publish_insert(p->schema, t, n);
        int rc = run(p, sql, (int)(n * ncols), (const char *const *)params->v + r * ncols, NULL);
        free(sql);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Reads the runs after p->final_id page by page; with ins set, INSERTs each page. On success
 * *fp is their fingerprint (with the smallest id kept), *final the new final id. 0 or -1. */
static int runs_pass(Publisher *p, bool ins, uint64_t *fp, int64_t *final, int64_t *min_id)
{
    int64_t after = p->final_id;
    *fp = 14695981039346656037ULL;
    *final = p->final_id;
    bool running_seen = false;
    for (;;) {
        StoreRun *runs = NULL;
        size_t n = 0;
        if (store_runs_after(p->store, after, PUBLISH_PAGE_RUNS, &runs, &n, min_id) != 0) {
            problem(p, xasprintf("cannot read the catalog: %s", store_error(p->store)));
            return -1;
        }
        Params params = {.fp = *fp};
        for (size_t i = 0; i < n; i++) {
            run_params(&runs[i], &params);
            if (runs[i].finished_us == 0 || strcmp(runs[i].outcome, "running") == 0)
                running_seen = true;
            if (!running_seen)
                *final = runs[i].id;
            after = runs[i].id;
        }
        *fp = params.fp;
        store_runs_free(runs, n);
        int rc = ins ? insert(p, PUBLISH_RUNS, &params) : 0;
        params_free(&params);
        if (rc != 0)
            return -1;
        if (n < PUBLISH_PAGE_RUNS)
            break;
    }
    fp_add(fp, min_id, sizeof *min_id);
    return 0;
}

/* One round: the tables there, and what changed written. */
static void publish_round(Publisher *p)
{
    char *error = NULL;
    if (!p->store && store_open(settings_catalog_target(p->s), &p->store, &error) != 0) {
        problem(p, xasprintf("cannot open the catalog: %s", error ? error : "?"));
        free(error);
        return;
    }
    if (!p->wh) {
        Warehouse *w = NULL;
        if (wh_connect(p->s, &w, &error) != 0) {
            problem(p, xasprintf("cannot connect to the warehouse: %s", error ? error : "?"));
            free(error);
            return;
        }
        pthread_mutex_lock(&p->lock);
        p->wh = w;
        pthread_mutex_unlock(&p->lock);
    }
    if (wh_label(p->wh, "publish", deadline()) != WH_OK)
        goto failed;
    int64_t tables = count_in_schema(p, dialect_publish_exists_sql());
    if (tables < 0)
        goto failed;
    if (tables < PUBLISH_TABLES) {
        if (p->ready)
            log_warn("publishing: %s.status or %s.runs is gone from the warehouse; creating it "
                     "again and republishing",
                     p->schema, p->schema);
        p->ready = false;
        if (p->retry_setup && clock_mono_us() < p->retry_setup)
            return;
        if (setup(p) != 0) {
            if (p->retry_setup)
                return; /* refused: said once, with the GRANT to run */
            goto failed;
        }
        p->retry_setup = 0;
    }
    if (!p->ready) {
        grant(p);
        char *sql = dialect_publish_final_sql(p->schema);
        PGresult *res = NULL;
        int rc = run(p, sql, 0, NULL, &res);
        free(sql);
        if (rc != 0)
            goto failed;
        p->final_id = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
        PQclear(res);
        p->status_fp = p->runs_fp = 0;
        p->ready = true;
    }

    /* What the catalog has now. */
    StoreView *views = NULL;
    StoreReads *reads = NULL;
    size_t nv = 0, nrd = 0;
    int64_t now = clock_wall_us();
    if (store_list_views(p->store, &views, &nv) != 0 ||
        store_reads_summary(p->store, now, &reads, &nrd) != 0) {
        problem(p, xasprintf("cannot read the catalog: %s", store_error(p->store)));
        store_views_free(views, nv);
        return;
    }
    Params status = {.fp = 14695981039346656037ULL};
    status_params(views, nv, reads, nrd, now, &status);
    store_views_free(views, nv);
    store_reads_free(reads, nrd);
    uint64_t runs_fp = 0;
    int64_t final = 0, min_id = 0;
    if (runs_pass(p, false, &runs_fp, &final, &min_id) != 0) {
        params_free(&status);
        return;
    }
    bool status_changed = status.fp != p->status_fp, runs_changed = runs_fp != p->runs_fp;
    if (!publish_due(p->status_fp * 31 + p->runs_fp, status.fp * 31 + runs_fp, p->last_commit_us,
                     clock_mono_us(), p->every_us)) {
        params_free(&status);
        return;
    }

    /* One transaction. */
    uint64_t status_fp = status.fp;
    int rc = run(p, "BEGIN", 0, NULL, NULL);
    if (rc == 0 && status_changed) {
        char *sql = dialect_publish_clear_status(p->schema);
        rc = run(p, sql, 0, NULL, NULL);
        free(sql);
        if (rc == 0)
            rc = insert(p, PUBLISH_STATUS, &status);
    }
    if (rc == 0 && runs_changed) {
        char *sql = dialect_publish_trim_runs(p->schema);
        char after[32], keep[32];
        snprintf(after, sizeof after, "%" PRId64, p->final_id);
        snprintf(keep, sizeof keep, "%" PRId64, min_id);
        const char *params[] = {after, keep};
        rc = run(p, sql, 2, params, NULL);
        free(sql);
        if (rc == 0)
            rc = runs_pass(p, true, &runs_fp, &final, &min_id);
    }
    if (rc == 0)
        rc = run(p, "COMMIT", 0, NULL, NULL);
    params_free(&status);
    if (rc != 0) {
        if (wh_ok(p->wh) && wh_exec(p->wh, "ROLLBACK", 0, NULL, deadline(), NULL) != WH_OK)
            log_warn("publishing: ROLLBACK failed: %s", wh_error(p->wh));
        p->ready = false; /* a dropped table, or anything else: look again next round */
        goto failed;
    }
    p->status_fp = status_fp;
    if (runs_changed) {
        p->final_id = final;
        /* The fingerprint of what comes after the new final id, as the next round reads it. */
        if (runs_pass(p, false, &runs_fp, &final, &min_id) != 0)
            runs_fp = 0;
        p->runs_fp = runs_fp;
    }
    if (p->problem) {
        log_info("publishing duro.status and duro.runs works again");
        free(p->problem);
        p->problem = NULL;
    }
    p->last_commit_us = clock_mono_us();
    return;
failed:
    if (wh_cancel_requested(p->wh))
        return;
    problem(p, xasprintf("the warehouse said: %s", wh_error(p->wh)));
    if (!wh_ok(p->wh)) {
        pthread_mutex_lock(&p->lock);
        Warehouse *w = p->wh;
        p->wh = NULL;
        pthread_mutex_unlock(&p->lock);
        wh_close(w);
        p->ready = false;
    }
}

static void *publish_main(void *arg)
{
    Publisher *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        pthread_mutex_unlock(&p->lock);
        publish_round(p);
        pthread_mutex_lock(&p->lock);
        struct timespec until = clock_timespec(clock_mono_us() + p->every_us);
        while (!p->stop && pthread_cond_timedwait(&p->cond, &p->lock, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int publish_start(const Settings *s, Publisher **out, char **error)
{
    *out = NULL;
    if (s->catalog.publish_mode != SETTINGS_ON)
        return 0;
    Publisher *p = xcalloc(1, sizeof *p);
    p->s = s;
    p->d = s->warehouse.dialect_kind;
    p->schema = s->catalog.schema;
    p->every_us = s->catalog.publish_every * CLOCK_US_PER_SECOND;
    if (p->every_us <= 0)
        p->every_us = CLOCK_US_PER_SECOND;
    strvec_copy(&p->readers, s->catalog.readers.n ? &s->catalog.readers : &s->worker.admins);
    if (p->readers.n == 0)
        strvec_push(&p->readers, "public"); /* no admins: everyone sees every row */
    pthread_mutex_init(&p->lock, NULL);
    int rc = clock_cond_init(&p->cond);
    if (rc == 0)
        rc = pthread_create(&p->thread, NULL, publish_main, p);
    if (rc != 0) {
        *error = xasprintf("cannot start the publishing thread: %s", strerror(rc));
        pthread_mutex_destroy(&p->lock);
        strvec_free(&p->readers);
        free(p);
        return -1;
    }
    log_info("publishing duro.status and duro.runs to %s.status and %s.runs every %llds", p->schema,
             p->schema, (long long)s->catalog.publish_every);
    *out = p;
    return 0;
}

void publish_stop(Publisher *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    if (p->wh)
        wh_cancel(p->wh);
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    wh_close(p->wh);
    store_close(p->store);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    strvec_free(&p->readers);
    free(p->problem);
    free(p);
}
