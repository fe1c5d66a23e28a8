/*
 * The scheduler thread (see scheduler.h). One loop: re-scan when due, find the
 * stale views no backoff holds back (planner/backoff), run them as one plan
 * on the worker, sleep until the next poll or a wake-up. The repository it
 * holds is only touched by this thread, so a re-scan can replace it between
 * plans.
 */
#include "planner/scheduler.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog/interval.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "planner/backoff.h"
#include "planner/metrics.h"
#include "planner/notify.h"
#include "planner/refresh.h"
#include "planner/worker.h"

struct Scheduler {
    const Settings *settings;
    Dialect dialect;
    Store *store;
    Worker *worker;
    Repo repo;
    bool have_repo;
    char *last_problems;       /* the problems last logged, so a broken repository is logged once */
    bool cleaned;              /* leftovers of interrupted builds removed */
    int cleanup_failures;      /* failed clean-ups in a row, for their backoff */
    int64_t cleanup_next_us;   /* monotonic time of the next clean-up attempt */
    bool scanned;              /* the repository was loaded at least once */
    uint64_t last_fingerprint; /* of the files last loaded, good or not */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool rescan_requested, stopping, ended;
    SchedulerRequest *requests; /* queued by scheduler_submit, oldest first */
    SchedulerRequest **requests_tail;
};

/*
 * Records a failed run, naming the cycle, for each view in or reading a
 * dependency cycle whose definition as it is now is not marked so yet: what
 * duro.status shows of it. Such a view is never built (planner/tree).
 */
static void mark_cycles(Scheduler *sc)
{
    for (size_t i = 0; i < sc->repo.n_views; i++) {
        const View *v = &sc->repo.views[i];
        if (!v->cycle)
            continue;
        StoreView sv;
        if (store_get_view(sc->store, v->name, &sv) != 0)
            continue;
        bool marked = sv.last_failed && sv.last_error && strcmp(sv.last_error, v->cycle) == 0;
        store_view_free(&sv);
        if (marked)
            continue;
        int64_t now = clock_wall_us(), id;
        if (store_run_begin(sc->store, v->name, RUN_TRIGGER_SCHEDULE, now, &id) != 0 ||
            store_run_finish(sc->store, id, RUN_FAILED, now, -1, v->cycle, NULL, 0) != 0)
            log_error("%s: cannot record run: %s", v->name, store_error(sc->store));
        else
            log_warn("refresh %s not built: %s", v->name, v->cycle);
    }
}

/*
 * Loads the repository; keeps the last good one when this one has problems
 * other than dependency cycles.
 * Unless forced, an unchanged repository (same fingerprint) is not loaded again.
 */
static void rescan(Scheduler *sc, bool forced)
{
    RepoOptions opt = dialect_repo_options(sc->dialect);
    uint64_t fp;
    if (!forced && sc->scanned && repo_fingerprint(sc->settings->views.path, &opt, &fp) == 0 &&
        fp == sc->last_fingerprint)
        return;
    Repo r;
    int rc = repo_load(sc->settings->views.path, &opt, &r);
    sc->scanned = true;
    sc->last_fingerprint = r.fingerprint;
    /* A dependency cycle stops only the views in it and those reading them. */
    bool usable = rc == 0 && r.diags.n == r.n_cycles;
    if (rc != 0 || r.diags.n) {
        StrVec lines = {0};
        for (size_t i = 0; i < r.diags.n; i++)
            strvec_push_owned(&lines, diag_format(&r.diags.items[i], sc->settings->views.path));
        char *text = strvec_join(&lines, "\n");
        if (!sc->last_problems || strcmp(text, sc->last_problems) != 0) {
            log_error("views repository %s has %zu problem%s; %s", sc->settings->views.path,
                      r.diags.n, r.diags.n == 1 ? "" : "s",
                      usable          ? "the views in or reading a dependency cycle are not built"
                      : sc->have_repo ? "keeping the last good one"
                                      : "no views are refreshed");
            for (size_t i = 0; i < lines.n; i++)
                log_error("%s", lines.items[i]);
            free(sc->last_problems);
            sc->last_problems = text;
        } else {
            free(text);
        }
        strvec_free(&lines);
        if (!usable) {
            repo_free(&r);
            return;
        }
    } else {
        free(sc->last_problems);
        sc->last_problems = NULL;
    }
    StoreSyncStats st;
    char *error = NULL;
    if (store_sync(sc->store, &r, clock_wall_us(), &st, &error) != 0) {
        log_error("cannot sync the catalog: %s", error);
        free(error);
        repo_free(&r);
        return;
    }
    if (st.added || st.changed || st.removed || !sc->have_repo)
        log_info("views repository: %zu views (%d new, %d changed, %d removed)", r.n_views,
                 st.added, st.changed, st.removed);
    if (sc->have_repo)
        repo_free(&sc->repo);
    sc->repo = r;
    sc->have_repo = true;
    mark_cycles(sc);
}

static void log_result(const View *v, RunTrigger trigger, const PipelineResult *res)
{
    double secs = (double)(res->finished_us - res->started_us) / 1e6;
    if (res->outcome == RUN_OK)
        log_info("refresh %s ok, %lld rows in %.2fs (%s)", v->name, (long long)res->rows, secs,
                 run_trigger_name(trigger));
    else
        log_warn("refresh %s %s after %.2fs (%s): %s", v->name, pipeline_outcome_name(res), secs,
                 run_trigger_name(trigger), res->error ? res->error : "");
}

/*
 * Logs each build of rep (the catalog has recorded them, and with them the backoffs), counts them
 * for /metrics and hands them to the notifications.
 */
static void account(const RefreshReport *rep)
{
    for (size_t k = 0; k < rep->n; k++)
        log_result(rep->builds[k].view, rep->builds[k].trigger, &rep->builds[k].result);
    metrics_count_report(rep);
    notify_report(rep);
}

/* One poll: builds every stale view that no backoff holds back. */
static void poll_once(Scheduler *sc)
{
    const Repo *r = &sc->repo;
    if (!sc->have_repo || r->n_views == 0)
        return;
    if (!sc->cleaned) {
        /* Until the leftovers are gone nothing is built; a warehouse that refuses Duro is
         * retried with the views' backoff, not at every poll. */
        int64_t now = clock_mono_us();
        if (now < sc->cleanup_next_us)
            return;
        char *error = NULL;
        if (worker_cleanup(sc->worker, r, &error) != 0) {
            sc->cleanup_failures++;
            sc->cleanup_next_us =
                backoff_retry_us(sc->settings->worker.poll, sc->cleanup_failures, now);
            int64_t wait = sc->cleanup_next_us - now;
            log_error("cannot clean up after interrupted builds (trying again in %lld s): %s",
                      (long long)(wait / CLOCK_US_PER_SECOND), error);
            free(error);
            return;
        }
        sc->cleaned = true;
    }
    RefreshRequest req = {
        .all_stale = true,
        .trigger = RUN_TRIGGER_SCHEDULE,
    };
    RefreshReport rep;
    char *error = NULL;
    if (refresh_run(sc->worker, sc->store, r, &req, &rep, &error) != 0) {
        log_error("%s", error);
        free(error);
        return;
    }
    account(&rep);
    refresh_report_free(&rep);
}

void scheduler_request_clear(SchedulerRequest *req)
{
    free(req->refreshed);
    free(req->failed_view);
    free(req->error);
    req->refreshed = req->failed_view = req->error = NULL;
}

/* Whether two requests can share one build. */
static bool same_request(const SchedulerRequest *a, const SchedulerRequest *b)
{
    return strcmp(a->view, b->view) == 0 && a->force == b->force &&
           a->only_if_stale == b->only_if_stale && a->trigger == b->trigger;
}

/* Runs one request: builds its view (and stale or, forced, all dependencies) as one plan. */
static void run_request(Scheduler *sc, SchedulerRequest *req)
{
    const Repo *r = &sc->repo;
    req->started_us = clock_wall_us();
    View *v = sc->have_repo ? repo_find(r, req->view) : NULL;
    if (!v) {
        req->status = SCHEDULER_UNKNOWN;
        req->refreshed = xstrdup("");
        return;
    }
    if (v->cycle) { /* never built: its error says why */
        req->status = SCHEDULER_FAILED;
        req->held = true;
        req->failed_view = xstrdup(v->name);
        req->error = xstrdup(v->cycle);
        req->refreshed = xstrdup("");
        return;
    }
    size_t target = (size_t)(v - r->views);
    RefreshRequest want = {
        .targets = &target,
        .n_targets = 1,
        .force = req->force,
        .only_if_stale = req->only_if_stale,
    };
    RefreshReport rep;
    char *error = NULL;
    bool ran = false;
    want.trigger = req->trigger;
    ran = refresh_run(sc->worker, sc->store, r, &want, &rep, &error) == 0;
    if (!ran) {
        req->status = SCHEDULER_FAILED;
        req->failed_view = xstrdup(req->view);
        req->error = error;
        return;
    }
    account(&rep);
    req->status = SCHEDULER_DONE;
    const RefreshBuild *bad = refresh_report_first_failure(&rep);
    if (bad) {
        req->status = SCHEDULER_FAILED;
        req->failed_view = xstrdup(bad->view->name);
        req->error =
            xstrdup(bad->result.error ? bad->result.error : pipeline_outcome_name(&bad->result));
        req->next_try_us = bad->result.retry_us;
    } else if (rep.held_by) {
        req->status = SCHEDULER_FAILED;
        req->held = true;
        req->failed_view = xstrdup(rep.held_by);
        req->error = xstrdup(rep.held_error);
        req->next_try_us = rep.held_until_us;
    } else if (rep.n == 0 && !req->only_if_stale) {
        req->status = SCHEDULER_FAILED; /* a disabled view: the plan leaves it out */
        req->failed_view = xstrdup(req->view);
        req->error = xstrdup("the view is disabled (enabled = false here or in a view it reads)");
    }
    req->refreshed = refresh_report_built(&rep);
    refresh_report_free(&rep);
}

/* Copies the results of from into to, a request that shared its build. */
static void copy_results(SchedulerRequest *to, const SchedulerRequest *from)
{
    to->status = from->status;
    to->refreshed = from->refreshed ? xstrdup(from->refreshed) : NULL;
    to->failed_view = from->failed_view ? xstrdup(from->failed_view) : NULL;
    to->error = from->error ? xstrdup(from->error) : NULL;
    to->held = from->held;
    to->next_try_us = from->next_try_us;
    to->started_us = from->started_us;
    to->finished_us = from->finished_us;
}

/* Runs every queued request; called with sc->lock held, returns with it held. */
static void run_requests(Scheduler *sc)
{
    while (sc->requests) {
        SchedulerRequest *queue = sc->requests;
        sc->requests = NULL;
        sc->requests_tail = &sc->requests;
        bool stopping = sc->stopping;
        pthread_mutex_unlock(&sc->lock);
        while (queue) {
            SchedulerRequest *req = queue;
            queue = req->next;
            if (stopping) {
                req->status = SCHEDULER_CANCELLED;
                req->started_us = req->finished_us = clock_wall_us();
            } else {
                run_request(sc, req);
                req->finished_us = clock_wall_us();
            }
            /* Requests for the same thing, queued meanwhile, share this build. */
            for (SchedulerRequest **p = &queue; *p;) {
                SchedulerRequest *twin = *p;
                if (!same_request(twin, req)) {
                    p = &twin->next;
                    continue;
                }
                *p = twin->next;
                copy_results(twin, req);
                metrics_gauge_add(METRICS_SCHEDULER_QUEUE, -1);
                twin->done(twin);
            }
            metrics_gauge_add(METRICS_SCHEDULER_QUEUE, -1);
            req->done(req);
        }
        pthread_mutex_lock(&sc->lock);
    }
}

void scheduler_submit(Scheduler *sc, SchedulerRequest *req)
{
    assert(req->view && req->done);
    req->next = NULL;
    req->status = SCHEDULER_CANCELLED;
    req->refreshed = req->failed_view = req->error = NULL;
    req->held = false;
    req->next_try_us = 0;
    pthread_mutex_lock(&sc->lock);
    bool ended = sc->ended;
    if (!ended) {
        *sc->requests_tail = req;
        sc->requests_tail = &req->next;
        metrics_gauge_add(METRICS_SCHEDULER_QUEUE, 1);
        pthread_cond_broadcast(&sc->wake);
    }
    pthread_mutex_unlock(&sc->lock);
    if (ended)
        req->done(req); /* the thread is gone: cancelled */
}

static void *thread_main(void *arg)
{
    Scheduler *sc = arg;
    int64_t next_rescan = 0, next_poll = 0;
    pthread_mutex_lock(&sc->lock);
    while (!sc->stopping) {
        int64_t now = clock_mono_us();
        bool forced = sc->rescan_requested;
        bool do_rescan = forced || now >= next_rescan;
        bool do_poll = do_rescan || now >= next_poll;
        sc->rescan_requested = false;
        pthread_mutex_unlock(&sc->lock);
        if (do_rescan) {
            rescan(sc, forced);
            next_rescan = clock_mono_us() + sc->settings->views.rescan * CLOCK_US_PER_SECOND;
        }
        if (do_poll) {
            poll_once(sc);
            next_poll = clock_mono_us() + sc->settings->worker.poll * CLOCK_US_PER_SECOND;
        }
        pthread_mutex_lock(&sc->lock);
        run_requests(sc);
        if (sc->stopping || sc->rescan_requested)
            continue;
        int64_t until = next_poll < next_rescan ? next_poll : next_rescan;
        struct timespec ts = clock_timespec(until);
        pthread_cond_timedwait(&sc->wake, &sc->lock, &ts);
    }
    run_requests(sc); /* cancelled: stopping */
    sc->ended = true;
    pthread_cond_broadcast(&sc->wake);
    pthread_mutex_unlock(&sc->lock);
    return NULL;
}

Scheduler *scheduler_start(const Settings *s, Dialect d, char **error)
{
    Scheduler *sc = xcalloc(1, sizeof(*sc));
    sc->settings = s;
    sc->dialect = d;
    pthread_mutex_init(&sc->lock, NULL);
    if (clock_cond_init(&sc->wake) != 0) {
        *error = xstrdup("cannot set up the scheduler's monotonic clock");
        pthread_mutex_destroy(&sc->lock);
        free(sc);
        return NULL;
    }
    sc->requests_tail = &sc->requests;
    if (store_open(s->catalog.path, &sc->store, error) != 0)
        goto fail;
    int closed = 0;
    if (store_runs_close_dead(sc->store, clock_wall_us(), &closed) != 0) {
        *error = xasprintf("cannot update the catalog: %s", store_error(sc->store));
        goto fail;
    }
    if (closed)
        log_info("catalog: %d run%s interrupted by a stop were closed as cancelled", closed,
                 closed == 1 ? "" : "s");
    sc->worker = worker_new(s, d);
    if (pthread_create(&sc->thread, NULL, thread_main, sc) != 0) {
        *error = xstrdup("cannot start the scheduler thread");
        goto fail;
    }
    return sc;
fail:
    worker_free(sc->worker);
    store_close(sc->store);
    pthread_mutex_destroy(&sc->lock);
    pthread_cond_destroy(&sc->wake);
    free(sc);
    return NULL;
}

void scheduler_rescan(Scheduler *sc)
{
    pthread_mutex_lock(&sc->lock);
    sc->rescan_requested = true;
    pthread_cond_broadcast(&sc->wake);
    pthread_mutex_unlock(&sc->lock);
}

void scheduler_stop(Scheduler *sc)
{
    pthread_mutex_lock(&sc->lock);
    sc->stopping = true;
    pthread_cond_broadcast(&sc->wake);
    pthread_mutex_unlock(&sc->lock);
}

void scheduler_cancel(Scheduler *sc)
{
    worker_cancel(sc->worker);
}

bool scheduler_wait(Scheduler *sc, int timeout_ms)
{
    struct timespec ts = clock_timespec(clock_mono_us() + (int64_t)timeout_ms * 1000);
    pthread_mutex_lock(&sc->lock);
    while (!sc->ended && pthread_cond_timedwait(&sc->wake, &sc->lock, &ts) == 0)
        ;
    bool ended = sc->ended;
    pthread_mutex_unlock(&sc->lock);
    return ended;
}

void scheduler_free(Scheduler *sc)
{
    if (!sc)
        return;
    pthread_join(sc->thread, NULL);
    worker_free(sc->worker);
    store_close(sc->store);
    if (sc->have_repo)
        repo_free(&sc->repo);
    free(sc->last_problems);
    pthread_mutex_destroy(&sc->lock);
    pthread_cond_destroy(&sc->wake);
    free(sc);
}
