/*
 * The catalog connection on PostgreSQL (catalog/cdb_pg.c): parameters and their types, columns,
 * changes, the statement translation, error classes, the writer lock, change notifications,
 * reconnection and no password in names or errors. Each test gets a fresh database on the
 * server at DURO_TEST_CATALOG_URL (tools/with-pg provides one); without it the binary fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog/cdb.h"

static const char *server_url; /* DURO_TEST_CATALOG_URL: the server's postgres database */
static int db_counter;

typedef struct Fixture {
    char *dbname;
    char *url; /* of dbname */
    Cdb *db;
} Fixture;

/* server_url with its database replaced by dbname (and userinfo by user_info when not NULL). */
static char *url_for(const char *dbname, const char *user_info)
{
    const char *scheme_end = strstr(server_url, "://") + 3;
    const char *at = strchr(scheme_end, '@');
    const char *hostport = at != NULL ? at + 1 : scheme_end;
    const char *slash = strchr(hostport, '/');
    size_t hlen = slash != NULL ? (size_t)(slash - hostport) : strlen(hostport);
    char *user = at != NULL ? xstrndup(scheme_end, (size_t)(at - scheme_end)) : xstrdup("");
    char *url =
        xasprintf("postgresql://%s%s%.*s/%s", user_info != NULL ? user_info : user,
                  (user_info != NULL || at != NULL) ? "@" : "", (int)hlen, hostport, dbname);
    free(user);
    return url;
}

static Cdb *open_ok(const char *url)
{
    Cdb *db = NULL;
    char *error = NULL;
    CdbErr cls;
    if (cdb_open(url, &db, &cls, &error) != 0) {
        print_error("cannot open: %s\n", error);
        free(error);
        fail();
    }
    return db;
}

static void exec_ok(Cdb *db, const char *sql)
{
    if (cdb_exec(db, sql) != CDB_OK) {
        print_error("%s: %s\n", sql, cdb_errmsg(db));
        fail();
    }
}

/* The first column of the first row of sql, an integer. */
static int64_t one_int(Cdb *db, const char *sql)
{
    CdbStmt *st;
    assert_int_equal(cdb_prepare(db, sql, &st), CDB_OK);
    int rc = cdb_step(st);
    if (rc != CDB_ROW)
        print_error("%s: %s\n", sql, cdb_errmsg(db));
    assert_int_equal(rc, CDB_ROW);
    int64_t v = cdb_column_int(st, 0);
    cdb_finalize(st);
    return v;
}

static int setup(void **state)
{
    Fixture *f = xcalloc(1, sizeof(*f));
    f->dbname = xasprintf("duro_cdb_test_%d_%d", (int)getpid(), ++db_counter);
    Cdb *admin = open_ok(server_url);
    char *sql = xasprintf("DROP DATABASE IF EXISTS %s; ", f->dbname);
    exec_ok(admin, sql);
    free(sql);
    sql = xasprintf("CREATE DATABASE %s", f->dbname);
    exec_ok(admin, sql);
    free(sql);
    cdb_close(admin);
    f->url = url_for(f->dbname, NULL);
    f->db = open_ok(f->url);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    cdb_close(f->db);
    Cdb *admin = open_ok(server_url);
    char *sql = xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", f->dbname);
    exec_ok(admin, sql);
    free(sql);
    cdb_close(admin);
    free(f->url);
    free(f->dbname);
    free(f);
    return 0;
}

static void test_open_and_name(void **state)
{
    Fixture *f = *state;
    assert_int_equal(cdb_kind(f->db), CDB_POSTGRES);
    assert_true(cdb_is_url(f->url));
    assert_true(cdb_is_url("postgres://h/d"));
    assert_false(cdb_is_url("/var/lib/duro/duro.db"));
    const char *name = cdb_name(f->db);
    assert_non_null(strstr(name, "127.0.0.1:"));
    char *suffix = xasprintf("/%s", f->dbname);
    assert_string_equal(name + strlen(name) - strlen(suffix), suffix);
    free(suffix);
    assert_true(cdb_autocommit(f->db));
    /* application_name is the default; the URL's own value would win */
    CdbStmt *st;
    assert_int_equal(cdb_prepare(f->db, "SHOW application_name", &st), CDB_OK);
    assert_int_equal(cdb_step(st), CDB_ROW);
    assert_string_equal(cdb_column_text(st, 0), "duro-catalog");
    cdb_finalize(st);
    char *url = xasprintf("%s?application_name=other", f->url);
    Cdb *db = open_ok(url);
    free(url);
    assert_int_equal(cdb_prepare(db, "SHOW application_name", &st), CDB_OK);
    assert_int_equal(cdb_step(st), CDB_ROW);
    assert_string_equal(cdb_column_text(st, 0), "other");
    cdb_finalize(st);
    cdb_close(db);
    /* the short scheme */
    url = xasprintf("postgres://%s", strstr(f->url, "://") + 3);
    db = open_ok(url);
    free(url);
    assert_string_equal(cdb_name(db), name);
    assert_int_equal(one_int(db, "SELECT 1"), 1);
    cdb_close(db);
}

static void test_params_reused(void **state)
{
    Fixture *f = *state;
    exec_ok(f->db, "CREATE TABLE t (id bigserial PRIMARY KEY, a bigint, b text)");
    CdbStmt *st;
    assert_int_equal(cdb_prepare(f->db, "INSERT INTO t (a, b) VALUES (?1, ?2), (?1 + 1, ?2)", &st),
                     CDB_OK);
    assert_int_equal(cdb_bind_int(st, 1, 41), CDB_OK);
    assert_int_equal(cdb_bind_text(st, 2, "x"), CDB_OK);
    assert_int_equal(cdb_step(st), CDB_DONE);
    assert_int_equal(cdb_changes(f->db), 2);
    /* again with other values after a reset */
    assert_int_equal(cdb_reset(st), CDB_OK);
    assert_int_equal(cdb_bind_int(st, 1, 100), CDB_OK);
    assert_int_equal(cdb_step(st), CDB_DONE);
    cdb_finalize(st);
    assert_int_equal(one_int(f->db, "SELECT sum(a) FROM t WHERE b = 'x'"), 41 + 42 + 100 + 101);

    /* bare ? numbered after the last */
    assert_int_equal(cdb_prepare(f->db, "SELECT count(*) FROM t WHERE a >= ? AND a <= ?", &st),
                     CDB_OK);
    assert_int_equal(cdb_bind_int(st, 1, 42), CDB_OK);
    assert_int_equal(cdb_bind_int(st, 2, 100), CDB_OK);
    assert_int_equal(cdb_bind_int(st, 3, 1), CDB_ERROR);
    assert_int_equal(cdb_step(st), CDB_ROW);
    assert_true(cdb_column_is_int(st, 0));
    assert_int_equal(cdb_column_int(st, 0), 2);
    assert_int_equal(cdb_step(st), CDB_DONE);
    cdb_finalize(st);
}

static void test_nulls(void **state)
{
    Fixture *f = *state;
    exec_ok(f->db, "CREATE TABLE t (id bigserial PRIMARY KEY, a bigint, b text)");
    CdbStmt *st;
    /* a NULL never typed: the server types it from the column */
    assert_int_equal(cdb_prepare(f->db, "INSERT INTO t (a, b) VALUES (?1, ?2) RETURNING id", &st),
                     CDB_OK);
    assert_int_equal(cdb_bind_null(st, 1), CDB_OK);
    assert_int_equal(cdb_bind_null(st, 2), CDB_OK);
    assert_int_equal(cdb_step(st), CDB_ROW);
    assert_true(cdb_column_is_int(st, 0));
    int64_t id1 = cdb_column_int(st, 0);
    assert_int_equal(cdb_step(st), CDB_DONE);
    /* after an int and a text bind, NULLs keep those types */
    assert_int_equal(cdb_reset(st), CDB_OK);
    assert_int_equal(cdb_bind_int(st, 1, 5), CDB_OK);
    assert_int_equal(cdb_bind_text(st, 2, "five"), CDB_OK);
    assert_int_equal(cdb_step(st), CDB_ROW);
    int64_t id2 = cdb_column_int(st, 0);
    assert_true(id2 > id1);
    assert_int_equal(cdb_reset(st), CDB_OK);
    cdb_clear_bindings(st);
    assert_int_equal(cdb_step(st), CDB_ROW);
    assert_int_equal(cdb_reset(st), CDB_OK);
    assert_int_equal(cdb_bind_null(st, 1), CDB_OK);
    assert_int_equal(cdb_bind_null(st, 2), CDB_OK);
    assert_int_equal(cdb_step(st), CDB_ROW);
    cdb_finalize(st);
    assert_int_equal(one_int(f->db, "SELECT count(*) FROM t WHERE a IS NULL AND b IS NULL"), 3);

    /* only tested with IS NULL: the server could not type it untyped */
    assert_int_equal(cdb_prepare(f->db, "SELECT ?1 IS NULL, ?2 IS NOT NULL", &st), CDB_OK);
    assert_int_equal(cdb_bind_null(st, 1), CDB_OK);
    assert_int_equal(cdb_bind_null(st, 2), CDB_OK);
    int rc = cdb_step(st);
    if (rc != CDB_ROW)
        print_error("%s\n", cdb_errmsg(f->db));
    assert_int_equal(rc, CDB_ROW);
    assert_int_equal(cdb_column_int(st, 0), 1);
    assert_int_equal(cdb_column_int(st, 1), 0);
    cdb_finalize(st);
    /* IS NULL and a comparison with an integer column: typed by the column */
    assert_int_equal(cdb_prepare(f->db, "SELECT count(*) FROM t WHERE ?1 IS NULL OR a = ?1", &st),
                     CDB_OK);
    assert_int_equal(cdb_bind_null(st, 1), CDB_OK);
    assert_int_equal(cdb_step(st), CDB_ROW);
    assert_int_equal(cdb_column_int(st, 0), 4);
    assert_int_equal(cdb_reset(st), CDB_OK);
    assert_int_equal(cdb_bind_int(st, 1, 5), CDB_OK);
    assert_int_equal(cdb_step(st), CDB_ROW);
    assert_int_equal(cdb_column_int(st, 0), 1);
    cdb_finalize(st);

    /* NULL columns */
    assert_int_equal(cdb_prepare(f->db, "SELECT a, b FROM t WHERE id = ?1", &st), CDB_OK);
    assert_int_equal(cdb_bind_int(st, 1, id1), CDB_OK);
    assert_int_equal(cdb_step(st), CDB_ROW);
    assert_true(cdb_column_is_null(st, 0));
    assert_true(cdb_column_is_null(st, 1));
    assert_false(cdb_column_is_int(st, 0));
    assert_null(cdb_column_text(st, 1));
    assert_int_equal(cdb_column_bytes(st, 1), 0);
    cdb_finalize(st);
}

static void test_columns(void **state)
{
    Fixture *f = *state;
    CdbStmt *st;
    assert_int_equal(cdb_prepare(f->db,
                                 "SELECT true, false, 7::int2, 8::int4, 9000000000::int8, '12', "
                                 "13::numeric, 1.5::numeric",
                                 &st),
                     CDB_OK);
    assert_int_equal(cdb_step(st), CDB_ROW);
    assert_true(cdb_column_is_int(st, 0));
    assert_int_equal(cdb_column_int(st, 0), 1);
    assert_true(cdb_column_is_int(st, 1));
    assert_int_equal(cdb_column_int(st, 1), 0);
    assert_int_equal(cdb_column_int(st, 2), 7);
    assert_int_equal(cdb_column_int(st, 3), 8);
    assert_int_equal(cdb_column_int(st, 4), 9000000000LL);
    assert_false(cdb_column_is_int(st, 5));
    assert_string_equal(cdb_column_text(st, 5), "12");
    assert_int_equal(cdb_column_bytes(st, 5), 2);
    assert_true(cdb_column_is_int(st, 6));
    assert_false(cdb_column_is_int(st, 7));
    assert_int_equal(cdb_step(st), CDB_DONE);
    cdb_finalize(st);
}

static void test_changes_and_returning(void **state)
{
    Fixture *f = *state;
    exec_ok(f->db, "CREATE TABLE t (id bigserial PRIMARY KEY, a bigint)");
    exec_ok(f->db, "INSERT INTO t (a) SELECT g FROM generate_series(1, 5) g");
    assert_int_equal(cdb_changes(f->db), 5);
    CdbStmt *st;
    assert_int_equal(cdb_prepare(f->db, "UPDATE t SET a = a * 10 WHERE a > ?1 RETURNING id", &st),
                     CDB_OK);
    assert_int_equal(cdb_bind_int(st, 1, 2), CDB_OK);
    int rows = 0;
    int rc;
    while ((rc = cdb_step(st)) == CDB_ROW)
        rows++;
    assert_int_equal(rc, CDB_DONE);
    assert_int_equal(rows, 3);
    cdb_finalize(st);
    assert_int_equal(cdb_changes(f->db), 3);
    /* a SELECT leaves it */
    assert_int_equal(one_int(f->db, "SELECT count(*) FROM t"), 5);
    assert_int_equal(cdb_changes(f->db), 3);
    exec_ok(f->db, "DELETE FROM t WHERE a < 10");
    assert_int_equal(cdb_changes(f->db), 2);
}

static void test_quotes_untouched(void **state)
{
    Fixture *f = *state;
    exec_ok(f->db, "CREATE TABLE \"we?ird\" (\"a?1\" text)");
    CdbStmt *st;
    assert_int_equal(cdb_prepare(f->db,
                                 "INSERT INTO \"we?ird\" (\"a?1\") VALUES ('it''s ?1 and ?' || ?1) "
                                 "-- a comment with ?2\n",
                                 &st),
                     CDB_OK);
    assert_int_equal(cdb_bind_text(st, 1, "O'Brien \"?\" ?2"), CDB_OK);
    assert_int_equal(cdb_bind_text(st, 2, "x"), CDB_ERROR);
    assert_int_equal(cdb_step(st), CDB_DONE);
    cdb_finalize(st);
    assert_int_equal(cdb_prepare(f->db, "SELECT \"a?1\" FROM \"we?ird\" /* ?3 */", &st), CDB_OK);
    assert_int_equal(cdb_step(st), CDB_ROW);
    assert_string_equal(cdb_column_text(st, 0), "it's ?1 and ?O'Brien \"?\" ?2");
    cdb_finalize(st);
}

static void test_indexed_by_dropped(void **state)
{
    Fixture *f = *state;
    exec_ok(f->db, "CREATE TABLE t (a bigint, b text); CREATE INDEX t_a ON t (a);"
                   "INSERT INTO t VALUES (1, 'one'), (2, 'two')");
    CdbStmt *st;
    assert_int_equal(cdb_prepare(f->db,
                                 "SELECT b FROM t INDEXED BY t_a WHERE a = ?1 AND b <> "
                                 "'INDEXED BY t_a'",
                                 &st),
                     CDB_OK);
    assert_int_equal(cdb_bind_int(st, 1, 2), CDB_OK);
    int rc = cdb_step(st);
    if (rc != CDB_ROW)
        print_error("%s\n", cdb_errmsg(f->db));
    assert_int_equal(rc, CDB_ROW);
    assert_string_equal(cdb_column_text(st, 0), "two");
    assert_int_equal(cdb_step(st), CDB_DONE);
    cdb_finalize(st);
    /* lower case, an alias, a quoted index name */
    assert_int_equal(
        cdb_prepare(f->db, "select count(*) from t x indexed   by \"t_a\" where x.a > ?", &st),
        CDB_OK);
    assert_int_equal(cdb_bind_int(st, 1, 0), CDB_OK);
    assert_int_equal(cdb_step(st), CDB_ROW);
    assert_int_equal(cdb_column_int(st, 0), 2);
    cdb_finalize(st);
}

static void test_errors(void **state)
{
    Fixture *f = *state;
    assert_int_equal(cdb_exec(f->db, "SELEC 1"), CDB_ERROR);
    assert_int_equal(cdb_errclass(f->db), CDB_ERR_OTHER);
    assert_non_null(strstr(cdb_errmsg(f->db), "syntax error"));
    CdbStmt *st;
    assert_int_equal(cdb_prepare(f->db, "SELECT nosuchcolumn", &st), CDB_OK);
    assert_int_equal(cdb_step(st), CDB_ERROR);
    assert_int_equal(cdb_errclass(f->db), CDB_ERR_OTHER);
    assert_ptr_equal(cdb_stmt_db(st), f->db);
    cdb_finalize(st);

    exec_ok(f->db, "CREATE TABLE p (id bigint PRIMARY KEY);"
                   "CREATE TABLE c (p bigint REFERENCES p (id))");
    assert_int_equal(cdb_prepare(f->db, "INSERT INTO c VALUES (?1)", &st), CDB_OK);
    assert_int_equal(cdb_bind_int(st, 1, 7), CDB_OK);
    assert_int_equal(cdb_step(st), CDB_ERROR);
    assert_int_equal(cdb_errclass(f->db), CDB_ERR_FOREIGN_KEY);
    assert_non_null(strstr(cdb_errmsg(f->db), "foreign key"));
    cdb_finalize(st);
    /* every statement of an exec is checked, not only the last */
    assert_int_equal(cdb_exec(f->db, "INSERT INTO c VALUES (8); SELECT 1"), CDB_ERROR);
    assert_int_equal(cdb_errclass(f->db), CDB_ERR_FOREIGN_KEY);
    /* a failed statement inside a transaction, then rollback */
    assert_int_equal(cdb_begin_write(f->db), CDB_OK);
    assert_false(cdb_autocommit(f->db));
    assert_int_equal(cdb_exec(f->db, "INSERT INTO c VALUES (9)"), CDB_ERROR);
    assert_int_equal(cdb_rollback(f->db), CDB_OK);
    assert_true(cdb_autocommit(f->db));
    assert_int_equal(one_int(f->db, "SELECT count(*) FROM c"), 0);
}

typedef struct Writer {
    const char *url;
    atomic_bool started;
    atomic_bool locked;
    int rc;
} Writer;

static void *writer_thread(void *arg)
{
    Writer *w = arg;
    Cdb *db = NULL;
    char *error = NULL;
    if (cdb_open(w->url, &db, NULL, &error) != 0) {
        free(error);
        w->rc = -1;
        atomic_store(&w->started, true);
        return NULL;
    }
    atomic_store(&w->started, true);
    w->rc = cdb_begin_write(db);
    atomic_store(&w->locked, true);
    if (w->rc == CDB_OK)
        w->rc = cdb_exec(db, "INSERT INTO t VALUES (2)");
    if (w->rc == CDB_OK)
        w->rc = cdb_commit(db);
    cdb_close(db);
    return NULL;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_begin_write_serialises(void **state)
{
    Fixture *f = *state;
    exec_ok(f->db, "CREATE TABLE t (a bigint)");
    assert_int_equal(cdb_begin_write(f->db), CDB_OK);
    assert_false(cdb_autocommit(f->db));
    exec_ok(f->db, "INSERT INTO t VALUES (1)");
    Writer w = {.url = f->url};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, writer_thread, &w), 0);
    while (!atomic_load(&w.started))
        sleep_ms(10);
    sleep_ms(500);
    assert_false(atomic_load(&w.locked));
    assert_int_equal(cdb_commit(f->db), CDB_OK);
    assert_true(cdb_autocommit(f->db));
    pthread_join(th, NULL);
    assert_true(atomic_load(&w.locked));
    assert_int_equal(w.rc, CDB_OK);
    assert_int_equal(one_int(f->db, "SELECT count(*) FROM t"), 2);

    /* a read transaction sees one snapshot and writes nothing */
    assert_int_equal(cdb_begin_read(f->db), CDB_OK);
    assert_int_equal(cdb_exec(f->db, "INSERT INTO t VALUES (3)"), CDB_ERROR);
    assert_int_equal(cdb_rollback(f->db), CDB_OK);
}

/* A writer waits for another as long as SQLite would (5 s), then fails as busy and can go on. */
static void test_begin_write_gives_up(void **state)
{
    Fixture *f = *state;
    exec_ok(f->db, "CREATE TABLE t (a bigint)");
    assert_int_equal(cdb_begin_write(f->db), CDB_OK);
    Cdb *other = open_ok(f->url);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(cdb_begin_write(other), CDB_ERROR);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(cdb_errclass(other), CDB_ERR_BUSY);
    assert_true(cdb_autocommit(other));
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(waited >= 4.5); /* it did wait for the writer, not fail at once */
    assert_int_equal(cdb_commit(f->db), CDB_OK);
    assert_int_equal(cdb_begin_write(other), CDB_OK);
    exec_ok(other, "INSERT INTO t VALUES (1)");
    assert_int_equal(cdb_commit(other), CDB_OK);
    assert_int_equal(one_int(f->db, "SELECT count(*) FROM t"), 1);
    cdb_close(other);
}

/* Waits up to 3 s for db's data version to differ from v. */
static int64_t version_after(Cdb *db, int64_t v)
{
    int64_t now = cdb_data_version(db);
    for (int i = 0; i < 300 && now == v; i++) {
        sleep_ms(10);
        now = cdb_data_version(db);
    }
    return now;
}

static void test_data_version(void **state)
{
    Fixture *f = *state;
    Cdb *other = open_ok(f->url);
    int64_t v0 = cdb_data_version(f->db);
    assert_true(v0 >= 0);
    /* nothing sent: unchanged; its own notifications do not count */
    exec_ok(f->db, "NOTIFY duro_catalog");
    exec_ok(other, "NOTIFY some_other_channel");
    sleep_ms(200);
    assert_int_equal(cdb_data_version(f->db), v0);
    exec_ok(other, "NOTIFY duro_catalog");
    int64_t v1 = version_after(f->db, v0);
    assert_true(v1 != v0);
    sleep_ms(100);
    assert_int_equal(cdb_data_version(f->db), v1);
    /* within a transaction of the other, at its commit */
    exec_ok(other, "BEGIN; NOTIFY duro_catalog");
    sleep_ms(100);
    assert_int_equal(cdb_data_version(f->db), v1);
    exec_ok(other, "COMMIT");
    assert_true(version_after(f->db, v1) != v1);
    cdb_close(other);
}

static void terminate(Cdb *db, Cdb *other)
{
    int64_t pid = one_int(db, "SELECT pg_backend_pid()");
    char *sql = xasprintf("SELECT pg_terminate_backend(%lld)", (long long)pid);
    assert_int_equal(one_int(other, sql), 1);
    free(sql);
    sleep_ms(100);
}

static void test_reconnect(void **state)
{
    Fixture *f = *state;
    Cdb *other = open_ok(f->url);
    int64_t v0 = cdb_data_version(f->db);

    terminate(f->db, other);
    CdbStmt *st;
    assert_int_equal(cdb_prepare(f->db, "SELECT 1", &st), CDB_OK);
    int rc = cdb_step(st);
    if (rc != CDB_ROW)
        assert_int_equal(cdb_errclass(f->db), CDB_ERR_CONNECTION);
    cdb_finalize(st);
    assert_int_equal(one_int(f->db, "SELECT 2"), 2);
    /* the new connection listens again; the reconnection itself counts as a change */
    int64_t v1 = cdb_data_version(f->db);
    assert_true(v1 >= 0);
    assert_true(v1 != v0);
    exec_ok(other, "NOTIFY duro_catalog");
    assert_true(version_after(f->db, v1) != v1);

    /* inside a transaction: the statement fails, the rollback ends it, the next one works */
    assert_int_equal(cdb_begin_read(f->db), CDB_OK);
    terminate(f->db, other);
    assert_int_equal(cdb_exec(f->db, "SELECT 1"), CDB_ERROR);
    assert_int_equal(cdb_errclass(f->db), CDB_ERR_CONNECTION);
    assert_int_equal(cdb_exec(f->db, "SELECT 1"), CDB_ERROR);
    assert_int_equal(cdb_errclass(f->db), CDB_ERR_CONNECTION);
    assert_int_equal(cdb_rollback(f->db), CDB_OK);
    assert_true(cdb_autocommit(f->db));
    assert_int_equal(one_int(f->db, "SELECT 3"), 3);

    /* found by the data version while idle */
    terminate(f->db, other);
    int64_t v2 = cdb_data_version(f->db);
    if (v2 == -1)
        v2 = cdb_data_version(f->db);
    assert_true(v2 >= 0);
    assert_int_equal(one_int(f->db, "SELECT 4"), 4);
    cdb_close(other);
}

static void test_no_password(void **state)
{
    Fixture *f = *state;
    static const char secret[] = "s3cr3tPassw0rd";
    /* the test server trusts 127.0.0.1: the password is taken and ignored */
    char *url = url_for(f->dbname, "postgres:s3cr3tPassw0rd");
    Cdb *db = open_ok(url);
    free(url);
    assert_null(strstr(cdb_name(db), secret));
    assert_int_equal(cdb_exec(db, "SELECT s3cr3tPassw0rd"), CDB_ERROR);
    cdb_close(db);

    /* a refused password (the role needs one on tools/with-pg's cluster) */
    exec_ok(f->db, "DROP ROLE IF EXISTS duro_password_test;"
                   "CREATE ROLE duro_password_test LOGIN PASSWORD 'right'");
    char *wrong = url_for(f->dbname, "duro_password_test:s3cr3tPassw0rd");
    char *error = NULL;
    CdbErr cls = CDB_ERR_NONE;
    if (cdb_open(wrong, &db, &cls, &error) == 0) {
        cdb_close(db); /* a server that trusts the role */
    } else {
        assert_int_equal(cls, CDB_ERR_CONNECTION);
        assert_non_null(strstr(error, "password authentication failed"));
        assert_null(strstr(error, secret));
        free(error);
    }
    free(wrong);
    exec_ok(f->db, "DROP ROLE duro_password_test");

    static const char *const bad[] = {
        "postgresql://postgres:s3cr3tPassw0rd@127.0.0.1:1/x",
        "postgresql://postgres:s3cr3tPassw0rd%zz@127.0.0.1/x",
        "postgresql://postgres:s3cr3tPassw0rd@127.0.0.1/x?sslmode=s3cr3tPassw0rd",
        NULL,
    };
    char *nodb = url_for("no_such_database", "postgres:s3cr3tPassw0rd");
    for (int i = 0; i < 4; i++) {
        const char *u = bad[i] != NULL ? bad[i] : nodb;
        Cdb *out = (Cdb *)1;
        error = NULL;
        cls = CDB_ERR_NONE;
        assert_int_equal(cdb_open(u, &out, &cls, &error), -1);
        assert_null(out);
        assert_non_null(error);
        assert_int_not_equal(cls, CDB_ERR_NONE);
        if (strstr(error, secret) != NULL || strstr(error, u) != NULL)
            print_error("leaked: %s\n", error);
        assert_null(strstr(error, secret));
        free(error);
    }
    free(nodb);
}

int main(void)
{
    server_url = getenv("DURO_TEST_CATALOG_URL");
    if (server_url == NULL || server_url[0] == '\0') {
        fprintf(stderr, "test_cdb: needs DURO_TEST_CATALOG_URL, a PostgreSQL server's postgres "
                        "database (run it under tools/with-pg)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_and_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_params_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nulls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes_and_returning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quotes_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indexed_by_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_begin_write_serialises, setup, teardown),
        cmocka_unit_test_setup_teardown(test_begin_write_gives_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_password, setup, teardown),
    };
    return cmocka_run_group_tests_name("cdb_pg", tests, NULL, NULL);
}
