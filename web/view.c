/*
 * One view's page of the web UI, /views/<schema.table>: its state and the Refresh buttons, its
 * SQL and tests (read from the views repository, up to WEB_MAX_SHOWN bytes each), its resolved
 * configuration, its dependencies up and down drawn as a graph, duration and rows over time,
 * and the run log with each step's duration and error. Not for: the other pages (pages.c).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "web/context.h"

#define WEB_MAX_SHOWN     (256 * 1024)
#define WEB_VIEW_RUNS     200 /* drawn in the charts */
#define WEB_VIEW_LOG      50  /* listed with their steps */
#define WEB_NEIGHBOURHOOD 60  /* views drawn up and down, each */

/* The text of the repository file rel (no "..", not absolute), or NULL when it cannot be read. */
static char *repo_text(WebCtx *c, const char *rel)
{
    if (!rel || !*rel || rel[0] == '/' || strstr(rel, ".."))
        return NULL;
    char *path = xasprintf("%s/%s", c->settings->views.path, rel);
    struct stat st;
    char *text = NULL;
    size_t len;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= WEB_MAX_SHOWN)
        text = read_file(path, &len);
    free(path);
    return text;
}

/* The tests file of a view whose file is source: "dir/table — 1h.sql" -> "dir/table_test.sql". */
static char *tests_path(const char *source)
{
    size_t len = strcspn(source, " ");
    if (len == strlen(source) && str_ends_with(source, ".sql"))
        len -= 4;
    return xasprintf("%.*s_test.sql", (int)len, source);
}

static void section_text(struct evbuffer *b, const char *title, const char *text, const char *none)
{
    evbuffer_add_printf(b, "<h2>%s</h2>", title);
    if (!text) {
        evbuffer_add_printf(b, "<p class=\"note\">%s</p>", none);
        return;
    }
    evbuffer_add_printf(b, "<pre>");
    web_html(b, text);
    evbuffer_add_printf(b, "</pre>");
}

/* Adds name's view to the neighbourhood unless it is there; false when it is not in the catalog. */
static void add_neighbour(WebCtx *c, StoreView **list, size_t *n, size_t *cap, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i].name, name) == 0)
            return;
    StoreView v;
    if (store_get_view(c->store, name, &v) != 0)
        return;
    grow_array((void **)list, cap, *n + 1, sizeof **list);
    (*list)[(*n)++] = v;
}

static void neighbourhood(WebCtx *c, struct evbuffer *b, const StoreView *v)
{
    StoreView *list = NULL;
    size_t n = 0, cap = 0, up = 0;
    StrVec down = {0};
    add_neighbour(c, &list, &n, &cap, v->name);
    for (const char *p = v->depends_on; p && *p && up < WEB_NEIGHBOURHOOD; up++) {
        const char *comma = strchr(p, ',');
        char *dep = xstrndup(p, comma ? (size_t)(comma - p) : strlen(p));
        add_neighbour(c, &list, &n, &cap, dep);
        free(dep);
        p = comma ? comma + 1 : NULL;
    }
    if (store_web_dependents(c->store, v->name, &down) == 0)
        for (size_t i = 0; i < down.n && i < WEB_NEIGHBOURHOOD; i++)
            add_neighbour(c, &list, &n, &cap, down.items[i]);
    evbuffer_add_printf(b, "<h2>Dependencies</h2><p class=\"note\">Reads: ");
    if (!*v->depends_on)
        evbuffer_add_printf(b, "no managed view");
    web_html(b, v->depends_on);
    evbuffer_add_printf(b, ". Read by: %zu view%s.</p>", down.n, down.n == 1 ? "" : "s");
    web_chart_graph(b, list, n, v->name);
    store_views_free(list, n);
    strvec_free(&down);
}

static void run_log(struct evbuffer *b, const StoreRun *runs, size_t n, int64_t now)
{
    evbuffer_add_printf(b, "<h2>Run log</h2><table><tr><th>started</th><th>trigger</th>"
                           "<th>outcome</th><th>duration</th><th>rows</th><th>steps</th></tr>");
    for (size_t i = 0; i < n && i < WEB_VIEW_LOG; i++) {
        const StoreRun *r = &runs[i];
        char started[32], took[32];
        web_time(started, r->started_us);
        web_duration(took, (r->finished_us ? r->finished_us : now) - r->started_us);
        evbuffer_add_printf(b, "<tr><td>%s</td><td>", started);
        web_html(b, r->trigger);
        evbuffer_add_printf(b, "</td><td class=\"state-%s\">", web_outcome_class(r->outcome));
        web_html(b, r->outcome);
        evbuffer_add_printf(b, "</td><td class=\"num\">%s</td><td class=\"num\">", took);
        if (r->rows >= 0)
            evbuffer_add_printf(b, "%lld", (long long)r->rows);
        evbuffer_add_printf(b, "</td><td>");
        for (size_t k = 0; k < r->n_steps; k++) {
            char step_took[32];
            web_duration(step_took, r->steps[k].finished_us - r->steps[k].started_us);
            evbuffer_add_printf(b, "%s", k ? "<br>" : "");
            web_html(b, r->steps[k].step);
            evbuffer_add_printf(b, " %s", step_took);
            if (r->steps[k].error) {
                evbuffer_add_printf(b, " <span class=\"error\">");
                web_html(b, r->steps[k].error);
                evbuffer_add_printf(b, "</span>");
            }
        }
        if (r->error && (!r->n_steps || !r->steps[r->n_steps - 1].error)) {
            evbuffer_add_printf(b, "%s<span class=\"error\">", r->n_steps ? "<br>" : "");
            web_html(b, r->error);
            evbuffer_add_printf(b, "</span>");
        }
        evbuffer_add_printf(b, "</td></tr>");
    }
    evbuffer_add_printf(b, "</table>");
    if (n > WEB_VIEW_LOG)
        evbuffer_add_printf(b,
                            "<p class=\"note\">The %d newest runs; all of them: "
                            "/api/runs?view=…</p>",
                            WEB_VIEW_LOG);
}

void web_page_view(WebCtx *c, struct evhttp_request *req, const char *name)
{
    StoreView v;
    int rc = store_get_view(c->store, name, &v);
    if (rc != 0)
        return web_reply_error(req, rc > 0 ? 404 : 503, false,
                               rc > 0 ? "no such view" : store_error(c->store));
    StoreRun *runs = NULL;
    size_t n = 0;
    if (store_list_runs(c->store, name, WEB_VIEW_RUNS, &runs, &n)) {
        store_view_free(&v);
        return web_reply_error(req, 503, false, store_error(c->store));
    }
    int64_t now = clock_wall_us(), mean = -1;
    if (store_web_mean_duration(c->store, name, &mean))
        mean = -1;
    struct evbuffer *b = evbuffer_new();
    WebState st = web_view_state(&v);
    char last[32], took[32], next[32];
    web_time(last, v.last_success_us);
    web_duration(took, mean);
    web_time(next, v.retry_us);
    web_page_begin(b, name, "/views");
    evbuffer_add_printf(b, "<h1>");
    web_html(b, name);
    evbuffer_add_printf(b, "</h1>");
    char queued[16];
    if (web_query_param(req, "queued", queued, sizeof queued))
        evbuffer_add_printf(b, "<p class=\"note\">Refresh%s queued: its run appears below.</p>",
                            strcmp(queued, "tree") == 0 ? " of the tree" : "");
    evbuffer_add_printf(b,
                        "<p>State: <span class=\"state-%s\">%s</span>. Last refresh: %s. Mean "
                        "duration: %s. Rows: ",
                        st == WEB_STATE_NEVER ? "never" : web_state_name(st), web_state_name(st),
                        *last ? last : "never", took);
    if (v.rows >= 0)
        evbuffer_add_printf(b, "%lld", (long long)v.rows);
    else
        evbuffer_add_printf(b, "unknown");
    char own[32], effective[32];
    web_interval(own, v.interval);
    web_interval(effective, v.effective_interval);
    evbuffer_add_printf(b, ". Interval: %s (effective: %s).", *own ? own : "none",
                        *effective ? effective : "none");
    if (v.retry_us)
        evbuffer_add_printf(b, " Next try after %d failure%s: %s.", v.failures,
                            v.failures == 1 ? "" : "s", next);
    evbuffer_add_printf(b, "</p>");
    if (v.last_error) {
        evbuffer_add_printf(b, "<p class=\"error\">");
        web_html(b, v.last_error);
        evbuffer_add_printf(b, "</p>");
    }
    web_refresh_buttons(b, name);
    web_chart_series(b, runs, n);
    neighbourhood(c, b, &v);
    run_log(b, runs, n, now);
    char *sql = repo_text(c, v.source), *tp = tests_path(v.source), *tests = repo_text(c, tp);
    evbuffer_add_printf(b, "<p class=\"note\">File: ");
    web_html(b, v.source);
    evbuffer_add_printf(b, " (%s)</p>", v.kind);
    section_text(b, "SQL", sql, "The file cannot be read, or is too large to show.");
    section_text(b, "Tests", tests, "No tests.");
    section_text(b, "Configuration", v.config, "");
    free(sql);
    free(tp);
    free(tests);
    web_page_end(b);
    store_runs_free(runs, n);
    store_view_free(&v);
    web_reply(req, 200, "text/html; charset=utf-8", b);
}
