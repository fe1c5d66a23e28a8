/*
 * The loader, the catalog and the staleness rules together, on a repository
 * on disk: a view whose query, tests or config changes is stale until a build
 * of the new definition succeeds, whatever happens in between (more syncs, a
 * restart, a failed build). The tool Duro replaces lost such views forever.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/repo.h"
#include "catalog/store.h"
#include "planner/staleness.h"

typedef struct Fixture {
    char dir[64];
    char *views;
    char *db;
} Fixture;

static void write_text(const char *dir, const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(path);
}

static int setup(void **state)
{
    Fixture *f = xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/duro-sync-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->views = xasprintf("%s/views", f->dir);
    f->db = xasprintf("%s/duro.db", f->dir);
    char *schema = xasprintf("%s/first", f->views);
    mkdir(f->views, 0700);
    mkdir(schema, 0700);
    write_text(schema, "cities - 1h.sql", "select city, country from first.cities_raw");
    write_text(schema, "shops - 1h.sql",
               "select s.id, c.city from first.shops_raw s "
               "join first.cities c on c.city = s.city");
    free(schema);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    char *cmd = xasprintf("rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(cmd);
    free(f->views);
    free(f->db);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* Loads the repository from disk and syncs it into the catalog at time now. */
static void load_and_sync(Fixture *f, int64_t now)
{
    Repo r;
    assert_int_equal(repo_load(f->views, NULL, &r), 0);
    assert_int_equal(r.diags.n, 0);
    Store *s;
    char *error = NULL;
    assert_int_equal(store_open(f->db, &s, &error), 0);
    StoreSyncStats stats;
    assert_int_equal(store_sync(s, &r, now, &stats, &error), 0);
    store_close(s);
    repo_free(&r);
}

/* Records a finished build of view's current definition with the given outcome. */
static void build(Fixture *f, const char *view, RunOutcome outcome, int64_t now)
{
    Store *s;
    char *error = NULL;
    assert_int_equal(store_open(f->db, &s, &error), 0);
    StoreView v;
    assert_int_equal(store_get_view(s, view, &v), 0);
    int64_t run;
    assert_int_equal(store_run_begin(s, view, RUN_TRIGGER_SCHEDULE, now - 1000, 0, &run), 0);
    bool ok = outcome == RUN_OK;
    assert_int_equal(store_run_finish(s, run, outcome, now, ok ? 10 : -1,
                                      ok ? NULL : "tests failed: x", ok ? v.hash : NULL, 0),
                     0);
    store_view_free(&v);
    store_close(s);
}

/* The staleness state of view according to the catalog at time now. */
static ViewState state_of(Fixture *f, const char *view, int64_t now)
{
    Store *s;
    char *error = NULL;
    assert_int_equal(store_open(f->db, &s, &error), 0);
    StoreView v;
    assert_int_equal(store_get_view(s, view, &v), 0);
    StalenessInput in = {
        .enabled = v.enabled,
        .refreshing = v.running,
        .last_run_failed = v.last_failed,
        .hash = v.hash,
        .built_hash = v.built_hash,
        .last_success_us = v.last_success_us,
        .effective_interval = v.effective_interval,
        .now_us = now,
    };
    ViewState st = staleness_state(&in);
    store_view_free(&v);
    store_close(s);
    return st;
}

#define MINUTE (60LL * 1000000)

static void test_changed_query_stays_stale_until_built(void **state)
{
    Fixture *f = *state;
    load_and_sync(f, 0);
    assert_int_equal(state_of(f, "first.cities", 1), VIEW_STATE_NEVER);
    build(f, "first.cities", RUN_OK, 1 * MINUTE);
    assert_int_equal(state_of(f, "first.cities", 2 * MINUTE), VIEW_STATE_FRESH);

    /* The analyst edits the query. */
    char *schema = xasprintf("%s/first", f->views);
    write_text(schema, "cities - 1h.sql", "select city, country, 1 as v from first.cities_raw");
    free(schema);
    load_and_sync(f, 3 * MINUTE);
    assert_int_equal(state_of(f, "first.cities", 4 * MINUTE), VIEW_STATE_STALE);
    /* Re-scans, a restart (every call reopens the catalog) and a failed build lose nothing. */
    load_and_sync(f, 5 * MINUTE);
    load_and_sync(f, 6 * MINUTE);
    build(f, "first.cities", RUN_TESTS_FAILED, 7 * MINUTE);
    assert_int_equal(state_of(f, "first.cities", 8 * MINUTE), VIEW_STATE_FAILED);
    load_and_sync(f, 9 * MINUTE);
    /* Only a successful build of the new definition makes it fresh. */
    build(f, "first.cities", RUN_OK, 10 * MINUTE);
    assert_int_equal(state_of(f, "first.cities", 11 * MINUTE), VIEW_STATE_FRESH);
    /* Its neighbour was never built and is untouched by all this. */
    assert_int_equal(state_of(f, "first.shops", 11 * MINUTE), VIEW_STATE_NEVER);
}

static void test_changed_tests_and_config_make_stale(void **state)
{
    Fixture *f = *state;
    load_and_sync(f, 0);
    build(f, "first.shops", RUN_OK, 1 * MINUTE);
    assert_int_equal(state_of(f, "first.shops", 2 * MINUTE), VIEW_STATE_FRESH);

    char *schema = xasprintf("%s/first", f->views);
    write_text(schema, "shops_test.sql", "select count(*) > 0 from first.shops");
    load_and_sync(f, 3 * MINUTE);
    assert_int_equal(state_of(f, "first.shops", 4 * MINUTE), VIEW_STATE_STALE);
    build(f, "first.shops", RUN_OK, 5 * MINUTE);
    assert_int_equal(state_of(f, "first.shops", 6 * MINUTE), VIEW_STATE_FRESH);

    /* A schema-wide config change reaches every view of the schema. */
    write_text(f->views, "first.conf", "grant_select=metabase\n");
    load_and_sync(f, 7 * MINUTE);
    assert_int_equal(state_of(f, "first.shops", 8 * MINUTE), VIEW_STATE_STALE);
    free(schema);
}

static void test_interval_expiry_and_rename(void **state)
{
    Fixture *f = *state;
    load_and_sync(f, 0);
    build(f, "first.cities", RUN_OK, 0);
    assert_int_equal(state_of(f, "first.cities", 59 * MINUTE), VIEW_STATE_FRESH);
    assert_int_equal(state_of(f, "first.cities", 60 * MINUTE), VIEW_STATE_STALE);

    /* Renaming the file to a longer interval changes the schedule, not the definition. */
    char *from = xasprintf("%s/first/cities - 1h.sql", f->views);
    char *to = xasprintf("%s/first/cities - 2h.sql", f->views);
    assert_int_equal(rename(from, to), 0);
    load_and_sync(f, 61 * MINUTE);
    assert_int_equal(state_of(f, "first.cities", 61 * MINUTE), VIEW_STATE_FRESH);
    free(from);
    free(to);
}

/* The fingerprint of the repository's files, as repo_fingerprint sees them. */
static uint64_t fingerprint(Fixture *f)
{
    uint64_t fp = 0;
    assert_int_equal(repo_fingerprint(f->views, NULL, &fp), 0);
    return fp;
}

static void test_fingerprint_sees_every_change(void **state)
{
    Fixture *f = *state;
    Repo r;
    assert_int_equal(repo_load(f->views, NULL, &r), 0);
    uint64_t loaded = r.fingerprint;
    repo_free(&r);
    assert_true(fingerprint(f) == loaded); /* what was loaded is what is there */
    assert_true(fingerprint(f) == loaded); /* and it is stable */

    char *schema = xasprintf("%s/first", f->views);
    write_text(schema, "notes.md", "files Duro does not read do not count");
    assert_true(fingerprint(f) == loaded);

    write_text(schema, "cities - 1h.sql", "select city, country from first.cities_raw -- edited");
    uint64_t edited = fingerprint(f);
    assert_true(edited != loaded);
    write_text(schema, "cities_test.sql", "select true");
    uint64_t added = fingerprint(f);
    assert_true(added != edited);
    char *path = xasprintf("%s/cities_test.sql", schema);
    assert_int_equal(unlink(path), 0);
    assert_true(fingerprint(f) != added);
    free(path);
    free(schema);
    uint64_t fp;
    assert_int_equal(repo_fingerprint("/nonexistent/views", NULL, &fp), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_changed_query_stays_stale_until_built, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_changed_tests_and_config_make_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interval_expiry_and_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fingerprint_sees_every_change, setup, teardown),
    };
    return cmocka_run_group_tests_name("sync", tests, NULL, NULL);
}
