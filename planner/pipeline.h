/*
 * One view's rebuild (README "How a view is rebuilt"): temp table (CREATE TABLE AS, or through a
 * Python processor: export, run, load), tests against it, the swap in one
 * transaction (renames, dependent views, grants), drop of the old table,
 * snapshots; every step timed and recorded in the catalog. A failure at any
 * step leaves the live table as it was. Not for: choosing what to build
 * (planner/tree) or running builds in parallel (planner/worker).
 */
#ifndef DURO_PLANNER_PIPELINE_H
#define DURO_PLANNER_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog/repo.h"
#include "catalog/run.h"
#include "catalog/store.h"
#include "core/settings.h"
#include "planner/dialect.h"
#include "planner/warehouse.h"

typedef struct PipelineResult {
    RunOutcome outcome; /* ok, failed, tests_failed or cancelled */
    bool busy;    /* failed because another live process was building the view: nothing recorded */
    bool fenced;  /* (and busy) this process no longer leads the scheduler: nothing recorded */
    char *error;  /* what went wrong, naming the step; NULL when ok */
    int64_t rows; /* rows of the new table; -1 when unknown */
    int64_t started_us;
    int64_t finished_us;
    int64_t run_id;   /* 0 when nothing was recorded */
    int64_t retry_us; /* a failure of the view's own: its next try (planner/backoff); else 0 */
    bool shared;      /* the outcome of another plan's build of the view (planner/worker): that
                         plan recorded and logged it */
} PipelineResult;

/* The outcome of r in a word: the catalog's ("ok", "failed", ...), or "busy". */
const char *pipeline_outcome_name(const PipelineResult *r);

/*
 * Rebuilds v on w, recording the run with trigger in s. The view's own
 * timeout (config) bounds the whole run: past it the running statement (or
 * Python processor) is stopped and the run fails. settings tells where the
 * views repository and the catalog are (a processor's files and virtual
 * environment) and how to reach S3 (a processor's output on Redshift). Fills
 * *out (free with pipeline_result_free).
 */
void pipeline_refresh(Warehouse *w, Store *s, const Settings *settings, Dialect d, const View *v,
                      RunTrigger trigger, int64_t fence, PipelineResult *out);

/*
 * The next try of view after a failure of its own that ended at finished_us:
 * the backoff after one more failure than the catalog s counts.
 */
int64_t pipeline_next_try(Store *s, const Settings *settings, const char *view,
                          int64_t finished_us);

/* Records, without building, that v was not rebuilt because its dependency dep failed. */
void pipeline_skip_for_dependency(Store *s, const View *v, RunTrigger trigger, const char *dep,
                                  PipelineResult *out);

void pipeline_result_free(PipelineResult *r);

/*
 * Removes what interrupted builds left behind for the views of r: every
 * <table>_duro_temp, and <table>_duro_old (renamed back to <table> when the
 * live table is missing). Logs each action. Returns 0, or -1 with *error.
 */
int pipeline_cleanup_leftovers(Warehouse *w, Dialect d, const Repo *r, char **error) MUST_CHECK;

#endif
