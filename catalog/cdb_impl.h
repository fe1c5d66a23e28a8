/*
 * Inside catalog/cdb: the connection and statement every backend shares, and each backend's
 * functions, which catalog/cdb.c calls by the connection's kind. Only catalog/cdb*.c include it.
 */
#ifndef DURO_CATALOG_CDB_IMPL_H
#define DURO_CATALOG_CDB_IMPL_H

#include "catalog/cdb.h"

struct Cdb {
    CdbKind kind;
    char *name;      /* the path, or host:port/dbname */
    char *errmsg;    /* the last error, or NULL */
    CdbErr errclass; /* its class */
    void *impl;      /* sqlite3 *, or the PostgreSQL side's state */
};

struct CdbStmt {
    Cdb *db;
    void *impl; /* sqlite3_stmt *, or the PostgreSQL side's statement */
};

/* Sets db's error (msg copied; NULL clears it). */
void cdb_set_error(Cdb *db, CdbErr errclass, const char *msg);

#define CDB_BACKEND(P)                                                                             \
    int P##_open(const char *target, Cdb *db, char **error);                                       \
    void P##_close(Cdb *db);                                                                       \
    int P##_prepare(Cdb *db, const char *sql, CdbStmt *st);                                        \
    int P##_bind_int(CdbStmt *st, int idx, int64_t value);                                         \
    int P##_bind_text(CdbStmt *st, int idx, const char *text);                                     \
    int P##_bind_null(CdbStmt *st, int idx);                                                       \
    int P##_step(CdbStmt *st);                                                                     \
    bool P##_column_is_null(CdbStmt *st, int i);                                                   \
    bool P##_column_is_int(CdbStmt *st, int i);                                                    \
    int64_t P##_column_int(CdbStmt *st, int i);                                                    \
    const char *P##_column_text(CdbStmt *st, int i);                                               \
    size_t P##_column_bytes(CdbStmt *st, int i);                                                   \
    int P##_reset(CdbStmt *st);                                                                    \
    void P##_clear_bindings(CdbStmt *st);                                                          \
    void P##_finalize(CdbStmt *st);                                                                \
    int P##_exec(Cdb *db, const char *sql);                                                        \
    int64_t P##_changes(Cdb *db);                                                                  \
    bool P##_autocommit(Cdb *db);                                                                  \
    int P##_begin_write(Cdb *db);                                                                  \
    int P##_begin_read(Cdb *db);                                                                   \
    int64_t P##_data_version(Cdb *db);                                                             \
    int P##_session_sql(Cdb *db, const char *sql);

CDB_BACKEND(cdb_sqlite)
CDB_BACKEND(cdb_pg)

#endif
