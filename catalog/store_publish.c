/*
 * The catalog's reads for publishing duro.runs (see store_publish.h): one read transaction, the
 * runs by their primary key. Not for: any write, or the reads of the web UI and the gateway.
 */
#include "catalog/store_publish.h"

#include <stdlib.h>

#include "catalog/store_db.h"
#include "core/util.h"

int store_runs_after(Store *s, int64_t after_id, size_t limit, StoreRun **out, size_t *n,
                     int64_t *min_id)
{
    CdbStmt *st = NULL, *min_st = NULL;
    StoreRun *runs = NULL;
    size_t count = 0;
    *out = NULL;
    *n = 0;
    *min_id = 0;
    if (limit == 0 || limit > (size_t)INT32_MAX)
        limit = INT32_MAX;
    if (sdb_begin_read(s))
        goto fail;
    if (sdb_prepare(s, RUN_SELECT " WHERE id > ?1 ORDER BY id LIMIT ?2", &st) ||
        sdb_prepare(s, "SELECT coalesce(min(id), 0) FROM runs", &min_st) ||
        sdb_bind_values(s, st, "ii", after_id, (int64_t)limit) ||
        sdb_read_runs(s, st, false, &runs, &count))
        goto fail;
    if (cdb_step(min_st) != CDB_ROW) {
        sdb_set_db_error(s, "cannot list runs");
        goto fail;
    }
    *min_id = sdb_col_int(min_st, 0, 0);
    if (sdb_commit(s))
        goto fail;
    cdb_finalize(st);
    cdb_finalize(min_st);
    *out = runs;
    *n = count;
    return 0;
fail:
    cdb_finalize(st);
    cdb_finalize(min_st);
    sdb_rollback(s);
    store_runs_free(runs, count);
    return -1;
}
