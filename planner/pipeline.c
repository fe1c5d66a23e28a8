/*
 * The rebuild of one view, step by step (see pipeline.h). Each step runs under
 * the view's deadline; the catalog gets the run, each step's timing and the
 * outcome. Each build, and each leftover's clean-up, holds the view's build
 * guard in the warehouse (see dialect.h, docs/build-guard.md). Test-only fault injection:
 * DURO_FAULT_KILL=<point> (optionally with DURO_FAULT_VIEW=schema.table) makes the process SIGKILL
 * itself on reaching that point: create_temp, tests, swap, swap_commit, drop_old or snapshot.
 */
#include "planner/pipeline.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog/interval.h"
#include "core/clock.h"
#include "core/log.h"
#include "planner/backoff.h"
#include "planner/processor.h"
#include "planner/s3.h"

typedef struct Run {
    Warehouse *w;
    Store *s;
    const Settings *settings;
    Dialect d;
    const View *v;
    PipelineResult *out;
    int64_t deadline_us;
    const char *step;
    int64_t step_started_us;
    char *step_error;    /* error of the current step, recorded when it ends */
    bool locks_bounded;  /* in the swap's transaction, whose lock waits are bounded */
    bool lock_timed_out; /* a statement there gave up waiting for a lock (the run goes on) */
} Run;

const char *pipeline_outcome_name(const PipelineResult *r)
{
    return r->busy ? "busy" : run_outcome_name(r->outcome);
}

/* Kills the process here when the test-only fault injection names this point and view. */
static void fault_point(const char *point, const View *v)
{
    const char *want = getenv("DURO_FAULT_KILL");
    if (!want || strcmp(want, point) != 0)
        return;
    const char *view = getenv("DURO_FAULT_VIEW");
    if (view && *view && strcmp(view, v->name) != 0)
        return;
    log_warn("fault injection: killing the process at %s of %s", point, v->name);
    raise(SIGKILL);
}

static void step_begin(Run *r, const char *step)
{
    fault_point(step, r->v);
    r->step = step;
    r->step_started_us = clock_wall_us();
    free(r->step_error);
    r->step_error = NULL;
}

/* Records the current step with its error, if any. */
static void step_end(Run *r)
{
    if (r->out->run_id && store_run_step(r->s, r->out->run_id, r->step, r->step_started_us,
                                         clock_wall_us(), r->step_error) != 0)
        log_error("%s: cannot record step %s: %s", r->v->name, r->step, store_error(r->s));
}

static void fail(Run *r, RunOutcome o, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* Ends the run as o: the error names the step; the step is recorded with it. */
static void fail(Run *r, RunOutcome o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    r->out->outcome = o;
    free(r->out->error);
    r->out->error = xasprintf("%s: %s", r->step, msg);
    free(r->step_error);
    r->step_error = msg;
    step_end(r);
}

/* Ends the run for a statement that ended with st: a timeout, a cancel, or an error as on_error. */
static void fail_status(Run *r, WhStatus st, RunOutcome on_error)
{
    char timeout[32];
    interval_format(r->v->config.timeout, timeout, sizeof(timeout));
    if (st == WH_TIMEOUT)
        fail(r, RUN_FAILED, "timed out: the refresh ran longer than its timeout of %s", timeout);
    else if (st == WH_CANCELLED)
        fail(r, RUN_CANCELLED, "cancelled: Duro is stopping");
    else
        fail(r, on_error, "%s", wh_error(r->w));
}

/*
 * Runs sql in the current step. On failure ends the run (a timeout or error as
 * `on_error`, a cancel as cancelled) and returns false; except, in the swap's
 * transaction, for a lock wait that reached its bound: that sets r->lock_timed_out
 * and leaves the run to the swap, which may try again.
 */
static bool exec(Run *r, const char *sql, int n, const char *const *params, PGresult **res,
                 RunOutcome on_error)
{
    WhStatus st = wh_exec(r->w, sql, n, params, r->deadline_us, res);
    if (st == WH_ERROR && r->locks_bounded && dialect_lock_timed_out(r->d, wh_sqlstate(r->w)))
        r->lock_timed_out = true;
    else if (st != WH_OK)
        fail_status(r, st, on_error);
    return st == WH_OK;
}

/* Runs a statement that must succeed for cleanup; failures are only logged (leftovers are
 * removed on the next build or start anyway). */
static void exec_quietly(Run *r, const char *sql)
{
    if (wh_exec(r->w, sql, 0, NULL, 0, NULL) != WH_OK)
        log_warn("%s: cleanup statement failed: %s", r->v->name, wh_error(r->w));
}

static void drop_temp(Run *r)
{
    char *sql = dialect_drop_table(r->v->schema, r->v->table, DIALECT_TEMP_SUFFIX);
    exec_quietly(r, sql);
    free(sql);
}

/*
 * CREATE SCHEMA IF NOT EXISTS is not safe against itself: two builds creating
 * the same new schema at once can fail on the catalog's unique index. The
 * schema then exists, which is all that was asked.
 */
static bool create_schema(Run *r, const char *sql)
{
    WhStatus st = wh_exec(r->w, sql, 0, NULL, r->deadline_us, NULL);
    if (st == WH_OK || (st == WH_ERROR && (strcmp(wh_sqlstate(r->w), "23505") == 0 ||
                                           strcmp(wh_sqlstate(r->w), "42P06") == 0)))
        return true;
    fail_status(r, st, RUN_FAILED);
    return false;
}

/*
 * Ends the run for a part of a processor's build that ended with st: a timeout or
 * cancel names the part; an error is reported as error says.
 */
static void fail_part(Run *r, WhStatus st, const char *part, const char *error)
{
    char timeout[32];
    interval_format(r->v->config.timeout, timeout, sizeof(timeout));
    if (st == WH_TIMEOUT)
        fail(r, RUN_FAILED, "%s timed out: the refresh ran longer than its timeout of %s", part,
             timeout);
    else if (st == WH_CANCELLED)
        fail(r, RUN_CANCELLED, "%s cancelled: Duro is stopping", part);
    else
        fail(r, RUN_FAILED, "%s", error ? error : "failed");
}

/* Seconds since *mark, which moves to now. */
static double lap(int64_t *mark)
{
    int64_t now = clock_mono_us();
    double secs = (double)(now - *mark) / 1e6;
    *mark = now;
    return secs;
}

/*
 * Loads the processor's output (CSV with a header) into the temp table: COPY FROM STDIN on
 * PostgreSQL, through S3 on Redshift. Returns WH_OK with *rows, else a status with *error.
 */
static WhStatus load_output(Run *r, const char *csv, int64_t *rows, char **error)
{
    const View *v = r->v;
    if (r->d == DIALECT_REDSHIFT) {
        char *temp = xasprintf("%s%s", v->table, DIALECT_TEMP_SUFFIX);
        char *why = NULL;
        WhStatus st =
            s3_load_csv(r->w, r->settings, v->schema, temp, csv, r->deadline_us, rows, &why);
        if (st == WH_ERROR)
            *error = xasprintf("loading the processor's output failed: %s", why ? why : "");
        free(why);
        free(temp);
        return st;
    }
    char *table = sql_table(v->schema, v->table, DIALECT_TEMP_SUFFIX);
    char *copy = xasprintf("COPY %s FROM STDIN WITH (FORMAT csv, HEADER true)", table);
    WhStatus st = wh_copy_in(r->w, copy, csv, r->deadline_us, rows);
    if (st == WH_ERROR)
        *error = xasprintf("loading the processor's output failed: %s", wh_error(r->w));
    free(copy);
    free(table);
    return st;
}

/*
 * Step 1 for a Python processor: the input query exported as CSV into a work directory of this
 * build, the processor run on it (in its virtual environment when it has requirements), the temp
 * table created from the DDL and the processor's output loaded into it. The work directory goes
 * whatever happens; so does the temp table when the load fails.
 */
static bool create_temp_processor(Run *r)
{
    const View *v = r->v;
    const char *script = strrchr(v->processor, '/') ? strrchr(v->processor, '/') + 1 : v->processor;
    char *error = NULL, *dir = NULL, *in = NULL, *out = NULL, *python = NULL;
    char *part = NULL;
    char *schema = dialect_create_schema(v->schema);
    char *drop = dialect_drop_table(v->schema, v->table, DIALECT_TEMP_SUFFIX);
    char *create = dialect_processor_create_temp(r->d, v, &error);
    int64_t mark = clock_mono_us(), in_rows = -1, rows = -1;
    double secs[4] = {0};
    bool ok = false, created = false;
    WhStatus st;

    if (!create) {
        fail(r, RUN_FAILED, "%s: %s", v->source, error);
        goto done;
    }
    if (!create_schema(r, schema) || !exec(r, drop, 0, NULL, NULL, RUN_FAILED))
        goto done;
    if (!(dir = processor_workdir(v, &error))) {
        fail(r, RUN_FAILED, "%s", error);
        goto done;
    }
    in = xasprintf("%s/IN.csv", dir);
    out = xasprintf("%s/OUT.csv", dir);
    if ((st = processor_export(r->w, v, in, r->deadline_us, &in_rows, &error)) != WH_OK) {
        fail_part(r, st, "input query", error);
        goto done;
    }
    secs[0] = lap(&mark);
    if ((st = processor_python(r->w, r->settings, v, r->deadline_us, &python, &error)) != WH_OK) {
        part = xasprintf("installing %s", v->requirements);
        fail_part(r, st, part, error);
        goto done;
    }
    secs[1] = lap(&mark);
    if ((st = processor_run(r->w, r->settings, v, python, in, out, r->deadline_us, &error)) !=
        WH_OK) {
        part = xasprintf("processor %s", script);
        fail_part(r, st, part, error);
        goto done;
    }
    secs[2] = lap(&mark);
    if ((st = wh_exec(r->w, create, 0, NULL, r->deadline_us, NULL)) != WH_OK) {
        error = xasprintf("creating the table from %s failed: %s", v->source, wh_error(r->w));
        fail_part(r, st, "creating the table from the DDL", error);
        goto done;
    }
    created = true;
    if ((st = load_output(r, out, &rows, &error)) != WH_OK) {
        fail_part(r, st, "loading the processor's output", error);
        goto done;
    }
    secs[3] = lap(&mark);
    log_debug("%s: processor %s: input %lld rows in %.2fs, environment %.2fs, run %.2fs, "
              "load %lld rows in %.2fs",
              v->name, script, (long long)in_rows, secs[0], secs[1], secs[2], (long long)rows,
              secs[3]);
    r->out->rows = rows;
    step_end(r);
    ok = true;
done:
    if (!ok && created)
        drop_temp(r);
    if (dir)
        processor_workdir_remove(dir);
    free(dir);
    free(in);
    free(out);
    free(python);
    free(part);
    free(error);
    free(create);
    free(drop);
    free(schema);
    return ok;
}

/* Step 1: the new version of the table, as <table>_duro_temp. */
static bool create_temp(Run *r)
{
    step_begin(r, "create_temp");
    if (r->v->kind == VIEW_KIND_PROCESSOR)
        return create_temp_processor(r);
    char *schema = dialect_create_schema(r->v->schema);
    char *drop = dialect_drop_table(r->v->schema, r->v->table, DIALECT_TEMP_SUFFIX);
    char *ctas = dialect_create_temp(r->d, r->v);
    PGresult *res = NULL;
    bool ok = false;
    if (!ctas)
        fail(r, RUN_FAILED, "the view's file does not hold exactly one statement");
    else if (create_schema(r, schema) && exec(r, drop, 0, NULL, NULL, RUN_FAILED) &&
             exec(r, ctas, 0, NULL, &res, RUN_FAILED))
        ok = true;
    if (ok) {
        const char *tuples = PQcmdTuples(res);
        r->out->rows = *tuples ? strtoll(tuples, NULL, 10) : -1;
        step_end(r);
    }
    PQclear(res);
    free(schema);
    free(drop);
    free(ctas);
    return ok;
}

/* The first column of res that is not all true, or -1; *row is where it failed. */
static int failing_column(const PGresult *res, int *row)
{
    for (int i = 0; i < PQntuples(res); i++)
        for (int c = 0; c < PQnfields(res); c++)
            if (PQgetisnull(res, i, c) || strcmp(PQgetvalue(res, i, c), "t") != 0) {
                *row = i + 1;
                return c;
            }
    return -1;
}

/* Step 2: every test statement must return rows whose every column is true. */
static bool run_tests(Run *r)
{
    if (!r->v->tests)
        return true;
    step_begin(r, "tests");
    StrVec stmts = {0};
    char *error = NULL;
    bool ok = true;
    if (dialect_tests(r->v, &stmts, &error) != 0) {
        fail(r, RUN_TESTS_FAILED, "%s", error);
        ok = false;
    }
    for (size_t i = 0; ok && i < stmts.n; i++) {
        PGresult *res = NULL;
        if (!exec(r, stmts.items[i], 0, NULL, &res, RUN_TESTS_FAILED)) {
            ok = false;
            break;
        }
        int row = 0, col = failing_column(res, &row);
        if (PQntuples(res) == 0) {
            StrVec names = {0};
            for (int c = 0; c < PQnfields(res); c++)
                strvec_push(&names, PQfname(res, c));
            char *list = strvec_join(&names, ", ");
            fail(r, RUN_TESTS_FAILED, "test %s returned no rows (statement %zu)", list, i + 1);
            free(list);
            strvec_free(&names);
            ok = false;
        } else if (col >= 0) {
            fail(r, RUN_TESTS_FAILED, "test %s is %s in row %d of statement %zu", PQfname(res, col),
                 PQgetisnull(res, row - 1, col) ? "NULL" : "not true", row, i + 1);
            ok = false;
        }
        PQclear(res);
    }
    if (ok)
        step_end(r);
    else
        drop_temp(r);
    strvec_free(&stmts);
    free(error);
    return ok;
}

/* Whether schema.table exists, inside the current transaction. */
static bool table_exists(Run *r, const char *schema, const char *table, bool *exists)
{
    const char *params[] = {schema, table};
    PGresult *res = NULL;
    if (!exec(r, "SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2", 2, params,
              &res, RUN_FAILED))
        return false;
    *exists = PQntuples(res) > 0;
    PQclear(res);
    return true;
}

/*
 * The swap's statements after BEGIN; false when one failed (the run has ended, or
 * r->lock_timed_out tells that a lock wait reached its bound).
 */
static bool swap_statements(Run *r, bool *had_live)
{
    const View *v = r->v;
    char *old_name = xasprintf("%s%s", v->table, DIALECT_OLD_SUFFIX);
    char *temp_name = xasprintf("%s%s", v->table, DIALECT_TEMP_SUFFIX);
    char *drop_old = dialect_drop_table(v->schema, v->table, DIALECT_OLD_SUFFIX);
    char *retire = dialect_rename(v->schema, v->table, old_name);
    char *promote = dialect_rename(v->schema, temp_name, v->table);
    char *grant = dialect_grant(r->d, v);
    char *bound = dialect_swap_lock_bound(r->d, r->settings->worker.swap_lock_timeout * 1000);
    const char *unbound = dialect_swap_lock_unbound(r->d);
    const char *params[] = {v->schema, v->table};
    PGresult *deps = NULL;
    bool ok =
        exec(r, bound, 0, NULL, NULL, RUN_FAILED) &&
        table_exists(r, v->schema, v->table, had_live) &&
        (!*had_live || exec(r, dialect_dependent_views_sql(r->d), 2, params, &deps, RUN_FAILED));
    /*
     * Lock what the swap changes in the order readers lock it: a query on a view locks the
     * view, then what it reads. Taking the outermost views first, then the table and the new
     * table, means no reader can hold one of them while waiting for another we hold.
     */
    if (ok) {
        StrVec order = {0};
        for (int i = deps && r->d == DIALECT_POSTGRES ? PQntuples(deps) : 0; i-- > 0;)
            strvec_push_owned(&order,
                              sql_table(PQgetvalue(deps, i, 0), PQgetvalue(deps, i, 1), NULL));
        if (*had_live)
            strvec_push_owned(&order, sql_table(v->schema, v->table, NULL));
        strvec_push_owned(&order, sql_table(v->schema, v->table, DIALECT_TEMP_SUFFIX));
        char *lock = dialect_lock(r->d, &order);
        ok = exec(r, lock, 0, NULL, NULL, RUN_FAILED) &&
             (!unbound || exec(r, unbound, 0, NULL, NULL, RUN_FAILED));
        free(lock);
        strvec_free(&order);
    }
    ok = ok &&
         (!*had_live || (exec(r, drop_old, 0, NULL, NULL, RUN_FAILED) &&
                         exec(r, retire, 0, NULL, NULL, RUN_FAILED))) &&
         exec(r, promote, 0, NULL, NULL, RUN_FAILED);
    /* Views on the table follow it to <table>_duro_old; redefining them binds them to the new. */
    for (int i = 0; ok && deps && i < PQntuples(deps); i++) {
        char *sql = dialect_replace_view(PQgetvalue(deps, i, 0), PQgetvalue(deps, i, 1),
                                         PQgetvalue(deps, i, 2));
        ok = exec(r, sql, 0, NULL, NULL, RUN_FAILED);
        free(sql);
    }
    if (ok && grant)
        ok = exec(r, grant, 0, NULL, NULL, RUN_FAILED);
    PQclear(deps);
    free(old_name);
    free(temp_name);
    free(drop_old);
    free(retire);
    free(promote);
    free(grant);
    free(bound);
    return ok;
}

/* Whether the last statement lost a deadlock (the server rolled back our transaction). */
static bool deadlocked(const Run *r)
{
    return strcmp(wh_sqlstate(r->w), "40P01") == 0;
}

/* One session of dialect_lock_holders_sql's row i: pid 42 (user jane, idle in transaction since
 * 2026-12-04 05:31:02 UTC, 41 s). */
static char *holder_text(const PGresult *res, int i)
{
    const char *user = PQgetisnull(res, i, 1) ? "unknown" : PQgetvalue(res, i, 1);
    const char *state =
        PQgetisnull(res, i, 2) ? "state not visible to Duro" : PQgetvalue(res, i, 2);
    if (PQgetisnull(res, i, 3) || PQgetisnull(res, i, 4))
        return xasprintf("pid %s (user %s, %s)", PQgetvalue(res, i, 0), user, state);
    return xasprintf("pid %s (user %s, %s since %s, %s s)", PQgetvalue(res, i, 0), user, state,
                     PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
}

/* After a lock wait of the swap reached its bound (and the transaction was rolled back): what
 * was in the way, as the warehouse tells now. */
static char *lock_holders(Run *r)
{
    char waited[24];
    snprintf(waited, sizeof(waited), "%lld", (long long)r->settings->worker.swap_lock_timeout);
    const char *params[] = {r->v->schema, r->v->table, waited};
    PGresult *res = NULL;
    WhStatus st = wh_exec(r->w, dialect_lock_holders_sql(r->d), 3, params, r->deadline_us, &res);
    if (st != WH_OK)
        return xasprintf("a session Duro cannot name (listing the locks failed: %s)",
                         st == WH_ERROR ? wh_error(r->w) : "stopped");
    StrVec holders = {0};
    for (int i = 0; i < PQntuples(res); i++)
        strvec_push_owned(&holders, holder_text(res, i));
    PQclear(res);
    char *list = strvec_join(&holders, "; ");
    char *text = holders.n ? list : xstrdup("a session Duro's account cannot see, or that ended");
    if (text != list)
        free(list);
    strvec_free(&holders);
    return text;
}

/* The pause before try attempt + 1 of the swap: 1s, 2s, 4s... up to 30s. */
static int64_t swap_pause_us(int attempt)
{
    int64_t secs = attempt < 6 ? (int64_t)1 << (attempt - 1) : 30;
    return (secs < 30 ? secs : 30) * CLOCK_US_PER_SECOND;
}

/* Waits us, readers free meanwhile; false when the run ended first (its timeout, or Duro is
 * stopping): then the run has failed. */
static bool swap_pause(Run *r, int64_t us)
{
    int64_t until = clock_mono_us() + us;
    for (;;) {
        int64_t now = clock_mono_us();
        if (wh_cancel_requested(r->w)) {
            fail_status(r, WH_CANCELLED, RUN_FAILED);
            return false;
        }
        if (now >= r->deadline_us) {
            fail_status(r, WH_TIMEOUT, RUN_FAILED);
            return false;
        }
        if (now >= until)
            return true;
        int64_t left = until - now < 100000 ? until - now : 100000;
        struct timespec slice = {0, (long)left * 1000L};
        nanosleep(&slice, NULL);
    }
}

/*
 * Step 3: in one transaction, the new table takes the live name, views and grants follow.
 * Its lock waits are bounded by [worker] swap_lock_timeout, so readers never queue behind it
 * longer than that; a try that reached the bound, or lost a deadlock with a reader, changed
 * nothing and is made again after a pause, up to [worker] swap_tries tries. The last failure
 * names the sessions in the way.
 */
static bool swap(Run *r, bool *had_live)
{
    const int tries = r->settings->worker.swap_tries > 0 ? r->settings->worker.swap_tries : 1;
    char wait[32];
    interval_format(r->settings->worker.swap_lock_timeout, wait, sizeof(wait));
    for (int attempt = 1;; attempt++) {
        step_begin(r, "swap");
        r->lock_timed_out = false;
        r->locks_bounded = true;
        bool ok = exec(r, "BEGIN", 0, NULL, NULL, RUN_FAILED) && swap_statements(r, had_live);
        if (ok)
            fault_point("swap_commit", r->v);
        ok = ok && exec(r, "COMMIT", 0, NULL, NULL, RUN_FAILED);
        r->locks_bounded = false;
        if (ok) {
            step_end(r);
            return true;
        }
        bool lost = r->lock_timed_out || deadlocked(r);
        exec_quietly(r, "ROLLBACK");
        char *why = NULL;
        if (r->lock_timed_out) {
            char *holders = lock_holders(r);
            why = xasprintf("waited %s for a lock on %s held by %s", wait, r->v->name, holders);
            free(holders);
        } else if (lost) {
            why = xstrdup("lost a deadlock with a reader");
        }
        if (!lost || attempt >= tries) {
            if (r->lock_timed_out)
                fail(r, RUN_FAILED, "gave up after %d tr%s: %s", attempt,
                     attempt == 1 ? "y" : "ies", why);
            free(why);
            drop_temp(r);
            return false;
        }
        int64_t pause = swap_pause_us(attempt);
        log_warn("%s: the swap %s; try %d of %d in %llds", r->v->name, why, attempt + 1, tries,
                 (long long)(pause / CLOCK_US_PER_SECOND));
        if (r->lock_timed_out) { /* recorded as a step of its own (fail did it for a deadlock) */
            free(r->step_error);
            r->step_error = why;
            why = NULL;
            step_end(r);
        }
        free(why);
        r->out->outcome = RUN_OK;
        free(r->out->error);
        r->out->error = NULL;
        if (!swap_pause(r, pause)) {
            drop_temp(r);
            return false;
        }
    }
}

/* Step 4: the previous version goes, now that nobody can see it under the live name. */
static bool drop_old(Run *r)
{
    step_begin(r, "drop_old");
    char *sql = dialect_drop_table(r->v->schema, r->v->table, DIALECT_OLD_SUFFIX);
    bool ok = exec(r, sql, 0, NULL, NULL, RUN_FAILED);
    free(sql);
    if (ok)
        step_end(r);
    return ok;
}

/* Step 5: history, when configured: append when the newest snapshot is old enough, prune. */
static bool snapshot(Run *r)
{
    const View *v = r->v;
    if (v->config.snapshots_interval <= 0)
        return true;
    step_begin(r, "snapshot");
    char *history = xasprintf("%s%s", v->table, DIALECT_HISTORY_SUFFIX);
    bool exists = false, ok = table_exists(r, v->schema, history, &exists);
    free(history);
    if (ok && !exists) {
        char *sql = dialect_snapshot_create(r->d, v);
        ok = exec(r, sql, 0, NULL, NULL, RUN_FAILED);
        free(sql);
    } else if (ok) {
        char *due_sql = dialect_snapshot_due(r->d, v);
        PGresult *res = NULL;
        ok = exec(r, due_sql, 0, NULL, &res, RUN_FAILED);
        if (ok && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
            char *sql = dialect_snapshot_insert(r->d, v);
            ok = exec(r, sql, 0, NULL, NULL, RUN_FAILED);
            free(sql);
        }
        PQclear(res);
        free(due_sql);
    }
    char *prune = ok ? dialect_snapshot_prune(r->d, v) : NULL;
    if (prune)
        ok = exec(r, prune, 0, NULL, NULL, RUN_FAILED);
    free(prune);
    if (ok)
        step_end(r);
    return ok;
}

int64_t pipeline_next_try(Store *s, const Settings *settings, const char *view, int64_t finished_us)
{
    StoreView sv;
    int failures = 0;
    if (store_get_view(s, view, &sv) == 0) {
        failures = sv.failures;
        store_view_free(&sv);
    }
    return backoff_retry_us(settings->worker.poll, failures + 1, finished_us);
}

/* Records the end of the run in the catalog. */
static void finish(Run *r)
{
    PipelineResult *out = r->out;
    out->finished_us = clock_wall_us();
    if (!out->run_id)
        return;
    bool ok = out->outcome == RUN_OK;
    if (out->outcome == RUN_FAILED || out->outcome == RUN_TESTS_FAILED)
        out->retry_us = pipeline_next_try(r->s, r->settings, r->v->name, out->finished_us);
    if (store_run_finish(r->s, out->run_id, out->outcome, out->finished_us, ok ? out->rows : -1,
                         out->error, ok ? r->v->hash : NULL, out->retry_us) != 0)
        log_error("%s: cannot record the end of run %lld: %s", r->v->name, (long long)out->run_id,
                  store_error(r->s));
}

/* ---- The build guard (see dialect.h): one build of a view at a time on the warehouse ---- */

typedef enum GuardState { GUARD_TAKEN, GUARD_HELD, GUARD_ERROR } GuardState;

/* Who holds the guard of view name, as a sentence for the error and the log. */
static char *guard_holder(Warehouse *w, Dialect d, const char *schema, const char *name,
                          int64_t deadline_us)
{
    char *sql = dialect_guard_holder(d, schema);
    const char *params[] = {name};
    PGresult *res = NULL;
    char *msg;
    if (wh_exec(w, sql, 1, params, deadline_us, &res) == WH_OK && PQntuples(res) == 1)
        msg = xasprintf("%s is being built by another Duro: session \"%s\", server process %s, "
                        "since %s UTC",
                        name, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
    else
        msg = xasprintf("%s is being built by another Duro", name);
    PQclear(res);
    free(sql);
    return msg;
}

/* Tries to take the guard of view name on w, waiting for no build. GUARD_HELD and GUARD_ERROR
 * set *msg (caller frees): who holds it, or what failed. */
static GuardState guard_take(Warehouse *w, Dialect d, const char *schema, const char *name,
                             int64_t deadline_us, char **msg)
{
    StrVec sqls = {0};
    dialect_guard_take(d, schema, &sqls);
    const char *params[] = {name};
    PGresult *res = NULL;
    size_t i = 0;
    for (; i < sqls.n; i++) {
        PQclear(res);
        res = NULL;
        const char *sql = sqls.items[i];
        if (wh_exec(w, sql, strstr(sql, "$1") ? 1 : 0, params, deadline_us, &res) != WH_OK)
            break;
    }
    GuardState g = GUARD_ERROR;
    if (i < sqls.n) {
        *msg = xasprintf("cannot take the build guard: %s", wh_error(w));
        if (d == DIALECT_REDSHIFT && wh_exec(w, "ROLLBACK", 0, NULL, 0, NULL) != WH_OK)
            log_warn("%s: cannot roll back the build guard's claim: %s", name, wh_error(w));
    } else if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        g = GUARD_TAKEN;
    } else {
        g = GUARD_HELD;
        *msg = guard_holder(w, d, schema, name, deadline_us);
    }
    PQclear(res);
    strvec_free(&sqls);
    return g;
}

/* Releases the guard taken by guard_take. A failure is only logged: the warehouse releases it
 * when the connection ends (PostgreSQL) or the next claim finds its session gone (Redshift). */
static void guard_release(Warehouse *w, Dialect d, const char *schema, const char *name)
{
    char *sql = dialect_guard_release(d, schema);
    const char *params[] = {name};
    if (wh_exec(w, sql, 1, params, 0, NULL) != WH_OK)
        log_warn("%s: cannot release the build guard: %s", name, wh_error(w));
    free(sql);
}

void pipeline_refresh(Warehouse *w, Store *s, const Settings *settings, Dialect d, const View *v,
                      RunTrigger trigger, int64_t fence, PipelineResult *out)
{
    memset(out, 0, sizeof(*out));
    out->rows = -1;
    out->started_us = clock_wall_us();
    Run r = {.w = w,
             .s = s,
             .settings = settings,
             .d = d,
             .v = v,
             .out = out,
             .deadline_us = clock_mono_us() + v->config.timeout * CLOCK_US_PER_SECOND};

    /* The guard first: a build held by another Duro records nothing here. */
    char *guard_msg = NULL;
    GuardState g = guard_take(w, d, v->schema, v->name, r.deadline_us, &guard_msg);
    if (g == GUARD_HELD) {
        out->outcome = RUN_FAILED;
        out->busy = true;
        out->error = guard_msg;
        out->finished_us = clock_wall_us();
        return;
    }
    int claim = store_run_begin(s, v->name, trigger, out->started_us, fence, &out->run_id);
    if (claim != 0) {
        out->outcome = RUN_FAILED;
        out->busy = claim > 0;
        out->fenced = claim == 2;
        out->error = xstrdup(store_error(s));
        out->finished_us = clock_wall_us();
        if (g == GUARD_TAKEN)
            guard_release(w, d, v->schema, v->name);
        free(guard_msg);
        return;
    }
    if (g == GUARD_ERROR) {
        step_begin(&r, "guard");
        fail(&r, RUN_FAILED, "%s", guard_msg);
        free(guard_msg);
        finish(&r);
        free(r.step_error);
        return;
    }
    bool had_live = false;
    if (create_temp(&r) && run_tests(&r) && swap(&r, &had_live)) {
        /* The new version is live: later steps can fail the run but not undo it. */
        if ((!had_live || drop_old(&r)) && snapshot(&r))
            out->outcome = RUN_OK;
    }
    guard_release(w, d, v->schema, v->name);
    finish(&r);
    free(r.step_error);
}

void pipeline_skip_for_dependency(Store *s, const View *v, RunTrigger trigger, const char *dep,
                                  PipelineResult *out)
{
    memset(out, 0, sizeof(*out));
    out->rows = -1;
    out->outcome = RUN_FAILED;
    out->started_us = out->finished_us = clock_wall_us();
    out->error = xasprintf("dependency %s failed", dep);
    if (store_run_begin(s, v->name, trigger, out->started_us, 0, &out->run_id) == 0 &&
        store_run_finish(s, out->run_id, RUN_FAILED, out->finished_us, -1, out->error, NULL, 0) ==
            0)
        return;
    log_error("%s: cannot record skipped run: %s", v->name, store_error(s));
}

void pipeline_result_free(PipelineResult *r)
{
    free(r->error);
    r->error = NULL;
}

/* How long the clean-up waits for each leftover's guard statements. */
#define GUARD_CLEANUP_US (30 * CLOCK_US_PER_SECOND)

int pipeline_cleanup_leftovers(Warehouse *w, Dialect d, const Repo *r, char **error)
{
    PGresult *res = NULL;
    if (wh_exec(w, dialect_leftovers_sql(d), 0, NULL, 0, &res) != WH_OK) {
        *error = xasprintf("cannot list leftover tables: %s", wh_error(w));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        const char *schema = PQgetvalue(res, i, 0), *table = PQgetvalue(res, i, 1);
        bool temp = str_ends_with(table, DIALECT_TEMP_SUFFIX);
        size_t base_len = strlen(table) - strlen(temp ? DIALECT_TEMP_SUFFIX : DIALECT_OLD_SUFFIX);
        char *base = xstrndup(table, base_len);
        char *name = xasprintf("%s.%s", schema, base);
        char *held = NULL;
        GuardState g = repo_find(r, name) ? guard_take(w, d, schema, name,
                                                       clock_mono_us() + GUARD_CLEANUP_US, &held)
                                          : GUARD_HELD;
        if (g == GUARD_ERROR) {
            *error = xasprintf("cannot clean up %s.%s: %s", schema, table, held);
            rc = -1;
        } else if (g == GUARD_HELD && held) {
            log_info("%s: leaving %s.%s alone: %s", name, schema, table, held);
        } else if (g == GUARD_TAKEN) {
            const char *params[] = {schema, base};
            PGresult *live = NULL;
            char *sql = NULL;
            if (temp) {
                sql = dialect_drop_table(schema, base, DIALECT_TEMP_SUFFIX);
            } else if (wh_exec(w,
                               "SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2",
                               2, params, 0, &live) == WH_OK) {
                sql = PQntuples(live) ? dialect_drop_table(schema, base, DIALECT_OLD_SUFFIX)
                                      : dialect_rename(schema, table, base);
            }
            PQclear(live);
            if (!sql || wh_exec(w, sql, 0, NULL, 0, NULL) != WH_OK) {
                *error = xasprintf("cannot clean up %s.%s: %s", schema, table, wh_error(w));
                rc = -1;
            } else {
                log_info("%s: removed leftover %s.%s of an interrupted build (%s)", name, schema,
                         table, strncmp(sql, "DROP", 4) == 0 ? "dropped" : "renamed back");
            }
            free(sql);
            guard_release(w, d, schema, name);
        }
        free(held);
        free(base);
        free(name);
    }
    PQclear(res);
    return rc;
}
