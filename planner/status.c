/*
 * A view's row of duro.status (see status.h).
 */
#include "planner/status.h"

#include <math.h>
#include <string.h>

#include "catalog/interval.h"
#include "core/util.h"
#include "planner/backoff.h"
#include "planner/idle.h"
#include "planner/staleness.h"

ViewStatus view_status(const StoreView *views, size_t n, size_t i, int64_t now_us,
                       const bool *quiet)
{
    const StoreView *v = &views[i];
    StalenessInput in = idle_staleness(views, n, i, now_us, quiet);
    bool built = v->last_success_us != 0;
    return (ViewStatus){
        .state = view_state_name(staleness_state(&in)),
        /* An idle view has no scheduled refresh: the next read refreshes it. */
        .next_refresh_us = staleness_idle(&in) ? 0 : backoff_next_refresh(views, n, i, now_us),
        .last_refresh_us = v->last_success_us,
        .last_duration_s = built ? (double)v->last_duration_us / 1e6 : NAN,
        .rows = v->built_hash && v->rows >= 0 ? v->rows : -1,
        .last_error = v->last_outcome && strcmp(v->last_outcome, "ok") != 0 ? v->last_error : NULL,
    };
}

char *view_status_interval(int64_t seconds)
{
    if (seconds <= 0)
        return NULL;
    char buf[32];
    interval_format(seconds, buf, sizeof buf);
    return xstrdup(buf);
}
