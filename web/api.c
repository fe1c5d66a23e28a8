/*
 * The web UI's JSON API: /api/views (a page of views, in the order of /views), /api/views/<name>
 * (one view, its configuration and the views that read it) and /api/runs?view=&since=&limit=
 * &before= (runs newest first, with their steps; "next" is the address of the next page). Every
 * list is bounded. Not for: HTML.
 */
#include <stdlib.h>
#include <string.h>

#include "web/context.h"

#define WEB_DEFAULT_API_RUNS 100

static void json_time(struct evbuffer *b, const char *key, int64_t us)
{
    char t[32];
    web_time(t, us);
    evbuffer_add_printf(b, ",\"%s\":", key);
    if (us > 0)
        web_json_str(b, t);
    else
        evbuffer_add_printf(b, "null");
}

static void json_int_or_null(struct evbuffer *b, const char *key, int64_t v)
{
    if (v < 0)
        evbuffer_add_printf(b, ",\"%s\":null", key);
    else
        evbuffer_add_printf(b, ",\"%s\":%lld", key, (long long)v);
}

/* One view as a JSON object (without the closing brace). */
static void json_view(WebCtx *c, struct evbuffer *b, const StoreView *v)
{
    int64_t mean = -1;
    if (store_web_mean_duration(c->store, v->name, &mean))
        mean = -1;
    evbuffer_add_printf(b, "{\"name\":");
    web_json_str(b, v->name);
    evbuffer_add_printf(b, ",\"state\":");
    web_json_str(b, web_state_name(web_view_state(v)));
    evbuffer_add_printf(b, ",\"kind\":");
    web_json_str(b, v->kind);
    evbuffer_add_printf(b, ",\"interval_s\":%lld,\"effective_interval_s\":%lld,\"enabled\":%s",
                        (long long)v->interval, (long long)v->effective_interval,
                        v->enabled ? "true" : "false");
    json_time(b, "last_refresh", v->last_success_us);
    json_int_or_null(b, "mean_duration_ms", mean < 0 ? -1 : mean / 1000);
    json_int_or_null(b, "rows", v->rows);
    evbuffer_add_printf(b, ",\"running\":%s,\"failures\":%d", v->running ? "true" : "false",
                        v->failures);
    json_time(b, "next_try", v->retry_us);
    evbuffer_add_printf(b, ",\"last_error\":");
    web_json_str(b, v->last_error);
    evbuffer_add_printf(b, ",\"depends_on\":[");
    for (const char *p = v->depends_on, *sep = ""; p && *p; sep = ",") {
        const char *comma = strchr(p, ',');
        char *dep = xstrndup(p, comma ? (size_t)(comma - p) : strlen(p));
        evbuffer_add_printf(b, "%s", sep);
        web_json_str(b, dep);
        free(dep);
        p = comma ? comma + 1 : NULL;
    }
    evbuffer_add_printf(b, "]");
}

void web_api_views(WebCtx *c, struct evhttp_request *req)
{
    char arg[16];
    long page = 1;
    if (web_query_param(req, "page", arg, sizeof arg)) {
        char *end = NULL;
        page = strtol(arg, &end, 10);
        if (!end || *end || page < 1 || page > 1000000)
            return web_reply_error(req, 400, true, "page: a number from 1");
    }
    StoreView *views = NULL;
    size_t n = 0;
    int64_t total = 0;
    if (store_web_count_views(c->store, &total) ||
        store_web_views_page(c->store, (size_t)(page - 1) * WEB_PAGE_VIEWS, WEB_PAGE_VIEWS, &views,
                             &n))
        return web_reply_error(req, 503, true, store_error(c->store));
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "{\"total\":%lld,\"page\":%ld,\"views\":[", (long long)total, page);
    for (size_t i = 0; i < n; i++) {
        evbuffer_add_printf(b, "%s", i ? "," : "");
        json_view(c, b, &views[i]);
        evbuffer_add_printf(b, "}");
    }
    evbuffer_add_printf(b, "],\"next\":");
    if ((int64_t)page * WEB_PAGE_VIEWS < total)
        evbuffer_add_printf(b, "\"/api/views?page=%ld\"}\n", page + 1);
    else
        evbuffer_add_printf(b, "null}\n");
    store_views_free(views, n);
    web_reply(req, 200, "application/json", b);
}

void web_api_view(WebCtx *c, struct evhttp_request *req, const char *name)
{
    StoreView v;
    int rc = store_get_view(c->store, name, &v);
    if (rc != 0)
        return web_reply_error(req, rc > 0 ? 404 : 503, true,
                               rc > 0 ? "no such view" : store_error(c->store));
    StrVec down = {0};
    if (store_web_dependents(c->store, name, &down)) {
        store_view_free(&v);
        return web_reply_error(req, 503, true, store_error(c->store));
    }
    struct evbuffer *b = evbuffer_new();
    json_view(c, b, &v);
    evbuffer_add_printf(b, ",\"source\":");
    web_json_str(b, v.source);
    evbuffer_add_printf(b, ",\"config\":");
    web_json_str(b, v.config);
    evbuffer_add_printf(b, ",\"dependents\":[");
    for (size_t i = 0; i < down.n; i++) {
        evbuffer_add_printf(b, "%s", i ? "," : "");
        web_json_str(b, down.items[i]);
    }
    evbuffer_add_printf(b, "]}\n");
    strvec_free(&down);
    store_view_free(&v);
    web_reply(req, 200, "application/json", b);
}

static void json_run(struct evbuffer *b, const StoreRun *r)
{
    evbuffer_add_printf(b, "{\"id\":%lld,\"view\":", (long long)r->id);
    web_json_str(b, r->view);
    evbuffer_add_printf(b, ",\"trigger\":");
    web_json_str(b, r->trigger);
    evbuffer_add_printf(b, ",\"outcome\":");
    web_json_str(b, r->outcome);
    json_time(b, "started", r->started_us);
    json_time(b, "finished", r->finished_us);
    json_int_or_null(b, "duration_ms",
                     r->finished_us ? (r->finished_us - r->started_us) / 1000 : -1);
    json_int_or_null(b, "rows", r->rows);
    evbuffer_add_printf(b, ",\"error\":");
    web_json_str(b, r->error);
    evbuffer_add_printf(b, ",\"steps\":[");
    for (size_t k = 0; k < r->n_steps; k++) {
        evbuffer_add_printf(b, "%s{\"step\":", k ? "," : "");
        web_json_str(b, r->steps[k].step);
        json_int_or_null(b, "duration_ms",
                         (r->steps[k].finished_us - r->steps[k].started_us) / 1000);
        evbuffer_add_printf(b, ",\"error\":");
        web_json_str(b, r->steps[k].error);
        evbuffer_add_printf(b, "}");
    }
    evbuffer_add_printf(b, "]}");
}

void web_api_runs(WebCtx *c, struct evhttp_request *req)
{
    char view[300], since_arg[64], limit_arg[16], before_arg[24];
    bool has_view = web_query_param(req, "view", view, sizeof view) && *view;
    int64_t since = 0, before = 0;
    long limit = WEB_DEFAULT_API_RUNS;
    char *end = NULL;
    if (web_query_param(req, "since", since_arg, sizeof since_arg) && *since_arg &&
        web_parse_time(since_arg, &since) != 0)
        return web_reply_error(req, 400, true, "since: an ISO timestamp, 2026-01-31T12:00:00Z");
    if (web_query_param(req, "limit", limit_arg, sizeof limit_arg)) {
        limit = strtol(limit_arg, &end, 10);
        if (!end || *end || limit < 1)
            return web_reply_error(req, 400, true, "limit: a number from 1");
        if (limit > WEB_MAX_API_RUNS)
            limit = WEB_MAX_API_RUNS;
    }
    if (web_query_param(req, "before", before_arg, sizeof before_arg)) {
        before = strtoll(before_arg, &end, 10);
        if (!end || *end || before < 1)
            return web_reply_error(req, 400, true, "before: a run id");
    }
    StoreRun *runs = NULL;
    size_t n = 0;
    if (store_web_runs(c->store, has_view ? view : NULL, since, before, (size_t)limit, &runs, &n))
        return web_reply_error(req, 503, true, store_error(c->store));
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "{\"limit\":%ld,\"runs\":[", limit);
    for (size_t i = 0; i < n; i++) {
        evbuffer_add_printf(b, "%s", i ? "," : "");
        json_run(b, &runs[i]);
    }
    evbuffer_add_printf(b, "],\"next\":");
    if (n == (size_t)limit) {
        struct evbuffer *next = evbuffer_new();
        evbuffer_add_printf(next, "/api/runs?limit=%ld&before=%lld", limit,
                            (long long)runs[n - 1].id);
        if (has_view) {
            evbuffer_add_printf(next, "&view=");
            web_url(next, view);
        }
        if (since) {
            evbuffer_add_printf(next, "&since=");
            web_url(next, since_arg);
        }
        evbuffer_add(next, "", 1);
        web_json_str(b, (const char *)evbuffer_pullup(next, -1));
        evbuffer_free(next);
    } else {
        evbuffer_add_printf(b, "null");
    }
    evbuffer_add_printf(b, "}\n");
    store_runs_free(runs, n);
    web_reply(req, 200, "application/json", b);
}
