/*
 * Tests of catalog/store against real SQLite files in a temporary directory:
 * opening and migrating, refusing files it must not touch, syncing views from
 * hand-built Repos, recording runs, and readers on their own connections while
 * a writer works. Not for: staleness rules (test_staleness.c).
 */
#include <dirent.h>
#include <pthread.h>
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

#define T1 1700000000000000LL
#define T2 (T1 + 60000000LL)
#define T3 (T2 + 60000000LL)

/* ---- fixture: one temporary directory per test ---- */

/* ---- hand-built repositories ---- */

typedef struct ViewSpec {
    const char *name; /* "schema.table" */
    const char *hash;
    int64_t interval;
    int64_t effective_interval;
    bool enabled;
    const char *deps; /* comma-separated names of other specs, or NULL */
    ViewKind kind;
    const char *source; /* NULL: "<schema>/<table>.sql" */
    const char *config; /* NULL: "grant_select=" */
} ViewSpec;

static size_t spec_index(const ViewSpec *specs, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(specs[i].name) == len && strncmp(specs[i].name, name, len) == 0)
            return i;
    fail_msg("unknown dependency %.*s", (int)len, name);
    return 0;
}

static void fake_repo_build(Repo *r, const ViewSpec *specs, size_t n)
{
    memset(r, 0, sizeof *r);
    r->views = xcalloc(n, sizeof *r->views);
    r->n_views = n;
    for (size_t i = 0; i < n; i++) {
        View *v = &r->views[i];
        const ViewSpec *sp = &specs[i];
        const char *dot = strchr(sp->name, '.');
        v->name = xstrdup(sp->name);
        v->schema = xstrndup(sp->name, (size_t)(dot - sp->name));
        v->table = xstrdup(dot + 1);
        v->kind = sp->kind;
        v->source = sp->source ? xstrdup(sp->source) : xasprintf("%s/%s.sql", v->schema, v->table);
        v->interval = sp->interval;
        v->effective_interval = sp->effective_interval;
        v->enabled = sp->enabled;
        v->config_text = xstrdup(sp->config ? sp->config : "grant_select=");
        snprintf(v->hash, sizeof v->hash, "%s", sp->hash);
        v->deps = xcalloc(8, sizeof *v->deps);
        for (const char *p = sp->deps; p && *p;) {
            size_t len = strcspn(p, ",");
            v->deps[v->n_deps++] = spec_index(specs, n, p, len);
            p += len + (p[len] == ',');
        }
    }
}

static void fake_repo_free(Repo *r)
{
    for (size_t i = 0; i < r->n_views; i++) {
        View *v = &r->views[i];
        free(v->name);
        free(v->schema);
        free(v->table);
        free(v->source);
        free(v->config_text);
        free(v->deps);
    }
    free(r->views);
    memset(r, 0, sizeof *r);
}

/* Syncs specs into s and returns the stats; fails the test on error. */
static StoreSyncStats sync_specs(Store *s, const ViewSpec *specs, size_t n, int64_t now_us)
{
    Repo r;
    StoreSyncStats stats;
    char *error = NULL;
    fake_repo_build(&r, specs, n);
    int rc = store_sync(s, &r, now_us, &stats, &error);
    if (rc != 0)
        fail_msg("store_sync: %s", error);
    fake_repo_free(&r);
    return stats;
}

static void assert_stats(StoreSyncStats st, int added, int changed, int removed, int unchanged)
{
    assert_int_equal(st.added, added);
    assert_int_equal(st.changed, changed);
    assert_int_equal(st.removed, removed);
    assert_int_equal(st.unchanged, unchanged);
}

static Store *open_store(const char *path)
{
    Store *s = NULL;
    char *error = NULL;
    if (store_open(path, &s, &error) != 0)
        fail_msg("store_open: %s", error);
    assert_null(error);
    return s;
}

/* Fills *v with the view called name; fails the test when it is missing. */
static void get_view(Store *s, const char *name, StoreView *v)
{
    int rc = store_get_view(s, name, v);
    if (rc != 0)
        fail_msg("store_get_view(%s) = %d: %s", name, rc, rc < 0 ? store_error(s) : "missing");
}

/* A run of view that succeeds (or not), with one step. Returns its id. */
static int64_t record_run(Store *s, const char *view, int64_t started, RunOutcome outcome,
                          const char *error, const char *built_hash, int64_t rows)
{
    int64_t id = 0;
    assert_int_equal(store_run_begin(s, view, RUN_TRIGGER_SCHEDULE, started, 0, &id), 0);
    assert_int_equal(store_run_step(s, id, "create", started, started + 1000, error), 0);
    assert_int_equal(store_run_finish(s, id, outcome, started + 2000, rows, error, built_hash, 0),
                     0);
    return id;
}

static void write_bytes(const char *path, const char *bytes, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static char *slurp(const char *path, size_t *len)
{
    char *data = read_file(path, len);
    assert_non_null(data);
    return data;
}

/* store_open must fail with exactly want and leave the file byte for byte as it was. */
static void assert_open_refused(const char *path, const char *want)
{
    size_t before_len, after_len;
    char *before = slurp(path, &before_len);
    Store *s = (Store *)1;
    char *error = NULL;
    assert_int_equal(store_open(path, &s, &error), -1);
    assert_null(s);
    assert_non_null(error);
    assert_string_equal(error, want);
    char *after = slurp(path, &after_len);
    assert_int_equal(after_len, before_len);
    assert_memory_equal(after, before, before_len);
    free(error);
    free(before);
    free(after);
}

/* ---- opening ---- */

static void test_create_and_reopen(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
    ViewSpec specs[] = {{"a.x", "h1", 3600, 3600, true, NULL, VIEW_KIND_SQL, NULL, NULL}};
    assert_stats(sync_specs(s, specs, 1, T1), 1, 0, 0, 0);
    store_close(s);

    char *mode = sql_text(f->db, "PRAGMA journal_mode");
    assert_string_equal(mode, "wal");
    free(mode);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                    " AND name IN ('views', 'runs', 'run_steps')"),
                     3);

    s = open_store(f->db);
    assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
    StoreView v;
    get_view(s, "a.x", &v);
    assert_string_equal(v.hash, "h1");
    store_view_free(&v);
    store_close(s);
    assert_int_equal(sql_int(f->db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
}

/* Turns a catalog of this version back into what version 7 wrote: no run facts in views. */
static void revert_to_version_7(const char *path)
{
    static const char *const triggers[] = {"runs_facts_insert", "runs_facts_update",
                                           "runs_facts_delete", "views_facts_insert",
                                           "views_facts_changed"};
    static const char *const columns[] = {
        "last_run_id",  "last_run_started_us", "last_run_outcome", "last_run_error", "last_ok_id",
        "running_runs", "running_id",          "own_failures",     "own_retry_us"};
    for (size_t i = 0; i < sizeof triggers / sizeof triggers[0]; i++) {
        char *sql = xasprintf("DROP TRIGGER %s", triggers[i]);
        sql_exec(path, sql);
        free(sql);
    }
    for (size_t i = 0; i < sizeof columns / sizeof columns[0]; i++) {
        char *sql = xasprintf("ALTER TABLE views DROP COLUMN %s", columns[i]);
        sql_exec(path, sql);
        free(sql);
    }
    sql_exec(path, "PRAGMA user_version = 7");
}

static void test_migrates_a_version_1_catalog(void **state)
{
    Fixture *f = *state;
    store_close(open_store(f->db));
    /* Turn it back into what the first release wrote, with one run in it. */
    revert_to_version_7(f->db);
    sql_exec(f->db, "DROP TABLE view_last_read");
    sql_exec(f->db, "DROP TABLE view_reads");
    sql_exec(f->db, "DROP INDEX runs_by_view_outcome");
    sql_exec(f->db, "DROP INDEX runs_by_view_id");
    sql_exec(f->db, "DROP INDEX runs_own_failures");
    sql_exec(f->db, "DROP TABLE notices");
    sql_exec(f->db, "ALTER TABLE runs DROP COLUMN process_start");
    sql_exec(f->db, "ALTER TABLE runs DROP COLUMN instance");
    sql_exec(f->db, "ALTER TABLE runs DROP COLUMN retry_us");
    sql_exec(f->db, "ALTER TABLE runs DROP COLUMN pid");
    sql_exec(f->db, "INSERT INTO runs (\"view\", \"trigger\", started_us, finished_us, outcome)"
                    " VALUES ('a.x', 'schedule', 1, 2, 'ok')");
    sql_exec(f->db, "PRAGMA user_version = 1");
    Store *s = open_store(f->db);
    assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM runs WHERE retry_us IS NULL"), 1);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM runs WHERE pid IS NULL"), 1);
    int64_t id;
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1, 0, &id), 0);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM runs WHERE pid IS NOT NULL"), 1);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM runs WHERE length(instance) = 32"), 1);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM runs WHERE process_start LIKE '%/%'"), 1);
    store_close(s);
}

/*
 * A version 7 catalog with runs: the migration reads each view's run facts from its runs, so
 * that a view's status is the same before and after it, and the triggers keep them after.
 */
static void test_migrates_a_version_7_catalog_with_runs(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    const ViewSpec specs[] = {
        {.name = "a.ok", .hash = "h1", .interval = 3600, .enabled = true},
        {.name = "a.failing", .hash = "h1", .interval = 3600, .enabled = true},
        {.name = "a.running", .hash = "h1", .interval = 3600, .enabled = true},
        {.name = "a.never", .hash = "h1", .interval = 3600, .enabled = true}};
    sync_specs(s, specs, 4, T1);
    store_close(s);
    revert_to_version_7(f->db);
    /* a.ok: a failure then a success. a.failing: a success, then two failures of its own (next
     * tries) and a cancelled run. a.running: one run in progress by a process long gone. */
    sql_exec(f->db, "INSERT INTO runs (\"view\", \"trigger\", started_us, finished_us, outcome,"
                    " error, retry_us, hash) VALUES"
                    " ('a.ok', 'schedule', 1700000000000001, 1700000000000002, 'failed', 'e0',"
                    " 1700000000000009, 'h1'),"
                    " ('a.ok', 'schedule', 1700000000000003, 1700000000000004, 'ok', NULL, NULL,"
                    " 'h1'),"
                    " ('a.failing', 'schedule', 1700000000000001, 1700000000000002, 'ok', NULL,"
                    " NULL, 'h1'),"
                    " ('a.failing', 'schedule', 1700000000000003, 1700000000000004, 'failed',"
                    " 'e1', 1700000000000005, 'h1'),"
                    " ('a.failing', 'schedule', 1700000000000006, 1700000000000007, 'failed',"
                    " 'e2', 1700000000000008, 'h1'),"
                    " ('a.failing', 'call', 1700000000000009, 1700000000000010, 'cancelled',"
                    " 'stopped', NULL, NULL)");
    sql_exec(f->db, "INSERT INTO runs (\"view\", \"trigger\", started_us, outcome, pid)"
                    " VALUES ('a.running', 'schedule', 1700000000000001, 'running', 1)");
    s = open_store(f->db);
    assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
    StoreView v;
    get_view(s, "a.ok", &v);
    assert_string_equal(v.last_outcome, "ok");
    assert_false(v.last_failed);
    assert_null(v.last_error);
    assert_int_equal(v.failures, 0);
    assert_true(v.retry_us == 0);
    assert_false(v.running);
    store_view_free(&v);
    get_view(s, "a.failing", &v);
    assert_string_equal(v.last_outcome, "cancelled");
    assert_true(v.last_failed);
    assert_string_equal(v.last_error, "stopped");
    assert_int_equal(v.failures, 2);
    assert_true(v.retry_us == 1700000000000008);
    store_view_free(&v);
    get_view(s, "a.running", &v);
    assert_null(v.last_outcome);
    assert_true(v.running); /* pid 1 is alive: a build of another process */
    store_view_free(&v);
    get_view(s, "a.never", &v);
    assert_null(v.last_outcome);
    assert_false(v.running);
    assert_int_equal(v.failures, 0);
    store_view_free(&v);
    /* After the migration the triggers keep them: a success of a.failing clears its failures. */
    int64_t id;
    assert_int_equal(store_run_begin(s, "a.failing", RUN_TRIGGER_CALL, T2, 0, &id), 0);
    get_view(s, "a.failing", &v);
    assert_true(v.running);
    store_view_free(&v);
    assert_int_equal(store_run_finish(s, id, RUN_OK, T2 + 5, 7, NULL, "h1", 0), 0);
    get_view(s, "a.failing", &v);
    assert_false(v.running);
    assert_string_equal(v.last_outcome, "ok");
    assert_false(v.last_failed);
    assert_int_equal(v.failures, 0);
    assert_true(v.retry_us == 0);
    store_view_free(&v);
    store_close(s);
}

static void test_empty_file_is_initialised(void **state)
{
    Fixture *f = *state;
    write_bytes(f->db, "", 0);
    Store *s = open_store(f->db);
    assert_int_equal(store_schema_version(s), STORE_SCHEMA_VERSION);
    store_close(s);
}

static void test_open_in_missing_directory_fails(void **state)
{
    Fixture *f = *state;
    char *path = xasprintf("%s/missing/duro.db", f->dir);
    Store *s = (Store *)1;
    char *error = NULL;
    assert_int_equal(store_open(path, &s, &error), -1);
    assert_null(s);
    assert_non_null(error);
    assert_non_null(strstr(error, "cannot open catalog"));
    assert_non_null(strstr(error, path));
    free(error);
    free(path);
}

static void test_refuses_newer_schema(void **state)
{
    Fixture *f = *state;
    store_close(open_store(f->db));
    sql_exec(f->db, "PRAGMA user_version = 99");
    char *want = xasprintf("catalog %s was written by a newer Duro (schema version 99, this Duro "
                           "knows up to %d)",
                           f->db, STORE_SCHEMA_VERSION);
    assert_open_refused(f->db, want);
    assert_int_equal(sql_int(f->db, "PRAGMA user_version"), 99);
    free(want);
}

static void test_refuses_file_that_is_not_sqlite(void **state)
{
    Fixture *f = *state;
    static const char text[] = "[catalog]\npath = duro.db\n# this is a config file, not SQLite, "
                               "and long enough to cover a whole database header\n";
    write_bytes(f->db, text, sizeof text - 1);
    char *want = xasprintf("catalog %s is not a SQLite database", f->db);
    assert_open_refused(f->db, want);
    free(want);

    write_bytes(f->db, "hi\n", 3); /* shorter than a header */
    want = xasprintf("catalog %s is not a SQLite database", f->db);
    assert_open_refused(f->db, want);
    free(want);
}

static void test_refuses_foreign_sqlite_database(void **state)
{
    Fixture *f = *state;
    sql_exec(f->db, "CREATE TABLE views (something TEXT)");
    char *want = xasprintf("catalog %s is a SQLite database but not a Duro catalog (it has tables "
                           "and no schema version)",
                           f->db);
    assert_open_refused(f->db, want);
    assert_int_equal(sql_int(f->db, "PRAGMA user_version"), 0);
    free(want);
}

/* ---- sync ---- */

static void test_sync_counts(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    ViewSpec v1[] = {
        {"a.x", "h1", 3600, 3600, true, NULL, VIEW_KIND_SQL, NULL, NULL},
        {"b.y", "h2", 86400, 3600, true, "a.x", VIEW_KIND_SQL, NULL, NULL},
        {"c.z", "h3", 0, 3600, true, "a.x,b.y", VIEW_KIND_PROCESSOR, NULL, NULL},
    };
    assert_stats(sync_specs(s, v1, 3, T1), 3, 0, 0, 0);
    assert_stats(sync_specs(s, v1, 3, T2), 0, 0, 0, 3);

    /* c.z leaves, d.w arrives, b.y changes, a.x stays. */
    ViewSpec v2[] = {
        {"d.w", "h4", 3600, 3600, true, "b.y", VIEW_KIND_SQL, NULL, NULL},
        {"a.x", "h1", 3600, 3600, true, NULL, VIEW_KIND_SQL, NULL, NULL},
        {"b.y", "h2b", 86400, 3600, true, "a.x", VIEW_KIND_SQL, NULL, NULL},
    };
    assert_stats(sync_specs(s, v2, 3, T3), 1, 1, 1, 1);

    StoreView *views = NULL;
    size_t n = 0;
    assert_int_equal(store_list_views(s, &views, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(views[0].name, "a.x");
    assert_string_equal(views[1].name, "b.y");
    assert_string_equal(views[2].name, "d.w");
    assert_true(views[0].first_seen_us == T1 && views[0].changed_us == T1);
    assert_true(views[1].first_seen_us == T1 && views[1].changed_us == T3);
    assert_true(views[2].first_seen_us == T3 && views[2].changed_us == T3);
    assert_string_equal(views[1].hash, "h2b");
    assert_string_equal(views[1].depends_on, "a.x");
    assert_string_equal(views[2].depends_on, "b.y");
    store_views_free(views, n);
    assert_int_equal(store_get_view(s, "c.z", &(StoreView){0}), 1);

    assert_stats(sync_specs(s, NULL, 0, T3), 0, 0, 3, 0);
    assert_int_equal(store_list_views(s, &views, &n), 0);
    assert_int_equal(n, 0);
    assert_null(views);
    store_close(s);
}

static void test_sync_stores_every_field(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    ViewSpec specs[] = {
        {"first.cities", "h1", 86400, 3600, true, NULL, VIEW_KIND_SQL, "first/cities — 24h.sql",
         "grant_select=metabase"},
        {"first.countries", "h2", 3600, 3600, true, "first.cities", VIEW_KIND_PROCESSOR,
         "first/countries — 1h.sql", "grant_select="},
    };
    sync_specs(s, specs, 2, T1);
    StoreView v;
    get_view(s, "first.countries", &v);
    assert_string_equal(v.name, "first.countries");
    assert_string_equal(v.source, "first/countries — 1h.sql");
    assert_string_equal(v.kind, "processor");
    assert_int_equal(v.interval, 3600);
    assert_int_equal(v.effective_interval, 3600);
    assert_true(v.enabled);
    assert_string_equal(v.config, "grant_select=");
    assert_string_equal(v.depends_on, "first.cities");
    assert_string_equal(v.hash, "h2");
    assert_null(v.built_hash);
    assert_true(v.first_seen_us == T1 && v.changed_us == T1);
    assert_int_equal(v.last_success_us, 0);
    assert_int_equal(v.last_duration_us, 0);
    assert_int_equal(v.rows, -1);
    assert_null(v.last_outcome);
    assert_false(v.last_failed);
    assert_null(v.last_error);
    assert_false(v.running);
    store_view_free(&v);
    assert_null(v.name);

    get_view(s, "first.cities", &v);
    assert_string_equal(v.kind, "sql");
    assert_string_equal(v.depends_on, "");
    assert_string_equal(v.config, "grant_select=metabase");
    assert_string_equal(v.source, "first/cities — 24h.sql");
    assert_int_equal(v.interval, 86400);
    store_view_free(&v);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM views WHERE name = 'first.countries'"
                                    " AND schema_name = 'first' AND table_name = 'countries'"),
                     1);
    store_close(s);
}

/* The effective interval, enabled, dependencies... can change without the definition hash. */
static void test_sync_updates_descriptive_columns(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    ViewSpec before[] = {
        {"a.x", "h1", 0, 3600, true, NULL, VIEW_KIND_SQL, NULL, NULL},
        {"b.y", "h2", 3600, 3600, true, "a.x", VIEW_KIND_SQL, NULL, NULL},
    };
    sync_specs(s, before, 2, T1);
    ViewSpec after[] = {
        {"a.x", "h1", 0, 1800, false, NULL, VIEW_KIND_SQL, "a.x-1h.sql", "enabled=false"},
        {"b.y", "h2", 1800, 1800, true, NULL, VIEW_KIND_SQL, NULL, NULL},
    };
    assert_stats(sync_specs(s, after, 2, T2), 0, 0, 0, 2);
    StoreView v;
    get_view(s, "a.x", &v);
    assert_int_equal(v.effective_interval, 1800);
    assert_false(v.enabled);
    assert_string_equal(v.source, "a.x-1h.sql");
    assert_string_equal(v.config, "enabled=false");
    assert_true(v.changed_us == T1);
    store_view_free(&v);
    get_view(s, "b.y", &v);
    assert_int_equal(v.interval, 1800);
    assert_string_equal(v.depends_on, "");
    assert_true(v.changed_us == T1);
    store_view_free(&v);
    store_close(s);
}

static void test_sync_failure_changes_nothing(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    ViewSpec specs[] = {{"a.x", "h1", 3600, 3600, true, NULL, VIEW_KIND_SQL, NULL, NULL}};
    sync_specs(s, specs, 1, T1);

    ViewSpec bad[] = {
        {"a.x", "h1-new", 3600, 3600, true, NULL, VIEW_KIND_SQL, NULL, NULL},
        {"b.y", "h2", 3600, 3600, true, "a.x", VIEW_KIND_SQL, NULL, NULL},
    };
    Repo r;
    fake_repo_build(&r, bad, 2);
    r.views[1].deps[0] = 7; /* out of range */
    StoreSyncStats stats = {9, 9, 9, 9};
    char *error = NULL;
    assert_int_equal(store_sync(s, &r, T2, &stats, &error), -1);
    assert_non_null(error);
    assert_non_null(strstr(error, "out of range"));
    assert_stats(stats, 0, 0, 0, 0);
    free(error);
    fake_repo_free(&r);

    StoreView *views = NULL;
    size_t n = 0;
    assert_int_equal(store_list_views(s, &views, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(views[0].hash, "h1");
    store_views_free(views, n);
    /* The connection is usable afterwards. */
    assert_stats(sync_specs(s, specs, 1, T3), 0, 0, 0, 1);
    store_close(s);
}

static void assert_hashes(Store *s, const char *name, const char *hash, const char *built)
{
    StoreView v;
    get_view(s, name, &v);
    assert_string_equal(v.hash, hash);
    if (built && !v.built_hash)
        fail_msg("%s: built_hash is NULL, want %s", name, built);
    if (built)
        assert_string_equal(v.built_hash, built);
    else
        assert_null(v.built_hash);
    store_view_free(&v);
}

/*
 * A changed definition must stay visibly unbuilt (hash != built_hash) until a
 * build of it succeeds: across syncs, restarts and failed runs.
 */
static void test_changed_view_stays_stale(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    ViewSpec specs[] = {{"a.x", "h1", 3600, 3600, true, NULL, VIEW_KIND_SQL, NULL, NULL}};
    sync_specs(s, specs, 1, T1);
    assert_hashes(s, "a.x", "h1", NULL);
    record_run(s, "a.x", T1, RUN_OK, NULL, "h1", 10);
    assert_hashes(s, "a.x", "h1", "h1");

    specs[0].hash = "h2";
    assert_stats(sync_specs(s, specs, 1, T2), 0, 1, 0, 0);
    assert_hashes(s, "a.x", "h2", "h1");
    assert_stats(sync_specs(s, specs, 1, T2 + 1), 0, 0, 0, 1);
    assert_stats(sync_specs(s, specs, 1, T2 + 2), 0, 0, 0, 1);
    assert_hashes(s, "a.x", "h2", "h1");

    store_close(s);
    s = open_store(f->db);
    assert_hashes(s, "a.x", "h2", "h1");
    assert_stats(sync_specs(s, specs, 1, T2 + 3), 0, 0, 0, 1);
    assert_hashes(s, "a.x", "h2", "h1");

    record_run(s, "a.x", T3, RUN_FAILED, "relation first.cities_raw does not exist", "h2", -1);
    assert_hashes(s, "a.x", "h2", "h1");
    record_run(s, "a.x", T3 + 10000, RUN_TESTS_FAILED, "correct_capital_of_france", "h2", -1);
    assert_hashes(s, "a.x", "h2", "h1");

    record_run(s, "a.x", T3 + 20000, RUN_OK, NULL, "h2", 12);
    assert_hashes(s, "a.x", "h2", "h2");
    StoreView v;
    get_view(s, "a.x", &v);
    assert_true(v.last_success_us == T3 + 22000);
    assert_int_equal(v.last_duration_us, 2000);
    assert_int_equal(v.rows, 12);
    assert_true(v.changed_us == T2);
    store_view_free(&v);
    store_close(s);
}

/* ---- runs ---- */

/* A finished run of a.x started at started with outcome and next try retry (0: none). */
static void finished_run(Store *s, int64_t started, RunOutcome outcome, int64_t retry)
{
    int64_t id = 0;
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_SCHEDULE, started, 0, &id), 0);
    assert_int_equal(store_run_finish(s, id, outcome, started + 10, outcome == RUN_OK ? 1 : -1,
                                      outcome == RUN_OK ? NULL : "boom",
                                      outcome == RUN_OK ? "h1" : NULL, retry),
                     0);
}

static void test_own_failures_count_until_a_success_or_a_change(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    ViewSpec specs[] = {{"a.x", "h1", 3600, 3600, true, NULL, VIEW_KIND_SQL, NULL, NULL}};
    sync_specs(s, specs, 1, T1);
    StoreView v;

    finished_run(s, T1 + 1, RUN_FAILED, T1 + 100);
    finished_run(s, T1 + 20, RUN_TESTS_FAILED, T1 + 200);
    finished_run(s, T1 + 30, RUN_FAILED, 0); /* a dependency's failure: not counted */
    get_view(s, "a.x", &v);
    assert_int_equal(v.failures, 2);
    assert_true(v.retry_us == T1 + 200);
    assert_true(v.last_failed);
    assert_string_equal(v.last_error, "boom");
    store_view_free(&v);

    /* A success ends them (and stores no next try, whatever it is given). */
    int64_t id = 0;
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1 + 40, 0, &id), 0);
    assert_int_equal(store_run_finish(s, id, RUN_OK, T1 + 50, 1, NULL, "h1", T1 + 999), 0);
    get_view(s, "a.x", &v);
    assert_int_equal(v.failures, 0);
    assert_true(v.retry_us == 0);
    store_view_free(&v);

    /* Failures of a definition changed since do not count, nor show. */
    finished_run(s, T2, RUN_TESTS_FAILED, T2 + 100);
    get_view(s, "a.x", &v);
    assert_int_equal(v.failures, 1);
    assert_true(v.last_failed);
    store_view_free(&v);
    specs[0].hash = "h2";
    sync_specs(s, specs, 1, T2 + 50);
    get_view(s, "a.x", &v);
    assert_int_equal(v.failures, 0);
    assert_true(v.retry_us == 0);
    assert_false(v.last_failed);
    assert_null(v.last_error);
    assert_string_equal(v.last_outcome, "tests_failed"); /* still the newest run's */
    store_view_free(&v);
    /* Back to the definition that failed: a new definition all the same. */
    specs[0].hash = "h1";
    sync_specs(s, specs, 1, T3);
    get_view(s, "a.x", &v);
    assert_int_equal(v.failures, 0);
    assert_false(v.last_failed);
    store_view_free(&v);
    store_close(s);
}

static void test_last_outcome_and_running(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    ViewSpec specs[] = {
        {"a.x", "h1", 3600, 3600, true, NULL, VIEW_KIND_SQL, NULL, NULL},
        {"b.y", "h2", 3600, 3600, true, NULL, VIEW_KIND_SQL, NULL, NULL},
    };
    sync_specs(s, specs, 2, T1);
    StoreView v;
    int64_t id = 0;

    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1, 0, &id), 0);
    assert_true(id > 0);
    get_view(s, "a.x", &v);
    assert_true(v.running);
    assert_null(v.last_outcome);
    assert_false(v.last_failed);
    store_view_free(&v);
    get_view(s, "b.y", &v);
    assert_false(v.running);
    store_view_free(&v);

    assert_int_equal(store_run_finish(s, id, RUN_FAILED, T1 + 500, -1, "boom", "h1", 0), 0);
    get_view(s, "a.x", &v);
    assert_false(v.running);
    assert_string_equal(v.last_outcome, "failed");
    assert_true(v.last_failed);
    assert_string_equal(v.last_error, "boom");
    assert_null(v.built_hash);
    assert_int_equal(v.last_success_us, 0);
    store_view_free(&v);

    /* While a new run is in progress the last finished one still shows. */
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_READ, T2, 0, &id), 0);
    get_view(s, "a.x", &v);
    assert_true(v.running);
    assert_string_equal(v.last_outcome, "failed");
    assert_true(v.last_failed);
    store_view_free(&v);

    assert_int_equal(store_run_finish(s, id, RUN_OK, T2 + 700, 5, NULL, "h1", 0), 0);
    get_view(s, "a.x", &v);
    assert_false(v.running);
    assert_string_equal(v.last_outcome, "ok");
    assert_false(v.last_failed);
    assert_null(v.last_error);
    assert_string_equal(v.built_hash, "h1");
    assert_true(v.last_success_us == T2 + 700);
    assert_int_equal(v.last_duration_us, 700);
    assert_int_equal(v.rows, 5);
    store_view_free(&v);

    /* Cancelled after a success: the newest finished run decides. */
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_WEB, T3, 0, &id), 0);
    assert_int_equal(store_run_finish(s, id, RUN_CANCELLED, T3 + 1, -1, "timeout", NULL, 0), 0);
    get_view(s, "a.x", &v);
    assert_string_equal(v.last_outcome, "cancelled");
    assert_true(v.last_failed);
    assert_string_equal(v.last_error, "timeout");
    assert_string_equal(v.built_hash, "h1");
    assert_int_equal(v.rows, 5);
    store_view_free(&v);
    store_close(s);
}

static void test_list_runs_and_steps(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    int64_t a1, b1, a2, a3;
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_SCHEDULE, T1, 0, &a1), 0);
    assert_int_equal(store_run_begin(s, "b.y", RUN_TRIGGER_DEPENDENCY, T1 + 100, 0, &b1), 0);

    /* Steps recorded out of order come back in the order they ran. */
    assert_int_equal(store_run_step(s, a1, "tests", T1 + 20, T1 + 30, "correct is false"), 0);
    assert_int_equal(store_run_step(s, a1, "create", T1, T1 + 20, NULL), 0);
    assert_int_equal(store_run_step(s, a1, "cleanup", T1 + 30, T1 + 31, NULL), 0);
    assert_int_equal(store_run_step(s, a1, "cleanup2", T1 + 30, T1 + 32, NULL), 0);
    assert_int_equal(store_run_finish(s, a1, RUN_TESTS_FAILED, T1 + 40, -1, "correct", "h1", 0), 0);
    assert_int_equal(store_run_finish(s, b1, RUN_OK, T1 + 200, 0, NULL, "hb", 0), 0);
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T2, 0, &a2), 0);
    assert_int_equal(store_run_finish(s, a2, RUN_CANCELLED, T2, -1, NULL, NULL, 0), 0);
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_WEB, T2, 0, &a3),
                     0); /* same start: id breaks */

    StoreRun *runs = NULL;
    size_t n = 0;
    assert_int_equal(store_list_runs(s, NULL, 0, &runs, &n), 0);
    assert_int_equal(n, 4);
    assert_true(runs[0].id == a3 && runs[1].id == a2 && runs[2].id == b1 && runs[3].id == a1);
    assert_string_equal(runs[0].trigger, "web");
    assert_string_equal(runs[0].outcome, "running");
    assert_int_equal(runs[0].finished_us, 0);
    assert_int_equal(runs[0].rows, -1);
    assert_null(runs[0].error);
    assert_int_equal(runs[0].n_steps, 0);
    assert_string_equal(runs[2].view, "b.y");
    assert_string_equal(runs[2].trigger, "dependency");
    assert_int_equal(runs[2].rows, 0);

    const StoreRun *r = &runs[3];
    assert_string_equal(r->view, "a.x");
    assert_string_equal(r->outcome, "tests_failed");
    assert_string_equal(r->error, "correct");
    assert_true(r->started_us == T1 && r->finished_us == T1 + 40);
    assert_int_equal(r->n_steps, 4);
    assert_string_equal(r->steps[0].step, "create");
    assert_null(r->steps[0].error);
    assert_true(r->steps[0].started_us == T1 && r->steps[0].finished_us == T1 + 20);
    assert_string_equal(r->steps[1].step, "tests");
    assert_string_equal(r->steps[1].error, "correct is false");
    assert_string_equal(r->steps[2].step, "cleanup");
    assert_string_equal(r->steps[3].step, "cleanup2");
    store_runs_free(runs, n);

    assert_int_equal(store_list_runs(s, "a.x", 2, &runs, &n), 0);
    assert_int_equal(n, 2);
    assert_true(runs[0].id == a3 && runs[1].id == a2);
    store_runs_free(runs, n);
    assert_int_equal(store_list_runs(s, "b.y", 0, &runs, &n), 0);
    assert_int_equal(n, 1);
    store_runs_free(runs, n);
    assert_int_equal(store_list_runs(s, "nope.nope", 0, &runs, &n), 0);
    assert_int_equal(n, 0);
    assert_null(runs);
    store_close(s);
}

static void test_one_build_of_a_view_at_a_time(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    int64_t a, again, b;
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_SCHEDULE, T1, 0, &a), 0);
    /* A second claim, from this process or another live one, is refused and records nothing. */
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1 + 1, 0, &again), 1);
    assert_non_null(strstr(store_error(s), "a.x is already being built by process"));
    assert_int_equal(store_run_begin(s, "b.y", RUN_TRIGGER_CALL, T1 + 1, 0, &b),
                     0); /* others are free */
    assert_int_equal(store_run_finish(s, a, RUN_OK, T1 + 2, 1, NULL, "h", 0), 0);
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1 + 3, 0, &again), 0);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM runs"), 3);
    store_close(s);
}

static void test_runs_of_dead_processes_are_closed(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    int64_t a, b, c;
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_SCHEDULE, T1, 0, &a), 0);
    assert_int_equal(store_run_begin(s, "b.y", RUN_TRIGGER_SCHEDULE, T1, 0, &b), 0);
    /* a.x's builder was killed: a pid that cannot exist; b.y's run stays ours. */
    sql_exec(f->db, "UPDATE runs SET pid = 2147483647 WHERE \"view\" = 'a.x'");
    int closed = 0;
    assert_int_equal(store_runs_close_dead(s, T2, &closed), 0);
    assert_int_equal(closed, 1);
    StoreView v;
    assert_int_equal(store_get_view(s, "a.x", &v), 1); /* not synced: no view row */
    StoreRun *runs = NULL;
    size_t n = 0;
    assert_int_equal(store_list_runs(s, "a.x", 0, &runs, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(runs[0].outcome, "cancelled");
    assert_int_equal(runs[0].finished_us, T2);
    assert_non_null(strstr(runs[0].error, "process 2147483647 ended"));
    store_runs_free(runs, n);
    /* A dead builder does not block the next claim, which also closes its run. */
    sql_exec(f->db, "UPDATE runs SET pid = 2147483647, outcome = 'running' WHERE id = 1");
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T3, 0, &c), 0);
    assert_int_equal(store_run_begin(s, "b.y", RUN_TRIGGER_CALL, T3, 0, &c), 1);
    store_close(s);
}

static void test_runs_kept_when_view_leaves(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    ViewSpec specs[] = {{"a.x", "h1", 3600, 3600, true, NULL, VIEW_KIND_SQL, NULL, NULL}};
    sync_specs(s, specs, 1, T1);
    record_run(s, "a.x", T1, RUN_OK, NULL, "h1", 3);
    int64_t late = 0;
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_SCHEDULE, T2, 0, &late), 0);

    assert_stats(sync_specs(s, NULL, 0, T2), 0, 0, 1, 0);
    StoreView v;
    assert_int_equal(store_get_view(s, "a.x", &v), 1);
    /* A run in flight when its view left still finishes. */
    assert_int_equal(store_run_finish(s, late, RUN_OK, T2 + 5, 4, NULL, "h1", 0), 0);

    StoreRun *runs = NULL;
    size_t n = 0;
    assert_int_equal(store_list_runs(s, "a.x", 0, &runs, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(runs[0].outcome, "ok");
    assert_int_equal(runs[0].rows, 4);
    assert_int_equal(runs[1].n_steps, 1);
    store_runs_free(runs, n);

    /* Back in the repository, it is a new view: never built by the catalog's account. */
    assert_stats(sync_specs(s, specs, 1, T3), 1, 0, 0, 0);
    assert_hashes(s, "a.x", "h1", NULL);
    get_view(s, "a.x", &v);
    assert_string_equal(v.last_outcome, "ok");
    assert_false(v.last_failed); /* from the kept runs */
    store_view_free(&v);
    store_close(s);
}

/* ---- a shared catalog (PostgreSQL) ---- */

/* A scheduled run is recorded only under the leader generation the catalog has now. */
static void test_shared_fence(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    assert_true(store_shared(s));
    sql_exec(f->db, "INSERT INTO duro_leader VALUES (1, 5, 'i', 'h:1', 1)");
    int64_t id = 0;
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_SCHEDULE, T1, 4, &id), 2);
    assert_int_equal(id, 0);
    assert_non_null(strstr(store_error(s), "no longer leads the scheduler (generation 4, the "
                                           "catalog's 5)"));
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM runs"), 0);
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_SCHEDULE, T1, 5, &id), 0);
    assert_int_equal(store_run_finish(s, id, RUN_OK, T2, 1, NULL, "h", 0), 0);
    /* Not a scheduled run: no fence. */
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T2, 0, &id), 0);
    store_close(s);
}

/* Another instance's run is alive while a connection holds that instance's lock, on any host. */
static void test_shared_other_instances(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    /* Instance aaaa... (pid 1 of another host): no connection holds its lock, so it is gone. */
    sql_exec(f->db, "INSERT INTO runs (\"view\", \"trigger\", started_us, outcome, pid, instance,"
                    " process_start) VALUES ('a.x', 'call', 1, 'running', 1,"
                    " 'aaaaaaaa000000000000000000000000', 'other-boot/1')");
    int64_t id = 0;
    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1, 0, &id), 0);
    assert_int_equal(store_run_finish(s, id, RUN_OK, T2, 1, NULL, "h", 0), 0);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM runs WHERE outcome = 'cancelled'"), 1);

    /* Instance bbbb...: a connection holds its lock (as each of its catalog connections does). */
    PGconn *other = PQconnectdb(f->db);
    assert_int_equal(PQstatus(other), CONNECTION_OK);
    PGresult *r = PQexec(other, "SELECT pg_advisory_lock_shared(1685418544, -1145324613)");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    sql_exec(f->db, "INSERT INTO runs (\"view\", \"trigger\", started_us, outcome, pid, instance,"
                    " process_start) VALUES ('b.y', 'call', 1, 'running', 1,"
                    " 'bbbbbbbb000000000000000000000000', 'other-boot/1')");
    assert_int_equal(store_run_begin(s, "b.y", RUN_TRIGGER_CALL, T1, 0, &id), 1);
    /* It ends: its run is closed by whoever looks next. */
    PQfinish(other);
    assert_int_equal(store_run_begin(s, "b.y", RUN_TRIGGER_CALL, T2, 0, &id), 0);
    assert_int_equal(sql_int(f->db, "SELECT count(*) FROM runs WHERE outcome = 'cancelled'"), 2);
    store_close(s);
}

/* What the notifications told of a view survives a reopen; successful runs are counted. */
static void test_notices(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    StoreNotice n;
    assert_int_equal(store_notice_get(s, "a.x", &n), 0);
    assert_false(n.failing || n.overdue);
    assert_true(n.failure_sent_us == 0 && n.ok_runs == 0);
    record_run(s, "a.x", T1, RUN_OK, NULL, "h1", 1);
    record_run(s, "a.x", T2, RUN_FAILED, "boom", NULL, -1);
    n = (StoreNotice){.failing = true, .failure_sent_us = T2, .overdue = true};
    assert_int_equal(store_notice_put(s, "a.x", &n), 0);
    n.failing = false;
    assert_int_equal(store_notice_put(s, "a.x", &n), 0);
    store_close(s);
    s = open_store(f->db);
    assert_int_equal(store_notice_get(s, "a.x", &n), 0);
    assert_false(n.failing);
    assert_true(n.overdue && n.failure_sent_us == T2 && n.ok_runs == 1);
    store_close(s);
}

static void test_run_errors(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    int64_t id = 0;
    assert_int_equal(store_run_begin(s, "a.x", (RunTrigger)42, T1, 0, &id), -1);
    assert_non_null(strstr(store_error(s), "unknown trigger"));
    assert_int_equal(store_run_begin(s, "", RUN_TRIGGER_CALL, T1, 0, &id), -1);
    assert_int_equal(store_run_step(s, 4242, "create", T1, T1, NULL), -1);
    assert_non_null(strstr(store_error(s), "no run 4242"));

    assert_int_equal(store_run_begin(s, "a.x", RUN_TRIGGER_CALL, T1, 0, &id), 0);
    assert_int_equal(store_run_step(s, id, "", T1, T1, NULL), -1);
    assert_int_equal(store_run_finish(s, id, RUN_RUNNING, T1, -1, NULL, NULL, 0), -1);
    assert_non_null(strstr(store_error(s), "does not end a run"));
    assert_int_equal(store_run_finish(s, id, RUN_OK, T1, -1, NULL, NULL, 0), -1);
    assert_non_null(strstr(store_error(s), "hash"));
    assert_int_equal(store_run_finish(s, id + 1, RUN_FAILED, T1, -1, "x", NULL, 0), -1);
    assert_non_null(strstr(store_error(s), "no such run in progress"));
    assert_int_equal(store_run_finish(s, id, RUN_FAILED, T1, -1, "x", NULL, 0), 0);
    assert_int_equal(store_run_finish(s, id, RUN_OK, T1, -1, NULL, "h1", 0), -1);

    StoreRun *runs = NULL;
    size_t n = 0;
    assert_int_equal(store_list_runs(s, NULL, 0, &runs, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(runs[0].outcome, "failed");
    store_runs_free(runs, n);

    StoreView v = {.name = (char *)"garbage"};
    assert_int_equal(store_get_view(s, "nope.nope", &v), 1);
    assert_null(v.name);
    store_close(s);
}

/* ---- concurrency: one writer, readers on their own connections ---- */

#define WRITER_ROUNDS 150
#define READER_ROUNDS 300
#define N_READERS     3

typedef struct Worker {
    const char *path;
    int failures;
    char message[256];
} Worker;

static void worker_fail(Worker *w, const char *what, const char *error)
{
    if (w->failures++ == 0)
        snprintf(w->message, sizeof w->message, "%s: %s", what, error ? error : "?");
}

static void *writer_main(void *arg)
{
    Worker *w = arg;
    Store *s = NULL;
    char *error = NULL;
    if (store_open(w->path, &s, &error)) {
        worker_fail(w, "open", error);
        free(error);
        return NULL;
    }
    for (int i = 0; i < WRITER_ROUNDS; i++) {
        char hash[16];
        snprintf(hash, sizeof hash, "h%d", i / 10);
        ViewSpec specs[] = {
            {"a.x", hash, 3600, 3600, true, NULL, VIEW_KIND_SQL, NULL, NULL},
            {"b.y", "hb", 3600, 3600, true, "a.x", VIEW_KIND_SQL, NULL, NULL},
            {"c.z", "hc", 3600, 3600, i % 2 == 0, "b.y", VIEW_KIND_SQL, NULL, NULL},
        };
        Repo r;
        StoreSyncStats stats;
        fake_repo_build(&r, specs, i % 7 == 6 ? 2 : 3);
        if (store_sync(s, &r, T1 + i, &stats, &error)) {
            worker_fail(w, "sync", error);
            free(error);
            error = NULL;
        }
        fake_repo_free(&r);
        int64_t id = 0;
        if (store_run_begin(s, "a.x", RUN_TRIGGER_SCHEDULE, T1 + i, 0, &id) ||
            store_run_step(s, id, "create", T1 + i, T1 + i + 1, NULL) ||
            store_run_finish(s, id, i % 3 ? RUN_OK : RUN_FAILED, T1 + i + 2, i, NULL, hash, 0))
            worker_fail(w, "run", store_error(s));
    }
    store_close(s);
    return NULL;
}

static void *reader_main(void *arg)
{
    Worker *w = arg;
    Store *s = NULL;
    char *error = NULL;
    if (store_open(w->path, &s, &error)) {
        worker_fail(w, "open", error);
        free(error);
        return NULL;
    }
    for (int i = 0; i < READER_ROUNDS; i++) {
        StoreView *views = NULL;
        size_t n = 0;
        if (store_list_views(s, &views, &n))
            worker_fail(w, "list_views", store_error(s));
        else if (n < 2 || strcmp(views[0].name, "a.x") != 0)
            worker_fail(w, "list_views", "views missing");
        store_views_free(views, n);
        StoreView v;
        if (store_get_view(s, "a.x", &v) != 0)
            worker_fail(w, "get_view", store_error(s));
        store_view_free(&v);
        if (i % 10 == 0) {
            StoreRun *runs = NULL;
            if (store_list_runs(s, NULL, 20, &runs, &n))
                worker_fail(w, "list_runs", store_error(s));
            store_runs_free(runs, n);
        }
    }
    store_close(s);
    return NULL;
}

static void test_concurrent_readers(void **state)
{
    Fixture *f = *state;
    Store *s = open_store(f->db);
    ViewSpec specs[] = {
        {"a.x", "h0", 3600, 3600, true, NULL, VIEW_KIND_SQL, NULL, NULL},
        {"b.y", "hb", 3600, 3600, true, "a.x", VIEW_KIND_SQL, NULL, NULL},
    };
    sync_specs(s, specs, 2, T1);
    store_close(s);

    Worker workers[1 + N_READERS];
    pthread_t threads[1 + N_READERS];
    memset(workers, 0, sizeof workers);
    for (int i = 0; i < 1 + N_READERS; i++) {
        workers[i].path = f->db;
        assert_int_equal(
            pthread_create(&threads[i], NULL, i == 0 ? writer_main : reader_main, &workers[i]), 0);
    }
    for (int i = 0; i < 1 + N_READERS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    for (int i = 0; i < 1 + N_READERS; i++) {
        if (workers[i].failures)
            fail_msg("%s %d: %d failures, first: %s", i == 0 ? "writer" : "reader", i,
                     workers[i].failures, workers[i].message);
    }

    s = open_store(f->db);
    StoreRun *runs = NULL;
    size_t n = 0;
    assert_int_equal(store_list_runs(s, "a.x", 0, &runs, &n), 0);
    assert_int_equal(n, WRITER_ROUNDS);
    store_runs_free(runs, n);
    store_close(s);
}

/* Several connections creating the same new catalog at once: each gets a migrated file. */
#define FIRST_OPEN_ROUNDS  40
#define FIRST_OPEN_THREADS 4

static void *first_open_main(void *arg)
{
    Worker *w = arg;
    Store *s = NULL;
    char *error = NULL;
    if (store_open(w->path, &s, &error)) {
        worker_fail(w, "open", error);
        free(error);
        return NULL;
    }
    if (store_schema_version(s) != STORE_SCHEMA_VERSION)
        worker_fail(w, "open", "wrong schema version");
    store_close(s);
    return NULL;
}

static void test_concurrent_first_open(void **state)
{
    Fixture *f = *state;
    for (int round = 0; round < FIRST_OPEN_ROUNDS; round++) {
        char *path = xasprintf("%s/new%d.db", f->dir, round);
        Worker workers[FIRST_OPEN_THREADS];
        pthread_t threads[FIRST_OPEN_THREADS];
        memset(workers, 0, sizeof workers);
        for (int i = 0; i < FIRST_OPEN_THREADS; i++) {
            workers[i].path = path;
            assert_int_equal(pthread_create(&threads[i], NULL, first_open_main, &workers[i]), 0);
        }
        for (int i = 0; i < FIRST_OPEN_THREADS; i++)
            assert_int_equal(pthread_join(threads[i], NULL), 0);
        for (int i = 0; i < FIRST_OPEN_THREADS; i++)
            if (workers[i].failures)
                fail_msg("round %d, thread %d: %s", round, i, workers[i].message);
        assert_int_equal(sql_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
        free(path);
    }
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    /* The same on both backends. */
    const struct CMUnitTest both[] = {
        TEST(test_sync_counts),
        TEST(test_sync_stores_every_field),
        TEST(test_sync_updates_descriptive_columns),
        TEST(test_sync_failure_changes_nothing),
        TEST(test_changed_view_stays_stale),
        TEST(test_last_outcome_and_running),
        TEST(test_own_failures_count_until_a_success_or_a_change),
        TEST(test_list_runs_and_steps),
        TEST(test_one_build_of_a_view_at_a_time),
        TEST(test_runs_of_dead_processes_are_closed),
        TEST(test_runs_kept_when_view_leaves),
        TEST(test_notices),
        TEST(test_run_errors),
        TEST(test_concurrent_readers),
    };
    /* About SQLite files: their modes, their migrations, files the store must not touch. */
    const struct CMUnitTest sqlite_only[] = {
        TEST(test_create_and_reopen),
        TEST(test_empty_file_is_initialised),
        TEST(test_open_in_missing_directory_fails),
        TEST(test_refuses_newer_schema),
        TEST(test_refuses_file_that_is_not_sqlite),
        TEST(test_refuses_foreign_sqlite_database),
        TEST(test_migrates_a_version_1_catalog),
        TEST(test_migrates_a_version_7_catalog_with_runs),
        TEST(test_concurrent_first_open),
    };
    /* What only a shared catalog does. */
    const struct CMUnitTest shared_only[] = {
        TEST(test_shared_fence),
        TEST(test_shared_other_instances),
    };
    if (fixture_pg())
        return cmocka_run_group_tests_name("store on PostgreSQL", both, NULL, NULL) |
               cmocka_run_group_tests_name("store on PostgreSQL, shared", shared_only, NULL, NULL);
    return cmocka_run_group_tests_name("store", both, NULL, NULL) |
           cmocka_run_group_tests_name("store (SQLite files)", sqlite_only, NULL, NULL);
}
