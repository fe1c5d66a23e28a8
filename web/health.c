/*
 * /healthz: 200 when the catalog and the warehouse answer, 503 with the reason otherwise. The
 * warehouse is asked over one connection of the web UI's own, at most every
 * WEB_HEALTH_CACHE_S, under a deadline, so a hammered /healthz opens no more connections and
 * waits no longer. Not for: the workers' warehouse connections.
 */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "planner/warehouse.h"
#include "web/context.h"

#define WEB_HEALTH_CACHE_S   5
#define WEB_HEALTH_TIMEOUT_S 3

struct WebHealth {
    const Settings *settings;
    Warehouse *wh;
    int64_t checked_us; /* clock_mono_us of the last check; 0 = never */
    char *problem;      /* why the warehouse did not answer then, or NULL */
};

WebHealth *web_health_new(const Settings *s)
{
    WebHealth *h = xcalloc(1, sizeof *h);
    h->settings = s;
    return h;
}

void web_health_free(WebHealth *h)
{
    if (!h)
        return;
    wh_close(h->wh);
    free(h->problem);
    free(h);
}

/* Asks the warehouse, unless it was asked within WEB_HEALTH_CACHE_S; NULL when it answers. */
static const char *warehouse_problem(WebHealth *h)
{
    int64_t now = clock_mono_us();
    if (h->checked_us && now - h->checked_us < WEB_HEALTH_CACHE_S * CLOCK_US_PER_SECOND)
        return h->problem;
    free(h->problem);
    h->problem = NULL;
    if (h->wh && !wh_ok(h->wh)) {
        wh_close(h->wh);
        h->wh = NULL;
    }
    char *error = NULL;
    if (!h->wh && wh_connect(h->settings, &h->wh, &error) != 0) {
        h->problem = xasprintf("warehouse: %s", error ? error : "cannot connect");
        free(error);
    } else if (h->wh) {
        int64_t deadline = clock_mono_us() + WEB_HEALTH_TIMEOUT_S * CLOCK_US_PER_SECOND;
        if (wh_exec(h->wh, "SELECT 1", 0, NULL, deadline, NULL) != WH_OK) {
            h->problem = xasprintf("warehouse: %s", wh_error(h->wh));
            wh_close(h->wh);
            h->wh = NULL;
        }
    }
    h->checked_us = clock_mono_us();
    return h->problem;
}

void web_healthz(WebCtx *c, struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();
    const char *problem = NULL;
    char *catalog = NULL;
    if (store_web_ping(c->store) != 0)
        problem = catalog = xasprintf("catalog: %s", store_error(c->store));
    else
        problem = warehouse_problem(c->health);
    if (problem) {
        evbuffer_add_printf(b, "unhealthy: %s\n", problem);
        web_reply(req, 503, "text/plain; charset=utf-8", b);
    } else {
        evbuffer_add_printf(b, "ok\n");
        web_reply(req, 200, "text/plain; charset=utf-8", b);
    }
    free(catalog);
}
