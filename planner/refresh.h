/*
 * One refresh, whoever asks for it (the scheduler's poll, CALL duro_refresh,
 * a read of a stale view, duro refresh): find what is stale in the catalog,
 * plan the targets after the dependencies they need (planner/tree), build the
 * plan (planner/worker) and report each build. Not for: queues, threads,
 * backoff or logging (planner/scheduler), or printing (cli/refresh).
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

/*
 * Sets stale[i] for every enabled view i of r that needs a refresh at now_us,
 * as the catalog s (already synced with r) tells. Returns 0, or -1 with *error.
 */
int refresh_stale_views(Store *s, const Repo *r, int64_t now_us, bool *stale,
                        char **error) MUST_CHECK;

/* Whether a stale view must be left out of an all_stale refresh (it is backing off). */
typedef bool (*RefreshSkipFn)(void *arg, const View *v);

typedef struct RefreshRequest {
    bool all_stale;        /* the targets are every stale view that skip does not leave out */
    const size_t *targets; /* else these: indices into Repo.views */
    size_t n_targets;
    bool force;         /* rebuild every dependency too, stale or not */
    bool only_if_stale; /* leave out the targets that are fresh */
    RunTrigger trigger; /* recorded for the targets; the others are RUN_TRIGGER_DEPENDENCY */
    RefreshSkipFn skip; /* with all_stale; NULL = none */
    void *skip_arg;
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
} RefreshReport;

/*
 * The targets of req, given stale[i] for each view of r: fills targets (room
 * for r->n_views) with indices into r->views and returns how many. Pure.
 */
size_t refresh_targets(const Repo *r, const RefreshRequest *req, const bool *stale,
                       size_t *targets);

/*
 * Runs req over r on w, as the catalog s tells what is stale now, and blocks
 * until every build has ended. Disabled views are never built. Returns 0 and
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
