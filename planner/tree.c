/*
 * Refresh planning (see tree.h): a depth-first walk over dependencies from each
 * target, emitting a view after all of its dependencies (post-order), each view
 * once. The views of a dependency cycle, and the views that read them, are
 * never planned (View.cycle), so the walk meets no cycle; it also guards
 * against revisiting a view still on its path.
 */
#include "planner/tree.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

enum { UNSEEN, ON_PATH, DONE };

typedef struct Walk {
    const Repo *r;
    const bool *stale;
    const bool *target; /* per view: named by the caller */
    bool force;
    unsigned char *mark;
    TreePlan *out;
} Walk;

/* Enabled, and neither in a dependency cycle nor reading one. */
static bool buildable(const View *v)
{
    return v->enabled && !v->cycle;
}

/* Adds view v to the plan after the dependencies it needs (iterative post-order DFS). */
static void visit(Walk *w, size_t root)
{
    size_t n = w->r->n_views;
    size_t *stack = xmalloc((n ? n : 1) * sizeof(size_t));
    size_t *edge = xmalloc((n ? n : 1) * sizeof(size_t));
    size_t depth = 0;
    stack[0] = root;
    edge[0] = 0;
    w->mark[root] = ON_PATH;
    for (;;) {
        const View *v = &w->r->views[stack[depth]];
        if (edge[depth] < v->n_deps) {
            size_t d = v->deps[edge[depth]++];
            if (w->mark[d] != UNSEEN || !buildable(&w->r->views[d]))
                continue;
            assert(d < n && depth + 1 < n); /* a path holds each view at most once */
            w->mark[d] = ON_PATH;
            stack[++depth] = d;
            edge[depth] = 0;
            continue;
        }
        size_t done = stack[depth];
        w->mark[done] = DONE;
        if (depth == 0 || w->force || w->stale[done] || w->target[done]) {
            assert(w->out->n < n); /* each view is planned once */
            w->out->views[w->out->n++] = done;
        }
        if (depth == 0)
            break;
        depth--;
    }
    free(stack);
    free(edge);
}

void tree_plan(const Repo *r, const bool *stale, const size_t *targets, size_t n_targets,
               bool force, TreePlan *out)
{
    size_t n = r->n_views ? r->n_views : 1;
    out->views = xmalloc(n * sizeof(size_t));
    out->is_target = xcalloc(n, sizeof(bool));
    out->n = 0;
    bool *target = xcalloc(n, sizeof(bool));
    for (size_t i = 0; i < n_targets; i++) {
        assert(targets[i] < r->n_views);
        target[targets[i]] = true;
    }
    Walk w = {r, stale, target, force, xcalloc(n, 1), out};
    for (size_t i = 0; i < n_targets; i++)
        if (buildable(&r->views[targets[i]]) && w.mark[targets[i]] == UNSEEN)
            visit(&w, targets[i]);
    for (size_t k = 0; k < out->n; k++)
        out->is_target[k] = target[out->views[k]];
    free(w.mark);
    free(target);
}

void tree_plan_free(TreePlan *p)
{
    free(p->views);
    free(p->is_target);
    memset(p, 0, sizeof(*p));
}
