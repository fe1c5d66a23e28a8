/*
 * The catalog's runs (see store.h): a build claimed by its marker, its steps,
 * its end, and the runs read back. Which process may still be building is
 * catalog/marker's to say; this file asks it and writes what follows: runs of
 * builds that cannot be running are closed, ends the catalog could not take
 * are written when it can. Not for: views (catalog/store.c) or building.
 *
 * Test-only fault injection: DURO_FAULT_CATALOG=run_finish makes the first
 * store_run_finish of the process fail as on a full disk.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/marker.h"
#include "catalog/store.h"
#include "catalog/store_db.h"
#include "core/log.h"

/* Whether the test-only fault injection fails this point now (once per process). */
static bool fault_now(const char *point)
{
    static atomic_flag fired = ATOMIC_FLAG_INIT;
    const char *want = getenv("DURO_FAULT_CATALOG");
    return want && strcmp(want, point) == 0 && !atomic_flag_test_and_set(&fired);
}

/*
 * Writes the end of run run_id: the run's row, and for a success the view's
 * built hash. Call inside a write transaction. Returns 0, 1 when the run is
 * not in progress (nothing written), or -1 on error.
 */
static int write_end(Store *s, int64_t run_id, const MarkerEnd *e)
{
    CdbStmt *run = NULL, *view = NULL;
    bool ok = e->outcome == RUN_OK;
    if (sdb_prepare(s,
                    "UPDATE runs SET outcome = ?2, finished_us = ?3, \"rows\" = ?4, error = ?5,"
                    " hash = ?6, retry_us = ?7 WHERE id = ?1 AND outcome = 'running'",
                    &run) ||
        sdb_bind_values(s, run, "itinttn", run_id, run_outcome_name(e->outcome), e->finished_us,
                        e->rows, e->error, e->built_hash,
                        ok || e->retry_us <= 0 ? (int64_t)-1 : e->retry_us) ||
        sdb_step_done(s, run, "cannot finish run"))
        goto fail;
    if (cdb_changes(s->db) == 0) {
        cdb_finalize(run);
        sdb_set_error(s, "cannot finish run %lld: no such run in progress", (long long)run_id);
        return 1;
    }
    /* Only a success moves the built hash; a view removed meanwhile matches no row. */
    if (ok && (sdb_prepare(s,
                           "UPDATE views SET built_hash = ?2, last_success_us = ?3,"
                           " last_duration_us = ?3 - (SELECT started_us FROM runs WHERE id = ?1),"
                           " \"rows\" = ?4 WHERE name = (SELECT \"view\" FROM runs WHERE id = ?1)",
                           &view) ||
               sdb_bind_values(s, view, "itin", run_id, e->built_hash, e->finished_us, e->rows) ||
               sdb_step_done(s, view, "cannot record success")))
        goto fail;
    cdb_finalize(run);
    cdb_finalize(view);
    return 0;
fail:
    cdb_finalize(run);
    cdb_finalize(view);
    return -1;
}

/*
 * Writes the ends this process kept because the catalog could not take them,
 * each in a transaction of its own. Call outside a transaction. Returns 0, or
 * -1 when the catalog still cannot take one (it is kept again).
 */
static int flush_kept_ends(Store *s)
{
    int64_t run_id;
    MarkerEnd end;
    while (marker_take_end(s->key, &run_id, &end)) {
        int rc = sdb_begin_write(s) == 0 ? write_end(s, run_id, &end) : -1;
        if (rc == 0 && sdb_commit(s) != 0)
            rc = -1;
        if (rc != 0)
            sdb_rollback(s);
        if (rc < 0) {
            marker_ended(s->key, run_id, &end);
            marker_end_free(&end);
            return -1;
        }
        /* rc 1: closed meanwhile (taken for interrupted): nothing more to write. */
        marker_end_free(&end);
    }
    return 0;
}

/*
 * Whether the process a running run's marker names can still be building it. On a shared
 * catalog (PostgreSQL) a run of another instance, on whatever host, is judged by that instance's
 * lock (store_pg.c); this process's own, and every run in a SQLite file, by catalog/marker.
 * An instance whose liveness cannot be read counts as alive: its run is left alone.
 */
static bool builder_alive(Store *s, int64_t id, int64_t pid, const char *inst, const char *start)
{
    if (cdb_kind(s->db) == CDB_POSTGRES && inst && strcmp(inst, marker_instance()) != 0)
        return spg_instance_alive(s, inst) != 0;
    return marker_judge(s->key, id, pid, inst, start) == MARKER_BUILDING;
}

/*
 * Closes the running runs of view (of every view when view is NULL) whose
 * build cannot be running (catalog/marker). Sets *live_pid to the process of
 * one still building, or 0. Call inside a write transaction.
 */
static int close_dead_runs(Store *s, const char *view, int64_t now_us, int64_t *live_pid,
                           int *closed)
{
    CdbStmt *sel = NULL, *upd = NULL;
    *live_pid = 0;
    if (sdb_prepare(s,
                    "SELECT id, pid, instance, process_start FROM runs"
                    " WHERE outcome = 'running' AND (?1 IS NULL OR \"view\" = ?1)",
                    &sel) ||
        sdb_bind_values(s, sel, "t", view) ||
        sdb_prepare(
            s, "UPDATE runs SET outcome = 'cancelled', finished_us = ?2, error = ?3 WHERE id = ?1",
            &upd))
        goto fail;
    int rc;
    while ((rc = cdb_step(sel)) == CDB_ROW) {
        int64_t id = cdb_column_int(sel, 0);
        int64_t pid = sdb_col_range(sel, 1, 1, INT32_MAX, 0);
        const char *inst = cdb_column_text(sel, 2);
        const char *start = cdb_column_text(sel, 3);
        if (builder_alive(s, id, pid, inst, start)) {
            *live_pid = pid;
            continue;
        }
        char *why;
        if (pid == (int64_t)getpid() && inst && strcmp(inst, marker_instance()) == 0)
            why = xstrdup("interrupted: the build ended but its end could not be recorded");
        else if (pid > 0)
            why = xasprintf("interrupted: process %lld ended during the run", (long long)pid);
        else
            why = xstrdup("interrupted: the process ended during the run");
        int bad = sdb_bind_values(s, upd, "iit", id, now_us, why) ||
                  sdb_step_done(s, upd, "cannot close run");
        free(why);
        if (bad)
            goto fail;
        if (closed)
            (*closed)++;
    }
    if (rc != CDB_DONE) {
        sdb_set_db_error(s, "cannot list running runs");
        goto fail;
    }
    cdb_finalize(sel);
    cdb_finalize(upd);
    return 0;
fail:
    cdb_finalize(sel);
    cdb_finalize(upd);
    return -1;
}

int store_runs_close_dead(Store *s, int64_t now_us, int *closed)
{
    int64_t live;
    *closed = 0;
    if (flush_kept_ends(s) || sdb_begin_write(s))
        return -1;
    if (close_dead_runs(s, NULL, now_us, &live, closed) || sdb_commit(s)) {
        sdb_rollback(s);
        return -1;
    }
    return 0;
}

/* Whether fence is still the catalog's leader generation: 0 yes, 1 no (error set), -1 error. */
static int check_fence(Store *s, int64_t fence)
{
    CdbStmt *st = NULL;
    int64_t now = -1;
    if (sdb_prepare(s, "SELECT generation FROM duro_leader WHERE id = 1", &st))
        return -1;
    int rc = cdb_step(st);
    if (rc == CDB_ROW)
        now = sdb_col_int(st, 0, -1);
    cdb_finalize(st);
    if (rc != CDB_ROW && rc != CDB_DONE) {
        sdb_set_db_error(s, "cannot read the leader's generation");
        return -1;
    }
    if (now == fence)
        return 0;
    sdb_set_error(s,
                  "this instance no longer leads the scheduler (generation %lld, the catalog's "
                  "%lld): the scheduled run is not recorded",
                  (long long)fence, (long long)now);
    return 1;
}

int store_run_begin(Store *s, const char *view, RunTrigger trigger, int64_t started_us,
                    int64_t fence, int64_t *run_id)
{
    CdbStmt *st = NULL;
    int64_t live = 0;
    char *start = NULL;
    *run_id = 0;
    if (!view || !*view) {
        sdb_set_error(s, "cannot record run: no view name");
        return -1;
    }
    if ((size_t)trigger > RUN_TRIGGER_DEPENDENCY) {
        sdb_set_error(s, "cannot record run: unknown trigger %d", (int)trigger);
        return -1;
    }
    if (flush_kept_ends(s) || sdb_begin_write(s))
        return -1;
    if (fence > 0) {
        int stale = check_fence(s, fence);
        if (stale < 0)
            goto fail;
        if (stale) {
            sdb_rollback(s);
            return 2;
        }
    }
    if (close_dead_runs(s, view, started_us, &live, NULL))
        goto fail;
    if (live) {
        sdb_set_error(s, "%s is already being built by process %lld", view, (long long)live);
        sdb_rollback(s);
        return 1;
    }
    start = marker_process_start(0);
    if (sdb_prepare(s,
                    "INSERT INTO runs (\"view\", \"trigger\", started_us, outcome, pid, instance,"
                    " process_start) VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6) RETURNING id",
                    &st) ||
        sdb_bind_values(s, st, "ttiitt", view, run_trigger_name(trigger), started_us,
                        (int64_t)getpid(), marker_instance(), start))
        goto fail;
    if (cdb_step(st) != CDB_ROW) {
        sdb_set_db_error(s, "cannot record run");
        goto fail;
    }
    *run_id = cdb_column_int(st, 0);
    if (cdb_step(st) != CDB_DONE) {
        sdb_set_db_error(s, "cannot record run");
        goto fail;
    }
    /* Known as building before the commit lets another connection look at it. */
    marker_claimed(s->key, *run_id);
    if (sdb_commit(s)) {
        marker_ended(s->key, *run_id, NULL);
        *run_id = 0;
        goto fail;
    }
    cdb_finalize(st);
    free(start);
    return 0;
fail:
    cdb_finalize(st);
    free(start);
    sdb_rollback(s);
    return -1;
}

int store_run_step(Store *s, int64_t run_id, const char *step, int64_t started_us,
                   int64_t finished_us, const char *error)
{
    CdbStmt *st = NULL;
    char *shown = error ? log_escape_dup(error, LOG_ESCAPE_KEEP_LINES) : NULL; /* see log.h */
    if (!step || !*step) {
        sdb_set_error(s, "cannot record step of run %lld: no step name", (long long)run_id);
        goto fail;
    }
    if (sdb_prepare(s,
                    "INSERT INTO run_steps (run_id, step, started_us, finished_us, error)"
                    " VALUES (?1, ?2, ?3, ?4, ?5)",
                    &st) ||
        sdb_bind_values(s, st, "itiit", run_id, step, started_us, finished_us, shown))
        goto fail;
    if (sdb_step_done(s, st, "cannot record step")) {
        if (s->errcode == CDB_ERR_FOREIGN_KEY)
            sdb_set_error(s, "cannot record step %s: no run %lld", step, (long long)run_id);
        goto fail;
    }
    cdb_finalize(st);
    free(shown);
    return 0;
fail:
    cdb_finalize(st);
    free(shown);
    return -1;
}

int store_run_finish(Store *s, int64_t run_id, RunOutcome outcome, int64_t finished_us,
                     int64_t rows, const char *error, const char *built_hash, int64_t retry_us)
{
    bool ok = outcome == RUN_OK;
    if ((size_t)outcome >= RUN_RUNNING) {
        marker_ended(s->key, run_id, NULL);
        sdb_set_error(s, "cannot finish run %lld: outcome \"%s\" does not end a run",
                      (long long)run_id, run_outcome_name(outcome));
        return -1;
    }
    if (ok && !built_hash) {
        marker_ended(s->key, run_id, NULL);
        sdb_set_error(s, "cannot finish run %lld: a successful run needs the hash it built",
                      (long long)run_id);
        return -1;
    }
    char *shown = error ? log_escape_dup(error, LOG_ESCAPE_KEEP_LINES) : NULL; /* see log.h */
    MarkerEnd end = {.outcome = outcome,
                     .finished_us = finished_us,
                     .rows = rows,
                     .error = shown,
                     .built_hash = (char *)built_hash,
                     .retry_us = retry_us};
    int rc = -1;
    if (fault_now("run_finish"))
        sdb_set_error(s, "cannot finish run %lld: database or disk is full (fault injection)",
                      (long long)run_id);
    else if (flush_kept_ends(s) == 0 && sdb_begin_write(s) == 0 &&
             (rc = write_end(s, run_id, &end)) == 0 && sdb_commit(s) != 0)
        rc = -1;
    if (rc != 0)
        sdb_rollback(s);
    /* The build is over whatever the catalog took: an end it could not take is kept. */
    marker_ended(s->key, run_id, rc < 0 ? &end : NULL);
    free(shown);
    return rc == 0 ? 0 : -1;
}

#define RUN_ORDER " ORDER BY started_us DESC, id DESC LIMIT ?2"

/* A run whose build ended, its end kept until the catalog takes it, shows that end. */
static void show_kept_end(Store *s, StoreRun *run)
{
    MarkerEnd end;
    if (strcmp(run->outcome, "running") != 0 || !marker_peek_end(s->key, run->id, &end))
        return;
    free(run->outcome);
    run->outcome = xstrdup(run_outcome_name(end.outcome));
    run->finished_us = end.finished_us;
    run->rows = end.outcome == RUN_OK ? end.rows : -1;
    free(run->error);
    run->error = end.error;
    end.error = NULL;
    marker_end_free(&end);
}

void sdb_read_run(Store *s, CdbStmt *st, StoreRun *run)
{
    memset(run, 0, sizeof *run);
    run->id = sdb_col_int(st, 0, 0);
    run->view = sdb_col_text_nn(st, 1);
    run->trigger = sdb_col_text_nn(st, 2);
    run->outcome = sdb_col_text_nn(st, 3);
    run->started_us = sdb_col_time(st, 4);
    run->finished_us = sdb_col_time(st, 5);
    run->rows = sdb_col_range(st, 6, 0, INT64_MAX, -1);
    run->error = sdb_col_text(st, 7);
    show_kept_end(s, run);
}

static void run_free(StoreRun *run)
{
    free(run->view);
    free(run->trigger);
    free(run->outcome);
    free(run->error);
    for (size_t i = 0; i < run->n_steps; i++) {
        free(run->steps[i].step);
        free(run->steps[i].error);
    }
    free(run->steps);
}

/* Reads the steps of run in the order they ran. */
int sdb_read_steps(Store *s, CdbStmt *st, StoreRun *run)
{
    size_t cap = 0;
    int rc;
    if (sdb_bind_values(s, st, "i", run->id))
        return -1;
    while ((rc = cdb_step(st)) == CDB_ROW) {
        grow_array((void **)&run->steps, &cap, run->n_steps + 1, sizeof *run->steps);
        StoreStep *step = &run->steps[run->n_steps++];
        step->step = sdb_col_text_nn(st, 0);
        step->started_us = sdb_col_time(st, 1);
        step->finished_us = sdb_col_time(st, 2);
        step->error = sdb_col_text(st, 3);
    }
    if (rc != CDB_DONE)
        sdb_set_db_error(s, "cannot list run steps");
    cdb_reset(st);
    return rc == CDB_DONE ? 0 : -1;
}

int sdb_read_runs(Store *s, CdbStmt *st, bool with_steps, StoreRun **out, size_t *n)
{
    CdbStmt *steps_st = NULL;
    StoreRun *runs = NULL;
    size_t count = 0, cap = 0;
    int rc;
    while ((rc = cdb_step(st)) == CDB_ROW) {
        grow_array((void **)&runs, &cap, count + 1, sizeof *runs);
        StoreRun *run = &runs[count++];
        sdb_read_run(s, st, run);
    }
    if (rc != CDB_DONE) {
        sdb_set_db_error(s, "cannot list runs");
        goto fail;
    }
    if (with_steps) {
        if (sdb_prepare(s,
                        "SELECT step, started_us, finished_us, error FROM run_steps"
                        " WHERE run_id = ?1 ORDER BY started_us, rowid",
                        &steps_st))
            goto fail;
        for (size_t i = 0; i < count; i++)
            if (sdb_read_steps(s, steps_st, &runs[i]))
                goto fail;
    }
    cdb_finalize(steps_st);
    *out = runs;
    *n = count;
    return 0;
fail:
    cdb_finalize(steps_st);
    store_runs_free(runs, count);
    return -1;
}

int store_list_runs(Store *s, const char *view, size_t limit, StoreRun **out, size_t *n)
{
    CdbStmt *st = NULL;
    int64_t max_rows = limit == 0 || limit > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)limit;
    *out = NULL;
    *n = 0;
    if (sdb_begin_read(s))
        return -1;
    int rc =
        sdb_prepare(s, view ? RUN_SELECT " WHERE \"view\" = ?1" RUN_ORDER : RUN_SELECT RUN_ORDER,
                    &st) ||
        sdb_bind_values(s, st, "ti", view, max_rows) || sdb_read_runs(s, st, true, out, n);
    cdb_finalize(st);
    if (rc == 0 && sdb_commit(s) == 0)
        return 0;
    sdb_rollback(s);
    store_runs_free(*out, *n);
    *out = NULL;
    *n = 0;
    return -1;
}

int store_runs_newest(Store *s, const char *view, int64_t before_id, size_t limit, StoreRun **out,
                      size_t *n)
{
    CdbStmt *st = NULL;
    int64_t max_rows = limit == 0 || limit > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)limit;
    *out = NULL;
    *n = 0;
    /* Served by the primary key, or by runs_by_view_id for one view. */
    int rc =
        sdb_prepare(s,
                    view ? RUN_SELECT " WHERE \"view\" = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
                         : RUN_SELECT " WHERE id < ?2 ORDER BY id DESC LIMIT ?3",
                    &st) ||
        sdb_bind_values(s, st, "tii", view, before_id > 0 ? before_id : INT64_MAX, max_rows) ||
        sdb_read_runs(s, st, false, out, n);
    cdb_finalize(st);
    return rc ? -1 : 0;
}

void store_runs_free(StoreRun *runs, size_t n)
{
    for (size_t i = 0; runs && i < n; i++)
        run_free(&runs[i]);
    free(runs);
}
