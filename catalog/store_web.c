/*
 * The catalog's reads for the web UI (web/): bounded, each served by an index, so that its pages
 * stay fast with 10,000 views and 1,000,000 runs (see store.h). Not for: writing, or what the
 * gateway and the scheduler read (catalog/store.c, catalog/store_runs.c).
 */
#include <stdlib.h>
#include <string.h>

#include "catalog/store.h"
#include "catalog/store_db.h"

/* ---- reads for the web UI ---------------------------------------------------------------------
 * Each one bounded and served by an index: runs_by_started for a time window, runs_by_view for
 * one view, runs_running for the runs in progress, views' primary key for one view.
 */

/* The view is failed: its newest finished run is not ok and built its current definition. */
#define WEB_LAST_RUN                                                                               \
    " LEFT JOIN runs lr ON lr.id = (SELECT r.id FROM runs r"                                       \
    " WHERE r.\"view\" = v.name AND r.outcome <> 'running'"                                        \
    " ORDER BY r.started_us DESC, r.id DESC LIMIT 1)"
#define WEB_FAILED                                                                                 \
    " (lr.outcome IS NOT NULL AND lr.outcome <> 'ok' AND lr.started_us >= v.changed_us)"

int store_web_count_views(Store *s, int64_t *n)
{
    CdbStmt *st = NULL;
    *n = 0;
    if (sdb_prepare(s, "SELECT count(*) FROM views", &st))
        return -1;
    int rc = cdb_step(st);
    if (rc == CDB_ROW)
        *n = cdb_column_int(st, 0);
    else
        sdb_set_db_error(s, "cannot count views");
    cdb_finalize(st);
    return rc == CDB_ROW ? 0 : -1;
}

int store_web_views_page(Store *s, size_t offset, size_t limit, StoreView **out, size_t *n)
{
    CdbStmt *st = NULL;
    StrVec names = {0};
    StoreView *views = NULL;
    size_t count = 0;
    int rc;
    *out = NULL;
    *n = 0;
    if (sdb_begin_read(s))
        return -1;
    /* Failed, for the order: a run that is not ok started since the last success, of the
     * definition as it is now (one seek in runs_by_view per view; the state shown is
     * store_get_view's). */
    if (sdb_prepare(s,
                    "SELECT v.name FROM views v ORDER BY EXISTS (SELECT 1 FROM runs r"
                    " WHERE r.\"view\" = v.name AND r.started_us >= coalesce(v.last_success_us, 0)"
                    " AND r.started_us >= v.changed_us AND r.outcome NOT IN ('ok', 'running'))"
                    " DESC, v.last_success_us IS NULL, v.last_success_us DESC, v.name"
                    " LIMIT ?1 OFFSET ?2",
                    &st) ||
        sdb_bind_values(s, st, "ii", (int64_t)limit, (int64_t)offset))
        goto fail;
    while ((rc = cdb_step(st)) == CDB_ROW)
        strvec_push(&names, cdb_column_text(st, 0));
    if (rc != CDB_DONE) {
        sdb_set_db_error(s, "cannot list views");
        goto fail;
    }
    cdb_finalize(st);
    st = NULL;
    views = xcalloc(names.n ? names.n : 1, sizeof *views);
    for (; count < names.n; count++)
        if (store_get_view(s, names.items[count], &views[count]) != 0)
            goto fail;
    if (sdb_commit(s))
        goto fail;
    strvec_free(&names);
    *out = views;
    *n = count;
    return 0;
fail:
    cdb_finalize(st);
    sdb_rollback(s);
    strvec_free(&names);
    store_views_free(views, count);
    return -1;
}

int store_web_graph(Store *s, size_t limit, StoreView **out, size_t *n)
{
    CdbStmt *st = NULL;
    StoreView *views = NULL;
    size_t count = 0, cap = 0;
    int rc;
    *out = NULL;
    *n = 0;
    if (sdb_prepare(
            s,
            "SELECT v.name, v.depends_on, v.enabled, v.built_hash IS NOT NULL," WEB_FAILED ","
            " EXISTS (SELECT 1 FROM runs r WHERE r.\"view\" = v.name AND r.outcome = 'running')"
            " FROM views v" WEB_LAST_RUN " ORDER BY v.name LIMIT ?1",
            &st) ||
        sdb_bind_values(s, st, "i", (int64_t)limit))
        goto fail;
    while ((rc = cdb_step(st)) == CDB_ROW) {
        grow_array((void **)&views, &cap, count + 1, sizeof *views);
        StoreView *v = &views[count++];
        memset(v, 0, sizeof *v);
        v->name = sdb_col_text_nn(st, 0);
        v->depends_on = sdb_col_text_nn(st, 1);
        v->enabled = sdb_col_int(st, 2, 0) != 0;
        v->built_hash = sdb_col_int(st, 3, 0) ? xstrdup("") : NULL;
        v->last_failed = sdb_col_int(st, 4, 0) != 0;
        v->running = sdb_col_int(st, 5, 0) != 0;
    }
    if (rc != CDB_DONE) {
        sdb_set_db_error(s, "cannot list views");
        goto fail;
    }
    cdb_finalize(st);
    *out = views;
    *n = count;
    return 0;
fail:
    cdb_finalize(st);
    store_views_free(views, count);
    return -1;
}

int store_web_dependents(Store *s, const char *view, StrVec *out)
{
    CdbStmt *st = NULL;
    int rc;
    /* The position of a text in another: SQLite's instr, PostgreSQL's strpos. */
    char *sql = xasprintf("SELECT name FROM views WHERE %s(',' || depends_on || ',', ',' || ?1 ||"
                          " ',') > 0 ORDER BY name LIMIT 1000",
                          cdb_kind(s->db) == CDB_POSTGRES ? "strpos" : "instr");
    int prepared = sdb_prepare(s, sql, &st);
    free(sql);
    if (prepared || sdb_bind_values(s, st, "t", view))
        goto fail;
    while ((rc = cdb_step(st)) == CDB_ROW)
        strvec_push(out, cdb_column_text(st, 0));
    if (rc != CDB_DONE) {
        sdb_set_db_error(s, "cannot list dependents");
        goto fail;
    }
    cdb_finalize(st);
    return 0;
fail:
    cdb_finalize(st);
    return -1;
}

int store_web_mean_duration(Store *s, const char *view, int64_t *mean_us)
{
    CdbStmt *st = NULL;
    *mean_us = -1;
    if (sdb_prepare(s,
                    "SELECT CAST(avg(d) AS BIGINT) FROM (SELECT finished_us - started_us AS d"
                    " FROM runs WHERE \"view\" = ?1 AND outcome = 'ok'"
                    " ORDER BY started_us DESC LIMIT 20) AS recent",
                    &st) ||
        sdb_bind_values(s, st, "t", view))
        goto fail;
    if (cdb_step(st) != CDB_ROW) {
        sdb_set_db_error(s, "cannot read durations");
        goto fail;
    }
    if (!cdb_column_is_null(st, 0))
        *mean_us = cdb_column_int(st, 0);
    cdb_finalize(st);
    return 0;
fail:
    cdb_finalize(st);
    return -1;
}

int store_web_activity(Store *s, int64_t since_us, int64_t now_us, int64_t *runs, int64_t *busy_us)
{
    CdbStmt *st = NULL;
    *runs = 0;
    *busy_us = 0;
    if (sdb_prepare(s,
                    "SELECT count(*), CAST(coalesce(sum(CASE WHEN finished_us IS NULL"
                    " OR finished_us > ?2 THEN ?2 ELSE finished_us END - started_us), 0)"
                    " AS BIGINT) FROM runs WHERE started_us >= ?1",
                    &st) ||
        sdb_bind_values(s, st, "ii", since_us, now_us))
        goto fail;
    if (cdb_step(st) != CDB_ROW) {
        sdb_set_db_error(s, "cannot count runs");
        goto fail;
    }
    *runs = cdb_column_int(st, 0);
    *busy_us = cdb_column_int(st, 1);
    cdb_finalize(st);
    return 0;
fail:
    cdb_finalize(st);
    return -1;
}

int store_web_runs_window(Store *s, int64_t from_us, int64_t to_us, size_t limit, StoreRun **out,
                          size_t *n)
{
    CdbStmt *st = NULL;
    *out = NULL;
    *n = 0;
    /* Runs that started up to a day before the window and are still going in it are drawn too. */
    if (sdb_prepare(s,
                    RUN_SELECT " WHERE started_us >= ?1 - 86400000000 AND started_us < ?2"
                               " AND coalesce(finished_us, ?2) >= ?1"
                               " ORDER BY started_us DESC, id DESC LIMIT ?3",
                    &st) ||
        sdb_bind_values(s, st, "iii", from_us, to_us, (int64_t)limit))
        goto fail;
    int rc = sdb_read_runs(s, st, false, out, n);
    cdb_finalize(st);
    return rc;
fail:
    cdb_finalize(st);
    return -1;
}

/* The partial index runs_running, named: ordered by start, SQLite would rather walk every run
 * in runs_by_started's order. */
#define RUN_SELECT_RUNNING                                                                         \
    RUN_SELECT " INDEXED BY runs_running WHERE outcome = 'running' ORDER BY started_us, id LIMIT " \
               "?1"

int store_web_runs_running(Store *s, size_t limit, StoreRun **out, size_t *n)
{
    CdbStmt *st = NULL;
    *out = NULL;
    *n = 0;
    if (sdb_prepare(s, RUN_SELECT_RUNNING, &st) || sdb_bind_values(s, st, "i", (int64_t)limit))
        goto fail;
    int rc = sdb_read_runs(s, st, false, out, n);
    cdb_finalize(st);
    return rc;
fail:
    cdb_finalize(st);
    return -1;
}

int store_web_runs(Store *s, const char *view, int64_t since_us, int64_t before_id, size_t limit,
                   StoreRun **out, size_t *n)
{
    CdbStmt *st = NULL;
    *out = NULL;
    *n = 0;
    /* Newest first; before_id continues after the run of that id (0: from the newest). */
    if (sdb_begin_read(s))
        return -1;
    if (sdb_prepare(s,
                    view ? RUN_SELECT " WHERE \"view\" = ?1 AND started_us >= ?2 AND (?3 = 0 OR"
                                      " (started_us, id) < (SELECT started_us, id FROM runs"
                                      " WHERE id = ?3)) ORDER BY started_us DESC, id DESC LIMIT ?4"
                         : RUN_SELECT " WHERE ?1 IS NULL AND started_us >= ?2 AND (?3 = 0 OR"
                                      " (started_us, id) < (SELECT started_us, id FROM runs"
                                      " WHERE id = ?3)) ORDER BY started_us DESC, id DESC LIMIT ?4",
                    &st) ||
        sdb_bind_values(s, st, "tiii", view, since_us, before_id, (int64_t)limit))
        goto fail;
    if (sdb_read_runs(s, st, true, out, n) || sdb_commit(s))
        goto fail;
    cdb_finalize(st);
    return 0;
fail:
    cdb_finalize(st);
    sdb_rollback(s);
    store_runs_free(*out, *n);
    *out = NULL;
    *n = 0;
    return -1;
}

int store_web_ping(Store *s)
{
    return sdb_exec_sql(s, "SELECT count(*) FROM views WHERE 1 = 0", "catalog does not answer");
}
