/*
 * The plan runner (see worker.h): a few threads share one plan under a mutex.
 * Each takes the first pending view whose dependencies in the plan are built,
 * builds it on its own slot (connection + catalog handle), and wakes the others.
 * A view whose dependency failed is recorded as failed without being built.
 * Before each plan, and in the clean-up at start, the worker ends the warehouse
 * sessions dead processes of this instance left running (orphans).
 */
#include "planner/worker.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"

enum { PENDING, RUNNING, BUILT, FAILED };

#define NOT_PLANNED SIZE_MAX

typedef struct Slot {
    Warehouse *wh;
    Store *store;
} Slot;

struct Worker {
    const Settings *settings;
    Dialect dialect;
    int concurrency;
    Slot *slots;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    atomic_bool cancelled;
    /* The plan being run, under lock. */
    const Repo *repo;
    const TreePlan *plan;
    RunTrigger trigger;
    PipelineResult *results;
    unsigned char *state; /* per plan entry */
    size_t *pos;          /* per view: its plan entry, or NOT_PLANNED */
};

typedef struct Thread {
    Worker *w;
    Slot *slot;
} Thread;

Worker *worker_new(const Settings *s, Dialect d)
{
    Worker *w = xcalloc(1, sizeof(*w));
    w->settings = s;
    w->dialect = d;
    w->concurrency = s->worker.concurrency > 0 ? s->worker.concurrency : 1;
    w->slots = xcalloc((size_t)w->concurrency, sizeof(Slot));
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->changed, NULL);
    atomic_init(&w->cancelled, false);
    return w;
}

void worker_free(Worker *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->concurrency; i++) {
        wh_close(w->slots[i].wh);
        store_close(w->slots[i].store);
    }
    free(w->slots);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->changed);
    free(w);
}

/* How long the start waits for orphaned sessions to end, and each statement of it. */
#define ORPHAN_WAIT_US      (30 * CLOCK_US_PER_SECOND)
#define ORPHAN_STATEMENT_US (10 * CLOCK_US_PER_SECOND)

/* Opens what the slot lacks (or lost) and names its session after what (as wh_label).
 * Returns 0, or -1 with *error. */
static int slot_ready(Worker *w, Slot *slot, const char *what, char **error)
{
    if (!slot->store && store_open(w->settings->catalog.path, &slot->store, error) != 0)
        return -1;
    if (slot->wh && !wh_ok(slot->wh)) {
        pthread_mutex_lock(&w->lock);
        wh_close(slot->wh);
        slot->wh = NULL;
        pthread_mutex_unlock(&w->lock);
    }
    if (!slot->wh) {
        Warehouse *wh;
        if (wh_connect(w->settings, &wh, error) != 0)
            return -1;
        pthread_mutex_lock(&w->lock);
        slot->wh = wh;
        if (atomic_load(&w->cancelled))
            wh_cancel(wh);
        pthread_mutex_unlock(&w->lock);
    }
    /* A cancel is left to the work that follows, which ends as cancelled (the flag sticks). */
    WhStatus st = wh_label(slot->wh, what, clock_mono_us() + ORPHAN_STATEMENT_US);
    if (st != WH_OK && st != WH_CANCELLED) {
        *error = xasprintf("cannot use the warehouse connection: %s", wh_error(slot->wh));
        return -1;
    }
    return 0;
}

/* Whether server process pid (text) still has a session. */
static bool session_alive(Worker *w, Warehouse *wh, const char *pid)
{
    const char *params[] = {pid};
    PGresult *res = NULL;
    bool alive = wh_exec(wh, dialect_session_alive_sql(w->dialect), 1, params,
                         clock_mono_us() + ORPHAN_STATEMENT_US, &res) != WH_OK ||
                 PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "0") != 0;
    PQclear(res);
    return alive;
}

/*
 * Ends this instance's orphaned sessions (wh_name_orphaned) with the dialect's terminate, and
 * waits until they are gone, so that none commits after what follows: a statement of a dead
 * build still running would otherwise finish its temp table after the clean-up, or collide with
 * the next build of the view. Returns 0, or -1 with *error.
 */
static int end_orphans(Worker *w, Warehouse *wh, char **error)
{
    char *prefix = wh_instance_prefix(w->settings);
    const char *params[] = {prefix};
    PGresult *res = NULL;
    StrVec ended = {0};
    int rc = 0;
    int64_t deadline = clock_mono_us() + ORPHAN_WAIT_US;
    if (wh_exec(wh, dialect_sessions_sql(w->dialect), 1, params,
                clock_mono_us() + ORPHAN_STATEMENT_US, &res) != WH_OK) {
        *error = xasprintf("cannot list the warehouse sessions: %s", wh_error(wh));
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        const char *pid = PQgetvalue(res, i, 0), *name = PQgetvalue(res, i, 1);
        if (!wh_name_orphaned(w->settings, name))
            continue;
        log_warn("ending warehouse session %s (server process %s): the Duro process that "
                 "started it is gone",
                 name, pid);
        const char *tparams[] = {pid};
        if (wh_exec(wh, dialect_terminate_sql(w->dialect), 1, tparams,
                    clock_mono_us() + ORPHAN_STATEMENT_US, NULL) != WH_OK) {
            *error = xasprintf("cannot end the orphaned warehouse session %s (server process %s): "
                               "%s",
                               name, pid, wh_error(wh));
            rc = -1;
        } else {
            strvec_push(&ended, pid);
        }
    }
    for (size_t i = 0; rc == 0 && i < ended.n;) {
        if (!session_alive(w, wh, ended.items[i])) {
            i++;
        } else if (clock_mono_us() >= deadline || wh_cancel_requested(wh)) {
            *error = xasprintf("the orphaned warehouse session of server process %s has not "
                               "ended",
                               ended.items[i]);
            rc = -1;
        } else {
            struct timespec pause = {0, 100 * 1000000L};
            nanosleep(&pause, NULL);
        }
    }
    PQclear(res);
    strvec_free(&ended);
    free(prefix);
    return rc;
}

/* Ends the orphans on the first slot. Returns 0, or -1 with *error. */
static int orphans_end(Worker *w, char **error)
{
    if (slot_ready(w, &w->slots[0], "cleanup", error) != 0)
        return -1;
    return end_orphans(w, w->slots[0].wh, error);
}

/*
 * Under lock: the next plan entry to work on, or SIZE_MAX when there is none
 * now. *failed_dep is set when that entry's dependency failed. *all_done tells
 * whether every entry has ended.
 */
static size_t pick(Worker *w, size_t *failed_dep, bool *all_done)
{
    *all_done = true;
    *failed_dep = NOT_PLANNED;
    for (size_t k = 0; k < w->plan->n; k++) {
        if (w->state[k] == RUNNING)
            *all_done = false;
        if (w->state[k] != PENDING)
            continue;
        *all_done = false;
        const View *v = &w->repo->views[w->plan->views[k]];
        bool ready = true;
        for (size_t i = 0; i < v->n_deps; i++) {
            size_t p = w->pos[v->deps[i]];
            if (p == NOT_PLANNED)
                continue;
            assert(p < k); /* the plan puts dependencies first */
            if (w->state[p] == FAILED) {
                *failed_dep = v->deps[i];
                return k;
            }
            if (w->state[p] != BUILT)
                ready = false;
        }
        if (ready)
            return k;
    }
    return SIZE_MAX;
}

/* Builds (or skips) plan entry k on slot; fills its result. */
static void build(Worker *w, Slot *slot, size_t k, size_t failed_dep)
{
    const View *v = &w->repo->views[w->plan->views[k]];
    RunTrigger trigger = w->plan->is_target[k] ? w->trigger : RUN_TRIGGER_DEPENDENCY;
    PipelineResult *out = &w->results[k];
    char *error = NULL;
    char *what = xasprintf("build %s", v->name);
    if (atomic_load(&w->cancelled)) {
        memset(out, 0, sizeof(*out));
        out->outcome = RUN_CANCELLED;
        out->rows = -1;
        out->error = xstrdup("cancelled before it started: Duro is stopping");
    } else if (slot_ready(w, slot, what, &error) != 0) {
        memset(out, 0, sizeof(*out));
        out->outcome = RUN_FAILED;
        out->rows = -1;
        out->started_us = out->finished_us = clock_wall_us();
        out->error = error;
        error = NULL;
        if (slot->store) { /* the warehouse is unreachable: say so in the run log */
            int64_t id;
            out->retry_us = pipeline_next_try(slot->store, w->settings, v->name, out->finished_us);
            if (store_run_begin(slot->store, v->name, trigger, out->started_us, &id) == 0 &&
                store_run_finish(slot->store, id, RUN_FAILED, out->finished_us, -1, out->error,
                                 NULL, out->retry_us) != 0)
                log_error("%s: cannot record run: %s", v->name, store_error(slot->store));
        }
    } else if (failed_dep != NOT_PLANNED) {
        pipeline_skip_for_dependency(slot->store, v, trigger, w->repo->views[failed_dep].name, out);
    } else {
        log_info("refresh %s started (%s)", v->name, run_trigger_name(trigger));
        pipeline_refresh(slot->wh, slot->store, w->settings, w->dialect, v, trigger, out);
    }
    free(what);
    free(error);
}

static void *thread_main(void *arg)
{
    Thread *t = arg;
    Worker *w = t->w;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        size_t failed_dep;
        bool all_done;
        size_t k = pick(w, &failed_dep, &all_done);
        if (all_done)
            break;
        if (k == SIZE_MAX) {
            pthread_cond_wait(&w->changed, &w->lock);
            continue;
        }
        w->state[k] = RUNNING;
        pthread_mutex_unlock(&w->lock);
        build(w, t->slot, k, failed_dep);
        pthread_mutex_lock(&w->lock);
        assert(w->state[k] == RUNNING);
        w->state[k] = w->results[k].outcome == RUN_OK ? BUILT : FAILED;
        pthread_cond_broadcast(&w->changed);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

void worker_run(Worker *w, const Repo *r, const TreePlan *plan, RunTrigger target_trigger,
                PipelineResult *results)
{
    if (plan->n == 0)
        return;
    char *error = NULL;
    if (!atomic_load(&w->cancelled) && orphans_end(w, &error) != 0) {
        /* The builds go on: at worst one collides with an orphan and fails. */
        log_warn("%s", error);
        free(error);
    }
    pthread_mutex_lock(&w->lock);
    assert(!w->plan); /* one plan at a time */
    w->repo = r;
    w->plan = plan;
    w->trigger = target_trigger;
    w->results = results;
    w->state = xcalloc(plan->n, 1);
    w->pos = xmalloc((r->n_views ? r->n_views : 1) * sizeof(size_t));
    for (size_t i = 0; i < r->n_views; i++)
        w->pos[i] = NOT_PLANNED;
    for (size_t k = 0; k < plan->n; k++) {
        assert(plan->views[k] < r->n_views && w->pos[plan->views[k]] == NOT_PLANNED);
        w->pos[plan->views[k]] = k;
    }
    pthread_mutex_unlock(&w->lock);

    int n = w->concurrency < (int)plan->n ? w->concurrency : (int)plan->n;
    Thread *threads = xcalloc((size_t)n, sizeof(Thread));
    pthread_t *tids = xcalloc((size_t)n, sizeof(pthread_t));
    int started = 0;
    for (int i = 0; i < n; i++) {
        threads[i] = (Thread){w, &w->slots[i]};
        if (pthread_create(&tids[started], NULL, thread_main, &threads[i]) == 0)
            started++;
    }
    if (started == 0)
        thread_main(&threads[0]);
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    free(threads);
    free(tids);

    pthread_mutex_lock(&w->lock);
    free(w->state);
    free(w->pos);
    w->state = NULL;
    w->pos = NULL;
    w->plan = NULL;
    pthread_mutex_unlock(&w->lock);
}

void worker_cancel(Worker *w)
{
    pthread_mutex_lock(&w->lock);
    atomic_store(&w->cancelled, true);
    for (int i = 0; i < w->concurrency; i++)
        if (w->slots[i].wh)
            wh_cancel(w->slots[i].wh);
    pthread_mutex_unlock(&w->lock);
}

int worker_cleanup(Worker *w, const Repo *r, char **error)
{
    if (orphans_end(w, error) != 0)
        return -1;
    return pipeline_cleanup_leftovers(w->slots[0].wh, w->dialect, r, error);
}
