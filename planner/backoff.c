/*
 * The backoff rule (see backoff.h): a view's own failures come from the
 * catalog (StoreView.retry_us, so a restart remembers them and a change of
 * the view's files forgets them); a dependency's are found by walking the
 * stale dependencies a build would rebuild first.
 */
#include "planner/backoff.h"

#include <stdlib.h>
#include <string.h>

#include "planner/staleness.h"

#define US_PER_SECOND 1000000LL

int64_t backoff_retry_us(int64_t poll_s, int failures, int64_t finished_us)
{
    int64_t wait = poll_s > 0 ? poll_s * US_PER_SECOND : US_PER_SECOND;
    for (int i = 1; i < failures && wait < BACKOFF_MAX_US; i++)
        wait *= 2;
    if (wait > BACKOFF_MAX_US)
        wait = BACKOFF_MAX_US;
    return finished_us + wait;
}

bool backoff_applies(RunTrigger trigger)
{
    switch (trigger) {
    case RUN_TRIGGER_SCHEDULE:
    case RUN_TRIGGER_READ:
    case RUN_TRIGGER_DEPENDENCY:
        return true;
    case RUN_TRIGGER_CALL:
    case RUN_TRIGGER_WEB:
        return false;
    }
    return true;
}

const StoreView *backoff_find(const StoreView *views, size_t n, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(views[mid].name, name);
        if (c == 0)
            return &views[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Whether a build of v would rebuild it (enabled and stale) at now_us. */
static bool needs_build(const StoreView *v, int64_t now_us)
{
    StalenessInput in = staleness_from_store(v, now_us);
    return v->enabled && staleness_needs_refresh(&in);
}

/* Makes a the later of itself and a hold by v until until_us. */
static void hold_later(BackoffHold *a, const StoreView *v, int64_t until_us)
{
    if (!a->failed || until_us > a->until_us) {
        a->failed = v;
        a->until_us = until_us;
    }
}

BackoffHold backoff_check(const StoreView *views, size_t n, size_t i, RunTrigger trigger,
                          int64_t now_us)
{
    BackoffHold hold = {NULL, 0};
    if (i >= n || !backoff_applies(trigger))
        return hold;
    /* Depth first over the dependencies a build would rebuild, each view once. */
    unsigned char *seen = xcalloc(n, 1);
    size_t *stack = xmalloc(n * sizeof(size_t));
    size_t depth = 0;
    stack[depth++] = i;
    seen[i] = 1;
    while (depth > 0) {
        const StoreView *v = &views[stack[--depth]];
        if (v->retry_us > now_us)
            hold_later(&hold, v, v->retry_us);
        for (const char *p = v->depends_on; p && *p;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            char name[256];
            if (len < sizeof name) {
                memcpy(name, p, len);
                name[len] = '\0';
                const StoreView *d = backoff_find(views, n, name);
                if (d && !seen[d - views] && needs_build(d, now_us)) {
                    seen[d - views] = 1;
                    stack[depth++] = (size_t)(d - views);
                }
            }
            p = comma ? comma + 1 : p + len;
        }
    }
    free(seen);
    free(stack);
    return hold;
}

int64_t backoff_next_refresh(const StoreView *views, size_t n, size_t i, int64_t now_us)
{
    if (i >= n)
        return 0;
    StalenessInput in = staleness_from_store(&views[i], now_us);
    int64_t next = staleness_next_refresh(&in);
    if (next == 0)
        return 0;
    BackoffHold hold = backoff_check(views, n, i, RUN_TRIGGER_SCHEDULE, now_us);
    return hold.failed && hold.until_us > next ? hold.until_us : next;
}
