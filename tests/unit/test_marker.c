/*
 * Tests of build markers (catalog/marker through catalog/store) and of a
 * catalog someone else damaged, against real SQLite files: a run left by a
 * process that had this one's pid, by a pid now another process's, an end the
 * catalog could not take, values out of range, truncated and overwritten
 * files. Not for: the rest of the store (test_store.c).
 */
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "catalog/marker.h"
#include "catalog/store.h"
#include "catalog/store_db.h"
#include "tests/unit/catalog_fixture.h"

#define T1 1700000000000000LL

static Store *open_store(const char *path)
{
    Store *s = NULL;
    char *error = NULL;
    if (store_open(path, &s, &error) != 0)
        fail_msg("store_open: %s", error);
    return s;
}

/* The outcome of run id, as the catalog has it. */
static char *outcome_of(const char *path, int64_t id)
{
    char *sql = xasprintf("SELECT outcome || ':' || coalesce(error, '') FROM runs WHERE id = %lld",
                          (long long)id);
    char *v = sql_text(path, sql);
    free(sql);
    return v;
}

/* A catalog with view a.x (interval 1h) in it. */
static Store *catalog_with_view(const char *path)
{
    Store *s = open_store(path);
    sql_exec(path, "INSERT INTO views (name, schema_name, table_name, kind, source, interval_s,"
                   " effective_interval_s, enabled, config, depends_on, hash, first_seen_us,"
                   " changed_us) VALUES ('a.x', 'a', 'x', 'sql', 'a/x.sql', 3600, 3600, 1, '', '',"
                   " 'h1', 1700000000000000, 1700000000000000)");
    return s;
}

static void test_instance_and_start(void **state)
{
    (void)state;
    const char *inst = marker_instance();
    assert_int_equal(strlen(inst), 32);
    assert_string_equal(inst, marker_instance()); /* one per process */
    char *self = marker_process_start(0), *by_pid = marker_process_start(getpid());
    assert_non_null(self);
    assert_non_null(strchr(self, '/'));
    assert_string_equal(self, by_pid);
    char *parent = marker_process_start(1); /* init: started long before this test */
    assert_non_null(parent);
    if (getpid() != 1)
        assert_string_not_equal(parent, self);
    assert_null(marker_process_start(INT32_MAX)); /* no such process */
    /* The start, not anything that changes while the process runs (its memory, its times). */
    size_t big = 64u << 20;
    char *mem = xmalloc(big);
    memset(mem, 1, big);
    for (volatile unsigned long spin = 0; spin < 50000000ul; spin++)
        ;
    char *later = marker_process_start(0);
    assert_string_equal(later, self);
    free(later);
    free(mem);
    free(self);
    free(by_pid);
    free(parent);
}

/* Kept ends are bounded: the oldest are forgotten first; each catalog has its own. */
static void test_kept_ends_are_bounded(void **state)
{
    (void)state;
    for (int64_t id = 1; id <= MARKER_MAX_ENDS + 50; id++) {
        marker_claimed("cat-a", id);
        MarkerEnd end = {.outcome = RUN_FAILED, .finished_us = id, .rows = -1, .error = "e"};
        marker_ended("cat-a", id, &end);
    }
    MarkerEnd other = {.outcome = RUN_OK, .rows = 1, .built_hash = "h"};
    marker_ended("cat-b", 1, &other);
    assert_true(marker_is_ended("cat-b", 1));
    int64_t id, first = 0, n = 0;
    MarkerEnd end;
    while (marker_take_end("cat-a", &id, &end)) {
        if (!first)
            first = id;
        assert_int_equal(end.finished_us, id);
        assert_string_equal(end.error, "e");
        marker_end_free(&end);
        n++;
    }
    assert_int_equal(n, MARKER_MAX_ENDS - 1); /* cat-b's end counts too */
    assert_int_equal(first, 52);              /* oldest first, the 51 oldest forgotten */
    assert_true(marker_take_end("cat-b", &id, &end));
    assert_string_equal(end.built_hash, "h");
    marker_end_free(&end);
    assert_false(marker_is_ended("cat-b", 1));
}

/* A container restarted as PID 1: the run of the process before, with this process's pid. */
static void test_run_of_an_earlier_process_with_our_pid(void **state)
{
    Fixture *f = *state;
    Store *s = catalog_with_view(f->db);
    int64_t a, b;
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_SCHEDULE, T1, 0, &a), 0);
    /* Forget it was ours: what a new process with the same pid finds. */
    assert_int_equal(store_run_finish(s, a, RUN_OK, T1 + 1, 1, NULL, "h1", 0), 0);
    sql_exec(f->db, "UPDATE runs SET outcome = 'running', finished_us = NULL,"
                    " instance = '0123456789abcdef0123456789abcdef'");
    StoreView v;
    assert_int_equal(store_get_view(s, "a.x", &v), 0);
    assert_true(v.running);
    store_view_free(&v);
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1 + 10, 0, &b), 0);
    char *o = outcome_of(f->db, a);
    assert_non_null(strstr(o, "cancelled:interrupted: process"));
    free(o);
    assert_int_equal(store_run_finish(s, b, RUN_OK, T1 + 20, 1, NULL, "h1", 0), 0);

    /* At start: closed by store_runs_close_dead, a live build of ours left alone. */
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1 + 30, 0, &a), 0);
    sql_exec(f->db, "UPDATE runs SET instance = 'x' WHERE id = 1");
    sql_exec(f->db, "UPDATE runs SET outcome = 'running' WHERE id = 1");
    int closed = -1;
    assert_int_equal(store_runs_close_dead(s, T1 + 40, &closed), 0);
    assert_int_equal(closed, 1);
    o = outcome_of(f->db, a);
    assert_string_equal(o, "running:");
    free(o);
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1 + 50, 0, &b), 1);
    store_close(s);
}

/* The pid of a live process that is not the one that started the run (pids wrapped around). */
static void test_run_of_a_pid_now_another_process(void **state)
{
    Fixture *f = *state;
    Store *s = catalog_with_view(f->db);
    int64_t a, b;
    char *parent = marker_process_start(getppid());
    assert_non_null(parent);
    /* The parent, alive, with its own start: a live build of another process. */
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_SCHEDULE, T1, 0, &a), 0);
    char *sql = xasprintf("UPDATE runs SET pid = %d, instance = 'other', process_start = '%s'",
                          (int)getppid(), parent);
    sql_exec(f->db, sql);
    free(sql);
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1 + 1, 0, &b), 1);
    assert_non_null(strstr(store_error(s), "already being built by process"));
    /* The same pid, started at another time: not the builder. */
    sql_exec(f->db, "UPDATE runs SET process_start = 'another-boot/12345'");
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1 + 2, 0, &b), 0);
    char *o = outcome_of(f->db, a);
    assert_non_null(strstr(o, "cancelled:interrupted"));
    free(o);
    free(parent);
    store_close(s);
}

/* A builder killed and not reaped yet (a zombie) builds nothing. */
static void test_run_of_a_zombie(void **state)
{
    Fixture *f = *state;
    Store *s = catalog_with_view(f->db);
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        char c;
        close(go[1]);
        _exit(read(go[0], &c, 1) == 1 ? 0 : 1);
    }
    close(go[0]);
    char *start = marker_process_start(child);
    assert_non_null(start);
    int64_t a, b;
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_SCHEDULE, T1, 0, &a), 0);
    char *sql = xasprintf("UPDATE runs SET pid = %d, instance = 'child', process_start = '%s'",
                          (int)child, start);
    sql_exec(f->db, sql);
    free(sql);
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1 + 1, 0, &b), 1); /* alive */
    assert_int_equal(write(go[1], "x", 1), 1);
    close(go[1]);
    /* Exited, not reaped: its /proc entry and pid are still there. */
    for (int i = 0; i < 500; i++) {
        char st[256] = "", path[64];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)child);
        FILE *fp = fopen(path, "r");
        if (fp) {
            if (!fgets(st, sizeof st, fp))
                st[0] = '\0';
            fclose(fp);
        }
        if (strstr(st, ") Z "))
            break;
        usleep(10000);
    }
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1 + 2, 0, &b), 0);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    free(start);
    store_close(s);
}

/* A full disk at the end of a build: the next claim builds, and the end is written once it can. */
static void test_end_the_catalog_could_not_take(void **state)
{
    Fixture *f = *state;
    Store *s = catalog_with_view(f->db);
    int64_t a, b;
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1, 0, &a), 0);
    /* Every write of runs fails, as on a full disk. */
    sql_exec(f->db, "CREATE TRIGGER full BEFORE UPDATE ON runs BEGIN"
                    " SELECT RAISE(FAIL, 'database or disk is full'); END");
    assert_int_equal(store_run_finish(s, a, RUN_OK, T1 + 100, 7, NULL, "h1", 0), -1);
    assert_non_null(strstr(store_error(s), "disk is full"));
    /* Not running for this process's readers: the build is over. */
    StoreView v;
    assert_int_equal(store_get_view(s, "a.x", &v), 0);
    assert_false(v.running);
    store_view_free(&v);
    StoreRun *runs = NULL;
    size_t n = 0;
    assert_int_equal(store_list_runs(s, "a.x", 0, &runs, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(runs[0].outcome, "ok");
    assert_int_equal(runs[0].finished_us, T1 + 100);
    assert_int_equal(runs[0].rows, 7);
    store_runs_free(runs, n);
    /* Still unwritable: the claim fails for the catalog, not for "already being built". */
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1 + 200, 0, &b), -1);
    assert_null(strstr(store_error(s), "already being built"));
    sql_exec(f->db, "DROP TRIGGER full");
    /* Space again: the kept end is written (the build succeeded), and the view builds. */
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1 + 300, 0, &b), 0);
    char *o = outcome_of(f->db, a);
    assert_string_equal(o, "ok:");
    free(o);
    assert_int_equal(store_get_view(s, "a.x", &v), 0);
    assert_string_equal(v.built_hash, "h1");
    assert_int_equal(v.rows, 7);
    assert_int_equal(v.last_success_us, T1 + 100);
    store_view_free(&v);
    assert_int_equal(store_run_finish(s, b, RUN_FAILED, T1 + 400, -1, "boom", NULL, 0), 0);

    /* Kept ends are also written by store_runs_close_dead, and by any later finish. */
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1 + 500, 0, &a), 0);
    sql_exec(f->db, "CREATE TRIGGER full BEFORE UPDATE ON runs BEGIN"
                    " SELECT RAISE(FAIL, 'database or disk is full'); END");
    assert_int_equal(store_run_finish(s, a, RUN_FAILED, T1 + 600, -1, "its own error", NULL, 0),
                     -1);
    sql_exec(f->db, "DROP TRIGGER full");
    int closed = -1;
    assert_int_equal(store_runs_close_dead(s, T1 + 700, &closed), 0);
    assert_int_equal(closed, 0);
    o = outcome_of(f->db, a);
    assert_string_equal(o, "failed:its own error");
    free(o);
    store_close(s);
}

/* A run whose end was lost (not kept): this process's, not building, so closed. */
static void test_own_run_not_building_is_closed(void **state)
{
    Fixture *f = *state;
    Store *s = catalog_with_view(f->db);
    int64_t a, b;
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1, 0, &a), 0);
    assert_int_equal(store_run_finish(s, a, RUN_RUNNING, T1 + 1, -1, NULL, NULL, 0), -1);
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1 + 2, 0, &b), 0);
    char *o = outcome_of(f->db, a);
    assert_non_null(strstr(o, "end could not be recorded"));
    free(o);
    store_close(s);
}

/* Values no Duro writes: unknown, never trusted. */
static void test_values_out_of_range(void **state)
{
    Fixture *f = *state;
    Store *s = catalog_with_view(f->db);
    int64_t a;
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1, 0, &a), 0);
    assert_int_equal(store_run_finish(s, a, RUN_FAILED, T1 + 1, -1, "x", NULL, T1 + 5), 0);
    sql_exec(f->db, "UPDATE views SET interval_s = -5, effective_interval_s = 9223372036854775807,"
                    " first_seen_us = 9223372036854775807, changed_us = -9223372036854775808,"
                    " built_hash = 'h1', last_success_us = 9223372036854775807,"
                    " last_duration_us = -9223372036854775808, \"rows\" = -42");
    sql_exec(f->db, "UPDATE runs SET started_us = -9223372036854775808,"
                    " finished_us = 9223372036854775807, \"rows\" = -7,"
                    " retry_us = 9223372036854775807, error = printf('%.*c', 5000000, 'e')");
    StoreView v;
    assert_int_equal(store_get_view(s, "a.x", &v), 0);
    assert_int_equal(v.interval, 0);
    assert_int_equal(v.effective_interval, 0);
    assert_int_equal(v.first_seen_us, 0);
    assert_int_equal(v.changed_us, 0);
    assert_int_equal(v.last_success_us, 0);
    assert_int_equal(v.last_duration_us, 0);
    assert_int_equal(v.rows, -1);
    assert_int_equal(v.retry_us, 0);
    assert_true(v.last_failed);
    assert_true(strlen(v.last_error) < STORE_MAX_TEXT + 100);
    assert_non_null(strstr(v.last_error, "(cut: 5000000 bytes in the catalog)"));
    store_view_free(&v);
    StoreRun *runs = NULL;
    size_t n = 0;
    assert_int_equal(store_list_runs(s, NULL, 0, &runs, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(runs[0].started_us, 0);
    assert_int_equal(runs[0].finished_us, 0);
    assert_int_equal(runs[0].rows, -1);
    assert_true(strlen(runs[0].error) < STORE_MAX_TEXT + 100);
    store_runs_free(runs, n);
    /* Times as text or reals are not times either. */
    sql_exec(f->db, "UPDATE views SET last_success_us = 'soon', changed_us = 1e300");
    assert_int_equal(store_get_view(s, "a.x", &v), 0);
    assert_int_equal(v.last_success_us, 0);
    assert_int_equal(v.changed_us, 0);
    store_view_free(&v);
    store_close(s);
}

/* A copy of src at dst (a new file: this process has not checked it). */
static void copy_file(const char *src, const char *dst, size_t keep)
{
    size_t len = 0;
    char *data = read_file(src, &len);
    assert_non_null(data);
    FILE *fp = fopen(dst, "wb");
    assert_non_null(fp);
    size_t n = keep < len ? keep : len;
    assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
    free(data);
}

/* A catalog of many pages, closed (no WAL left): what a damage is done to. */
static size_t big_catalog(const char *path)
{
    Store *s = catalog_with_view(path);
    sql_exec(path, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)"
                   " INSERT INTO runs (\"view\", \"trigger\", started_us, finished_us, outcome,"
                   " error) SELECT 'a.x', 'schedule', i, i + 1, 'failed', printf('%.*c', 200, 'e')"
                   " FROM n");
    store_close(s);
    size_t len = 0;
    free(read_file(path, &len));
    return len;
}

static void assert_refused_as_damaged(const char *path)
{
    Store *s = NULL;
    char *error = NULL;
    assert_int_equal(store_open(path, &s, &error), -1);
    assert_null(s);
    assert_non_null(error);
    if (!strstr(error, "is damaged") && !strstr(error, "not a SQLite database"))
        fail_msg("unexpected error: %s", error);
    free(error);
}

static void test_truncated_catalog_is_refused(void **state)
{
    Fixture *f = *state;
    size_t len = big_catalog(f->db);
    assert_true(len > 100 * 4096);
    char *cut = xasprintf("%s/cut.db", f->dir);
    copy_file(f->db, cut, len / 2);
    assert_refused_as_damaged(cut);
    free(cut);
}

static void test_overwritten_pages_are_refused(void **state)
{
    Fixture *f = *state;
    size_t len = big_catalog(f->db);
    char *bad = xasprintf("%s/bad.db", f->dir);
    copy_file(f->db, bad, len);
    /* Garbage over pages in the middle (not the header), as a half-finished copy leaves. */
    FILE *fp = fopen(bad, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, (long)(len / 3 / 4096 * 4096), SEEK_SET), 0);
    for (int i = 0; i < 3 * 4096; i++)
        fputc((i * 7919) & 0xff, fp);
    assert_int_equal(fclose(fp), 0);
    assert_refused_as_damaged(bad);
    /* The original, intact, opens. */
    store_close(open_store(f->db));
    free(bad);
}

/* A catalog too large to be checked whole: a cut is still found at open; a page overwritten in
 * the runs is found when read, as an error. */
static void test_large_catalog_is_checked_in_part(void **state)
{
    Fixture *f = *state;
    size_t len = big_catalog(f->db);
    int64_t full = sdb_check_full_bytes;
    sdb_check_full_bytes = 0;
    char *cut = xasprintf("%s/cut.db", f->dir);
    copy_file(f->db, cut, len / 2);
    assert_refused_as_damaged(cut);
    char *bad = xasprintf("%s/bad.db", f->dir);
    copy_file(f->db, bad, len);
    FILE *fp = fopen(bad, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, (long)(len / 2 / 4096 * 4096), SEEK_SET), 0);
    for (int i = 0; i < 8 * 4096; i++)
        fputc((i * 7919) & 0xff, fp);
    assert_int_equal(fclose(fp), 0);
    Store *s = open_store(bad);
    StoreRun *runs = NULL;
    size_t n = 0;
    assert_int_equal(store_list_runs(s, NULL, 0, &runs, &n), -1);
    assert_non_null(strstr(store_error(s), "malformed"));
    store_close(s);
    sdb_check_full_bytes = full;
    free(cut);
    free(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_instance_and_start),
        cmocka_unit_test(test_kept_ends_are_bounded),
        cmocka_unit_test_setup_teardown(test_run_of_an_earlier_process_with_our_pid, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_of_a_pid_now_another_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_of_a_zombie, setup, teardown),
        cmocka_unit_test_setup_teardown(test_end_the_catalog_could_not_take, setup, teardown),
        cmocka_unit_test_setup_teardown(test_own_run_not_building_is_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_values_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_catalog_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overwritten_pages_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_catalog_is_checked_in_part, setup, teardown),
    };
    return cmocka_run_group_tests_name("marker", tests, NULL, NULL);
}
