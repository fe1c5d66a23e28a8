/*
 * What the web UI's files share: the context one request is served with, the replies, the HTML
 * and JSON writers, and the handler of each route. Not for: anything outside web/.
 */
#ifndef DURO_WEB_CONTEXT_H
#define DURO_WEB_CONTEXT_H

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "catalog/store.h"
#include "core/settings.h"
#include "planner/scheduler.h"

/* Rows on one page of /views and /api/views; runs in a page of /api/runs at most. */
#define WEB_PAGE_VIEWS    50
#define WEB_MAX_API_RUNS  500
#define WEB_TIMELINE_RUNS 2000 /* runs drawn on / at most */
#define WEB_GRAPH_VIEWS   2000 /* views drawn on /graph at most */

typedef struct WebHealth WebHealth;

/* Everything a handler needs; used on the web thread only, but for refreshes_in_flight. */
typedef struct WebCtx {
    const Settings *settings;
    Scheduler *scheduler;
    Store *store;         /* the web thread's own catalog connection */
    WebHealth *health;    /* the warehouse check of /healthz, on its own thread */
    char session[65];     /* the login cookie's value (hex HMAC of the token); "" = no token */
    atomic_int refreshes; /* refreshes submitted and not done yet */
} WebCtx;

/* ---- replies (server.c) ---- */

/* Sends body (taken: the caller no longer uses it) with status and content type. */
void web_reply(struct evhttp_request *req, int status, const char *type, struct evbuffer *body);
/* An error as a small HTML page, or JSON when json. */
void web_reply_error(struct evhttp_request *req, int status, bool json, const char *message);
/* The value of query parameter name, copied into out (size n); false when absent. */
bool web_query_param(struct evhttp_request *req, const char *name, char *out, size_t n);

/* ---- writers (escape.c) ---- */

/* Appends s with & < > " ' escaped, for HTML text and attribute values (and SVG). */
void web_html(struct evbuffer *b, const char *s);
/* Appends s as a JSON string, quotes included. */
void web_json_str(struct evbuffer *b, const char *s);
/* Appends s percent-encoded for a URL path segment or query value. */
void web_url(struct evbuffer *b, const char *s);
/* Formats a catalog timestamp as ISO 8601 UTC ("2026-12-04T05:30:00Z"); "" for 0. */
void web_time(char out[32], int64_t us);
/* Formats a duration: "850 ms", "12.3 s", "4 min 5 s", "2 h 3 min". */
void web_duration(char out[32], int64_t us);
/* Formats an interval in seconds in its largest whole unit: "1d", "90m", "45s"; "" for 0. */
void web_interval(char out[32], int64_t seconds);
/* Parses an ISO timestamp: YYYY-MM-DD, then optionally THH:MM[:SS] and Z. 0 or -1. */
int web_parse_time(const char *s, int64_t *us) MUST_CHECK;

/* The word for a view's state, and its CSS class: "failed", "running", "never built", ... */
typedef enum WebState {
    WEB_STATE_FAILED,
    WEB_STATE_RUNNING,
    WEB_STATE_NEVER,
    WEB_STATE_DISABLED,
    WEB_STATE_OK,
} WebState;
WebState web_view_state(const StoreView *v);
const char *web_state_name(WebState st);
/* The CSS class (and chart colour name) of a run outcome as the catalog stores it. */
const char *web_outcome_class(const char *outcome);

/* ---- the page around the content (layout.c) ---- */

void web_page_begin(struct evbuffer *b, const char *title, const char *nav);
void web_page_end(struct evbuffer *b);
void web_static_css(WebCtx *c, struct evhttp_request *req);
/* The "Refresh" and "Refresh tree" buttons of a view: forms that POST to
 * /views/NAME/refresh[-tree]. */
void web_refresh_buttons(struct evbuffer *b, const char *name);

/* ---- charts (chart.c) ---- */

/* The timeline of runs (newest first) in [from_us, to_us): one row per view. */
void web_chart_timeline(struct evbuffer *b, const StoreRun *runs, size_t n, int64_t from_us,
                        int64_t to_us);
/* Duration and rows of runs (newest first) over time, two small charts. */
void web_chart_series(struct evbuffer *b, const StoreRun *runs, size_t n);
/* The dependency graph of views, in columns by depth, coloured by state; center is outlined. */
void web_chart_graph(struct evbuffer *b, const StoreView *views, size_t n, const char *center);

/* ---- routes ---- */

void web_page_home(WebCtx *c, struct evhttp_request *req, int64_t from_us, int64_t to_us);
void web_page_views(WebCtx *c, struct evhttp_request *req);
void web_page_graph(WebCtx *c, struct evhttp_request *req);
void web_page_view(WebCtx *c, struct evhttp_request *req, const char *name);
void web_api_views(WebCtx *c, struct evhttp_request *req);
void web_api_view(WebCtx *c, struct evhttp_request *req, const char *name);
void web_api_runs(WebCtx *c, struct evhttp_request *req);
void web_healthz(WebCtx *c, struct evhttp_request *req);
void web_metrics(WebCtx *c, struct evhttp_request *req);
/* POST: a refresh of name (with its whole tree when tree); json for /api/... */
void web_action_refresh(WebCtx *c, struct evhttp_request *req, const char *name, bool tree,
                        bool json);

/* ---- the token (auth.c) ---- */

/* Fills c->session from the token. */
void web_auth_init(WebCtx *c);
/* Whether req may change something: not cross-site, and with the token when one is set. On false
 * the reply is sent. */
bool web_auth_action(WebCtx *c, struct evhttp_request *req, bool json);
/* Whether req comes from a page of another site (Sec-Fetch-Site, Origin against Host). */
bool web_cross_site(struct evhttp_request *req);
/* GET /login shows the form; POST /login checks the token and sets the cookie. */
void web_login(WebCtx *c, struct evhttp_request *req);

/* ---- /healthz's warehouse check (health.c) ---- */

/* Starts the thread that checks the warehouse; web_health_free stops it. */
WebHealth *web_health_new(const Settings *s);
void web_health_free(WebHealth *h);

#endif
