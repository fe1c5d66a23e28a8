/*
 * Refresh planning: targets after their stale dependencies (every dependency
 * with force), dependencies first, each view once, disabled views left out, and
 * the views of a dependency cycle and the views reading them too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/repo.h"
#include "planner/tree.h"

/* a.cities <- a.shops <- a.people; a.cities <- b.child; c.off (disabled) <- c.reader */
static Repo example(void)
{
    RepoFile files[] = {
        {"a/cities - 1d.sql", "select 1 as city"},
        {"a/shops.sql", "select city from a.cities"},
        {"a/people - 1h.sql", "select city from a.shops"},
        {"b/child - 1d.sql", "select city from a.cities"},
        {"c/off - 1h.sql", "select 1 as x"},
        {"c/off.conf", "enabled=false"},
        {"c/reader - 1h.sql", "select x from c.off"},
    };
    Repo r;
    repo_build(files, sizeof(files) / sizeof(files[0]), NULL, &r);
    assert_int_equal(r.diags.n, 0);
    return r;
}

/* The plan for targets (names) as "a.x,b.y*" with * on targets. */
static char *plan_of(const Repo *r, const char *stale_names, bool force, const char *targets)
{
    bool *stale = xcalloc(r->n_views, sizeof(bool));
    for (size_t i = 0; i < r->n_views; i++) {
        char *needle = xasprintf(",%s,", r->views[i].name);
        char *hay = xasprintf(",%s,", stale_names);
        stale[i] = strstr(hay, needle) != NULL;
        free(needle);
        free(hay);
    }
    size_t idx[8], n = 0;
    char *copy = xstrdup(targets), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        idx[n++] = (size_t)(repo_find(r, t) - r->views);
    free(copy);
    TreePlan p;
    tree_plan(r, stale, idx, n, force, &p);
    StrVec names = {0};
    for (size_t k = 0; k < p.n; k++)
        strvec_push_owned(&names,
                          xasprintf("%s%s", r->views[p.views[k]].name, p.is_target[k] ? "*" : ""));
    char *out = strvec_join(&names, ",");
    strvec_free(&names);
    tree_plan_free(&p);
    free(stale);
    return out;
}

#define assert_plan(r, stale, force, targets, want)                                                \
    do {                                                                                           \
        char *got_ = plan_of((r), (stale), (force), (targets));                                    \
        assert_string_equal(got_, (want));                                                         \
        free(got_);                                                                                \
    } while (0)

static void test_plans(void **state)
{
    (void)state;
    Repo r = example();
    /* Fresh dependencies are not rebuilt; the target always is. */
    assert_plan(&r, "", false, "a.people", "a.people*");
    /* Stale ones are, dependencies first, even below a fresh one. */
    assert_plan(&r, "a.shops", false, "a.people", "a.shops,a.people*");
    assert_plan(&r, "a.cities", false, "a.people", "a.cities,a.people*");
    assert_plan(&r, "a.cities,a.shops", false, "a.people", "a.cities,a.shops,a.people*");
    /* --tree: every dependency. */
    assert_plan(&r, "", true, "a.people", "a.cities,a.shops,a.people*");
    /* Several targets share dependencies, each view once. */
    assert_plan(&r, "a.cities", false, "a.people,b.child", "a.cities,a.people*,b.child*");
    assert_plan(&r, "", false, "a.shops,a.cities", "a.cities*,a.shops*");
    assert_plan(&r, "", true, "a.people,a.cities", "a.cities*,a.shops,a.people*");
    /* The scheduler's case: every stale view is a target. */
    assert_plan(&r, "a.cities,b.child,a.people", false, "a.cities,a.people,b.child",
                "a.cities*,a.people*,b.child*");
    /* Disabled views, and views reading them, are never built. */
    assert_plan(&r, "c.off,c.reader", true, "c.reader", "");
    assert_plan(&r, "c.off", false, "c.off", "");
    repo_free(&r);
}

/* a.x <-> a.y; b.z reads a.x; c.w reads b.z; d.v stands alone; e.u reads nothing in a cycle. */
static void test_a_cycle_stops_only_its_members_and_their_dependents(void **state)
{
    (void)state;
    RepoFile files[] = {
        {"a/x - 1h.sql", "select 1 as n from a.y"}, {"a/y - 1h.sql", "select 1 as n from a.x"},
        {"b/z - 1h.sql", "select n from a.x"},      {"c/w - 1h.sql", "select n from b.z"},
        {"d/v - 1h.sql", "select 1 as n"},          {"e/u - 1h.sql", "select n from d.v"},
    };
    Repo r;
    repo_build(files, sizeof(files) / sizeof(files[0]), NULL, &r);
    /* Still a problem of the repository (duro check fails), and the only one. */
    assert_int_equal(r.diags.n, 1);
    assert_int_equal(r.n_cycles, 1);
    assert_string_equal(r.diags.items[0].message, "dependency cycle: a.x -> a.y -> a.x");
    const char *cycle = "dependency cycle: a.x -> a.y -> a.x";
    assert_string_equal(repo_find(&r, "a.x")->cycle, cycle);
    assert_string_equal(repo_find(&r, "a.y")->cycle, cycle);
    assert_string_equal(repo_find(&r, "b.z")->cycle, cycle);
    assert_string_equal(repo_find(&r, "c.w")->cycle, cycle);
    assert_null(repo_find(&r, "d.v")->cycle);
    assert_null(repo_find(&r, "e.u")->cycle);
    assert_true(repo_find(&r, "a.x")->enabled && repo_find(&r, "c.w")->enabled); /* not disabled */

    const char *all = "a.x,a.y,b.z,c.w,d.v,e.u";
    /* The poll's plan over every stale view: the rest of the repository only. */
    assert_plan(&r, all, false, all, "d.v*,e.u*");
    assert_plan(&r, all, true, "c.w,a.y", "");
    assert_plan(&r, all, false, "e.u", "d.v,e.u*");
    repo_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plans),
        cmocka_unit_test(test_a_cycle_stops_only_its_members_and_their_dependents),
    };
    return cmocka_run_group_tests_name("tree", tests, NULL, NULL);
}
