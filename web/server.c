/*
 * The web UI's HTTP server (see web.h): its thread and event base, libevent's evhttp with every
 * limit set (header and body size, timeouts, a cap on open connections: at the cap the listener
 * stops accepting, and the next ones wait in the kernel's queue), the security headers of every
 * reply, and the routing of a path to its handler. Not for: what a page shows (pages.c,
 * view.c, api.c) or who may act (auth.c).
 */
#include "web/web.h"

#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "planner/metrics.h"
#include "web/context.h"

#define WEB_MAX_HEADERS     (16 * 1024)
#define WEB_MAX_BODY        (8 * 1024)
#define WEB_TIMEOUT_S       10
#define WEB_MAX_CONNECTIONS 64
#define WEB_MAX_PATH        1024
#define WEB_SWEEP_MS        200 /* how often closed connections are counted out */

struct Web {
    WebCtx ctx;
    struct event_base *base;
    struct evhttp *http;
    pthread_t thread;
    bool started;
    struct evconnlistener *listener; /* evhttp's, disabled while at the cap */
    struct event *sweep_ev;
    /*
     * Every accepted connection's bufferevent, with a reference of ours: evhttp frees it when
     * the connection ends (its event callback is then cleared), and the sweep counts it out and
     * drops our reference, which closes the socket. Room for more than the cap, for the
     * connections one wake-up of the listener may accept before it is disabled.
     */
    struct bufferevent *socks[2 * WEB_MAX_CONNECTIONS];
    size_t n_socks;
};

static pthread_once_t threads_once = PTHREAD_ONCE_INIT;

static void use_pthreads(void)
{
    evthread_use_pthreads();
}

/* Whether host names this machine only: localhost, 127.0.0.0/8 or ::1. */
static bool host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (str_ieq(host, "localhost"))
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

int web_check_settings(const Settings *s, char **error)
{
    char *host = NULL;
    uint16_t port;
    *error = NULL;
    if (!*s->web.listen)
        return 0;
    if (settings_listen_split(s->web.listen, &host, &port) != 0) {
        *error =
            xasprintf("[web] listen: invalid address '%s' (expected HOST:PORT)", s->web.listen);
        return -1;
    }
    bool open = !host_is_loopback(host);
    free(host);
    if (open && !*s->web.token && s->web.public_mode != SETTINGS_ON) {
        *error = xasprintf("[web] listen = %s is reachable from other machines, and [web] token is "
                           "empty: anyone there could refresh views. Set [web] token, listen on "
                           "127.0.0.1, or set [web] public = on to allow it",
                           s->web.listen);
        return -1;
    }
    return 0;
}

/* ---- replies ---- */

void web_reply(struct evhttp_request *req, int status, const char *type, struct evbuffer *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Referrer-Policy", "same-origin");
    evhttp_add_header(h, "Cache-Control", "no-store");
    const char *reason = status == 200   ? "OK"
                         : status == 202 ? "Accepted"
                         : status == 303 ? "See Other"
                         : status == 400 ? "Bad Request"
                         : status == 401 ? "Unauthorized"
                         : status == 403 ? "Forbidden"
                         : status == 404 ? "Not Found"
                         : status == 405 ? "Method Not Allowed"
                         : status == 413 ? "Payload Too Large"
                         : status == 429 ? "Too Many Requests"
                         : status == 503 ? "Service Unavailable"
                                         : "Error";
    evhttp_send_reply(req, status, reason, body);
    if (body)
        evbuffer_free(body);
}

void web_reply_error(struct evhttp_request *req, int status, bool json, const char *message)
{
    struct evbuffer *b = evbuffer_new();
    if (json) {
        evbuffer_add_printf(b, "{\"error\":");
        web_json_str(b, message);
        evbuffer_add_printf(b, "}\n");
        web_reply(req, status, "application/json", b);
        return;
    }
    web_page_begin(b, "Error", "");
    evbuffer_add_printf(b, "<h1>%d</h1><p class=\"error\">", status);
    web_html(b, message);
    evbuffer_add_printf(b, "</p>");
    web_page_end(b);
    web_reply(req, status, "text/html; charset=utf-8", b);
}

bool web_query_param(struct evhttp_request *req, const char *name, char *out, size_t n)
{
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct evkeyvalq params;
    bool found = false;
    if (!query || evhttp_parse_query_str(query, &params) != 0)
        return false;
    const char *v = evhttp_find_header(&params, name);
    if (v && strlen(v) < n) {
        strcpy(out, v);
        found = true;
    }
    evhttp_clear_headers(&params);
    return found;
}

/* ---- connections ---- */

/* Called by evhttp for each connection it accepts: the bufferevent it will use, counted. */
static struct bufferevent *conn_new_cb(struct event_base *base, void *arg)
{
    Web *w = arg;
    struct bufferevent *bev = xnonnull(bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE));
    if (w->n_socks < ARRAY_LEN(w->socks)) {
        bufferevent_incref(bev);
        w->socks[w->n_socks++] = bev;
    }
    if (w->n_socks >= WEB_MAX_CONNECTIONS && w->listener)
        evconnlistener_disable(w->listener);
    return bev;
}

/* Counts out the connections evhttp has freed (or closed); accepts again below the cap. */
static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Web *w = arg;
    for (size_t i = 0; i < w->n_socks;) {
        /* evhttp keeps its event callback on a connection for as long as it lives (the read
         * callback comes and goes); bufferevent_free clears it. */
        bufferevent_event_cb eventcb = NULL;
        bufferevent_getcb(w->socks[i], NULL, NULL, &eventcb, NULL);
        if (eventcb && bufferevent_getfd(w->socks[i]) != -1) {
            i++;
            continue;
        }
        bufferevent_decref(w->socks[i]);
        w->socks[i] = w->socks[--w->n_socks];
    }
    if (w->n_socks < WEB_MAX_CONNECTIONS && w->listener)
        evconnlistener_enable(w->listener);
}

/* ---- routing ---- */

/* The view name and action of "/views/NAME[/refresh|/refresh-tree]" after prefix. */
static bool split_view_path(const char *rest, char *name, size_t n, const char **action)
{
    const char *slash = strchr(rest, '/');
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
    if (len == 0 || len >= n)
        return false;
    memcpy(name, rest, len);
    name[len] = '\0';
    *action = slash ? slash + 1 : "";
    return true;
}

/* "/FROM/TO/" of the home page's window. */
static bool parse_window(const char *path, int64_t *from_us, int64_t *to_us)
{
    char from[64], to[64];
    const char *a = path + 1, *b = strchr(a, '/');
    if (!b || (size_t)(b - a) >= sizeof from)
        return false;
    memcpy(from, a, (size_t)(b - a));
    from[b - a] = '\0';
    const char *c = strchr(b + 1, '/');
    size_t len = c ? (size_t)(c - b - 1) : strlen(b + 1);
    if (len >= sizeof to || (c && c[1]))
        return false;
    memcpy(to, b + 1, len);
    to[len] = '\0';
    return web_parse_time(from, from_us) == 0 && web_parse_time(to, to_us) == 0 &&
           *from_us < *to_us;
}

static void route(Web *w, struct evhttp_request *req, const char *path)
{
    WebCtx *c = &w->ctx;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    bool get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD, post = cmd == EVHTTP_REQ_POST;
    bool api = strncmp(path, "/api/", 5) == 0;
    char name[300];
    const char *action = NULL;

    if (strcmp(path, "/login") == 0 && (get || post))
        return web_login(c, req);
    if (post) {
        const char *prefix = api ? "/api/views/" : "/views/";
        if (strncmp(path, prefix, strlen(prefix)) == 0 &&
            split_view_path(path + strlen(prefix), name, sizeof name, &action) &&
            (strcmp(action, "refresh") == 0 || strcmp(action, "refresh-tree") == 0))
            return web_action_refresh(c, req, name, strcmp(action, "refresh-tree") == 0, api);
        return web_reply_error(req, 405, api, "this address takes no POST");
    }
    if (!get)
        return web_reply_error(req, 405, api, "method not allowed");
    if (strcmp(path, "/") == 0)
        return web_page_home(c, req, 0, 0);
    if (strcmp(path, "/views") == 0 || strcmp(path, "/views/") == 0)
        return web_page_views(c, req);
    if (strcmp(path, "/graph") == 0)
        return web_page_graph(c, req);
    if (strcmp(path, "/healthz") == 0)
        return web_healthz(c, req);
    if (strcmp(path, "/metrics") == 0)
        return web_metrics(c, req);
    if (strcmp(path, "/static/duro.css") == 0)
        return web_static_css(c, req);
    if (strcmp(path, "/api/views") == 0)
        return web_api_views(c, req);
    if (strcmp(path, "/api/runs") == 0)
        return web_api_runs(c, req);
    if (strncmp(path, "/api/views/", 11) == 0 &&
        split_view_path(path + 11, name, sizeof name, &action) && !*action)
        return web_api_view(c, req, name);
    if (strncmp(path, "/views/", 7) == 0 && split_view_path(path + 7, name, sizeof name, &action) &&
        !*action)
        return web_page_view(c, req, name);
    int64_t from_us, to_us;
    if (path[1] >= '0' && path[1] <= '9' && parse_window(path, &from_us, &to_us))
        return web_page_home(c, req, from_us, to_us);
    web_reply_error(req, 404, api, "no such page");
}

static void request_cb(struct evhttp_request *req, void *arg)
{
    Web *w = arg;
    const char *raw = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (!raw || !*raw || strlen(raw) > WEB_MAX_PATH)
        return web_reply_error(req, raw && *raw ? 414 : 400, false, "bad path");
    size_t len = 0;
    char *path = evhttp_uridecode(raw, 0, &len);
    if (!path || strlen(path) != len) /* a %00 in the path */
        web_reply_error(req, 400, false, "bad path");
    else
        route(w, req, path);
    free(path);
}

void web_metrics(WebCtx *c, struct evhttp_request *req)
{
    char *text = metrics_text(c->store);
    if (!text)
        return web_reply_error(req, 503, false, "metrics are not available");
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, text, strlen(text));
    free(text);
    web_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", b);
}

/* ---- the thread ---- */

static void *thread_main(void *arg)
{
    Web *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

Web *web_start(const Settings *s, Scheduler *sc, char **error)
{
    char *host = NULL;
    uint16_t port;
    *error = NULL;
    if (web_check_settings(s, error) != 0)
        return NULL;
    if (settings_listen_split(s->web.listen, &host, &port) != 0) {
        *error = xasprintf("[web] listen: invalid address '%s'", s->web.listen);
        return NULL;
    }
    pthread_once(&threads_once, use_pthreads);
    Web *w = xcalloc(1, sizeof *w);
    w->ctx.settings = s;
    w->ctx.scheduler = sc;
    atomic_init(&w->ctx.refreshes, 0);
    web_auth_init(&w->ctx);
    char *err = NULL;
    if (store_open(settings_catalog_target(s), &w->ctx.store, &err) != 0) {
        *error = xasprintf("web UI: %s", err);
        free(err);
        goto fail;
    }
    w->ctx.health = web_health_new(s);
    w->base = xnonnull(event_base_new());
    w->http = xnonnull(evhttp_new(w->base));
    evhttp_set_max_headers_size(w->http, WEB_MAX_HEADERS);
    evhttp_set_max_body_size(w->http, WEB_MAX_BODY);
    evhttp_set_timeout(w->http, WEB_TIMEOUT_S);
    /* The others reach route(), which says 405. */
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
                                            EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(w->http, request_cb, w);
    evhttp_set_bevcb(w->http, conn_new_cb, w);
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(w->http, host, port);
    free(host);
    host = NULL;
    if (!bound) {
        *error = xasprintf("web UI: cannot listen on %s", s->web.listen);
        goto fail;
    }
    w->listener = evhttp_bound_socket_get_listener(bound);
    w->sweep_ev = xnonnull(event_new(w->base, -1, EV_PERSIST, sweep_cb, w));
    struct timeval every = {0, WEB_SWEEP_MS * 1000};
    event_add(w->sweep_ev, &every);
    if (pthread_create(&w->thread, NULL, thread_main, w) != 0) {
        *error = xasprintf("web UI: cannot start its thread");
        goto fail;
    }
    w->started = true;
    log_info("web UI listening on http://%s/%s", s->web.listen,
             *s->web.token ? " (actions need [web] token)" : "");
    return w;
fail:
    free(host);
    web_free(w);
    return NULL;
}

void web_stop(Web *w)
{
    if (!w || !w->started)
        return;
    event_base_loopbreak(w->base);
    pthread_join(w->thread, NULL);
    w->started = false;
}

void web_free(Web *w)
{
    if (!w)
        return;
    web_stop(w);
    if (w->sweep_ev)
        event_free(w->sweep_ev);
    if (w->http)
        evhttp_free(w->http); /* frees every connection; then ours are the last references */
    for (size_t i = 0; i < w->n_socks; i++)
        bufferevent_decref(w->socks[i]);
    if (w->base)
        event_base_free(w->base);
    web_health_free(w->ctx.health);
    store_close(w->ctx.store);
    free(w);
}
