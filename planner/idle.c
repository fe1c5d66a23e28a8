/*
 * The idle rule (see idle.h). The idle clock of a view starts at its last read
 * through the gateway, or, never read, when it entered the catalog; builds do
 * not restart it, else a view whose interval is shorter than its idle_after
 * would be rebuilt forever without anyone reading it.
 *   - A view with an interval of its own is quiet when it sets idle_after
 *     (here or inherited) and its idle clock is at least that old.
 *   - A view without one (only there for the views that read it) is quiet when
 *     at least one enabled view reads it, every enabled view that reads it is
 *     quiet, and its own idle clock is at least as old as its own idle_after,
 *     or, without one, the longest idle_after among those readers: a read of
 *     the dependency itself keeps it refreshed, like a read of any view.
 * A view with an interval of its own that a busy view reads is kept fresh by
 * that reader's refreshes (a dependency is built before what reads it), quiet
 * or not: its effective interval still counts every reader.
 */
#include "planner/idle.h"

#include <stdlib.h>
#include <string.h>

#include "catalog/config.h"
#include "core/clock.h"
#include "core/util.h"

enum { UNKNOWN, WALKING, KNOWN };

typedef struct Walk {
    const StoreView *views;
    size_t n;
    int64_t now_us;
    unsigned char *state; /* per view: UNKNOWN, WALKING (on the current path), KNOWN */
    int64_t *window;      /* per KNOWN view: its idle window in seconds when quiet, else 0 */
} Walk;

/* Whether the comma-separated list depends_on names name. */
static bool names_view(const char *depends_on, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = depends_on; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        if (l == len && memcmp(p, name, len) == 0)
            return true;
        p = comma ? comma + 1 : p + l;
    }
    return false;
}

/* Whether nothing read v for window seconds (its idle clock is that old). */
static bool clock_older(const StoreView *v, int64_t window, int64_t now_us)
{
    if (window <= 0)
        return false;
    int64_t since = v->last_read_us > v->first_seen_us ? v->last_read_us : v->first_seen_us;
    return now_us - since >= window * CLOCK_US_PER_SECOND;
}

/* The idle window of views[i] when it is quiet, else 0. A dependency cycle is not quiet. */
static int64_t quiet_window(Walk *w, size_t i)
{
    if (w->state[i] == KNOWN)
        return w->window[i];
    if (w->state[i] == WALKING)
        return 0;
    const StoreView *v = &w->views[i];
    int64_t own = config_described_idle_after(v->config), window = 0;
    w->state[i] = WALKING;
    if (!v->enabled) {
        window = 0;
    } else if (v->interval > 0) {
        window = clock_older(v, own, w->now_us) ? own : 0;
    } else {
        int64_t longest = 0;
        bool readers = false, all_quiet = true;
        for (size_t k = 0; k < w->n && all_quiet; k++) {
            if (k == i || !w->views[k].enabled || !names_view(w->views[k].depends_on, v->name))
                continue;
            readers = true;
            int64_t r = quiet_window(w, k);
            if (r == 0)
                all_quiet = false;
            else if (r > longest)
                longest = r;
        }
        int64_t mine = own > 0 ? own : longest;
        window = readers && all_quiet && clock_older(v, mine, w->now_us) ? mine : 0;
    }
    w->state[i] = KNOWN;
    w->window[i] = window;
    return window;
}

bool idle_quiet(const StoreView *views, size_t n, size_t i, int64_t now_us)
{
    if (i >= n)
        return false;
    const StoreView *v = &views[i];
    /* The common cases need no walk: no idle_after anywhere near, or an interval of its own. */
    if (v->interval > 0)
        return v->enabled && clock_older(v, config_described_idle_after(v->config), now_us);
    Walk w = {views, n, now_us, xcalloc(n, 1), xcalloc(n, sizeof(int64_t))};
    bool quiet = quiet_window(&w, i) > 0;
    free(w.state);
    free(w.window);
    return quiet;
}

StalenessInput idle_staleness(const StoreView *views, size_t n, size_t i, int64_t now_us)
{
    StalenessInput in = staleness_from_store(&views[i], now_us);
    /* Quiet decides something only for a built view that needs a refresh: no walk otherwise. */
    if (in.built_hash && staleness_needs_refresh(&in))
        in.quiet = idle_quiet(views, n, i, now_us);
    return in;
}
