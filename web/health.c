/*
 * /healthz: 200 when the catalog and the warehouse answer, 503 with the reason otherwise. The
 * catalog is asked on each request (a local file). The warehouse is asked by a thread of its
 * own, every WEB_HEALTH_EVERY_S over one connection, under a deadline; /healthz reads its last
 * answer. So however often /healthz is asked, it opens no connection and waits for no warehouse,
 * and a hanging warehouse never holds up the web UI's other pages. Not for: the workers'
 * warehouse connections.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "planner/leader.h"
#include "planner/warehouse.h"
#include "web/context.h"

#define WEB_HEALTH_EVERY_S   5
#define WEB_HEALTH_TIMEOUT_S 3

struct WebHealth {
    const Settings *settings;
    Warehouse *wh; /* the checking thread's */
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    /* Under lock: */
    bool stop;
    bool checked;  /* a check has ended */
    char *problem; /* why the warehouse did not answer then, or NULL */
};

/* Asks the warehouse once; NULL when it answers, else why not (the caller frees). */
static char *check_warehouse(WebHealth *h)
{
    char *problem = NULL, *error = NULL;
    if (h->wh && !wh_ok(h->wh)) {
        wh_close(h->wh);
        h->wh = NULL;
    }
    if (!h->wh && wh_connect(h->settings, &h->wh, &error) != 0) {
        problem = xasprintf("warehouse: %s", error ? error : "cannot connect");
        free(error);
        return problem;
    }
    int64_t deadline = clock_mono_us() + WEB_HEALTH_TIMEOUT_S * CLOCK_US_PER_SECOND;
    if (wh_exec(h->wh, "SELECT 1", 0, NULL, deadline, NULL) != WH_OK) {
        problem = xasprintf("warehouse: %s", wh_error(h->wh));
        wh_close(h->wh);
        h->wh = NULL;
    }
    return problem;
}

static void *health_main(void *arg)
{
    WebHealth *h = arg;
    pthread_mutex_lock(&h->lock);
    while (!h->stop) {
        pthread_mutex_unlock(&h->lock);
        char *problem = check_warehouse(h);
        pthread_mutex_lock(&h->lock);
        free(h->problem);
        h->problem = problem;
        h->checked = true;
        struct timespec until =
            clock_timespec(clock_mono_us() + WEB_HEALTH_EVERY_S * CLOCK_US_PER_SECOND);
        while (!h->stop && pthread_cond_timedwait(&h->wake, &h->lock, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

WebHealth *web_health_new(const Settings *s)
{
    WebHealth *h = xcalloc(1, sizeof *h);
    h->settings = s;
    pthread_mutex_init(&h->lock, NULL);
    h->started =
        clock_cond_init(&h->wake) == 0 && pthread_create(&h->thread, NULL, health_main, h) == 0;
    if (!h->started)
        h->problem = xstrdup("warehouse: the health check cannot start its thread");
    return h;
}

void web_health_free(WebHealth *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->stop = true;
    pthread_cond_broadcast(&h->wake);
    pthread_mutex_unlock(&h->lock);
    /* A check in progress ends by its deadline (the connect's own timeout at worst). */
    if (h->started)
        pthread_join(h->thread, NULL);
    wh_close(h->wh);
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->lock);
    free(h->problem);
    free(h);
}

/* With a shared catalog: which instance leads the scheduler, and whether this one does. */
static void leader_lines(struct evbuffer *b)
{
    LeaderInfo l;
    leader_current(&l);
    if (!l.shared)
        return;
    if (!l.known) {
        evbuffer_add_printf(b, "leader: none yet\n");
        return;
    }
    char since[32];
    web_time(since, l.since_us);
    evbuffer_add_printf(b, "leader: instance %s on %s, generation %lld, since %s\n", l.instance,
                        l.host, (long long)l.generation, since);
    evbuffer_add_printf(b, "this instance: %s\n", l.this_one ? "leads" : "follows");
}

void web_healthz(WebCtx *c, struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();
    char *problem = NULL;
    if (store_web_ping(c->store) != 0) {
        problem = xasprintf("catalog: %s", store_error(c->store));
    } else {
        WebHealth *h = c->health;
        pthread_mutex_lock(&h->lock);
        if (!h->checked && !h->problem)
            problem = xstrdup("warehouse: not checked yet");
        else if (h->problem)
            problem = xstrdup(h->problem);
        pthread_mutex_unlock(&h->lock);
    }
    if (problem) {
        evbuffer_add_printf(b, "unhealthy: %s\n", problem);
        web_reply(req, 503, "text/plain; charset=utf-8", b);
    } else {
        evbuffer_add_printf(b, "ok\n");
        leader_lines(b);
        web_reply(req, 200, "text/plain; charset=utf-8", b);
    }
    free(problem);
}
