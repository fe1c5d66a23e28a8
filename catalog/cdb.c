/*
 * The catalog's database connection (see cdb.h): what every backend shares (the error, the name,
 * transactions' plain statements) and the call to the backend of the connection's kind.
 * Not for: a backend's own work (catalog/cdb_sqlite.c, catalog/cdb_pg.c).
 */
#include "catalog/cdb.h"

#include <stdlib.h>
#include <string.h>

#include "catalog/cdb_impl.h"

#define BY_KIND(db, call) ((db)->kind == CDB_POSTGRES ? cdb_pg_##call : cdb_sqlite_##call)

bool cdb_is_url(const char *target)
{
    return target &&
           (strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0);
}

void cdb_set_error(Cdb *db, CdbErr errclass, const char *msg)
{
    free(db->errmsg);
    db->errmsg = msg ? xstrdup(msg) : NULL;
    db->errclass = msg ? errclass : CDB_ERR_NONE;
}

int cdb_open(const char *target, Cdb **out, CdbErr *errclass, char **error)
{
    Cdb *db = xcalloc(1, sizeof *db);
    db->kind = cdb_is_url(target) ? CDB_POSTGRES : CDB_SQLITE;
    *out = NULL;
    if (BY_KIND(db, open)(target, db, error) != 0) {
        if (errclass)
            *errclass = db->errclass ? db->errclass : CDB_ERR_OTHER;
        BY_KIND(db, close)(db);
        free(db->name);
        free(db->errmsg);
        free(db);
        return -1;
    }
    *out = db;
    return 0;
}

void cdb_close(Cdb *db)
{
    if (!db)
        return;
    BY_KIND(db, close)(db);
    free(db->name);
    free(db->errmsg);
    free(db);
}

CdbKind cdb_kind(const Cdb *db)
{
    return db->kind;
}

const char *cdb_name(const Cdb *db)
{
    return db->name ? db->name : "";
}

int cdb_prepare(Cdb *db, const char *sql, CdbStmt **out)
{
    CdbStmt *st = xcalloc(1, sizeof *st);
    st->db = db;
    *out = NULL;
    if (BY_KIND(db, prepare)(db, sql, st) != CDB_OK) {
        free(st);
        return CDB_ERROR;
    }
    *out = st;
    return CDB_OK;
}

int cdb_bind_int(CdbStmt *st, int idx, int64_t value)
{
    return BY_KIND(st->db, bind_int)(st, idx, value);
}

int cdb_bind_text(CdbStmt *st, int idx, const char *text)
{
    return text ? BY_KIND(st->db, bind_text)(st, idx, text) : cdb_bind_null(st, idx);
}

int cdb_bind_null(CdbStmt *st, int idx)
{
    return BY_KIND(st->db, bind_null)(st, idx);
}

int cdb_step(CdbStmt *st)
{
    return BY_KIND(st->db, step)(st);
}

bool cdb_column_is_null(CdbStmt *st, int i)
{
    return BY_KIND(st->db, column_is_null)(st, i);
}

bool cdb_column_is_int(CdbStmt *st, int i)
{
    return BY_KIND(st->db, column_is_int)(st, i);
}

int64_t cdb_column_int(CdbStmt *st, int i)
{
    return BY_KIND(st->db, column_int)(st, i);
}

const char *cdb_column_text(CdbStmt *st, int i)
{
    return BY_KIND(st->db, column_text)(st, i);
}

size_t cdb_column_bytes(CdbStmt *st, int i)
{
    return BY_KIND(st->db, column_bytes)(st, i);
}

int cdb_reset(CdbStmt *st)
{
    return BY_KIND(st->db, reset)(st);
}

void cdb_clear_bindings(CdbStmt *st)
{
    BY_KIND(st->db, clear_bindings)(st);
}

void cdb_finalize(CdbStmt *st)
{
    if (!st)
        return;
    BY_KIND(st->db, finalize)(st);
    free(st);
}

int cdb_exec(Cdb *db, const char *sql)
{
    return BY_KIND(db, exec)(db, sql);
}

int cdb_session_sql(Cdb *db, const char *sql)
{
    return BY_KIND(db, session_sql)(db, sql);
}

int64_t cdb_changes(Cdb *db)
{
    return BY_KIND(db, changes)(db);
}

bool cdb_autocommit(Cdb *db)
{
    return BY_KIND(db, autocommit)(db);
}

int cdb_begin_write(Cdb *db)
{
    return BY_KIND(db, begin_write)(db);
}

int cdb_begin_read(Cdb *db)
{
    return BY_KIND(db, begin_read)(db);
}

int cdb_commit(Cdb *db)
{
    return cdb_exec(db, "COMMIT");
}

int cdb_rollback(Cdb *db)
{
    return cdb_autocommit(db) ? CDB_OK : cdb_exec(db, "ROLLBACK");
}

int64_t cdb_data_version(Cdb *db)
{
    return BY_KIND(db, data_version)(db);
}

const char *cdb_errmsg(const Cdb *db)
{
    return db->errmsg ? db->errmsg : "unknown error";
}

CdbErr cdb_errclass(const Cdb *db)
{
    return db->errclass;
}

Cdb *cdb_stmt_db(const CdbStmt *st)
{
    return st->db;
}
