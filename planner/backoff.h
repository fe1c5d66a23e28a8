/*
 * The backoff of a failing view, the one rule every trigger but an explicit
 * one (CALL duro_refresh, duro refresh, the web UI) obeys: after its n-th
 * failure in a row a view is not built again before [worker] poll * 2^(n-1),
 * at most an hour; a view whose stale dependency is held back waits with it.
 * Pure: from the catalog's views and the time now. Not for: recording runs
 * (catalog/store), what is stale (planner/staleness).
 */
#ifndef DURO_PLANNER_BACKOFF_H
#define DURO_PLANNER_BACKOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/run.h"
#include "catalog/store.h"

/* The longest a failing view waits between attempts. */
#define BACKOFF_MAX_US (3600LL * 1000000)

/* When a view whose failure (its failures-th in a row, from 1) ended at finished_us is tried again.
 */
int64_t backoff_retry_us(int64_t poll_s, int failures, int64_t finished_us);

/* Whether builds started by trigger wait out backoffs (schedule, read, dependency), or not. */
bool backoff_applies(RunTrigger trigger);

/* Why a build may not start now. */
typedef struct BackoffHold {
    const StoreView *failed; /* NULL: it may; else the view whose failure holds it back */
    int64_t until_us;        /* the next try (wall clock) */
} BackoffHold;

/*
 * May trigger start a build of views[i] now? views is the catalog's list
 * (sorted by name, as store_list_views returns it). The answer is no while
 * the view's own backoff runs, or while one of the stale dependencies a build
 * would rebuild first is held back; then failed names the view that failed
 * (the latest of them to be tried again) and until_us when.
 */
BackoffHold backoff_check(const StoreView *views, size_t n, size_t i, RunTrigger trigger,
                          int64_t now_us);

/*
 * When the schedule will try views[i] next: staleness_next_refresh, or later
 * when it is held back (duro.status's next_refresh). 0 when never.
 */
int64_t backoff_next_refresh(const StoreView *views, size_t n, size_t i, int64_t now_us);

/* The view called name in views (sorted by name), or NULL. */
const StoreView *backoff_find(const StoreView *views, size_t n, const char *name);

#endif
