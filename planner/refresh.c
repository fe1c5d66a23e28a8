/*
 * A refresh from request to report (see refresh.h): the stale flags from the
 * catalog, the targets (named, or every stale view), a plan from tree_plan,
 * the builds from worker_run, and each result moved into the report. Not
 * for: deciding staleness (planner/staleness) or the order of builds.
 */
#include "planner/refresh.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "planner/staleness.h"
#include "planner/tree.h"

int refresh_stale_views(Store *s, const Repo *r, int64_t now_us, bool *stale, char **error)
{
    StoreView *views = NULL;
    size_t n = 0;
    if (store_list_views(s, &views, &n) != 0) {
        *error = xasprintf("cannot read the catalog: %s", store_error(s));
        return -1;
    }
    /* Both lists are sorted by name: walk them together. */
    size_t k = 0;
    for (size_t i = 0; i < r->n_views; i++) {
        const View *v = &r->views[i];
        stale[i] = false;
        while (k < n && strcmp(views[k].name, v->name) < 0)
            k++;
        if (k == n || strcmp(views[k].name, v->name) != 0 || !v->enabled)
            continue;
        const StoreView *sv = &views[k];
        StalenessInput in = staleness_from_store(sv, now_us);
        in.enabled = v->enabled; /* the repository's word, newer than the catalog's */
        in.hash = v->hash;
        in.effective_interval = v->effective_interval;
        stale[i] = staleness_needs_refresh(&in);
    }
    store_views_free(views, n);
    return 0;
}

size_t refresh_targets(const Repo *r, const RefreshRequest *req, const bool *stale, size_t *targets)
{
    size_t n = 0;
    if (req->all_stale) {
        for (size_t i = 0; i < r->n_views; i++)
            if (stale[i] && !(req->skip && req->skip(req->skip_arg, &r->views[i])))
                targets[n++] = i;
        return n;
    }
    for (size_t i = 0; i < req->n_targets; i++) {
        assert(req->targets[i] < r->n_views);
        if (!req->only_if_stale || stale[req->targets[i]])
            targets[n++] = req->targets[i];
    }
    return n;
}

int refresh_run(Worker *w, Store *s, const Repo *r, const RefreshRequest *req, RefreshReport *out,
                char **error)
{
    memset(out, 0, sizeof(*out));
    size_t room = r->n_views ? r->n_views : 1;
    assert(req->all_stale || req->n_targets <= r->n_views);
    bool *stale = xcalloc(room, sizeof(bool));
    if (refresh_stale_views(s, r, clock_wall_us(), stale, error) != 0) {
        free(stale);
        return -1;
    }
    size_t *targets = xmalloc(room * sizeof(size_t));
    size_t n = refresh_targets(r, req, stale, targets);
    if (n) {
        TreePlan plan;
        tree_plan(r, stale, targets, n, req->force, &plan);
        PipelineResult *results = xcalloc(plan.n ? plan.n : 1, sizeof(PipelineResult));
        worker_run(w, r, &plan, req->trigger, results);
        out->builds = xcalloc(plan.n ? plan.n : 1, sizeof(RefreshBuild));
        for (size_t k = 0; k < plan.n; k++) {
            assert(plan.views[k] < r->n_views && r->views[plan.views[k]].enabled);
            RefreshBuild *b = &out->builds[out->n++];
            b->view = &r->views[plan.views[k]];
            b->trigger = plan.is_target[k] ? req->trigger : RUN_TRIGGER_DEPENDENCY;
            b->result = results[k]; /* the report owns its strings now */
            if (b->result.outcome != RUN_OK)
                out->n_failed++;
        }
        free(results);
        tree_plan_free(&plan);
    }
    free(targets);
    free(stale);
    return 0;
}

void refresh_report_free(RefreshReport *rep)
{
    for (size_t k = 0; k < rep->n; k++)
        pipeline_result_free(&rep->builds[k].result);
    free(rep->builds);
    memset(rep, 0, sizeof(*rep));
}

char *refresh_report_built(const RefreshReport *rep)
{
    StrVec built = {0};
    for (size_t k = 0; k < rep->n; k++)
        if (rep->builds[k].result.outcome == RUN_OK)
            strvec_push(&built, rep->builds[k].view->name);
    char *text = strvec_join(&built, ",");
    strvec_free(&built);
    return text;
}

const RefreshBuild *refresh_report_first_failure(const RefreshReport *rep)
{
    for (size_t k = 0; k < rep->n; k++)
        if (rep->builds[k].result.outcome != RUN_OK)
            return &rep->builds[k];
    return NULL;
}
