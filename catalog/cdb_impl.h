/*
 * Inside catalog/cdb: what the public functions of catalog/cdb.h (catalog/cdb.c) dispatch to.
 * A Cdb and a CdbStmt say their kind and hold one backend's state; each backend defines one
 * function per public function, prefixed cdb_sqlite_ (catalog/cdb_sqlite.c) or cdb_pg_
 * (catalog/cdb_pg.c), with the same arguments and meaning. Only catalog/cdb*.c include this.
 *
 * A backend's open allocates the Cdb (kind set, its own state in the union) and its close frees
 * it; its prepare allocates the CdbStmt (kind and db set) and its finalize frees it.
 */
#ifndef DURO_CATALOG_CDB_IMPL_H
#define DURO_CATALOG_CDB_IMPL_H

#include "catalog/cdb.h"

/* How long a writer waits for another to finish before its cdb_begin_write fails (CDB_ERR_BUSY). */
#define CDB_BUSY_TIMEOUT_MS 5000

struct CdbSqlite;
struct CdbSqliteStmt;
struct CdbPg;
struct CdbPgStmt;

struct Cdb {
    CdbKind kind;
    union {
        struct CdbSqlite *sqlite;
        struct CdbPg *pg;
    } u;
};

struct CdbStmt {
    CdbKind kind;
    Cdb *db;
    union {
        struct CdbSqliteStmt *sqlite;
        struct CdbPgStmt *pg;
    } u;
};

#define CDB_BACKEND_DECLS(p)                                                                       \
    int p##open(const char *target, Cdb **out, CdbErr *errclass, char **error) MUST_CHECK;         \
    void p##close(Cdb *db);                                                                        \
    const char *p##name(const Cdb *db);                                                            \
    int p##prepare(Cdb *db, const char *sql, CdbStmt **out) MUST_CHECK;                            \
    int p##bind_int(CdbStmt *st, int idx, int64_t value);                                          \
    int p##bind_text(CdbStmt *st, int idx, const char *text);                                      \
    int p##bind_null(CdbStmt *st, int idx);                                                        \
    int p##step(CdbStmt *st);                                                                      \
    bool p##column_is_null(CdbStmt *st, int i);                                                    \
    bool p##column_is_int(CdbStmt *st, int i);                                                     \
    int64_t p##column_int(CdbStmt *st, int i);                                                     \
    const char *p##column_text(CdbStmt *st, int i);                                                \
    size_t p##column_bytes(CdbStmt *st, int i);                                                    \
    int p##reset(CdbStmt *st);                                                                     \
    void p##clear_bindings(CdbStmt *st);                                                           \
    void p##finalize(CdbStmt *st);                                                                 \
    int p##exec(Cdb *db, const char *sql);                                                         \
    int64_t p##changes(Cdb *db);                                                                   \
    bool p##autocommit(Cdb *db);                                                                   \
    int p##begin_write(Cdb *db);                                                                   \
    int p##begin_read(Cdb *db);                                                                    \
    int p##commit(Cdb *db);                                                                        \
    int p##rollback(Cdb *db);                                                                      \
    int64_t p##data_version(Cdb *db);                                                              \
    const char *p##errmsg(const Cdb *db);                                                          \
    CdbErr p##errclass(const Cdb *db);                                                             \
    int p##session_sql(Cdb *db, const char *sql);

CDB_BACKEND_DECLS(cdb_sqlite_)
CDB_BACKEND_DECLS(cdb_pg_)

#endif
