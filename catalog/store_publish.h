/*
 * The catalog's reads for publishing duro.runs to the warehouse (planner/publish): the runs after
 * a given id, oldest first, a bounded number at a time, and the smallest id kept. Not for: the
 * web UI's or the gateway's reads (store_web.c, store_runs.c), or writing anything.
 */
#ifndef DURO_CATALOG_STORE_PUBLISH_H
#define DURO_CATALOG_STORE_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/store.h"

/*
 * The runs whose id is greater than after_id, in id order, at most limit (1 or more), without
 * their steps; and *min_id, the smallest id the catalog keeps (0 when it has no runs). Returns 0,
 * or -1 (store_error tells).
 */
int store_runs_after(Store *s, int64_t after_id, size_t limit, StoreRun **out, size_t *n,
                     int64_t *min_id) MUST_CHECK;

#endif
