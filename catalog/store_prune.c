/*
 * The catalog's retention (see store.h, store_prune_runs): deletes runs older
 * than [catalog] keep_runs and their steps, a bounded batch per transaction so
 * that other connections never wait long for the lock. Which runs are kept
 * whatever their age is said once, in KEPT below. Not for: deciding when to
 * prune (planner/scheduler) or reading runs.
 */
#include <stdlib.h>

#include "catalog/store.h"
#include "catalog/store_db.h"

/* The id of view r's last run of outcome o ('ok'), 0 when none. */
#define LAST_ID(cond)                                                                              \
    "coalesce((SELECT max(k.id) FROM runs k WHERE k.\"view\" = r.\"view\" AND " cond "), 0)"

/*
 * Runs r kept whatever their age: one in progress; the view's newest finished
 * run (its last outcome and error); its last good run; its last failed run;
 * and its own failures since that good run (their count and next try make its
 * backoff). With their steps.
 */
#define KEPT                                                                                       \
    "(r.outcome = 'running'"                                                                       \
    " OR r.id = coalesce((SELECT k.id FROM runs k WHERE k.\"view\" = r.\"view\""                   \
    " AND k.outcome <> 'running' ORDER BY k.started_us DESC, k.id DESC LIMIT 1), 0)"               \
    " OR r.id = " LAST_ID("k.outcome = 'ok'") " OR r.id = " LAST_ID(                               \
        "k.outcome IN ('failed', 'tests_failed')") " OR (r.retry_us IS NOT NULL AND r.id "         \
                                                   "> " LAST_ID("k.outcome = 'ok'") "))"

/*
 * One batch: the next (by start, then id, after the cursor) at most limit runs
 * started before before_us and not kept, deleted with their steps in one write
 * transaction. Sets *n to how many; moves the cursor past the last run read.
 */
static int prune_batch(Store *s, int64_t before_us, int64_t limit, int64_t *cur_started,
                       int64_t *cur_id, int64_t *n)
{
    CdbStmt *sel = NULL, *del_steps = NULL, *del_run = NULL;
    *n = 0;
    if (sdb_begin_write(s))
        return -1;
    if (sdb_prepare(s,
                    "SELECT r.id, r.started_us FROM runs r WHERE r.started_us < ?1"
                    " AND (r.started_us, r.id) > (?2, ?3) AND NOT " KEPT
                    " ORDER BY r.started_us, r.id LIMIT ?4",
                    &sel) ||
        sdb_bind_values(s, sel, "iiii", before_us, *cur_started, *cur_id, limit) ||
        sdb_prepare(s, "DELETE FROM run_steps WHERE run_id = ?1", &del_steps) ||
        sdb_prepare(s, "DELETE FROM runs WHERE id = ?1", &del_run))
        goto fail;
    int rc;
    while ((rc = cdb_step(sel)) == CDB_ROW) {
        int64_t id = cdb_column_int(sel, 0);
        *cur_started = cdb_column_int(sel, 1);
        *cur_id = id;
        if (sdb_bind_values(s, del_steps, "i", id) ||
            sdb_step_done(s, del_steps, "cannot delete old steps") ||
            sdb_bind_values(s, del_run, "i", id) ||
            sdb_step_done(s, del_run, "cannot delete old runs"))
            goto fail;
        (*n)++;
    }
    if (rc != CDB_DONE) {
        sdb_set_db_error(s, "cannot read old runs");
        goto fail;
    }
    cdb_finalize(sel);
    cdb_finalize(del_steps);
    cdb_finalize(del_run);
    return sdb_commit(s);
fail:
    cdb_finalize(sel);
    cdb_finalize(del_steps);
    cdb_finalize(del_run);
    sdb_rollback(s);
    *n = 0;
    return -1;
}

int store_prune_runs(Store *s, int64_t before_us, int batch, int max_batches, int64_t *deleted,
                     bool *more)
{
    int64_t cur_started = INT64_MIN, cur_id = INT64_MIN;
    *deleted = 0;
    *more = false;
    for (int i = 0; i < max_batches; i++) {
        int64_t n = 0;
        if (prune_batch(s, before_us, batch, &cur_started, &cur_id, &n) != 0)
            return -1;
        *deleted += n;
        if (n < batch)
            return 0;
    }
    *more = true;
    return 0;
}
