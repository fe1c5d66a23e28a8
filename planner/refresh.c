/*
 * A refresh from request to report (see refresh.h): the stale flags from the
 * catalog, the targets (named, or every stale view), a plan from tree_plan,
 * the targets a backoff holds back left out (planner/backoff), the builds
 * from worker_run, and each result moved into the report. Not for: deciding
 * staleness (planner/staleness) or the order of builds.
 */
#include "planner/refresh.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "planner/backoff.h"
#include "planner/idle.h"
#include "planner/staleness.h"
#include "planner/tree.h"

/* The catalog's view (in views, sorted by name) of each view of r, or NULL. */
static void match_views(const Repo *r, const StoreView *views, size_t n, const StoreView **match)
{
    /* Both lists are sorted by name: walk them together. */
    size_t k = 0;
    for (size_t i = 0; i < r->n_views; i++) {
        while (k < n && strcmp(views[k].name, r->views[i].name) < 0)
            k++;
        match[i] = k < n && strcmp(views[k].name, r->views[i].name) == 0 ? &views[k] : NULL;
    }
}

/* The staleness input of v, known to the catalog as views[k], at now_us; quiet from quiet
 * (idle_quiet_all's), or false when NULL. */
static StalenessInput view_input(const View *v, const StoreView *views, size_t k, int64_t now_us,
                                 const bool *quiet)
{
    StalenessInput in = staleness_from_store(&views[k], now_us);
    in.enabled = v->enabled; /* the repository's word, newer than the catalog's */
    in.hash = v->hash;
    in.effective_interval = v->effective_interval;
    in.quiet = quiet && quiet[k];
    return in;
}

size_t refresh_targets(const Repo *r, const RefreshRequest *req, const bool *stale,
                       const bool *held, size_t *targets)
{
    size_t n = 0;
    if (req->all_stale) {
        for (size_t i = 0; i < r->n_views; i++)
            if (stale[i] && !(held && held[i]))
                targets[n++] = i;
        return n;
    }
    for (size_t i = 0; i < req->n_targets; i++) {
        size_t t = req->targets[i];
        assert(t < r->n_views);
        if ((!req->only_if_stale || stale[t]) && !(held && held[t]))
            targets[n++] = t;
    }
    return n;
}

/*
 * Fills stale[] and held[]: for the schedule, the idle views (planner/staleness), and when req's
 * trigger obeys backoffs, the views that could be targets a backoff holds back; the first named
 * target held back goes into out.
 * Returns 0, or -1 with *error when the catalog cannot be read.
 */
static int refresh_state(Store *s, const Repo *r, const RefreshRequest *req, bool *stale,
                         bool *held, RefreshReport *out, char **error)
{
    StoreView *views = NULL;
    size_t n = 0;
    if (store_list_views(s, &views, &n) != 0) {
        *error = xasprintf("cannot read the catalog: %s", store_error(s));
        return -1;
    }
    int64_t now = clock_wall_us();
    const StoreView **match = xcalloc(r->n_views ? r->n_views : 1, sizeof *match);
    match_views(r, views, n, match);
    bool *named = xcalloc(r->n_views ? r->n_views : 1, sizeof(bool));
    for (size_t i = 0; !req->all_stale && i < req->n_targets; i++)
        named[req->targets[i]] = true;
    bool *quiet = req->all_stale ? idle_quiet_all(views, n, now) : NULL;
    for (size_t i = 0; i < r->n_views; i++) {
        stale[i] = false;
        if (match[i] && r->views[i].enabled) {
            StalenessInput in =
                view_input(&r->views[i], views, (size_t)(match[i] - views), now, quiet);
            stale[i] = staleness_needs_refresh(&in);
            /* The schedule leaves idle views alone; a read, CALL or the web UI names them. */
            if (req->all_stale && staleness_idle(&in)) {
                held[i] = true;
                continue;
            }
        }
        bool candidate = req->all_stale ? stale[i] : named[i] && (stale[i] || !req->only_if_stale);
        if (!candidate || !match[i] || !backoff_applies(req->trigger))
            continue;
        BackoffHold hold = backoff_check(views, n, (size_t)(match[i] - views), req->trigger, now);
        held[i] = hold.failed != NULL;
        if (held[i] && named[i] && !out->held_by) {
            out->held_by = xstrdup(hold.failed->name);
            out->held_error = xstrdup(hold.failed->last_error ? hold.failed->last_error
                                                              : "its last refresh failed");
            out->held_until_us = hold.until_us;
        }
    }
    free(quiet);
    free(named);
    free(match);
    store_views_free(views, n);
    return 0;
}

int refresh_run(Worker *w, Store *s, const Repo *r, const RefreshRequest *req, RefreshReport *out,
                char **error)
{
    memset(out, 0, sizeof(*out));
    size_t room = r->n_views ? r->n_views : 1;
    assert(req->all_stale || req->n_targets <= r->n_views);
    bool *stale = xcalloc(room, sizeof(bool));
    bool *held = xcalloc(room, sizeof(bool));
    if (refresh_state(s, r, req, stale, held, out, error) != 0) {
        free(stale);
        free(held);
        return -1;
    }
    size_t *targets = xmalloc(room * sizeof(size_t));
    size_t n = refresh_targets(r, req, stale, held, targets);
    if (n) {
        TreePlan plan;
        tree_plan(r, stale, targets, n, req->force, &plan);
        PipelineResult *results = xcalloc(plan.n ? plan.n : 1, sizeof(PipelineResult));
        worker_run(w, r, &plan, req->trigger, req->fence, req->submitted_us, results);
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
    free(held);
    free(stale);
    return 0;
}

void refresh_report_free(RefreshReport *rep)
{
    for (size_t k = 0; k < rep->n; k++)
        pipeline_result_free(&rep->builds[k].result);
    free(rep->builds);
    free(rep->held_by);
    free(rep->held_error);
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
