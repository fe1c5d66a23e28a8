/*
 * The README's staleness rules (see staleness.h): pure functions of what the
 * catalog knows about a view and the time now. Not for: reading the catalog,
 * scheduling, or walking dependencies (a dependency's own staleness is judged
 * by calling these on it).
 *
 * The state shown in duro.status is the first that applies, in this order:
 *   disabled    the view (or a dependency) is disabled;
 *   refreshing  a build is running now;
 *   failed      the newest finished run did not succeed (even if an older
 *               build is still live: the failure is what a user must see);
 *   never       no build of any definition ever succeeded; such a view is
 *               built whatever its reads (idle_after), so that its table
 *               exists: an operator adding a view expects to see it built;
 *   idle        it needs a refresh (as stale below) but is quiet: nothing read
 *               it through the gateway for its idle_after (planner/idle), so
 *               the schedule leaves it alone and the next read refreshes it
 *               first. A quiet view whose last build is still within its
 *               interval is fresh: its data is as current as promised, and it
 *               turns idle, not stale, when the interval has passed. So idle
 *               means exactly "a refresh is due and withheld";
 *   stale       staleness_needs_refresh(): definition changed since the last
 *               successful build, or that build is at least one effective
 *               interval old;
 *   fresh       otherwise.
 * Failed, refreshing and disabled win over idle: what an operator must act on
 * (or wait for) shows first. A failed quiet view is not retried by the schedule
 * either (staleness_scheduled); the next read tries it, as its backoff allows.
 * For an enabled view, staleness_next_refresh() returns now_us exactly when
 * staleness_scheduled() is true, even when it has no effective interval, and 0
 * when it is idle.
 * Any int64_t input is taken: the arithmetic saturates instead of overflowing.
 */
#include "planner/staleness.h"

#include <string.h>

#define US_PER_SECOND 1000000LL

/* a - b and a + b, saturated at the ends of int64_t: inputs may come from a damaged catalog. */
static int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (!__builtin_sub_overflow(a, b, &r))
        return r;
    return b < 0 ? INT64_MAX : INT64_MIN;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (!__builtin_add_overflow(a, b, &r))
        return r;
    return b > 0 ? INT64_MAX : INT64_MIN;
}

/* The effective interval in microseconds, or 0 when there is none (or it would overflow). */
static int64_t interval_us(const StalenessInput *in)
{
    if (in->effective_interval <= 0 || in->effective_interval > INT64_MAX / US_PER_SECOND)
        return 0;
    return in->effective_interval * US_PER_SECOND;
}

/* The definition changed since the last successful build (or never built). */
static bool definition_changed(const StalenessInput *in)
{
    if (!in->built_hash)
        return true;
    if (!in->hash)
        return true;
    return strcmp(in->hash, in->built_hash) != 0;
}

bool staleness_needs_refresh(const StalenessInput *in)
{
    if (!in->enabled)
        return false;
    if (definition_changed(in))
        return true;
    int64_t every = interval_us(in);
    return every > 0 && sat_sub(in->now_us, in->last_success_us) >= every;
}

bool staleness_idle(const StalenessInput *in)
{
    return in->quiet && in->built_hash && staleness_needs_refresh(in);
}

bool staleness_scheduled(const StalenessInput *in)
{
    return staleness_needs_refresh(in) && !staleness_idle(in);
}

ViewState staleness_state(const StalenessInput *in)
{
    if (!in->enabled)
        return VIEW_STATE_DISABLED;
    if (in->refreshing)
        return VIEW_STATE_REFRESHING;
    if (in->last_run_failed)
        return VIEW_STATE_FAILED;
    if (!in->built_hash)
        return VIEW_STATE_NEVER;
    if (staleness_idle(in))
        return VIEW_STATE_IDLE;
    if (staleness_needs_refresh(in))
        return VIEW_STATE_STALE;
    return VIEW_STATE_FRESH;
}

int64_t staleness_next_refresh(const StalenessInput *in)
{
    if (!in->enabled || staleness_idle(in))
        return 0;
    if (staleness_needs_refresh(in))
        return in->now_us;
    int64_t every = interval_us(in);
    if (every == 0)
        return 0;
    return sat_add(in->last_success_us, every);
}

const char *view_state_name(ViewState s)
{
    switch (s) {
    case VIEW_STATE_FRESH:
        return "fresh";
    case VIEW_STATE_STALE:
        return "stale";
    case VIEW_STATE_REFRESHING:
        return "refreshing";
    case VIEW_STATE_FAILED:
        return "failed";
    case VIEW_STATE_NEVER:
        return "never";
    case VIEW_STATE_DISABLED:
        return "disabled";
    case VIEW_STATE_IDLE:
        return "idle";
    }
    return "unknown";
}

StalenessInput staleness_from_store(const StoreView *v, int64_t now_us)
{
    return (StalenessInput){
        .enabled = v->enabled,
        .refreshing = v->running,
        .last_run_failed = v->last_failed,
        .hash = v->hash,
        .built_hash = v->built_hash,
        .last_success_us = v->last_success_us,
        .effective_interval = v->effective_interval,
        .now_us = now_us,
    };
}
