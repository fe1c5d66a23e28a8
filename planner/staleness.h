/*
 * The README's staleness rules as pure functions: from what the catalog knows of
 * a view (definition hash, hash of the last successful build, when that build
 * finished, effective interval, whether nothing reads it: planner/idle) and the
 * time now, its state, whether it needs a refresh, whether the schedule gives it
 * one, and when the next one is due. No I/O.
 */
#ifndef DURO_PLANNER_STALENESS_H
#define DURO_PLANNER_STALENESS_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog/store.h"

typedef enum ViewState {
    VIEW_STATE_FRESH,
    VIEW_STATE_STALE,
    VIEW_STATE_REFRESHING,
    VIEW_STATE_FAILED,
    VIEW_STATE_NEVER,
    VIEW_STATE_DISABLED,
    VIEW_STATE_IDLE,
} ViewState;

/* How many states there are, for counts by state. */
#define VIEW_STATE_COUNT (VIEW_STATE_IDLE + 1)

typedef struct StalenessInput {
    bool enabled;
    bool refreshing;            /* a build is running now */
    bool last_run_failed;       /* the newest finished run did not succeed */
    const char *hash;           /* the definition now */
    const char *built_hash;     /* the definition last built successfully; NULL = never */
    int64_t last_success_us;    /* finish of that build */
    int64_t effective_interval; /* seconds; 0 = none */
    int64_t now_us;
    bool quiet; /* nothing read it (nor what reads it) for its idle_after: planner/idle */
} StalenessInput;

/* Never built, or the last build is older than the effective interval, or the definition changed.
 */
bool staleness_needs_refresh(const StalenessInput *in);
/* Needs a refresh, but the schedule leaves it alone: quiet, and built once (state idle). */
bool staleness_idle(const StalenessInput *in);
/* Whether the schedule refreshes it now: it needs a refresh and is not idle. */
bool staleness_scheduled(const StalenessInput *in);
/* The state shown in duro.status. */
ViewState staleness_state(const StalenessInput *in);
/* When the next scheduled refresh is due (microseconds); now_us when already due; 0 when
 * disabled, idle or no interval. */
int64_t staleness_next_refresh(const StalenessInput *in);
/* The input for a view as the catalog has it (its definition, interval and runs), at now_us;
 * quiet is false (the caller asks planner/idle, which needs the other views). */
StalenessInput staleness_from_store(const StoreView *v, int64_t now_us);

/* "fresh", "stale", "refreshing", "failed", "never", "disabled", "idle". */
const char *view_state_name(ViewState s);

#endif
