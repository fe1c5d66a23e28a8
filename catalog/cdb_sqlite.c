/*
 * The catalog's database in a SQLite file (see cdb.h): the embedded default. One connection per
 * Cdb, without SQLite's own mutex (a Cdb is used by one thread at a time), extended result codes,
 * and a busy timeout so that writers wait for each other rather than fail. Not for: the file's
 * checks and modes (catalog/store.c asks for them in SQL).
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/cdb_impl.h"

struct CdbSqlite {
    sqlite3 *db;
    sqlite3_stmt *data_version; /* prepared at its first use */
    char *name;
    char *errmsg; /* the last error, or NULL */
    CdbErr errclass;
};

struct CdbSqliteStmt {
    sqlite3_stmt *st;
};

static sqlite3 *handle(Cdb *db)
{
    return db->u.sqlite->db;
}

static sqlite3_stmt *stmt(CdbStmt *st)
{
    return st->u.sqlite->st;
}

static void set_error(Cdb *db, CdbErr errclass, const char *msg)
{
    struct CdbSqlite *l = db->u.sqlite;
    free(l->errmsg);
    l->errmsg = msg ? xstrdup(msg) : NULL;
    l->errclass = msg ? errclass : CDB_ERR_NONE;
}

static CdbErr class_of(int code)
{
    switch (code & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return CDB_ERR_NONE;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CDB_ERR_BUSY;
    case SQLITE_FULL:
        return CDB_ERR_FULL;
    case SQLITE_CORRUPT:
        return CDB_ERR_CORRUPT;
    case SQLITE_NOTADB:
        return CDB_ERR_NOTADB;
    default:
        return code == SQLITE_CONSTRAINT_FOREIGNKEY ? CDB_ERR_FOREIGN_KEY : CDB_ERR_OTHER;
    }
}

/* Takes the connection's error as db's. */
static void take_error(Cdb *db)
{
    sqlite3 *h = handle(db);
    set_error(db, class_of(sqlite3_extended_errcode(h)), sqlite3_errmsg(h));
}

int cdb_sqlite_open(const char *target, Cdb **out, CdbErr *errclass, char **error)
{
    Cdb *db = xcalloc(1, sizeof *db);
    struct CdbSqlite *l = xcalloc(1, sizeof *l);
    db->kind = CDB_SQLITE;
    db->u.sqlite = l;
    l->name = xstrdup(target);
    *out = NULL;
    int rc = sqlite3_open_v2(
        target, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        *error = xstrdup(l->db ? sqlite3_errmsg(l->db) : sqlite3_errstr(rc));
        if (errclass)
            *errclass = class_of(rc) ? class_of(rc) : CDB_ERR_OTHER;
        cdb_sqlite_close(db);
        return -1;
    }
    sqlite3_extended_result_codes(l->db, 1);
    sqlite3_busy_timeout(l->db, CDB_BUSY_TIMEOUT_MS);
    *out = db;
    return 0;
}

void cdb_sqlite_close(Cdb *db)
{
    struct CdbSqlite *l = db->u.sqlite;
    sqlite3_finalize(l->data_version);
    sqlite3_close_v2(l->db);
    free(l->name);
    free(l->errmsg);
    free(l);
    free(db);
}

const char *cdb_sqlite_name(const Cdb *db)
{
    return db->u.sqlite->name;
}

int cdb_sqlite_prepare(Cdb *db, const char *sql, CdbStmt **out)
{
    sqlite3_stmt *s = NULL;
    *out = NULL;
    if (sqlite3_prepare_v2(handle(db), sql, -1, &s, NULL) != SQLITE_OK) {
        take_error(db);
        return CDB_ERROR;
    }
    CdbStmt *st = xcalloc(1, sizeof *st);
    st->kind = CDB_SQLITE;
    st->db = db;
    st->u.sqlite = xcalloc(1, sizeof *st->u.sqlite);
    st->u.sqlite->st = s;
    *out = st;
    return CDB_OK;
}

static int bound(CdbStmt *st, int rc)
{
    if (rc == SQLITE_OK)
        return CDB_OK;
    take_error(st->db);
    return CDB_ERROR;
}

int cdb_sqlite_bind_int(CdbStmt *st, int idx, int64_t value)
{
    return bound(st, sqlite3_bind_int64(stmt(st), idx, (sqlite3_int64)value));
}

int cdb_sqlite_bind_text(CdbStmt *st, int idx, const char *text)
{
    return bound(st, sqlite3_bind_text(stmt(st), idx, text, -1, SQLITE_TRANSIENT));
}

int cdb_sqlite_bind_null(CdbStmt *st, int idx)
{
    return bound(st, sqlite3_bind_null(stmt(st), idx));
}

int cdb_sqlite_step(CdbStmt *st)
{
    int rc = sqlite3_step(stmt(st));
    if (rc == SQLITE_ROW)
        return CDB_ROW;
    if (rc == SQLITE_DONE)
        return CDB_DONE;
    take_error(st->db);
    return CDB_ERROR;
}

bool cdb_sqlite_column_is_null(CdbStmt *st, int i)
{
    return sqlite3_column_type(stmt(st), i) == SQLITE_NULL;
}

bool cdb_sqlite_column_is_int(CdbStmt *st, int i)
{
    return sqlite3_column_type(stmt(st), i) == SQLITE_INTEGER;
}

int64_t cdb_sqlite_column_int(CdbStmt *st, int i)
{
    return (int64_t)sqlite3_column_int64(stmt(st), i);
}

const char *cdb_sqlite_column_text(CdbStmt *st, int i)
{
    return (const char *)sqlite3_column_text(stmt(st), i);
}

size_t cdb_sqlite_column_bytes(CdbStmt *st, int i)
{
    return (size_t)sqlite3_column_bytes(stmt(st), i);
}

int cdb_sqlite_reset(CdbStmt *st)
{
    return sqlite3_reset(stmt(st)) == SQLITE_OK ? CDB_OK : CDB_ERROR;
}

void cdb_sqlite_clear_bindings(CdbStmt *st)
{
    sqlite3_clear_bindings(stmt(st));
}

void cdb_sqlite_finalize(CdbStmt *st)
{
    sqlite3_finalize(stmt(st));
    free(st->u.sqlite);
    free(st);
}

int cdb_sqlite_exec(Cdb *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(handle(db), sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return CDB_OK;
    set_error(db, class_of(sqlite3_extended_errcode(handle(db))), msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return CDB_ERROR;
}

int64_t cdb_sqlite_changes(Cdb *db)
{
    return (int64_t)sqlite3_changes(handle(db));
}

bool cdb_sqlite_autocommit(Cdb *db)
{
    return sqlite3_get_autocommit(handle(db)) != 0;
}

/* The write lock up front, so that a writer waits (busy timeout) instead of failing with
 * SQLITE_BUSY when it would upgrade from a read. */
int cdb_sqlite_begin_write(Cdb *db)
{
    return cdb_sqlite_exec(db, "BEGIN IMMEDIATE");
}

/* The snapshot begins at the first read. */
int cdb_sqlite_begin_read(Cdb *db)
{
    return cdb_sqlite_exec(db, "BEGIN");
}

int cdb_sqlite_commit(Cdb *db)
{
    return cdb_sqlite_exec(db, "COMMIT");
}

int cdb_sqlite_rollback(Cdb *db)
{
    return cdb_sqlite_autocommit(db) ? CDB_OK : cdb_sqlite_exec(db, "ROLLBACK");
}

const char *cdb_sqlite_errmsg(const Cdb *db)
{
    const struct CdbSqlite *l = db->u.sqlite;
    return l->errmsg ? l->errmsg : "unknown error";
}

CdbErr cdb_sqlite_errclass(const Cdb *db)
{
    return db->u.sqlite->errclass;
}

int cdb_sqlite_session_sql(Cdb *db, const char *sql)
{
    return cdb_sqlite_exec(db, sql);
}

int64_t cdb_sqlite_data_version(Cdb *db)
{
    struct CdbSqlite *l = db->u.sqlite;
    if (!l->data_version &&
        sqlite3_prepare_v2(l->db, "PRAGMA data_version", -1, &l->data_version, NULL) != SQLITE_OK)
        return -1;
    int64_t v = -1;
    if (sqlite3_step(l->data_version) == SQLITE_ROW)
        v = sqlite3_column_int64(l->data_version, 0);
    sqlite3_reset(l->data_version);
    return v;
}
