/*
 * Runs refresh plans, several at once from different threads: up to [worker] concurrency builds
 * at once in all, each on its own warehouse connection and catalog handle, a view only after the
 * views it reads in the same plan have been built, never after one of them failed, and never
 * by two plans at once. The connections stay open between plans. Not for: deciding what is stale.
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
 * Safe from several threads at once: plans share the builders, oldest plan first. A view
 * another plan is building waits for that build, whose outcome it then takes (marked shared)
 * when the trigger only asks for freshness (planner/backoff's triggers), or when that build
 * started after this plan came; an explicit trigger's view is otherwise built again. So does a
 * view another process of the same catalog is building. fence, submitted_us: see
 * RefreshRequest.
 */
void worker_run(Worker *w, const Repo *r, const TreePlan *plan, RunTrigger target_trigger,
                int64_t fence, int64_t submitted_us, PipelineResult *results);

/* Cancels the running builds and fails the pending ones (cancelled); safe from any thread.
 * Sticky: later plans are cancelled at once. */
void worker_cancel(Worker *w);

/*
 * Connects to the warehouse, ends the sessions dead processes of this instance left running (and
 * waits for them to end), then removes leftovers of interrupted builds of r's views. Only while
 * no plan runs (it uses the first builder's connection). worker_run ends such sessions too before
 * each plan, so that no build collides with one.
 */
int worker_cleanup(Worker *w, const Repo *r, char **error) MUST_CHECK;

#endif
