/*
 * Tests of catalog/store.c's reads for the web UI against a real SQLite file: the page of views
 * (failed first, then by last refresh), the views that read a view, runs in a window, in
 * progress and a page at a time, and the last 24 hours' activity. Not for: the rest of the store
 * (test_store.c).
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

#define T1 1700000000000000LL
#define S  1000000LL

typedef struct Fixture {
    char dir[64];
    char *path;
    Store *store;
} Fixture;

/* Runs SQL on a connection of the test's own (the rows a test needs, written as Duro would). */
static void sql(Fixture *f, const char *text)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    char *err = NULL;
    if (sqlite3_exec(db, text, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", text, err);
    sqlite3_close(db);
}

static void add_view(Fixture *f, const char *name, const char *deps, int64_t last_success)
{
    char success[32] = "NULL";
    if (last_success)
        snprintf(success, sizeof success, "%lld", (long long)last_success);
    char *q = xasprintf("INSERT INTO views (name, schema_name, table_name, kind, source,"
                        " interval_s, effective_interval_s, enabled, config, depends_on, hash,"
                        " built_hash, first_seen_us, changed_us, last_success_us) VALUES"
                        " ('%s', 's', 't', 'sql', 's/t.sql', 3600, 3600, 1, '', '%s', 'h', %s,"
                        " %lld, %lld, %s)",
                        name, deps, last_success ? "'h'" : "NULL", T1, T1, success);
    sql(f, q);
    free(q);
}

static void add_run(Fixture *f, int id, const char *view, int64_t started, int64_t finished,
                    const char *outcome)
{
    char end[32] = "NULL";
    if (finished)
        snprintf(end, sizeof end, "%lld", (long long)finished);
    char *q = xasprintf("INSERT INTO runs (id, \"view\", \"trigger\", started_us, finished_us,"
                        " outcome, pid) VALUES (%d, '%s', 'schedule', %lld, %s, '%s', %d)",
                        id, view, (long long)started, end, outcome, (int)getpid());
    sql(f, q);
    free(q);
}

static int setup(void **state)
{
    Fixture *f = xcalloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/duro-test-store-web-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->path = xasprintf("%s/duro.db", f->dir);
    char *error = NULL;
    if (store_open(f->path, &f->store, &error) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    store_close(f->store);
    char *cmd = xasprintf("rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(cmd);
    free(f->path);
    free(f);
    return 0;
}

static void test_views_page_failed_first(void **state)
{
    Fixture *f = *state;
    add_view(f, "a.old", "", T1 + 10 * S);
    add_view(f, "a.new", "", T1 + 20 * S);
    add_view(f, "a.never", "", 0);
    add_view(f, "a.broken", "", T1 + 5 * S);
    add_run(f, 1, "a.broken", T1 + 1 * S, T1 + 5 * S, "ok");
    add_run(f, 2, "a.broken", T1 + 30 * S, T1 + 31 * S, "failed");
    add_run(f, 3, "a.old", T1 + 40 * S, 0, "running");
    int64_t n_views = 0;
    assert_int_equal(store_web_count_views(f->store, &n_views), 0);
    assert_int_equal(n_views, 4);

    StoreView *v = NULL;
    size_t n = 0;
    assert_int_equal(store_web_views_page(f->store, 0, 10, &v, &n), 0);
    assert_int_equal(n, 4);
    const char *want[] = {"a.broken", "a.new", "a.old", "a.never"};
    for (size_t i = 0; i < n; i++)
        assert_string_equal(v[i].name, want[i]);
    assert_true(v[0].last_failed);
    assert_true(v[2].running);
    store_views_free(v, n);

    assert_int_equal(store_web_views_page(f->store, 2, 1, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].name, "a.old");
    store_views_free(v, n);
    assert_int_equal(store_web_views_page(f->store, 10, 10, &v, &n), 0);
    assert_int_equal(n, 0);
    store_views_free(v, n);

    /* The graph's views: by name, only what a drawing needs. */
    assert_int_equal(store_web_graph(f->store, 3, &v, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0].name, "a.broken");
    assert_true(v[0].last_failed);
    assert_null(v[1].built_hash); /* a.never */
    store_views_free(v, n);
}

static void test_dependents_match_whole_names(void **state)
{
    Fixture *f = *state;
    add_view(f, "a.x", "", 0);
    add_view(f, "a.xy", "", 0);
    add_view(f, "b.one", "a.x", 0);
    add_view(f, "b.two", "a.xy,a.x", 0);
    add_view(f, "b.three", "a.xy", 0);
    StrVec down = {0};
    assert_int_equal(store_web_dependents(f->store, "a.x", &down), 0);
    assert_int_equal(down.n, 2);
    assert_string_equal(down.items[0], "b.one");
    assert_string_equal(down.items[1], "b.two");
    strvec_free(&down);
}

static void test_runs_windows_and_pages(void **state)
{
    Fixture *f = *state;
    add_view(f, "a.x", "", 0);
    add_view(f, "a.y", "", 0);
    for (int i = 1; i <= 5; i++)
        add_run(f, i, i % 2 ? "a.x" : "a.y", T1 + i * 100 * S, T1 + i * 100 * S + 10 * S, "ok");
    add_run(f, 6, "a.x", T1 + 600 * S, 0, "running");

    StoreRun *r = NULL;
    size_t n = 0;
    /* A window: runs that ran in it, newest first; one still running counts to its end. */
    assert_int_equal(store_web_runs_window(f->store, T1 + 205 * S, T1 + 450 * S, 100, &r, &n), 0);
    assert_int_equal(n, 3);
    assert_true(r[0].id == 4 && r[1].id == 3 && r[2].id == 2);
    store_runs_free(r, n);
    assert_int_equal(store_web_runs_window(f->store, T1 + 650 * S, T1 + 700 * S, 100, &r, &n), 0);
    assert_int_equal(n, 1);
    assert_true(r[0].id == 6 && r[0].finished_us == 0);
    store_runs_free(r, n);

    assert_int_equal(store_web_runs_running(f->store, 10, &r, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].outcome, "running");
    store_runs_free(r, n);

    /* Pages: limit, then before the last id of a page; a view; since. */
    assert_int_equal(store_web_runs(f->store, NULL, 0, 0, 2, &r, &n), 0);
    assert_int_equal(n, 2);
    assert_true(r[0].id == 6 && r[1].id == 5);
    store_runs_free(r, n);
    assert_int_equal(store_web_runs(f->store, NULL, 0, 5, 2, &r, &n), 0);
    assert_true(n == 2 && r[0].id == 4 && r[1].id == 3);
    store_runs_free(r, n);
    assert_int_equal(store_web_runs(f->store, "a.y", 0, 0, 10, &r, &n), 0);
    assert_true(n == 2 && r[0].id == 4 && r[1].id == 2);
    store_runs_free(r, n);
    assert_int_equal(store_web_runs(f->store, NULL, T1 + 450 * S, 0, 10, &r, &n), 0);
    assert_true(n == 2 && r[0].id == 6 && r[1].id == 5);
    store_runs_free(r, n);

    int64_t runs = 0, busy = 0;
    assert_int_equal(store_web_activity(f->store, T1 + 250 * S, T1 + 620 * S, &runs, &busy), 0);
    assert_int_equal(runs, 4); /* 3, 4, 5 and the running 6 */
    assert_true(busy == 3 * 10 * S + 20 * S);

    int64_t mean = 0;
    assert_int_equal(store_web_mean_duration(f->store, "a.x", &mean), 0);
    assert_true(mean == 10 * S);
    assert_int_equal(store_web_mean_duration(f->store, "a.nope", &mean), 0);
    assert_true(mean == -1);
    assert_int_equal(store_web_ping(f->store), 0);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_views_page_failed_first),
        TEST(test_dependents_match_whole_names),
        TEST(test_runs_windows_and_pages),
    };
    return cmocka_run_group_tests_name("store_web", tests, NULL, NULL);
}
