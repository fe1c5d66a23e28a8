/*
 * What a refresh builds and in which order (README, "Refreshing views"): the targets and every
 * stale view they depend on, directly or not (with force, every dependency),
 * dependencies first; disabled views, and views in or reading a dependency
 * cycle, are left out. Pure: the repository and
 * a stale flag per view in, a plan out.
 */
#ifndef DURO_PLANNER_TREE_H
#define DURO_PLANNER_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "catalog/repo.h"

typedef struct TreePlan {
    size_t *views;   /* indices into Repo.views, every view after its dependencies */
    bool *is_target; /* per entry: named by the caller (else built as a dependency) */
    size_t n;
} TreePlan;

/*
 * Plans a refresh of targets (indices into r->views). stale[i] says whether
 * view i needs a refresh. Targets are always in the plan, stale or not, unless
 * disabled or in (or reading) a dependency cycle. *out is overwritten; free with tree_plan_free.
 */
void tree_plan(const Repo *r, const bool *stale, const size_t *targets, size_t n_targets,
               bool force, TreePlan *out);
void tree_plan_free(TreePlan *p);

#endif
