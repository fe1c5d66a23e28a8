/*
 * The background scheduler of `duro serve`: on its own thread, re-scans the
 * views repository (every [views] rescan, or when asked), syncs it into the
 * catalog, and every [worker] poll refreshes the stale views, dependencies
 * first, retrying failures after their backoff (planner/backoff). A repository with
 * problems is logged and the last good one kept. Not for: signals (cli/serve.c).
 */
#ifndef DURO_PLANNER_SCHEDULER_H
#define DURO_PLANNER_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog/repo.h"
#include "catalog/store.h"
#include "core/settings.h"
#include "planner/dialect.h"

typedef struct Scheduler Scheduler;

/* Outcomes of a SchedulerRequest. */
typedef enum SchedulerStatus {
    SCHEDULER_DONE,      /* built, or nothing to do (a read of a view fresh by then) */
    SCHEDULER_UNKNOWN,   /* no such view in the repository */
    SCHEDULER_FAILED,    /* a build failed, or a backoff held it back: failed_view, error */
    SCHEDULER_CANCELLED, /* Duro is stopping */
} SchedulerStatus;

/*
 * A refresh asked for by a client: CALL duro_refresh, or a read of a stale
 * view. Each request's plan runs on a thread of its own, beside the poll's and
 * other requests' (the worker builds a view for one plan at a time, so a request
 * for a view being built waits for that build); requests queued for the same view
 * and kind share one build.
 */
typedef struct SchedulerRequest {
    char *view;           /* schema.table; owned by the caller */
    bool force;           /* rebuild every dependency too, stale or not */
    bool only_if_stale;   /* nothing to do when the view is fresh when the request runs */
    RunTrigger trigger;   /* RUN_TRIGGER_CALL or RUN_TRIGGER_READ */
    int64_t submitted_us; /* monotonic; set by scheduler_submit: when it was asked for */
    /* Set before done() runs; owned by the request (scheduler_request_clear frees them). */
    SchedulerStatus status;
    char *refreshed;     /* the views rebuilt, in build order, comma-separated */
    char *failed_view;   /* SCHEDULER_FAILED: the view whose build failed */
    char *error;         /* SCHEDULER_FAILED: why, naming the step */
    bool held;           /* SCHEDULER_FAILED: nothing was built, failed_view's backoff runs */
    int64_t next_try_us; /* SCHEDULER_FAILED: failed_view's next try; 0 = unknown */
    int64_t started_us;
    int64_t finished_us;
    /* Called once on one of the scheduler's threads; the request is its submitter's again. */
    void (*done)(struct SchedulerRequest *req);
    void *arg;
    struct SchedulerRequest *next; /* the queue's */
} SchedulerRequest;

/* Queues req (filled in: view, force, only_if_stale, trigger, done, arg). Safe from any thread. */
void scheduler_submit(Scheduler *sc, SchedulerRequest *req);
/* Frees the results of a finished request. */
void scheduler_request_clear(SchedulerRequest *req);

/* Opens the catalog, loads the repository and starts the thread. NULL with *error on failure. */
Scheduler *scheduler_start(const Settings *s, Dialect d, char **error);
/* Asks for a re-scan of the repository now (SIGHUP). Safe from any thread. */
void scheduler_rescan(Scheduler *sc);
/* Stops scheduling; builds already running go on (the thread ends after them). Safe from any
 * thread. */
void scheduler_stop(Scheduler *sc);
/* Cancels the running builds. Safe from any thread. */
void scheduler_cancel(Scheduler *sc);
/* Waits up to timeout_ms for the thread to end after a stop; true when it has. */
bool scheduler_wait(Scheduler *sc, int timeout_ms);
/* Joins the (stopped) thread and frees everything. */
void scheduler_free(Scheduler *sc);

#endif
