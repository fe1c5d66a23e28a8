/*
 * catalog/cdb.h's functions: each passes the call on to the backend of the connection's kind
 * (catalog/cdb_impl.h).
 */
#include <stddef.h>
#include <string.h>

#include "catalog/cdb_impl.h"

int cdb_session_sql(Cdb *db, const char *sql)
{
    if (db->kind == CDB_POSTGRES)
        return cdb_pg_session_sql(db, sql);
    return cdb_sqlite_session_sql(db, sql);
}

bool cdb_is_url(const char *target)
{
    return target != NULL &&
           (strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0);
}

int cdb_open(const char *target, Cdb **out, CdbErr *errclass, char **error)
{
    if (cdb_is_url(target))
        return cdb_pg_open(target, out, errclass, error);
    return cdb_sqlite_open(target, out, errclass, error);
}

CdbKind cdb_kind(const Cdb *db)
{
    return db->kind;
}

Cdb *cdb_stmt_db(const CdbStmt *st)
{
    return st->db;
}

void cdb_close(Cdb *db)
{
    if (db == NULL)
        return;
    if (db->kind == CDB_POSTGRES)
        cdb_pg_close(db);
    else
        cdb_sqlite_close(db);
}

const char *cdb_name(const Cdb *db)
{
    if (db->kind == CDB_POSTGRES)
        return cdb_pg_name(db);
    return cdb_sqlite_name(db);
}

int cdb_prepare(Cdb *db, const char *sql, CdbStmt **out)
{
    if (db->kind == CDB_POSTGRES)
        return cdb_pg_prepare(db, sql, out);
    return cdb_sqlite_prepare(db, sql, out);
}

int cdb_bind_int(CdbStmt *st, int idx, int64_t value)
{
    if (st->kind == CDB_POSTGRES)
        return cdb_pg_bind_int(st, idx, value);
    return cdb_sqlite_bind_int(st, idx, value);
}

int cdb_bind_text(CdbStmt *st, int idx, const char *text)
{
    if (st->kind == CDB_POSTGRES)
        return cdb_pg_bind_text(st, idx, text);
    return cdb_sqlite_bind_text(st, idx, text);
}

int cdb_bind_null(CdbStmt *st, int idx)
{
    if (st->kind == CDB_POSTGRES)
        return cdb_pg_bind_null(st, idx);
    return cdb_sqlite_bind_null(st, idx);
}

int cdb_step(CdbStmt *st)
{
    if (st->kind == CDB_POSTGRES)
        return cdb_pg_step(st);
    return cdb_sqlite_step(st);
}

bool cdb_column_is_null(CdbStmt *st, int i)
{
    if (st->kind == CDB_POSTGRES)
        return cdb_pg_column_is_null(st, i);
    return cdb_sqlite_column_is_null(st, i);
}

bool cdb_column_is_int(CdbStmt *st, int i)
{
    if (st->kind == CDB_POSTGRES)
        return cdb_pg_column_is_int(st, i);
    return cdb_sqlite_column_is_int(st, i);
}

int64_t cdb_column_int(CdbStmt *st, int i)
{
    if (st->kind == CDB_POSTGRES)
        return cdb_pg_column_int(st, i);
    return cdb_sqlite_column_int(st, i);
}

const char *cdb_column_text(CdbStmt *st, int i)
{
    if (st->kind == CDB_POSTGRES)
        return cdb_pg_column_text(st, i);
    return cdb_sqlite_column_text(st, i);
}

size_t cdb_column_bytes(CdbStmt *st, int i)
{
    if (st->kind == CDB_POSTGRES)
        return cdb_pg_column_bytes(st, i);
    return cdb_sqlite_column_bytes(st, i);
}

int cdb_reset(CdbStmt *st)
{
    if (st->kind == CDB_POSTGRES)
        return cdb_pg_reset(st);
    return cdb_sqlite_reset(st);
}

void cdb_clear_bindings(CdbStmt *st)
{
    if (st->kind == CDB_POSTGRES)
        cdb_pg_clear_bindings(st);
    else
        cdb_sqlite_clear_bindings(st);
}

void cdb_finalize(CdbStmt *st)
{
    if (st == NULL)
        return;
    if (st->kind == CDB_POSTGRES)
        cdb_pg_finalize(st);
    else
        cdb_sqlite_finalize(st);
}

int cdb_exec(Cdb *db, const char *sql)
{
    if (db->kind == CDB_POSTGRES)
        return cdb_pg_exec(db, sql);
    return cdb_sqlite_exec(db, sql);
}

int64_t cdb_changes(Cdb *db)
{
    if (db->kind == CDB_POSTGRES)
        return cdb_pg_changes(db);
    return cdb_sqlite_changes(db);
}

bool cdb_autocommit(Cdb *db)
{
    if (db->kind == CDB_POSTGRES)
        return cdb_pg_autocommit(db);
    return cdb_sqlite_autocommit(db);
}

int cdb_begin_write(Cdb *db)
{
    if (db->kind == CDB_POSTGRES)
        return cdb_pg_begin_write(db);
    return cdb_sqlite_begin_write(db);
}

int cdb_begin_read(Cdb *db)
{
    if (db->kind == CDB_POSTGRES)
        return cdb_pg_begin_read(db);
    return cdb_sqlite_begin_read(db);
}

int cdb_commit(Cdb *db)
{
    if (db->kind == CDB_POSTGRES)
        return cdb_pg_commit(db);
    return cdb_sqlite_commit(db);
}

int cdb_rollback(Cdb *db)
{
    if (db->kind == CDB_POSTGRES)
        return cdb_pg_rollback(db);
    return cdb_sqlite_rollback(db);
}

int64_t cdb_data_version(Cdb *db)
{
    if (db->kind == CDB_POSTGRES)
        return cdb_pg_data_version(db);
    return cdb_sqlite_data_version(db);
}

const char *cdb_errmsg(const Cdb *db)
{
    if (db->kind == CDB_POSTGRES)
        return cdb_pg_errmsg(db);
    return cdb_sqlite_errmsg(db);
}

CdbErr cdb_errclass(const Cdb *db)
{
    if (db->kind == CDB_POSTGRES)
        return cdb_pg_errclass(db);
    return cdb_sqlite_errclass(db);
}
