/* Placeholder: the PostgreSQL backend is not built in yet. */
#include <stdlib.h>

#include "catalog/cdb_impl.h"

int cdb_pg_session_sql(Cdb *db, const char *sql)
{
    (void)db;
    (void)sql;
    return CDB_ERROR;
}

int cdb_pg_open(const char *target, Cdb *db, char **error)
{
    (void)target;
    *error = xstrdup("this Duro was built without the PostgreSQL catalog");
    cdb_set_error(db, CDB_ERR_OTHER, *error);
    return -1;
}

void cdb_pg_close(Cdb *db)
{
    (void)db;
}

int cdb_pg_prepare(Cdb *db, const char *sql, CdbStmt *st)
{
    (void)db;
    (void)sql;
    (void)st;
    return CDB_ERROR;
}

int cdb_pg_bind_int(CdbStmt *st, int idx, int64_t value)
{
    (void)st;
    (void)idx;
    (void)value;
    return CDB_ERROR;
}

int cdb_pg_bind_text(CdbStmt *st, int idx, const char *text)
{
    (void)st;
    (void)idx;
    (void)text;
    return CDB_ERROR;
}

int cdb_pg_bind_null(CdbStmt *st, int idx)
{
    (void)st;
    (void)idx;
    return CDB_ERROR;
}

int cdb_pg_step(CdbStmt *st)
{
    (void)st;
    return CDB_ERROR;
}

bool cdb_pg_column_is_null(CdbStmt *st, int i)
{
    (void)st;
    (void)i;
    return false;
}

bool cdb_pg_column_is_int(CdbStmt *st, int i)
{
    (void)st;
    (void)i;
    return false;
}

int64_t cdb_pg_column_int(CdbStmt *st, int i)
{
    (void)st;
    (void)i;
    return 0;
}

const char *cdb_pg_column_text(CdbStmt *st, int i)
{
    (void)st;
    (void)i;
    return NULL;
}

size_t cdb_pg_column_bytes(CdbStmt *st, int i)
{
    (void)st;
    (void)i;
    return 0;
}

int cdb_pg_reset(CdbStmt *st)
{
    (void)st;
    return CDB_ERROR;
}

void cdb_pg_clear_bindings(CdbStmt *st)
{
    (void)st;
}

void cdb_pg_finalize(CdbStmt *st)
{
    (void)st;
}

int cdb_pg_exec(Cdb *db, const char *sql)
{
    (void)db;
    (void)sql;
    return CDB_ERROR;
}

int64_t cdb_pg_changes(Cdb *db)
{
    (void)db;
    return 0;
}

bool cdb_pg_autocommit(Cdb *db)
{
    (void)db;
    return false;
}

int cdb_pg_begin_write(Cdb *db)
{
    (void)db;
    return CDB_ERROR;
}

int cdb_pg_begin_read(Cdb *db)
{
    (void)db;
    return CDB_ERROR;
}

int64_t cdb_pg_data_version(Cdb *db)
{
    (void)db;
    return 0;
}
