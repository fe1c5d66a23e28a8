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
    size_t *first;        /* readers of view i: reader[first[i]] .. reader[first[i + 1] - 1] */
    size_t *reader;       /* indices of the enabled views reading each view */
    unsigned char *state; /* per view: UNKNOWN, WALKING (on the current path), KNOWN */
    int64_t *window;      /* per KNOWN view: its idle window in seconds when quiet, else 0 */
} Walk;

/* The index of name in views (sorted by name), or n. */
static size_t find_view(const StoreView *views, size_t n, const char *name, size_t len)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strncmp(views[mid].name, name, len);
        if (c == 0 && views[mid].name[len] != '\0')
            c = 1;
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return n;
}

/* Calls add(w, d, k) for each view d that the enabled view k reads; twice when fill. */
static void each_edge(Walk *w, bool fill, size_t *next)
{
    for (size_t k = 0; k < w->n; k++) {
        if (!w->views[k].enabled)
            continue;
        for (const char *p = w->views[k].depends_on; p && *p;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            size_t d = find_view(w->views, w->n, p, len);
            if (d < w->n && d != k) {
                if (fill)
                    w->reader[next[d]++] = k;
                else
                    w->first[d + 1]++;
            }
            p = comma ? comma + 1 : p + len;
        }
    }
}

/* Sets up w for views: the readers of each view (one pass over depends_on), nothing known. */
static void walk_init(Walk *w, const StoreView *views, size_t n, int64_t now_us)
{
    *w = (Walk){views, n, now_us, NULL, NULL, NULL, NULL};
    w->first = xcalloc(n + 1, sizeof(size_t));
    each_edge(w, false, NULL);
    for (size_t i = 0; i < n; i++)
        w->first[i + 1] += w->first[i];
    w->reader = xcalloc(w->first[n] ? w->first[n] : 1, sizeof(size_t));
    size_t *next = xmalloc((n ? n : 1) * sizeof(size_t));
    memcpy(next, w->first, n * sizeof(size_t));
    each_edge(w, true, next);
    free(next);
    w->state = xcalloc(n ? n : 1, 1);
    w->window = xcalloc(n ? n : 1, sizeof(int64_t));
}

static void walk_free(Walk *w)
{
    free(w->first);
    free(w->reader);
    free(w->state);
    free(w->window);
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
        bool all_quiet = w->first[i] < w->first[i + 1]; /* read by at least one enabled view */
        for (size_t r = w->first[i]; r < w->first[i + 1] && all_quiet; r++) {
            int64_t rw = quiet_window(w, w->reader[r]);
            if (rw == 0)
                all_quiet = false;
            else if (rw > longest)
                longest = rw;
        }
        int64_t mine = own > 0 ? own : longest;
        window = all_quiet && clock_older(v, mine, w->now_us) ? mine : 0;
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
    /* The common case needs no walk: an interval of its own. */
    if (v->interval > 0)
        return v->enabled && clock_older(v, config_described_idle_after(v->config), now_us);
    Walk w;
    walk_init(&w, views, n, now_us);
    bool quiet = quiet_window(&w, i) > 0;
    walk_free(&w);
    return quiet;
}

bool *idle_quiet_all(const StoreView *views, size_t n, int64_t now_us)
{
    bool *quiet = xcalloc(n ? n : 1, sizeof(bool));
    Walk w;
    walk_init(&w, views, n, now_us);
    for (size_t i = 0; i < n; i++)
        quiet[i] = quiet_window(&w, i) > 0;
    walk_free(&w);
    return quiet;
}

StalenessInput idle_staleness(const StoreView *views, size_t n, size_t i, int64_t now_us,
                              const bool *quiet)
{
    StalenessInput in = staleness_from_store(&views[i], now_us);
    /* Quiet decides something only for a built view that needs a refresh: no walk otherwise. */
    if (in.built_hash && staleness_needs_refresh(&in))
        in.quiet = quiet ? quiet[i] : idle_quiet(views, n, i, now_us);
    return in;
}
