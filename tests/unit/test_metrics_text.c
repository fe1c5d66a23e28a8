/*
 * planner/metrics: metrics_text over a real catalog (a temporary SQLite file
 * filled by hand): the per-view gauges, the views by state, the refreshes
 * counted by view and outcome; and how long one scrape of 10,000 views takes
 * (printed, bounded only by "not stuck").
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

#include "core/clock.h"
#include "planner/metrics.h"

#define S 1000000LL

typedef struct Fixture {
    char dir[64];
    char *path;
    Store *store;
} Fixture;

static int setup(void **state)
{
    Fixture *f = xcalloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/duro-test-metrics-XXXXXX");
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
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char *p = xasprintf("%s%s", f->path, suffixes[i]);
        unlink(p);
        free(p);
    }
    rmdir(f->dir);
    free(f->path);
    free(f);
    return 0;
}

/* Adds n views named s.v<i> (built 90 s ago when built, 1h interval) on a connection of its own. */
static void add_views(const char *path, int n, bool built, const char *config)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(
            db,
            "INSERT INTO views (name, schema_name, table_name, kind, source, interval_s,"
            " effective_interval_s, enabled, config, depends_on, hash, built_hash,"
            " first_seen_us, changed_us, last_success_us, last_duration_us, \"rows\")"
            " VALUES (?1, 's', ?1, 'sql', ?1, 3600, 3600, 1, ?2, '',"
            " 'h', ?3, 0, 0, ?4, 1000, 10)",
            -1, &st, NULL),
        SQLITE_OK);
    int64_t now = clock_wall_us();
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "s.v%d", i);
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, config, -1, SQLITE_STATIC);
        if (built) {
            sqlite3_bind_text(st, 3, "h", -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 4, now - 90 * S);
        } else {
            sqlite3_bind_null(st, 3);
            sqlite3_bind_null(st, 4);
        }
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_per_view_figures(void **state)
{
    Fixture *f = *state;
    add_views(f->path, 2, true, "grant_select=\nalert_after=7200\n");
    metrics_count_refresh("s.v0", RUN_OK, 2 * S);
    metrics_count_refresh("s.v0", RUN_OK, 3 * S);
    metrics_count_refresh("s.v0", RUN_TESTS_FAILED, 1 * S);
    char *text = metrics_text(f->store);
    assert_non_null(text);
    assert_non_null(strstr(text, "# TYPE duro_refreshes_total counter\n"));
    assert_non_null(strstr(text, "duro_refreshes_total{view=\"s.v0\",outcome=\"ok\"} 2\n"));
    assert_non_null(
        strstr(text, "duro_refreshes_total{view=\"s.v0\",outcome=\"tests_failed\"} 1\n"));
    assert_non_null(strstr(text, "duro_refresh_duration_seconds_bucket{le=\"5\"} 3\n"));
    assert_non_null(strstr(text, "duro_refresh_duration_seconds_sum 6\n"));
    assert_non_null(strstr(text, "duro_view_seconds_since_success{view=\"s.v1\"} 9"));
    assert_non_null(strstr(text, "duro_view_effective_interval_seconds{view=\"s.v1\"} 3600\n"));
    assert_non_null(strstr(text, "duro_view_alert_after_seconds{view=\"s.v0\"} 7200\n"));
    assert_non_null(strstr(text, "duro_views{state=\"fresh\"} 2\n"));
    assert_non_null(strstr(text, "duro_views{state=\"never\"} 0\n"));
    assert_non_null(strstr(text, "# TYPE duro_gateway_stale_wait_seconds histogram\n"));
    assert_non_null(strstr(text, "duro_refresh_calls_total{outcome=\"failed\"} 0\n"));
    assert_non_null(strstr(text, "duro_notifications_dropped_total 0\n"));
    free(text);
}

static void test_never_built(void **state)
{
    Fixture *f = *state;
    add_views(f->path, 1, false, "grant_select=\n");
    char *text = metrics_text(f->store);
    assert_non_null(strstr(text, "duro_view_seconds_since_success{view=\"s.v0\"} +Inf\n"));
    assert_non_null(strstr(text, "duro_views{state=\"never\"} 1\n"));
    assert_null(strstr(text, "duro_view_alert_after_seconds{"));
    free(text);
}

static void test_ten_thousand_views(void **state)
{
    Fixture *f = *state;
    add_views(f->path, 10000, true, "grant_select=\n");
    int64_t t0 = clock_mono_us();
    char *text = metrics_text(f->store);
    int64_t us = clock_mono_us() - t0;
    assert_non_null(text);
    assert_non_null(strstr(text, "duro_views{state=\"fresh\"} 10000\n"));
    printf("metrics_text with 10000 views: %.1f ms, %zu bytes\n", (double)us / 1000, strlen(text));
    assert_true(us < 30 * S);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_per_view_figures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_never_built, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ten_thousand_views, setup, teardown),
    };
    return cmocka_run_group_tests_name("metrics_text", tests, NULL, NULL);
}
