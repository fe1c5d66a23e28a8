/*
 * One refresh, whoever asks for it (the scheduler's poll, CALL duro_refresh,
 * a read of a stale view, duro refresh): find what is stale in the catalog,
 * leave out what a backoff holds back (planner/backoff) and, for the
 * schedule, the idle views (planner/idle), plan the targets
 * after the dependencies they need (planner/tree), build the plan
 * (planner/worker) and report each build. Not for: queues, threads or logging
 * (planner/scheduler), or printing (cli/refresh).
 */
#ifndef DURO_PLANNER_REFRESH_H
#define DURO_PLANNER_REFRESH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/repo.h"
#include "catalog/run.h"
#include "catalog/store.h"
#include "planner/pipeline.h"
#include "planner/worker.h"

typedef struct RefreshRequest {
    bool all_stale;        /* the targets are every stale view not held back by a backoff */
    const size_t *targets; /* else these: indices into Repo.views */
    size_t n_targets;
    bool force;           /* rebuild every dependency too, stale or not */
    bool only_if_stale;   /* leave out the targets that are fresh */
    RunTrigger trigger;   /* recorded for the targets; the others are RUN_TRIGGER_DEPENDENCY. It
                             says whether backoffs hold targets back (planner/backoff) */
    int64_t submitted_us; /* monotonic: when it was asked for (a build that started after it
                             came is its own, planner/worker); 0 = now */
    int64_t fence;        /* scheduled builds: the leader generation they were decided under (see
                             store_run_begin); 0 = none */
} RefreshRequest;

/* One view of the plan and how its build went. */
typedef struct RefreshBuild {
    const View *view; /* in the repository the refresh ran on */
    RunTrigger trigger;
    PipelineResult result;
} RefreshBuild;

typedef struct RefreshReport {
    RefreshBuild *builds; /* in build order: every view after the views it reads */
    size_t n;
    size_t n_failed; /* builds whose outcome is not ok */
    /* A named target a backoff held back (the first one), or all NULL: */
    char *held_by;         /* the view whose failure holds it back */
    char *held_error;      /* why that view's last refresh failed */
    int64_t held_until_us; /* the next try */
} RefreshReport;

/*
 * The targets of req, given stale[i] for each view of r and held[i], whether
 * it is held back: by a backoff, or, for the schedule, because it is idle
 * (NULL: none is): fills targets (room for
 * r->n_views) with indices into r->views and returns how many. Pure.
 */
size_t refresh_targets(const Repo *r, const RefreshRequest *req, const bool *stale,
                       const bool *held, size_t *targets);

/*
 * Runs req over r on w, as the catalog s tells what is stale now, and blocks
 * until every build has ended. Disabled views are never built, nor, for a
 * trigger that obeys backoffs, a target held back by one. Returns 0 and
 * fills *out (possibly with no builds; free with refresh_report_free), or -1
 * with *error (caller frees) when the catalog cannot be read: nothing built.
 */
int refresh_run(Worker *w, Store *s, const Repo *r, const RefreshRequest *req, RefreshReport *out,
                char **error) MUST_CHECK;
void refresh_report_free(RefreshReport *rep);

/* The views built successfully, in build order, comma-separated; "" for none. Caller frees. */
char *refresh_report_built(const RefreshReport *rep);
/* The first build of the plan that did not succeed, or NULL. */
const RefreshBuild *refresh_report_first_failure(const RefreshReport *rep);

#endif
