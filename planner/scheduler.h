/*
 * The background scheduler of `duro serve`: on its own thread, re-scans the
 * views repository (every [views] rescan, or when asked), syncs it into the
 * catalog, and every [worker] poll refreshes the stale views, dependencies
 * first, retrying failures with exponential backoff. A repository with
 * problems is logged and the last good one kept. Not for: signals (cli/serve.c).
 */
#ifndef DURO_PLANNER_SCHEDULER_H
#define DURO_PLANNER_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog/repo.h"
#include "catalog/store.h"
#include "core/settings.h"
#include "planner/dialect.h"

typedef struct Scheduler Scheduler;

/*
 * Sets stale[i] for every enabled view i of r that needs a refresh now, as the
 * catalog (already synced with r) tells. Returns 0, or -1 with *error.
 */
int scheduler_stale_views(Store *s, const Repo *r, int64_t now_us, bool *stale,
                          char **error) MUST_CHECK;

/* Opens the catalog, loads the repository and starts the thread. NULL with *error on failure. */
Scheduler *scheduler_start(const Settings *s, Dialect d, char **error);
/* Asks for a re-scan of the repository now (SIGHUP). Safe from any thread. */
void scheduler_rescan(Scheduler *sc);
/* Stops scheduling; builds already running go on. Safe from any thread. */
void scheduler_stop(Scheduler *sc);
/* Cancels the running builds. Safe from any thread. */
void scheduler_cancel(Scheduler *sc);
/* Waits up to timeout_ms for the thread to end after a stop; true when it has. */
bool scheduler_wait(Scheduler *sc, int timeout_ms);
/* Joins the (stopped) thread and frees everything. */
void scheduler_free(Scheduler *sc);

#endif
