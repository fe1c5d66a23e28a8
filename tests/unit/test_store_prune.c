/*
 * Tests of the catalog's retention (catalog/store_prune.c, store_prune_runs)
 * against real SQLite files: which runs and steps go, which stay whatever their
 * age, and that the work is cut in bounded batches. Not for: recording runs
 * (test_store.c) or when the scheduler prunes.
 */
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "catalog/store.h"
#include "tests/unit/catalog_fixture.h"

#define MIN_US 60000000LL
#define OLD    1700000000000000LL /* runs started from here on, a minute apart, are old */
#define CUT    (OLD + 1000 * MIN_US)
#define NEW    (CUT + MIN_US)

static Store *open_store(const char *path)
{
    Store *s = NULL;
    char *error = NULL;
    if (store_open(path, &s, &error) != 0)
        fail_msg("store_open: %s", error);
    return s;
}

/* A finished run of view started at `at`, with one step; returns its id. */
static int64_t run(Store *s, const char *view, int64_t at, RunOutcome outcome, int64_t retry_us)
{
    int64_t id = 0;
    assert_int_equal(store_run_begin(s, view, RUN_TRIGGER_SCHEDULE, at, 0, &id), 0);
    assert_int_equal(store_run_step(s, id, "create", at, at + 10, NULL), 0);
    assert_int_equal(store_run_finish(s, id, outcome, at + 20, outcome == RUN_OK ? 1 : -1,
                                      outcome == RUN_OK ? NULL : "boom", "h", retry_us),
                     0);
    return id;
}

/* The ids of the runs left, newest first, as "3,1". */
static char *ids_left(Store *s)
{
    StoreRun *runs = NULL;
    size_t n = 0;
    assert_int_equal(store_list_runs(s, NULL, 0, &runs, &n), 0);
    char *out = xstrdup("");
    for (size_t i = 0; i < n; i++) {
        char *next = xasprintf("%s%s%lld", out, i ? "," : "", (long long)runs[i].id);
        free(out);
        out = next;
    }
    store_runs_free(runs, n);
    return out;
}

static void test_old_runs_go_and_each_views_status_stays(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    int64_t t = OLD;
    int64_t a1 = run(s, "a.x", t += MIN_US, RUN_OK, 0);
    int64_t a2 = run(s, "a.x", t += MIN_US, RUN_FAILED, 0);
    int64_t a3 = run(s, "a.x", t += MIN_US, RUN_OK, 0);             /* last good */
    int64_t a4 = run(s, "a.x", t += MIN_US, RUN_FAILED, NEW);       /* own failure since */
    int64_t a5 = run(s, "a.x", t += MIN_US, RUN_TESTS_FAILED, NEW); /* last failed */
    int64_t a6 = run(s, "a.x", t += MIN_US, RUN_CANCELLED, 0);      /* newest finished */
    int64_t b1 = run(s, "b.y", t += MIN_US, RUN_OK, 0);
    int64_t b2 = run(s, "b.y", t += MIN_US, RUN_OK, 0);
    int64_t b3 = run(s, "b.y", NEW, RUN_OK, 0); /* not old */
    int64_t c1 = 0;                             /* in progress since long ago */
    assert_int_equal(store_run_begin(s, "c.z", RUN_TRIGGER_CALL, OLD, 0, &c1), 0);

    int64_t deleted = -1;
    bool more = false;
    /* One batch of two: two go, more may remain. a1, a2, b1 and b2 go in all. */
    assert_int_equal(store_prune_runs(s, CUT, 2, 1, &deleted, &more), 0);
    assert_int_equal(deleted, 2);
    assert_true(more);
    assert_int_equal(store_prune_runs(s, CUT, 2, 10, &deleted, &more), 0);
    assert_int_equal(deleted, 2);
    assert_false(more);
    /* Nothing left to prune: a second turn deletes nothing. */
    assert_int_equal(store_prune_runs(s, CUT, 1000, 10, &deleted, &more), 0);
    assert_int_equal(deleted, 0);

    /* b.y's old runs all go: its newest run, a good one, is not old. */
    char *want = xasprintf("%lld,%lld,%lld,%lld,%lld,%lld", (long long)b3, (long long)a6,
                           (long long)a5, (long long)a4, (long long)a3, (long long)c1);
    char *got = ids_left(s);
    assert_string_equal(got, want);
    free(got);
    free(want);
    (void)a1, (void)a2, (void)b1, (void)b2;
    /* Their steps went with them; the kept runs keep theirs. */
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM run_steps"), 5);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM run_steps WHERE run_id NOT IN"
                                    " (SELECT id FROM runs)"),
                     0);
    store_close(s);
}

static void test_nothing_old_nothing_deleted(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    int64_t deleted = -1;
    bool more = true;
    assert_int_equal(store_prune_runs(s, CUT, 1000, 10, &deleted, &more), 0);
    assert_int_equal(deleted, 0);
    assert_false(more);
    run(s, "a.x", OLD, RUN_OK, 0);
    run(s, "a.x", OLD + MIN_US, RUN_OK, 0);
    /* Before the cut-off nothing is old. */
    assert_int_equal(store_prune_runs(s, OLD, 1000, 10, &deleted, &more), 0);
    assert_int_equal(deleted, 0);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM runs"), 2);
    store_close(s);
}

/* Many old runs of many views: all but each view's kept ones go, a batch at a time. */
static void test_many_runs_in_batches(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    for (int i = 0; i < 300; i++) {
        char view[16];
        snprintf(view, sizeof view, "s.v%d", i % 10);
        run(s, view, OLD + i * MIN_US / 2, i % 3 ? RUN_OK : RUN_FAILED, 0);
    }
    int64_t deleted = 0, total = 0;
    bool more = true;
    int turns = 0;
    while (more && turns++ < 100) {
        assert_int_equal(store_prune_runs(s, CUT, 7, 3, &deleted, &more), 0);
        assert_true(deleted <= 21);
        total += deleted;
    }
    /* Each view keeps its newest run (a good one or a failed one) and the last of the other. */
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM runs"), 20);
    assert_int_equal(total, 280);
    store_close(s);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_old_runs_go_and_each_views_status_stays),
        TEST(test_nothing_old_nothing_deleted),
        TEST(test_many_runs_in_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
