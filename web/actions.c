/*
 * The web UI's actions: "Refresh" and "Refresh tree" of a view, as POSTs. Each is a
 * SchedulerRequest with trigger web, queued like CALL duro_refresh and built on the scheduler's
 * thread; the reply does not wait for the build (the view's page shows its run). At most
 * WEB_MAX_REFRESHES are queued at once. Not for: who may act (auth.c).
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "web/context.h"

#define WEB_MAX_REFRESHES 16

typedef struct WebRefresh {
    SchedulerRequest req;
    atomic_int *in_flight;
} WebRefresh;

/* On the scheduler's thread: the request is ours again; nothing waits for it. */
static void refresh_done(SchedulerRequest *req)
{
    WebRefresh *r = req->arg;
    if (req->status == SCHEDULER_FAILED)
        log_info("web UI: refresh of %s failed: %s", req->view, req->error ? req->error : "");
    atomic_fetch_sub(r->in_flight, 1);
    scheduler_request_clear(req);
    free(req->view);
    free(r);
}

void web_action_refresh(WebCtx *c, struct evhttp_request *req, const char *name, bool tree,
                        bool json)
{
    if (!web_auth_action(c, req, json))
        return;
    StoreView v;
    int rc = store_get_view(c->store, name, &v);
    if (rc != 0)
        return web_reply_error(req, rc > 0 ? 404 : 503, json,
                               rc > 0 ? "no such view" : "the catalog does not answer");
    store_view_free(&v);
    if (atomic_fetch_add(&c->refreshes, 1) >= WEB_MAX_REFRESHES) {
        atomic_fetch_sub(&c->refreshes, 1);
        return web_reply_error(req, 429, json, "too many refreshes queued; try again later");
    }
    WebRefresh *r = xcalloc(1, sizeof *r);
    r->in_flight = &c->refreshes;
    r->req.view = xstrdup(name);
    r->req.force = tree;
    r->req.only_if_stale = false;
    r->req.trigger = RUN_TRIGGER_WEB;
    r->req.done = refresh_done;
    r->req.arg = r;
    log_info("web UI: %s of %s asked for", tree ? "refresh tree" : "refresh", name);
    scheduler_submit(c->scheduler, &r->req);

    struct evbuffer *b = evbuffer_new();
    if (json) {
        evbuffer_add_printf(b, "{\"queued\":true,\"view\":");
        web_json_str(b, name);
        evbuffer_add_printf(b, ",\"tree\":%s}\n", tree ? "true" : "false");
        return web_reply(req, 202, "application/json", b);
    }
    evbuffer_add_printf(b, "/views/");
    web_url(b, name);
    evbuffer_add_printf(b, "?queued=%s", tree ? "tree" : "view");
    size_t len = evbuffer_get_length(b);
    char *location = xmalloc(len + 1);
    evbuffer_remove(b, location, len);
    location[len] = '\0';
    evhttp_add_header(evhttp_request_get_output_headers(req), "Location", location);
    free(location);
    web_reply(req, 303, "text/plain; charset=utf-8", b);
}
