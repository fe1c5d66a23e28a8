/*
 * The web UI's overview pages: / (the runs of a time window as a timeline, the runs in
 * progress, the last 24 hours in one line), /views (every view, failed ones first, a page at a
 * time, with the Refresh buttons) and /graph (the whole dependency graph). Not for: one view's
 * page (view.c) or the JSON API (api.c).
 */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "web/context.h"

#define WEB_DEFAULT_WINDOW_US (30 * 60 * CLOCK_US_PER_SECOND)
#define WEB_MAX_WINDOW_US     (31LL * 86400 * CLOCK_US_PER_SECOND)

static void catalog_error(WebCtx *c, struct evhttp_request *req, struct evbuffer *b)
{
    evbuffer_free(b);
    web_reply_error(req, 503, false, store_error(c->store));
}

/* A table of runs: view, trigger, outcome, start, duration, error. */
static void runs_table(struct evbuffer *b, const StoreRun *runs, size_t n, int64_t now_us)
{
    evbuffer_add_printf(b, "<table><tr><th>view</th><th>trigger</th><th>outcome</th>"
                           "<th>started</th><th>duration</th></tr>");
    for (size_t i = 0; i < n; i++) {
        char started[32], took[32];
        web_time(started, runs[i].started_us);
        web_duration(took,
                     (runs[i].finished_us ? runs[i].finished_us : now_us) - runs[i].started_us);
        evbuffer_add_printf(b, "<tr><td><a href=\"/views/");
        web_url(b, runs[i].view);
        evbuffer_add_printf(b, "\">");
        web_html(b, runs[i].view);
        evbuffer_add_printf(b, "</a></td><td>");
        web_html(b, runs[i].trigger);
        evbuffer_add_printf(b, "</td><td class=\"state-%s\">", web_outcome_class(runs[i].outcome));
        web_html(b, runs[i].outcome);
        evbuffer_add_printf(b, "</td><td>%s</td><td class=\"num\">%s</td></tr>", started, took);
    }
    evbuffer_add_printf(b, "</table>");
}

void web_page_home(WebCtx *c, struct evhttp_request *req, int64_t from_us, int64_t to_us)
{
    int64_t now = clock_wall_us();
    if (!from_us) {
        to_us = now;
        from_us = now - WEB_DEFAULT_WINDOW_US;
    }
    if (to_us - from_us > WEB_MAX_WINDOW_US)
        return web_reply_error(req, 400, false, "the window is longer than 31 days");
    struct evbuffer *b = evbuffer_new();
    StoreRun *runs = NULL, *running = NULL;
    size_t n = 0, n_running = 0;
    int64_t views = 0, refreshes = 0, busy_us = 0, day = 86400 * CLOCK_US_PER_SECOND;
    if (store_web_count_views(c->store, &views) ||
        store_web_activity(c->store, now - day, now, &refreshes, &busy_us) ||
        store_web_runs_window(c->store, from_us, to_us, WEB_TIMELINE_RUNS, &runs, &n) ||
        store_web_runs_running(c->store, 100, &running, &n_running)) {
        store_runs_free(runs, n);
        return catalog_error(c, req, b);
    }
    int workers = c->settings->worker.concurrency > 0 ? c->settings->worker.concurrency : 1;
    double load = 100.0 * (double)busy_us / ((double)day * workers);
    char from[32], to[32];
    web_time(from, from_us);
    web_time(to, to_us);
    web_page_begin(b, "Runs", "/");
    evbuffer_add_printf(
        b, "<p class=\"summary\">Last 24h: %lld views, %lld refreshes, load %.1f%%</p>",
        (long long)views, (long long)refreshes, load);
    int64_t span = to_us - from_us;
    char earlier_from[32], earlier_to[32], later_from[32], later_to[32], zoom_from[32], zoom_to[32],
        in_from[32], in_to[32];
    web_time(in_from, from_us + span / 4);
    web_time(in_to, to_us - span / 4);
    web_time(earlier_from, from_us - span);
    web_time(earlier_to, from_us);
    web_time(later_from, to_us);
    web_time(later_to, to_us + span);
    web_time(zoom_from, from_us - span / 2);
    web_time(zoom_to, to_us + span / 2);
    evbuffer_add_printf(b,
                        "<h1>Runs from %s to %s</h1><p class=\"pager\">"
                        "<a href=\"/%s/%s/\">← earlier</a><a href=\"/%s/%s/\">later →</a>"
                        "<a href=\"/%s/%s/\">zoom in</a><a href=\"/%s/%s/\">zoom out</a>"
                        "<a href=\"/\">last 30 minutes</a></p>",
                        from, to, earlier_from, earlier_to, later_from, later_to, in_from, in_to,
                        zoom_from, zoom_to);
    web_chart_timeline(b, runs, n, from_us, to_us);
    if (n == WEB_TIMELINE_RUNS)
        evbuffer_add_printf(b,
                            "<p class=\"note\">Only the newest %d runs of the window are "
                            "drawn: zoom in for the others.</p>",
                            WEB_TIMELINE_RUNS);
    evbuffer_add_printf(b, "<h2>In progress (%zu)</h2>", n_running);
    if (n_running)
        runs_table(b, running, n_running, now);
    else
        evbuffer_add_printf(b, "<p class=\"note\">No run in progress.</p>");
    web_page_end(b);
    store_runs_free(runs, n);
    store_runs_free(running, n_running);
    web_reply(req, 200, "text/html; charset=utf-8", b);
}

void web_page_views(WebCtx *c, struct evhttp_request *req)
{
    char page_arg[16];
    long page = 1;
    if (web_query_param(req, "page", page_arg, sizeof page_arg))
        page = strtol(page_arg, NULL, 10);
    if (page < 1 || page > 1000000)
        page = 1;
    struct evbuffer *b = evbuffer_new();
    StoreView *views = NULL;
    size_t n = 0;
    int64_t total = 0;
    if (store_web_count_views(c->store, &total) ||
        store_web_views_page(c->store, (size_t)(page - 1) * WEB_PAGE_VIEWS, WEB_PAGE_VIEWS, &views,
                             &n))
        return catalog_error(c, req, b);
    web_page_begin(b, "Views", "/views");
    evbuffer_add_printf(b,
                        "<h1>Views (%lld)</h1><table><tr><th>view</th><th>state</th>"
                        "<th>interval</th><th>effective interval</th><th>last refresh</th>"
                        "<th>mean duration</th><th>rows</th><th></th></tr>",
                        (long long)total);
    for (size_t i = 0; i < n; i++) {
        const StoreView *v = &views[i];
        WebState st = web_view_state(v);
        int64_t mean = -1;
        if (store_web_mean_duration(c->store, v->name, &mean))
            mean = -1;
        char last[32], took[32];
        web_time(last, v->last_success_us);
        web_duration(took, mean);
        evbuffer_add_printf(b, "<tr%s><td><a href=\"/views/",
                            st == WEB_STATE_FAILED ? " class=\"failed\"" : "");
        web_url(b, v->name);
        evbuffer_add_printf(b, "\">");
        web_html(b, v->name);
        evbuffer_add_printf(b, "</a></td><td class=\"state-%s\">%s</td>",
                            st == WEB_STATE_NEVER ? "never" : web_state_name(st),
                            web_state_name(st));
        char own[32], effective[32];
        web_interval(own, v->interval);
        web_interval(effective, v->effective_interval);
        evbuffer_add_printf(b,
                            "<td class=\"num\">%s</td><td class=\"num\">%s</td><td>%s</td>"
                            "<td class=\"num\">%s</td><td class=\"num\">",
                            own, effective, *last ? last : "never", took);
        if (v->rows >= 0)
            evbuffer_add_printf(b, "%lld", (long long)v->rows);
        evbuffer_add_printf(b, "</td><td>");
        web_refresh_buttons(b, v->name);
        evbuffer_add_printf(b, "</td></tr>");
    }
    evbuffer_add_printf(b, "</table><p class=\"pager\">");
    if (page > 1)
        evbuffer_add_printf(b, "<a href=\"/views?page=%ld\">← previous</a>", page - 1);
    if ((int64_t)page * WEB_PAGE_VIEWS < total)
        evbuffer_add_printf(b, "<a href=\"/views?page=%ld\">next →</a>", page + 1);
    evbuffer_add_printf(b, "</p>");
    web_page_end(b);
    store_views_free(views, n);
    web_reply(req, 200, "text/html; charset=utf-8", b);
}

void web_page_graph(WebCtx *c, struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();
    StoreView *views = NULL;
    size_t n = 0;
    int64_t total = 0;
    if (store_web_count_views(c->store, &total) ||
        store_web_graph(c->store, WEB_GRAPH_VIEWS, &views, &n))
        return catalog_error(c, req, b);
    web_page_begin(b, "Graph", "/graph");
    evbuffer_add_printf(b, "<h1>Dependency graph</h1><p class=\"note\">Dependencies on the left, "
                           "the views that read them on the right. Colour: "
                           "<span class=\"state-ok\">ok</span>, "
                           "<span class=\"state-failed\">failed</span>, "
                           "<span class=\"state-running\">running</span>, "
                           "<span class=\"state-never\">never built</span>, "
                           "<span class=\"state-disabled\">disabled</span>.</p>");
    if ((int64_t)n < total)
        evbuffer_add_printf(b, "<p class=\"note\">%zu of %lld views drawn (by name).</p>", n,
                            (long long)total);
    web_chart_graph(b, views, n, NULL);
    web_page_end(b);
    store_views_free(views, n);
    web_reply(req, 200, "text/html; charset=utf-8", b);
}
