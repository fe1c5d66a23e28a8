/*
 * Tests of reads through the gateway as counted (proxy/reads.c) and kept in
 * the catalog (catalog/store_reads.c): the 24 h window, the bounded list of
 * readers, hours dropped after STORE_READS_KEEP_HOURS, last read. Not for: the
 * relay path (tests/e2e/test_reads.py).
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
#include "core/clock.h"
#include "proxy/reads.h"

#define HOUR_US (3600LL * 1000000LL)

typedef struct Fixture {
    char dir[64];
    char *db;
    Store *store;
} Fixture;

static int setup(void **state)
{
    Fixture *f = xcalloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/duro-test-reads-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    f->db = xasprintf("%s/duro.db", f->dir);
    char *error = NULL;
    if (store_open(f->db, &f->store, &error) != 0) {
        free(error);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    store_close(f->store);
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char *p = xasprintf("%s%s", f->db, suffixes[i]);
        unlink(p);
        free(p);
    }
    rmdir(f->dir);
    free(f->db);
    free(f);
    return 0;
}

static void add(Store *s, const char *view, int64_t at_us, int64_t reads, const char *readers,
                int64_t now_us)
{
    StoreReads r = {.view = (char *)view,
                    .hour = at_us / HOUR_US,
                    .reads = reads,
                    .last_read_us = at_us,
                    .readers = (char *)readers};
    assert_int_equal(store_reads_add(s, &r, 1, now_us), 0);
}

/* The summary of view at now_us; fails the test when the view is not in it. */
static StoreReads summary_of(Store *s, const char *view, int64_t now_us)
{
    StoreReads *all = NULL, out = {0};
    size_t n = 0;
    assert_int_equal(store_reads_summary(s, now_us, &all, &n), 0);
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(all[i].view, view) == 0) {
            out = all[i];
            out.view = xstrdup(all[i].view);
            out.readers = xstrdup(all[i].readers);
            found = true;
        }
    }
    store_reads_free(all, n);
    assert_true(found);
    return out;
}

static void summary_free(StoreReads *r)
{
    free(r->view);
    free(r->readers);
}

static void test_readers_merge_sorts_dedupes_and_bounds(void **state)
{
    (void)state;
    char *m = store_readers_merge("bob,jane", "alice,jane");
    assert_string_equal(m, "alice,bob,jane");
    free(m);
    m = store_readers_merge(NULL, "");
    assert_string_equal(m, "");
    free(m);
    /* 25 names: the first 20 in order, then "…". */
    char *acc = xstrdup("");
    for (int i = 0; i < 25; i++) {
        char name[16];
        snprintf(name, sizeof name, "r%02d", i);
        char *next = store_readers_merge(acc, name);
        free(acc);
        acc = next;
    }
    assert_string_equal(acc, "r00,r01,r02,r03,r04,r05,r06,r07,r08,r09,r10,r11,r12,r13,r14,r15,"
                             "r16,r17,r18,r19,…");
    /* Once some were left out, the list says so whatever is merged into it. */
    m = store_readers_merge(acc, "a");
    assert_non_null(strstr(m, "…"));
    assert_int_equal(strncmp(m, "a,r00,", 6), 0);
    free(m);
    free(acc);
}

static void test_summary_counts_the_last_24_hours_only(void **state)
{
    Fixture *f = *state;
    int64_t now = 1800000000LL * 1000000LL;
    add(f->store, "s.v", now - 30 * HOUR_US, 7, "old", now);   /* outside the window */
    add(f->store, "s.v", now - 23 * HOUR_US, 2, "jane", now);  /* inside */
    add(f->store, "s.v", now - 1000000LL, 3, "bob,jane", now); /* this hour */
    add(f->store, "s.v", now - 900000LL, 1, "bob", now);       /* same hour: summed */
    StoreReads r = summary_of(f->store, "s.v", now);
    assert_int_equal(r.reads, 6);
    assert_int_equal(r.last_read_us, now - 900000LL);
    assert_string_equal(r.readers, "bob,jane");
    summary_free(&r);
    /* A day later nothing is within 24 h; the last read stays. */
    r = summary_of(f->store, "s.v", now + 25 * HOUR_US);
    assert_int_equal(r.reads, 0);
    assert_int_equal(r.last_read_us, now - 900000LL);
    assert_string_equal(r.readers, "");
    summary_free(&r);
}

static void test_old_hours_are_dropped(void **state)
{
    Fixture *f = *state;
    int64_t now = 1800000000LL * 1000000LL;
    add(f->store, "s.v", now - (STORE_READS_KEEP_HOURS + 2) * HOUR_US, 5, "a", now);
    add(f->store, "s.v", now, 1, "b", now);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM view_reads", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_counted_reads_reach_the_catalog_with_bounded_readers(void **state)
{
    Fixture *f = *state;
    Reads *r = reads_open(NULL, f->store, NULL);
    for (int i = 0; i < 25; i++) {
        char name[16];
        snprintf(name, sizeof name, "role%02d", i);
        reads_note(r, "s.v", name);
        reads_note(r, "s.v", name);
    }
    reads_note(r, "s.w", "jane");
    assert_int_equal(reads_flush(r), 0);
    reads_note(r, "s.w", "bob");
    reads_free(r); /* flushes what is left */
    int64_t now = clock_wall_us();
    StoreReads v = summary_of(f->store, "s.v", now);
    assert_int_equal(v.reads, 50);
    assert_true(v.last_read_us > now - 60 * 1000000LL && v.last_read_us <= now);
    assert_int_equal(strncmp(v.readers, "role00,role01,", 14), 0);
    assert_non_null(strstr(v.readers, "role19,…"));
    assert_null(strstr(v.readers, "role20"));
    summary_free(&v);
    StoreReads w = summary_of(f->store, "s.w", now);
    assert_int_equal(w.reads, 2);
    assert_string_equal(w.readers, "bob,jane");
    summary_free(&w);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readers_merge_sorts_dedupes_and_bounds),
        TEST(test_summary_counts_the_last_24_hours_only),
        TEST(test_old_hours_are_dropped),
        TEST(test_counted_reads_reach_the_catalog_with_bounded_readers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
