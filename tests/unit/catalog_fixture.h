/*
 * What the catalog's unit tests share: a fresh catalog per test, and SQL on it behind the
 * store's back. By default a SQLite file (not created) in a fresh temporary directory, removed
 * with everything in it afterwards; with DURO_TEST_CATALOG=postgres, a fresh database on the
 * server at DURO_TEST_CATALOG_URL (tools/with-pg), dropped afterwards. Not for: opening the
 * catalog or filling it (each test says what it needs).
 */
#ifndef DURO_TESTS_CATALOG_FIXTURE_H
#define DURO_TESTS_CATALOG_FIXTURE_H

#include <dirent.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/util.h"

/* Whether this run's catalogs are PostgreSQL databases. */
static inline bool fixture_pg(void)
{
    const char *kind = getenv("DURO_TEST_CATALOG");
    return kind && strcmp(kind, "postgres") == 0;
}

/* The server's URL with dbname in place of its database. */
static inline char *fixture_pg_url(const char *dbname)
{
    const char *url = getenv("DURO_TEST_CATALOG_URL");
    if (!url)
        return NULL;
    const char *slash = strrchr(url, '/');
    return xasprintf("%.*s/%s", (int)(slash - url), url, dbname);
}

/* Runs sql on the server's own database (CREATE / DROP DATABASE). 0 or -1. */
static inline int fixture_pg_admin(const char *sql)
{
    const char *url = getenv("DURO_TEST_CATALOG_URL");
    PGconn *c = url ? PQconnectdb(url) : NULL;
    int rc = -1;
    if (c && PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, sql);
        rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
        if (rc)
            fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}

typedef struct Fixture {
    char dir[64];
    char *db;    /* dir/duro.db, or the URL of the test's database */
    char pg[32]; /* the test's database, or "" */
} Fixture;

static int setup(void **state)
{
    Fixture *f = xcalloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/duro-test-catalog-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    if (fixture_pg()) {
        unsigned char r[6] = {0};
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
            return -1;
        snprintf(f->pg, sizeof f->pg, "t_%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4],
                 r[5]);
        char *sql = xasprintf("CREATE DATABASE %s", f->pg);
        int rc = fixture_pg_admin(sql);
        free(sql);
        f->db = fixture_pg_url(f->pg);
        if (rc || !f->db) {
            fprintf(stderr,
                    "DURO_TEST_CATALOG=postgres needs DURO_TEST_CATALOG_URL (tools/with-pg)\n");
            return -1;
        }
    } else {
        f->db = xasprintf("%s/duro.db", f->dir);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    DIR *d = opendir(f->dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *p = xasprintf("%s/%s", f->dir, e->d_name);
            unlink(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(f->dir);
    if (f->pg[0]) {
        char *sql = xasprintf("DROP DATABASE %s WITH (FORCE)", f->pg);
        (void)fixture_pg_admin(sql);
        free(sql);
    }
    free(f->db);
    free(f);
    return 0;
}

/* ---- SQL on the test's catalog behind the store's back: SQLite or PostgreSQL ---- */

static inline void sql_exec(const char *db, const char *sql)
{
    if (strstr(db, "://")) {
        PGconn *c = PQconnectdb(db);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
            fail_msg("%s: %s", sql, PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        return;
    }
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(h);
}

/* The first column of the first row, as text (caller frees; "" for NULL). */
static inline char *sql_text(const char *db, const char *sql)
{
    if (strstr(db, "://")) {
        PGconn *c = PQconnectdb(db);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1)
            fail_msg("%s: %s", sql, PQerrorMessage(c));
        char *v = xstrdup(PQgetvalue(r, 0, 0));
        PQclear(r);
        PQfinish(c);
        return v;
    }
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *t = (const char *)sqlite3_column_text(st, 0);
    char *v = xstrdup(t ? t : "");
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static inline int64_t sql_int(const char *db, const char *sql)
{
    char *t = sql_text(db, sql);
    int64_t v = strcmp(t, "t") == 0 ? 1 : strtoll(t, NULL, 10);
    free(t);
    return v;
}

#endif
