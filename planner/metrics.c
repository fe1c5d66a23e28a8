/*
 * The /metrics text (see metrics.h). The refreshes by view and outcome are
 * counted in a table of their own under a lock: only the scheduler's thread
 * adds to it, once a build, and a scrape reads it. Everything else is either
 * core/metrics' atomics or read from the catalog when scraped.
 */
#include "planner/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "catalog/config.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "planner/idle.h"
#include "planner/staleness.h"

/* Distinct view names counted at most; later ones are counted under METRICS_OTHER_VIEW. */
#define METRICS_MAX_VIEWS  100000
#define METRICS_OTHER_VIEW "(other)"
#define METRICS_N_OUTCOMES (RUN_CANCELLED + 1)

typedef struct ViewCounts {
    char *view;
    uint64_t outcomes[METRICS_N_OUTCOMES];
    UT_hash_handle hh;
} ViewCounts;

static pthread_mutex_t counts_lock = PTHREAD_MUTEX_INITIALIZER;
static ViewCounts *counts; /* by view name */
static size_t n_counts;

void metrics_count_refresh(const char *view, RunOutcome outcome, int64_t duration_us)
{
    metrics_observe(METRICS_REFRESH_SECONDS, duration_us);
    if ((size_t)outcome >= METRICS_N_OUTCOMES)
        return;
    pthread_mutex_lock(&counts_lock);
    ViewCounts *c = NULL;
    HASH_FIND_STR(counts, view, c);
    if (!c && n_counts >= METRICS_MAX_VIEWS) {
        view = METRICS_OTHER_VIEW;
        HASH_FIND_STR(counts, view, c);
    }
    if (!c) {
        c = xcalloc(1, sizeof *c);
        c->view = xstrdup(view);
        HASH_ADD_KEYPTR(hh, counts, c->view, strlen(c->view), c);
        n_counts++;
    }
    c->outcomes[outcome]++;
    pthread_mutex_unlock(&counts_lock);
}

void metrics_count_report(const RefreshReport *rep)
{
    for (size_t k = 0; k < rep->n; k++) {
        const PipelineResult *r = &rep->builds[k].result;
        if (r->shared) /* counted by the plan that built it */
            continue;
        metrics_count_refresh(rep->builds[k].view->name, r->outcome,
                              r->finished_us - r->started_us);
    }
}

static int by_view(const ViewCounts *a, const ViewCounts *b)
{
    return strcmp(a->view, b->view);
}

static void render_refreshes(MetricsText *t)
{
    metrics_text_family(t, "duro_refreshes_total", "counter",
                        "Builds of a view since Duro started, by outcome.");
    pthread_mutex_lock(&counts_lock);
    HASH_SORT(counts, by_view);
    for (ViewCounts *c = counts; c; c = c->hh.next)
        for (size_t o = 0; o < METRICS_N_OUTCOMES; o++) {
            const char *labels[] = {"view", c->view, "outcome", run_outcome_name((RunOutcome)o),
                                    NULL};
            metrics_text_sample(t, "duro_refreshes_total", labels, (double)c->outcomes[o]);
        }
    pthread_mutex_unlock(&counts_lock);
    MetricsHistogramSnapshot h;
    metrics_histogram_read(METRICS_REFRESH_SECONDS, &h);
    metrics_text_family(t, "duro_refresh_duration_seconds", "histogram",
                        "How long each build took, whatever its outcome.");
    metrics_text_histogram(t, "duro_refresh_duration_seconds", NULL, &h);
}

/* The per-view gauges and the views by state, from the catalog. */
static void render_views(MetricsText *t, const StoreView *views, size_t n, int64_t now_us)
{
    size_t by_state[VIEW_STATE_COUNT] = {0};
    bool *quiet = idle_quiet_all(views, n, now_us);
    metrics_text_family(t, "duro_view_seconds_since_success", "gauge",
                        "Seconds since the view's last successful refresh ended (+Inf: never).");
    for (size_t i = 0; i < n; i++) {
        const StoreView *v = &views[i];
        const char *labels[] = {"view", v->name, NULL};
        double since =
            v->last_success_us ? (double)(now_us - v->last_success_us) / 1e6 : (double)INFINITY;
        metrics_text_sample(t, "duro_view_seconds_since_success", labels, since);
        StalenessInput in = idle_staleness(views, n, i, now_us, quiet);
        by_state[staleness_state(&in)]++;
    }
    free(quiet);
    metrics_text_family(t, "duro_view_effective_interval_seconds", "gauge",
                        "The view's effective interval: its own, or the smallest of the views "
                        "reading it.");
    for (size_t i = 0; i < n; i++) {
        const char *labels[] = {"view", views[i].name, NULL};
        if (views[i].effective_interval > 0)
            metrics_text_sample(t, "duro_view_effective_interval_seconds", labels,
                                (double)views[i].effective_interval);
    }
    metrics_text_family(t, "duro_view_alert_after_seconds", "gauge",
                        "The view's alert_after, where it has one.");
    for (size_t i = 0; i < n; i++) {
        const char *labels[] = {"view", views[i].name, NULL};
        int64_t after = config_described_alert_after(views[i].config);
        if (after > 0)
            metrics_text_sample(t, "duro_view_alert_after_seconds", labels, (double)after);
    }
    metrics_text_family(t, "duro_views", "gauge", "Views by the state duro.status shows.");
    for (size_t s = 0; s < VIEW_STATE_COUNT; s++) {
        const char *labels[] = {"state", view_state_name((ViewState)s), NULL};
        metrics_text_sample(t, "duro_views", labels, (double)by_state[s]);
    }
}

/* One counter or gauge without labels. */
static void render_one(MetricsText *t, const char *name, const char *type, const char *help,
                       double value)
{
    metrics_text_family(t, name, type, help);
    metrics_text_sample(t, name, NULL, value);
}

static void render_gateway(MetricsText *t)
{
    render_one(t, "duro_scheduler_queue_depth", "gauge",
               "Refresh requests (CALL duro_refresh, stale reads) queued or running.",
               (double)metrics_gauge(METRICS_SCHEDULER_QUEUE));
    render_one(t, "duro_leader", "gauge",
               "1 while this instance leads the scheduler (always, without a shared catalog).",
               (double)metrics_gauge(METRICS_LEADER));
    render_one(t, "duro_gateway_sessions_open", "gauge", "Client sessions open.",
               (double)metrics_gauge(METRICS_SESSIONS_OPEN));
    render_one(t, "duro_gateway_sessions_total", "counter", "Client sessions opened.",
               (double)metrics_counter(METRICS_SESSIONS_OPENED));
    metrics_text_family(t, "duro_gateway_bytes_total", "counter",
                        "Bytes the gateway took from one side for the other, by direction (to "
                        "the warehouse: client statements Duro answers itself included).");
    const char *up[] = {"direction", "to_warehouse", NULL};
    const char *down[] = {"direction", "to_client", NULL};
    metrics_text_sample(t, "duro_gateway_bytes_total", up,
                        (double)metrics_counter(METRICS_BYTES_TO_WAREHOUSE));
    metrics_text_sample(t, "duro_gateway_bytes_total", down,
                        (double)metrics_counter(METRICS_BYTES_TO_CLIENTS));
    render_one(t, "duro_gateway_statements_inspected_total", "counter",
               "Client statements the gateway looked at (queries, extended-protocol messages).",
               (double)metrics_counter(METRICS_STATEMENTS_INSPECTED));
    render_one(t, "duro_gateway_stale_waits_total", "counter",
               "Statements held until a stale view they read was refreshed.",
               (double)metrics_counter(METRICS_STALE_WAITS));
    MetricsHistogramSnapshot h;
    metrics_histogram_read(METRICS_STALE_WAIT_SECONDS, &h);
    metrics_text_family(t, "duro_gateway_stale_wait_seconds", "histogram",
                        "How long a statement waited for the refresh of a stale view.");
    metrics_text_histogram(t, "duro_gateway_stale_wait_seconds", NULL, &h);
    static const struct {
        const char *outcome;
        MetricsCounter counter;
    } calls[] = {
        {"ok", METRICS_CALLS_OK},
        {"failed", METRICS_CALLS_FAILED},
        {"unknown_view", METRICS_CALLS_UNKNOWN},
        {"cancelled", METRICS_CALLS_CANCELLED},
    };
    metrics_text_family(t, "duro_refresh_calls_total", "counter", "CALL duro_refresh by outcome.");
    for (size_t i = 0; i < ARRAY_LEN(calls); i++) {
        const char *labels[] = {"outcome", calls[i].outcome, NULL};
        metrics_text_sample(t, "duro_refresh_calls_total", labels,
                            (double)metrics_counter(calls[i].counter));
    }
}

static void render_notifications(MetricsText *t)
{
    render_one(t, "duro_notifications_sent_total", "counter", "Notifications a webhook accepted.",
               (double)metrics_counter(METRICS_NOTIFY_SENT));
    render_one(t, "duro_notifications_retried_total", "counter",
               "Webhook posts that failed and were tried again.",
               (double)metrics_counter(METRICS_NOTIFY_RETRIED));
    render_one(t, "duro_notifications_dropped_total", "counter",
               "Notifications given up: the queue was full or every try failed.",
               (double)metrics_counter(METRICS_NOTIFY_DROPPED));
}

char *metrics_text(Store *store)
{
    StoreView *views = NULL;
    size_t n = 0;
    if (store_list_views(store, &views, &n) != 0)
        return NULL;
    MetricsText t = {0};
    render_refreshes(&t);
    render_views(&t, views, n, clock_wall_us());
    render_gateway(&t);
    render_notifications(&t);
    store_views_free(views, n);
    return metrics_text_take(&t);
}
