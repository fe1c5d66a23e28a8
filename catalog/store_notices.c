/*
 * The catalog's notification state (see store.h): per view, whether a failure was told and not
 * yet its recovery, when the last failure was told, and whether an alert_after breach was told,
 * so that planner/notify keeps its rules across restarts. Not for: deciding what to tell
 * (planner/notify) or runs (catalog/store_runs.c).
 */
#include <string.h>

#include "catalog/store.h"
#include "catalog/store_db.h"

int store_notice_get(Store *s, const char *view, StoreNotice *out)
{
    CdbStmt *st = NULL;
    memset(out, 0, sizeof *out);
    if (sdb_prepare(s,
                    "SELECT n.failing, n.failure_sent_us, n.overdue,"
                    " (SELECT count(*) FROM (SELECT 1 FROM runs r"
                    " WHERE r.\"view\" = ?1 AND r.outcome = 'ok' LIMIT 2) AS oks)"
                    " FROM (SELECT 1) AS one LEFT JOIN notices n ON n.\"view\" = ?1",
                    &st) ||
        sdb_bind_values(s, st, "t", view))
        goto fail;
    if (cdb_step(st) != CDB_ROW) {
        sdb_set_db_error(s, "cannot read notification state");
        goto fail;
    }
    out->failing = sdb_col_int(st, 0, 0) != 0;
    out->failure_sent_us = sdb_col_time(st, 1);
    out->overdue = sdb_col_int(st, 2, 0) != 0;
    out->ok_runs = sdb_col_int(st, 3, 0);
    cdb_finalize(st);
    return 0;
fail:
    cdb_finalize(st);
    return -1;
}

int store_notice_put(Store *s, const char *view, const StoreNotice *n)
{
    CdbStmt *st = NULL;
    if (sdb_prepare(s,
                    "INSERT INTO notices (\"view\", failing, failure_sent_us, overdue)"
                    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (\"view\") DO UPDATE SET"
                    " failing = excluded.failing, failure_sent_us = excluded.failure_sent_us,"
                    " overdue = excluded.overdue",
                    &st) ||
        sdb_bind_values(s, st, "tiii", view, (int64_t)n->failing, n->failure_sent_us,
                        (int64_t)n->overdue) ||
        sdb_step_done(s, st, "cannot record notification state"))
        goto fail;
    cdb_finalize(st);
    return 0;
fail:
    cdb_finalize(st);
    return -1;
}
