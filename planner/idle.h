/*
 * Which views nothing reads (the view key idle_after): a view is quiet when
 * nothing read it through the gateway for its idle_after, and a dependency
 * without an interval of its own is quiet when everything that reads it is.
 * Pure: from the catalog's views (their reads included) and the time now. Not
 * for: what a quiet view's state is or whether it is refreshed
 * (planner/staleness), or counting reads (proxy/reads.c).
 */
#ifndef DURO_PLANNER_IDLE_H
#define DURO_PLANNER_IDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/store.h"
#include "planner/staleness.h"

/* Whether views[i] is quiet at now_us; views is the catalog's list, sorted by name. */
bool idle_quiet(const StoreView *views, size_t n, size_t i, int64_t now_us);
/* The same for every view at once (one pass over the dependencies): n flags, caller frees. */
bool *idle_quiet_all(const StoreView *views, size_t n, int64_t now_us);

/*
 * staleness_from_store for views[i] with quiet filled in where it decides something (a built view
 * that needs a refresh; elsewhere false), from quiet (idle_quiet_all's) or, NULL, asked for this
 * view alone: what every caller with the list uses.
 */
StalenessInput idle_staleness(const StoreView *views, size_t n, size_t i, int64_t now_us,
                              const bool *quiet);

#endif
