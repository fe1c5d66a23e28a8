/*
 * The pure parts of a refresh: which views are its targets (named ones, fresh
 * ones left out on request, or every stale view but those a backoff holds back), and
 * what its report says was built and what failed first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/repo.h"
#include "planner/refresh.h"

/* a.two reads a.one; a.three stands alone. */
static RepoFile example_files[] = {
    {"a/one - 1h.sql", "select 1 as x"},
    {"a/two - 1h.sql", "select x from a.one"},
    {"a/three - 1h.sql", "select 3 as x"},
};

static Repo example(void)
{
    Repo r;
    repo_build(example_files, ARRAY_LEN(example_files), NULL, &r);
    assert_int_equal(r.diags.n, 0);
    return r;
}

static size_t index_of(const Repo *r, const char *name)
{
    const View *v = repo_find(r, name);
    assert_non_null(v);
    return (size_t)(v - r->views);
}

/* The names of targets, comma-separated, in the order chosen. */
static char *names(const Repo *r, const size_t *targets, size_t n)
{
    StrVec v = {0};
    for (size_t i = 0; i < n; i++)
        strvec_push(&v, r->views[targets[i]].name);
    char *text = strvec_join(&v, ",");
    strvec_free(&v);
    return text;
}

static void assert_targets(const Repo *r, const RefreshRequest *req, const bool *stale,
                           const bool *held, const char *want)
{
    size_t targets[3];
    size_t n = refresh_targets(r, req, stale, held, targets);
    char *got = names(r, targets, n);
    assert_string_equal(got, want);
    free(got);
}

static void test_targets(void **state)
{
    (void)state;
    Repo r = example();
    bool stale[3] = {false};
    stale[index_of(&r, "a.one")] = true;
    stale[index_of(&r, "a.three")] = true;
    size_t named[] = {index_of(&r, "a.two"), index_of(&r, "a.one")};

    bool held[3] = {false};
    RefreshRequest call = {.targets = named, .n_targets = 2, .trigger = RUN_TRIGGER_CALL};
    assert_targets(&r, &call, stale, NULL, "a.two,a.one"); /* named: stale or not, in order */
    RefreshRequest read = {.targets = named, .n_targets = 2, .only_if_stale = true};
    assert_targets(&r, &read, stale, NULL, "a.one");
    RefreshRequest poll = {.all_stale = true, .trigger = RUN_TRIGGER_SCHEDULE};
    assert_targets(&r, &poll, stale, held, "a.one,a.three");
    held[index_of(&r, "a.one")] = true; /* backing off: neither the poll nor a read builds it */
    assert_targets(&r, &poll, stale, held, "a.three");
    assert_targets(&r, &read, stale, held, "");
    memset(stale, 0, sizeof(stale));
    assert_targets(&r, &poll, stale, held, "");
    repo_free(&r);
}

static void test_report(void **state)
{
    (void)state;
    Repo r = example();
    RefreshReport rep = {.n = 3, .n_failed = 2};
    rep.builds = calloc(3, sizeof(RefreshBuild));
    rep.builds[0] =
        (RefreshBuild){repo_find(&r, "a.one"), RUN_TRIGGER_DEPENDENCY, {.outcome = RUN_OK}};
    rep.builds[1] = (RefreshBuild){repo_find(&r, "a.three"),
                                   RUN_TRIGGER_CALL,
                                   {.outcome = RUN_TESTS_FAILED, .error = strdup("test x")}};
    rep.builds[2] = (RefreshBuild){repo_find(&r, "a.two"),
                                   RUN_TRIGGER_CALL,
                                   {.outcome = RUN_FAILED, .error = strdup("dependency")}};
    char *built = refresh_report_built(&rep);
    assert_string_equal(built, "a.one");
    free(built);
    const RefreshBuild *bad = refresh_report_first_failure(&rep);
    assert_ptr_equal(bad, &rep.builds[1]);
    refresh_report_free(&rep);
    assert_int_equal(rep.n, 0);
    assert_null(refresh_report_first_failure(&rep));
    built = refresh_report_built(&rep);
    assert_string_equal(built, "");
    free(built);
    repo_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_report),
    };
    return cmocka_run_group_tests_name("refresh", tests, NULL, NULL);
}
