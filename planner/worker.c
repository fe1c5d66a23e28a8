/*
 * The plan runner (see worker.h): [worker] concurrency builder threads, one per slot
 * (connection + catalog handle), started with the first plan, share the plans being run under
 * one mutex. Each takes, oldest plan first, the first pending view whose dependencies in its
 * plan are built and that no other builder is building, builds it, hands its outcome to the
 * other plans waiting for that view, and wakes everyone. A view whose dependency failed is
 * recorded as failed without being built. Before each plan, and in the clean-up at start, the
 * worker ends the warehouse sessions dead processes of this instance left running (orphans), on
 * a connection of its own (the janitor's), one plan at a time.
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
#include "planner/backoff.h"

enum { PENDING, RUNNING, BUILT, FAILED };

#define NOT_PLANNED SIZE_MAX

/* One worker_run's plan, in the worker's list while it runs. */
typedef struct Plan {
    const Repo *repo;
    const TreePlan *tree;
    RunTrigger trigger;
    int64_t fence;         /* see RefreshRequest */
    bool explicit_trigger; /* CALL, web: takes only builds that started after it came */
    int64_t submitted_us;  /* monotonic */
    int64_t submitted_wall_us;
    PipelineResult *results;
    unsigned char *state; /* per plan entry */
    size_t *pos;          /* per view of repo: its plan entry, or NOT_PLANNED */
    size_t left;          /* entries not ended yet */
    struct Plan *next;
} Plan;

typedef struct Slot {
    Warehouse *wh;
    Store *store;
    const char *building;   /* the view being built on this slot, or NULL; under lock */
    int64_t building_since; /* monotonic start of that build */
} Slot;

struct Worker {
    const Settings *settings;
    Dialect dialect;
    int concurrency;
    Slot *slots;
    pthread_t *threads;
    int n_threads; /* builders started */
    bool stopping; /* worker_free: builders end */
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a plan came, an entry ended, or stopping */
    atomic_bool cancelled;
    Plan *plans; /* oldest first, under lock */
    /* The janitor: ends orphans and removes leftovers, on its own connection (set under lock, so
     * that worker_cancel reaches it), one caller at a time under janitor_lock. */
    pthread_mutex_t janitor_lock;
    Warehouse *janitor;
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
    w->threads = xcalloc((size_t)w->concurrency, sizeof(pthread_t));
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->changed, NULL);
    pthread_mutex_init(&w->janitor_lock, NULL);
    atomic_init(&w->cancelled, false);
    return w;
}

void worker_free(Worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    assert(!w->plans); /* every worker_run has returned */
    w->stopping = true;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->lock);
    for (int i = 0; i < w->n_threads; i++)
        pthread_join(w->threads[i], NULL);
    for (int i = 0; i < w->concurrency; i++) {
        wh_close(w->slots[i].wh);
        store_close(w->slots[i].store);
    }
    wh_close(w->janitor);
    free(w->threads);
    free(w->slots);
    pthread_mutex_destroy(&w->janitor_lock);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->changed);
    free(w);
}

/* How long the janitor waits for orphaned sessions to end, and each statement of it. */
#define ORPHAN_WAIT_US      (30 * CLOCK_US_PER_SECOND)
#define ORPHAN_STATEMENT_US (10 * CLOCK_US_PER_SECOND)

/* Opens *wh when missing (or lost), under the worker's lock as worker_cancel reads it, and names
 * its session after what (as wh_label). Returns 0, or -1 with *error. */
static int connection_ready(Worker *w, Warehouse **wh, const char *what, char **error)
{
    if (*wh && !wh_ok(*wh)) {
        pthread_mutex_lock(&w->lock);
        wh_close(*wh);
        *wh = NULL;
        pthread_mutex_unlock(&w->lock);
    }
    if (!*wh) {
        Warehouse *opened;
        if (wh_connect(w->settings, &opened, error) != 0)
            return -1;
        pthread_mutex_lock(&w->lock);
        *wh = opened;
        if (atomic_load(&w->cancelled))
            wh_cancel(opened);
        pthread_mutex_unlock(&w->lock);
    }
    /* A cancel is left to the work that follows, which ends as cancelled (the flag sticks). */
    WhStatus st = wh_label(*wh, what, clock_mono_us() + ORPHAN_STATEMENT_US);
    if (st != WH_OK && st != WH_CANCELLED) {
        *error = xasprintf("cannot use the warehouse connection: %s", wh_error(*wh));
        return -1;
    }
    return 0;
}

/* Opens what the slot lacks (or lost), its session named after what. 0, or -1 with *error. */
static int slot_ready(Worker *w, Slot *slot, const char *what, char **error)
{
    if (!slot->store && store_open(settings_catalog_target(w->settings), &slot->store, error) != 0)
        return -1;
    return connection_ready(w, &slot->wh, what, error);
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

/* Under janitor_lock: ends the orphans on the janitor's connection. 0, or -1 with *error. */
static int orphans_end(Worker *w, char **error)
{
    if (connection_ready(w, &w->janitor, "cleanup", error) != 0)
        return -1;
    return end_orphans(w, w->janitor, error);
}

/* Under lock: whether a builder is building the view named name. */
static bool being_built(const Worker *w, const char *name)
{
    for (int i = 0; i < w->concurrency; i++)
        if (w->slots[i].building && strcmp(w->slots[i].building, name) == 0)
            return true;
    return false;
}

/*
 * Under lock: whether entry k of p may start, as its dependencies in p stand: true when all are
 * built, or when one failed (then *failed_dep is that view, else NOT_PLANNED).
 */
static bool deps_done(const Plan *p, size_t k, size_t *failed_dep)
{
    const View *v = &p->repo->views[p->tree->views[k]];
    bool ready = true;
    *failed_dep = NOT_PLANNED;
    for (size_t i = 0; i < v->n_deps; i++) {
        size_t d = p->pos[v->deps[i]];
        if (d == NOT_PLANNED)
            continue;
        assert(d < k); /* the plan puts dependencies first */
        if (p->state[d] == FAILED) {
            *failed_dep = v->deps[i];
            return true;
        }
        if (p->state[d] != BUILT)
            ready = false;
    }
    return ready;
}

/* Under lock: the next entry to work on, oldest plan first, in *k and *failed_dep (as
 * deps_done); NULL when there is none now. */
static Plan *pick(Worker *w, size_t *k, size_t *failed_dep)
{
    for (Plan *p = w->plans; p; p = p->next) {
        for (size_t i = 0; p->left && i < p->tree->n; i++) {
            if (p->state[i] != PENDING || !deps_done(p, i, failed_dep))
                continue;
            if (*failed_dep == NOT_PLANNED &&
                being_built(w, p->repo->views[p->tree->views[i]].name))
                continue;
            *k = i;
            return p;
        }
    }
    return NULL;
}

/* Entry k of p ended as its result says. Under lock. */
static void entry_end(Worker *w, Plan *p, size_t k)
{
    assert(p->state[k] == PENDING || p->state[k] == RUNNING);
    p->state[k] = p->results[k].outcome == RUN_OK ? BUILT : FAILED;
    p->left--;
    pthread_cond_broadcast(&w->changed);
}

/*
 * Under lock: hands the outcome of from's entry k, a build that started at since_us, to the
 * other plans whose entry for the same view is pending and could start now (see worker.h).
 */
static void share(Worker *w, const Plan *from, size_t k, int64_t since_us)
{
    const View *v = &from->repo->views[from->tree->views[k]];
    const PipelineResult *res = &from->results[k];
    for (Plan *p = w->plans; p; p = p->next) {
        if (p == from || !p->left)
            continue;
        const View *same = p->repo == from->repo ? v : repo_find(p->repo, v->name);
        size_t e = same ? p->pos[same - p->repo->views] : NOT_PLANNED, failed_dep;
        if (e == NOT_PLANNED || p->state[e] != PENDING || !deps_done(p, e, &failed_dep) ||
            failed_dep != NOT_PLANNED || (p->explicit_trigger && since_us < p->submitted_us))
            continue;
        PipelineResult *out = &p->results[e];
        *out = *res;
        out->error = res->error ? xstrdup(res->error) : NULL;
        out->shared = true;
        entry_end(w, p, e);
    }
}

/* How often a build waiting for another process's build of the same view looks at the catalog. */
#define OTHER_BUILD_POLL_NS (250 * 1000000L)

/*
 * The build of v that pipeline_refresh found busy: when the catalog shows the view being built
 * by another process (another instance on a shared catalog, or `duro refresh` on the same file),
 * waits for that build to end, within v's timeout, and takes its outcome as the plans of one
 * process share theirs: at once for a schedule or a read, and for an explicit request only a
 * build that started after it came (else it is built again). Returns false, *out untouched,
 * when no such build is to be seen (another Duro with a catalog of its own holds the warehouse's
 * guard): the request is refused as busy.
 */
static bool await_other_build(Worker *w, Slot *slot, const Plan *p, const View *v,
                              RunTrigger trigger, PipelineResult *out)
{
    int64_t deadline = clock_mono_us() + v->config.timeout * CLOCK_US_PER_SECOND;
    bool waited = false;
    for (;;) {
        if (atomic_load(&w->cancelled) || clock_mono_us() >= deadline)
            return false; /* still busy */
        StoreRun *runs = NULL;
        size_t n = 0;
        RunOutcome outcome = RUN_FAILED;
        if (store_runs_newest(slot->store, v->name, 0, 1, &runs, &n) != 0 || n == 0 ||
            run_outcome_parse(runs[0].outcome, &outcome) != 0) {
            store_runs_free(runs, n);
            return waited;
        }
        if (outcome != RUN_RUNNING) {
            bool take = !p->explicit_trigger || runs[0].started_us >= p->submitted_wall_us;
            if (!waited && runs[0].finished_us < p->submitted_wall_us) {
                store_runs_free(runs, n); /* no build of this catalog's held it */
                return false;
            }
            if (!take) {
                store_runs_free(runs, n);
                /* Built again for an explicit request that came after that build started. */
                pipeline_result_free(out);
                pipeline_refresh(slot->wh, slot->store, w->settings, w->dialect, v, trigger,
                                 p->fence, out);
                if (!out->busy)
                    return true;
                waited = true; /* another process's build began meanwhile: wait for it */
                struct timespec pause = {0, OTHER_BUILD_POLL_NS};
                nanosleep(&pause, NULL);
                continue;
            }
            pipeline_result_free(out);
            *out = (PipelineResult){.outcome = outcome,
                                    .rows = runs[0].rows,
                                    .error = runs[0].error ? xstrdup(runs[0].error) : NULL,
                                    .started_us = runs[0].started_us,
                                    .finished_us = runs[0].finished_us,
                                    .shared = true};
            log_info("refresh %s: took the outcome of run %lld of another process (%s)", v->name,
                     (long long)runs[0].id, run_outcome_name(outcome));
            store_runs_free(runs, n);
            return true;
        }
        if (!waited)
            log_warn("refresh %s: run %lld of another process is building it: waiting for it",
                     v->name, (long long)runs[0].id);
        store_runs_free(runs, n);
        waited = true;
        struct timespec pause = {0, OTHER_BUILD_POLL_NS};
        nanosleep(&pause, NULL);
    }
}

/* Builds (or skips) entry k of p on slot; fills its result. */
static void build(Worker *w, Slot *slot, const Plan *p, size_t k, size_t failed_dep)
{
    const View *v = &p->repo->views[p->tree->views[k]];
    RunTrigger trigger = p->tree->is_target[k] ? p->trigger : RUN_TRIGGER_DEPENDENCY;
    PipelineResult *out = &p->results[k];
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
            if (store_run_begin(slot->store, v->name, trigger, out->started_us, p->fence, &id) ==
                    0 &&
                store_run_finish(slot->store, id, RUN_FAILED, out->finished_us, -1, out->error,
                                 NULL, out->retry_us) != 0)
                log_error("%s: cannot record run: %s", v->name, store_error(slot->store));
        }
    } else if (failed_dep != NOT_PLANNED) {
        pipeline_skip_for_dependency(slot->store, v, trigger, p->repo->views[failed_dep].name, out);
    } else {
        log_info("refresh %s started (%s)", v->name, run_trigger_name(trigger));
        pipeline_refresh(slot->wh, slot->store, w->settings, w->dialect, v, trigger, p->fence, out);
        if (out->busy && !out->fenced)
            await_other_build(w, slot, p, v, trigger, out);
    }
    free(what);
    free(error);
}

static void *thread_main(void *arg)
{
    Thread *t = arg;
    Worker *w = t->w;
    Slot *slot = t->slot;
    free(t);
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        size_t k, failed_dep;
        Plan *p = pick(w, &k, &failed_dep);
        if (!p) {
            pthread_cond_wait(&w->changed, &w->lock);
            continue;
        }
        const char *name = p->repo->views[p->tree->views[k]].name;
        p->state[k] = RUNNING;
        slot->building = failed_dep == NOT_PLANNED ? name : NULL;
        slot->building_since = clock_mono_us();
        pthread_mutex_unlock(&w->lock);
        build(w, slot, p, k, failed_dep);
        pthread_mutex_lock(&w->lock);
        slot->building = NULL;
        entry_end(w, p, k);
        if (failed_dep == NOT_PLANNED) {
            /* Taken from another process's build: that build started when it did. */
            const PipelineResult *res = &p->results[k];
            int64_t since = slot->building_since;
            if (res->shared && res->started_us > 0)
                since = clock_mono_us() - (clock_wall_us() - res->started_us);
            share(w, p, k, since);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Under lock: starts the builders not started yet; returns how many run. */
static int start_threads(Worker *w)
{
    while (w->n_threads < w->concurrency) {
        Thread *t = xmalloc(sizeof(*t));
        *t = (Thread){w, &w->slots[w->n_threads]};
        if (pthread_create(&w->threads[w->n_threads], NULL, thread_main, t) != 0) {
            free(t);
            log_error("cannot start a builder thread");
            break;
        }
        w->n_threads++;
    }
    return w->n_threads;
}

void worker_run(Worker *w, const Repo *r, const TreePlan *plan, RunTrigger target_trigger,
                int64_t fence, int64_t submitted_us, PipelineResult *results)
{
    if (plan->n == 0)
        return;
    char *error = NULL;
    pthread_mutex_lock(&w->janitor_lock);
    if (!atomic_load(&w->cancelled) && orphans_end(w, &error) != 0) {
        /* The builds go on: at worst one collides with an orphan and fails. */
        log_warn("%s", error);
        free(error);
    }
    pthread_mutex_unlock(&w->janitor_lock);
    Plan p = {
        .repo = r,
        .tree = plan,
        .trigger = target_trigger,
        .fence = fence,
        .explicit_trigger = !backoff_applies(target_trigger),
        .submitted_us = submitted_us ? submitted_us : clock_mono_us(),
        .submitted_wall_us = clock_wall_us() - (submitted_us ? clock_mono_us() - submitted_us : 0),
        .results = results,
        .state = xcalloc(plan->n, 1),
        .pos = xmalloc((r->n_views ? r->n_views : 1) * sizeof(size_t)),
        .left = plan->n,
    };
    for (size_t i = 0; i < r->n_views; i++)
        p.pos[i] = NOT_PLANNED;
    for (size_t k = 0; k < plan->n; k++) {
        assert(plan->views[k] < r->n_views && p.pos[plan->views[k]] == NOT_PLANNED);
        p.pos[plan->views[k]] = k;
    }

    pthread_mutex_lock(&w->lock);
    if (start_threads(w) == 0) {
        for (size_t k = 0; k < plan->n; k++) {
            memset(&results[k], 0, sizeof(results[k]));
            results[k].outcome = RUN_FAILED;
            results[k].rows = -1;
            results[k].error = xstrdup("cannot start a builder thread");
        }
    } else {
        Plan **tail = &w->plans;
        while (*tail)
            tail = &(*tail)->next;
        *tail = &p;
        pthread_cond_broadcast(&w->changed);
        while (p.left)
            pthread_cond_wait(&w->changed, &w->lock);
        for (Plan **q = &w->plans; *q; q = &(*q)->next)
            if (*q == &p) {
                *q = p.next;
                break;
            }
    }
    pthread_mutex_unlock(&w->lock);
    free(p.state);
    free(p.pos);
}

void worker_cancel(Worker *w)
{
    pthread_mutex_lock(&w->lock);
    atomic_store(&w->cancelled, true);
    for (int i = 0; i < w->concurrency; i++)
        if (w->slots[i].wh)
            wh_cancel(w->slots[i].wh);
    if (w->janitor)
        wh_cancel(w->janitor);
    pthread_mutex_unlock(&w->lock);
}

int worker_cleanup(Worker *w, const Repo *r, char **error)
{
    pthread_mutex_lock(&w->lock);
    bool busy = w->plans != NULL;
    pthread_mutex_unlock(&w->lock);
    if (busy) {
        *error = xstrdup("builds are running");
        return -1;
    }
    pthread_mutex_lock(&w->janitor_lock);
    int rc = orphans_end(w, error);
    if (rc == 0)
        rc = pipeline_cleanup_leftovers(w->janitor, w->dialect, r, error);
    pthread_mutex_unlock(&w->janitor_lock);
    return rc;
}
