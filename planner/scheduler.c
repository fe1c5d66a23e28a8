/*
 * The scheduler thread (see scheduler.h). One loop: re-scan when due, start the poll's plan (the
 * stale views no backoff holds back, planner/backoff) and each queued request's plan on a thread
 * of its own (a job), sleep until the next poll or a wake-up. Jobs run at the same time and
 * meet in the worker, which builds a view for one plan at a time. Each job holds a reference to
 * the repository it plans from, so a re-scan can replace the scheduler's at any time.
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
#include "planner/leader.h"
#include "planner/metrics.h"
#include "planner/notify.h"
#include "planner/refresh.h"
#include "planner/worker.h"

/* Retention ([catalog] keep_runs): runs per transaction, transactions per turn, and the pause
 * between turns (short while old runs remain). */
#define PRUNE_BATCH      1000
#define PRUNE_BATCHES    20
#define PRUNE_EVERY_S    300
#define PRUNE_CONTINUE_S 5

/* Most plans running at once; requests beyond wait in the queue. */
#define SCHEDULER_MAX_JOBS 64

/* A repository the scheduler loaded, shared with the jobs planning from it. */
typedef struct SharedRepo {
    Repo repo;
    int refs; /* under Scheduler.lock */
} SharedRepo;

/* A plan run on a thread of its own: the poll's, or a request's and its twins'. */
typedef struct Job {
    Scheduler *sc;
    SharedRepo *repo;
    SchedulerRequest *requests; /* linked by next, all the same request; NULL for the poll */
    pthread_t thread;
    bool done; /* under Scheduler.lock */
    struct Job *next;
} Job;

struct Scheduler {
    const Settings *settings;
    Dialect dialect;
    Store *store; /* the scheduler thread's own */
    Worker *worker;
    Leader *leader;            /* scheduled builds only while it leads */
    bool led;                  /* it led at the last round (scheduler thread only) */
    SharedRepo *repo;          /* the last good repository, or NULL; replaced by this thread only */
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
    Job *jobs;     /* running or done, not joined yet; under lock */
    int n_jobs;    /* of them, not done */
    bool poll_job; /* the poll's plan is running */
};

/* Takes a reference to the current repository (NULL when there is none). Under lock. */
static SharedRepo *repo_hold(Scheduler *sc)
{
    if (sc->repo)
        sc->repo->refs++;
    return sc->repo;
}

/* Drops a reference; the last one frees the repository. Not under lock. */
static void repo_release(Scheduler *sc, SharedRepo *sr)
{
    if (!sr)
        return;
    pthread_mutex_lock(&sc->lock);
    bool last = --sr->refs == 0;
    pthread_mutex_unlock(&sc->lock);
    if (last) {
        repo_free(&sr->repo);
        free(sr);
    }
}

/*
 * Records a failed run, naming the cycle, for each view in or reading a
 * dependency cycle whose definition as it is now is not marked so yet: what
 * duro.status shows of it. Such a view is never built (planner/tree).
 */
static void mark_cycles(Scheduler *sc)
{
    if (!sc->repo) /* no repository loaded yet */
        return;
    for (size_t i = 0; i < sc->repo->repo.n_views; i++) {
        const View *v = &sc->repo->repo.views[i];
        if (!v->cycle || !leader_leads(sc->leader))
            continue;
        StoreView sv;
        if (store_get_view(sc->store, v->name, &sv) != 0)
            continue;
        bool marked = sv.last_failed && sv.last_error && strcmp(sv.last_error, v->cycle) == 0;
        store_view_free(&sv);
        if (marked)
            continue;
        int64_t now = clock_wall_us(), id;
        if (store_run_begin(sc->store, v->name, RUN_TRIGGER_SCHEDULE, now,
                            leader_generation(sc->leader), &id) != 0 ||
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
                      usable     ? "the views in or reading a dependency cycle are not built"
                      : sc->repo ? "keeping the last good one"
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
    if (st.added || st.changed || st.removed || !sc->repo)
        log_info("views repository: %zu views (%d new, %d changed, %d removed)", r.n_views,
                 st.added, st.changed, st.removed);
    SharedRepo *fresh = xcalloc(1, sizeof(*fresh));
    fresh->repo = r;
    fresh->refs = 1;
    SharedRepo *old = sc->repo;
    pthread_mutex_lock(&sc->lock);
    sc->repo = fresh;
    pthread_mutex_unlock(&sc->lock);
    repo_release(sc, old);
    mark_cycles(sc);
}

static void log_result(const View *v, RunTrigger trigger, const PipelineResult *res)
{
    double secs = (double)(res->finished_us - res->started_us) / 1e6;
    if (res->outcome == RUN_OK)
        log_info("refresh %s ok, %lld rows in %.2fs (%s)", v->name, (long long)res->rows, secs,
                 run_trigger_name(trigger));
    else if (res->busy) /* another process builds it: skipped this round, nothing failed */
        log_info("refresh %s skipped (%s): %s", v->name, run_trigger_name(trigger),
                 res->error ? res->error : "busy");
    else
        log_warn("refresh %s %s after %.2fs (%s): %s", v->name, pipeline_outcome_name(res), secs,
                 run_trigger_name(trigger), res->error ? res->error : "");
}

/*
 * Logs each build of rep (the catalog has recorded them, and with them the backoffs), counts them
 * for /metrics and hands them to the notifications; a build shared with another plan was logged,
 * counted and handed over by that plan.
 */
static void account(const RefreshReport *rep)
{
    for (size_t k = 0; k < rep->n; k++)
        if (!rep->builds[k].result.shared)
            log_result(rep->builds[k].view, rep->builds[k].trigger, &rep->builds[k].result);
    metrics_count_report(rep);
    notify_report(rep);
}

/*
 * Before the first poll's plan: removes the leftovers of interrupted builds, while no plan runs.
 * Returns whether that is done.
 */
static bool cleanup_once(Scheduler *sc)
{
    const Repo *r = &sc->repo->repo;
    if (!sc->cleaned) {
        /* Until the leftovers are gone nothing is built; a warehouse that refuses Duro is
         * retried with the views' backoff, not at every poll. */
        int64_t now = clock_mono_us();
        if (now < sc->cleanup_next_us)
            return false;
        char *error = NULL;
        if (worker_cleanup(sc->worker, r, &error) != 0) {
            sc->cleanup_failures++;
            sc->cleanup_next_us =
                backoff_retry_us(sc->settings->worker.poll, sc->cleanup_failures, now);
            int64_t wait = sc->cleanup_next_us - now;
            log_error("cannot clean up after interrupted builds (trying again in %lld s): %s",
                      (long long)(wait / CLOCK_US_PER_SECOND), error);
            free(error);
            return false;
        }
        sc->cleaned = true;
    }
    return true;
}

/* The poll's plan: builds every stale view that no backoff holds back. */
static void poll_plan(Scheduler *sc, Store *store, const Repo *r)
{
    /* Decided under this generation: a leader deposed meanwhile records nothing (fence). */
    RefreshRequest req = {
        .all_stale = true,
        .trigger = RUN_TRIGGER_SCHEDULE,
        .fence = leader_generation(sc->leader),
    };
    if (!leader_leads(sc->leader))
        return;
    RefreshReport rep;
    char *error = NULL;
    if (refresh_run(sc->worker, store, r, &req, &rep, &error) != 0) {
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
static void run_request(Scheduler *sc, Store *store, const Repo *r, SchedulerRequest *req)
{
    View *v = r ? repo_find(r, req->view) : NULL;
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
    want.submitted_us = req->submitted_us;
    ran = refresh_run(sc->worker, store, r, &want, &rep, &error) == 0;
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

/* A job's thread: its plan, then the requests' callbacks. */
static void *job_main(void *arg)
{
    Job *j = arg;
    Scheduler *sc = j->sc;
    const Repo *r = j->repo ? &j->repo->repo : NULL;
    SchedulerRequest *req = j->requests;
    Store *store = NULL;
    char *error = NULL;
    if (req)
        req->started_us = clock_wall_us();
    if (store_open(settings_catalog_target(sc->settings), &store, &error) != 0) {
        log_error("cannot open the catalog: %s", error);
        if (req) {
            req->status = SCHEDULER_FAILED;
            req->failed_view = xstrdup(req->view);
            req->error = xasprintf("cannot open the catalog: %s", error);
        }
        free(error);
    } else if (req) {
        run_request(sc, store, r, req);
    } else {
        poll_plan(sc, store, r);
    }
    store_close(store);
    if (req) {
        req->finished_us = clock_wall_us();
        SchedulerRequest *twin = req->next;
        while (twin) {
            SchedulerRequest *next = twin->next;
            copy_results(twin, req);
            twin->done(twin);
            twin = next;
        }
        req->done(req);
    }
    repo_release(sc, j->repo);
    pthread_mutex_lock(&sc->lock);
    j->done = true;
    sc->n_jobs--;
    if (!req)
        sc->poll_job = false;
    pthread_cond_broadcast(&sc->wake);
    pthread_mutex_unlock(&sc->lock);
    return NULL;
}

/* Starts a job for requests (NULL: the poll). Under lock; false when no thread could start. */
static bool job_start(Scheduler *sc, SchedulerRequest *requests)
{
    Job *j = xcalloc(1, sizeof(*j));
    j->sc = sc;
    j->repo = repo_hold(sc);
    j->requests = requests;
    if (pthread_create(&j->thread, NULL, job_main, j) != 0) {
        log_error("cannot start a thread for a refresh");
        if (j->repo)
            j->repo->refs--; /* the scheduler's own reference remains */
        free(j);
        return false;
    }
    j->next = sc->jobs;
    sc->jobs = j;
    sc->n_jobs++;
    return true;
}

/* Joins the jobs that are done. Called with sc->lock held, returns with it held. */
static void reap_jobs(Scheduler *sc)
{
    for (Job **p = &sc->jobs; *p;) {
        Job *j = *p;
        if (!j->done) {
            p = &j->next;
            continue;
        }
        *p = j->next;
        pthread_mutex_unlock(&sc->lock);
        pthread_join(j->thread, NULL);
        free(j);
        pthread_mutex_lock(&sc->lock);
        p = &sc->jobs; /* the list may have changed meanwhile */
    }
}

/*
 * Starts a job for each queued request, with the queued requests for the same thing as twins
 * that share its build; up to SCHEDULER_MAX_JOBS jobs, the rest stay queued. Stopping: every
 * queued request is cancelled. Called with sc->lock held, returns with it held.
 */
static void start_requests(Scheduler *sc)
{
    while (sc->requests && (sc->stopping || sc->n_jobs < SCHEDULER_MAX_JOBS)) {
        SchedulerRequest *req = sc->requests;
        sc->requests = req->next;
        req->next = NULL;
        SchedulerRequest **tail = &req->next;
        for (SchedulerRequest **p = &sc->requests; *p;) {
            SchedulerRequest *twin = *p;
            if (!same_request(twin, req)) {
                p = &twin->next;
                continue;
            }
            *p = twin->next;
            twin->next = NULL;
            *tail = twin;
            tail = &twin->next;
        }
        for (SchedulerRequest *r = req; r; r = r->next)
            metrics_gauge_add(METRICS_SCHEDULER_QUEUE, -1); /* off the queue */
        sc->requests_tail = &sc->requests;
        while (*sc->requests_tail)
            sc->requests_tail = &(*sc->requests_tail)->next;
        if (!sc->stopping && job_start(sc, req))
            continue;
        pthread_mutex_unlock(&sc->lock);
        for (SchedulerRequest *r = req; r;) {
            SchedulerRequest *next = r->next;
            r->status = SCHEDULER_CANCELLED;
            r->started_us = r->finished_us = clock_wall_us();
            r->done(r);
            r = next;
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
    req->submitted_us = clock_mono_us();
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

/* Deletes runs older than [catalog] keep_runs (a turn of bounded batches); returns the monotonic
 * time of the next turn. */
static int64_t prune(Scheduler *sc)
{
    int64_t keep = sc->settings->catalog.keep_runs, deleted = 0;
    bool more = false;
    int64_t now = clock_wall_us();
    /* 0 keeps every run; so does a duration longer than the epoch (no overflow). */
    if (keep > 0 && keep < now / CLOCK_US_PER_SECOND &&
        store_prune_runs(sc->store, now - keep * CLOCK_US_PER_SECOND, PRUNE_BATCH, PRUNE_BATCHES,
                         &deleted, &more) != 0)
        log_error("catalog: cannot delete old runs: %s", store_error(sc->store));
    if (deleted > 0)
        log_info("catalog: %lld run%s older than [catalog] keep_runs deleted", (long long)deleted,
                 deleted == 1 ? "" : "s");
    return clock_mono_us() + (more ? PRUNE_CONTINUE_S : PRUNE_EVERY_S) * CLOCK_US_PER_SECOND;
}

static void *thread_main(void *arg)
{
    Scheduler *sc = arg;
    int64_t next_rescan = 0, next_poll = 0, next_prune = 0;
    pthread_mutex_lock(&sc->lock);
    while (!sc->stopping) {
        reap_jobs(sc);
        int64_t now = clock_mono_us();
        bool forced = sc->rescan_requested;
        bool do_rescan = forced || now >= next_rescan;
        /* An instance that has just taken over schedules at once. */
        bool leads = leader_leads(sc->leader), took_over = leads && !sc->led;
        sc->led = leads;
        bool do_poll = do_rescan || now >= next_poll || took_over;
        bool idle = sc->n_jobs == 0, polling = sc->poll_job;
        sc->rescan_requested = false;
        pthread_mutex_unlock(&sc->lock);
        if (do_rescan) {
            rescan(sc, forced);
            next_rescan = clock_mono_us() + sc->settings->views.rescan * CLOCK_US_PER_SECOND;
        }
        /* Marking cycles is the leader's; one that took over since the last rescan does it now. */
        if (took_over)
            mark_cycles(sc);
        /* One poll's plan at a time; the leftovers go first, while nothing is being built. */
        /* Scheduled builds (and the clean-up before them) only while this instance leads. */
        bool poll = do_poll && !polling && leader_leads(sc->leader) && sc->repo &&
                    sc->repo->repo.n_views > 0 && (sc->cleaned || (idle && cleanup_once(sc)));
        if (do_poll)
            next_poll = clock_mono_us() + sc->settings->worker.poll * CLOCK_US_PER_SECOND;
        if (clock_mono_us() >= next_prune)
            next_prune = prune(sc);
        pthread_mutex_lock(&sc->lock);
        if (poll && !sc->stopping && job_start(sc, NULL))
            sc->poll_job = true;
        start_requests(sc);
        if (sc->stopping || sc->rescan_requested)
            continue;
        int64_t until = next_poll < next_rescan ? next_poll : next_rescan;
        if (next_prune < until)
            until = next_prune;
        /* A follower looks again as often as the election does, to take over promptly. */
        if (!leads && until > clock_mono_us() + LEADER_POLL_MS * 1000)
            until = clock_mono_us() + LEADER_POLL_MS * 1000;
        struct timespec ts = clock_timespec(until);
        pthread_cond_timedwait(&sc->wake, &sc->lock, &ts);
    }
    start_requests(sc);    /* cancelled: stopping */
    while (sc->n_jobs > 0) /* running builds go on until done or cancelled */
        pthread_cond_wait(&sc->wake, &sc->lock);
    reap_jobs(sc);
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
    if (store_open(settings_catalog_target(s), &sc->store, error) != 0)
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
    sc->leader = leader_start(s, error);
    if (!sc->leader)
        goto fail;
    if (pthread_create(&sc->thread, NULL, thread_main, sc) != 0) {
        *error = xstrdup("cannot start the scheduler thread");
        goto fail;
    }
    return sc;
fail:
    leader_stop(sc->leader);
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
    leader_stop(sc->leader);
    worker_free(sc->worker);
    store_close(sc->store);
    if (sc->repo) {
        repo_free(&sc->repo->repo);
        free(sc->repo);
    }
    free(sc->last_problems);
    pthread_mutex_destroy(&sc->lock);
    pthread_cond_destroy(&sc->wake);
    free(sc);
}
