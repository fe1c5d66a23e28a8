/*
 * Runs refresh plans: up to [worker] concurrency builds at once, each on its own
 * warehouse connection and catalog handle, a view only after the views it reads
 * in the same plan have been built, and never after one of them failed. The
 * connections stay open between plans. Not for: deciding what is stale.
 */
#ifndef DURO_PLANNER_WORKER_H
#define DURO_PLANNER_WORKER_H

#include "catalog/repo.h"
#include "core/settings.h"
#include "planner/dialect.h"
#include "planner/pipeline.h"
#include "planner/tree.h"

typedef struct Worker Worker;

/* Creates a worker for settings s (not copied: it must outlive the worker). No connection yet. */
Worker *worker_new(const Settings *s, Dialect d);
void worker_free(Worker *w);

/*
 * Builds every view of plan, filling results[k] for plan->views[k] (free each
 * with pipeline_result_free). Targets are recorded with target_trigger, the
 * other views with RUN_TRIGGER_DEPENDENCY. Blocks until every build has ended.
 */
void worker_run(Worker *w, const Repo *r, const TreePlan *plan, RunTrigger target_trigger,
                PipelineResult *results);

/* Cancels the running builds and fails the pending ones (cancelled); safe from any thread.
 * Sticky: later plans are cancelled at once. */
void worker_cancel(Worker *w);

/*
 * Connects to the warehouse, ends the sessions dead processes of this instance left running (and
 * waits for them to end), then removes leftovers of interrupted builds of r's views. worker_run
 * ends such sessions too before each plan, so that no build collides with one.
 */
int worker_cleanup(Worker *w, const Repo *r, char **error) MUST_CHECK;

#endif
