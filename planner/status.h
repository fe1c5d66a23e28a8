/*
 * A view's row of duro.status, as facts from the catalog: its state, next refresh, last error,
 * rows and last duration, by the one rule that the gateway's virtual table (proxy/evaluate.c)
 * and the published copy (planner/publish.c) both show. Pure. Not for: who may see the row
 * (proxy/evaluate.c), or how the values are written out (each caller).
 */
#ifndef DURO_PLANNER_STATUS_H
#define DURO_PLANNER_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/store.h"

typedef struct ViewStatus {
    const char *state;       /* view_state_name of its staleness state */
    int64_t next_refresh_us; /* the schedule's next try (backoff included); 0 = none */
    int64_t last_refresh_us; /* 0 = never built */
    double last_duration_s;  /* NAN when never built */
    int64_t rows;            /* -1 when not built */
    const char *last_error;  /* NULL unless its last run did not succeed (borrowed from views) */
} ViewStatus;

/*
 * The status of views[i] at now_us; views is the catalog's list, sorted by name, and quiet what
 * idle_quiet_all (planner/idle) says of it, or NULL (then asked for this view alone).
 */
ViewStatus view_status(const StoreView *views, size_t n, size_t i, int64_t now_us,
                       const bool *quiet);

/* The text of an interval in seconds, as duro.status shows it ("1h 30m"); NULL for none.
 * Caller frees. */
char *view_status_interval(int64_t seconds);

#endif
