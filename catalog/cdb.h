/*
 * The catalog's database connection, whatever holds it: a SQLite file (catalog/cdb_sqlite.c, the
 * embedded default) or a PostgreSQL database that several instances share (catalog/cdb_pg.c).
 * Statements with parameters ?1, ?2, ..., stepped row by row, integer and text columns,
 * transactions, and one error class for what callers tell apart. The store writes its SQL once,
 * in the subset both understand; the PostgreSQL side turns ?N into $N and drops SQLite's
 * `INDEXED BY name` hints. Not for: what the catalog holds (catalog/store) or SQL that only one
 * side has (the store asks cdb_kind and says which).
 *
 * A Cdb is one connection: use it from one thread at a time.
 */
#ifndef DURO_CATALOG_CDB_H
#define DURO_CATALOG_CDB_H

#include <stdbool.h>
#include <stdint.h>

#include "core/util.h"

typedef struct Cdb Cdb;
typedef struct CdbStmt CdbStmt;

typedef enum CdbKind {
    CDB_SQLITE,
    CDB_POSTGRES,
} CdbKind;

/* What cdb_step answers; any other value is an error (cdb_errclass, cdb_errmsg). */
enum { CDB_OK = 0, CDB_ERROR = 1, CDB_ROW = 100, CDB_DONE = 101 };

/* The class of the last error, for the few callers that treat one differently. */
typedef enum CdbErr {
    CDB_ERR_NONE,
    CDB_ERR_OTHER,
    CDB_ERR_BUSY,        /* another writer held the database past the wait */
    CDB_ERR_FULL,        /* no space left for the database */
    CDB_ERR_CORRUPT,     /* the file is damaged */
    CDB_ERR_NOTADB,      /* the file is not a database */
    CDB_ERR_FOREIGN_KEY, /* a foreign key constraint failed */
    CDB_ERR_CONNECTION,  /* the server's connection was lost (the next statement reconnects) */
} CdbErr;

/* Whether target names a PostgreSQL database (postgresql:// or postgres://) rather than a file. */
bool cdb_is_url(const char *target);

/*
 * Opens target: a SQLite file (created when missing) or a PostgreSQL URL. On failure returns -1
 * with *error (caller frees; a URL's password never in it) and *out NULL; *errclass (may be
 * NULL) says why. A PostgreSQL connection gets keepalives, connect_timeout=5 and
 * application_name=duro-catalog unless the URL sets them, and LISTENs for catalog changes.
 */
int cdb_open(const char *target, Cdb **out, CdbErr *errclass, char **error) MUST_CHECK;
void cdb_close(Cdb *db);
CdbKind cdb_kind(const Cdb *db);
/* The target as messages may name it: the path, or host:port/dbname of a URL (no password). */
const char *cdb_name(const Cdb *db);

/* Prepares sql (one statement). CDB_OK, or CDB_ERROR with the error set. */
int cdb_prepare(Cdb *db, const char *sql, CdbStmt **out) MUST_CHECK;
/* Binds parameter ?idx (from 1). CDB_OK or CDB_ERROR. Text is copied. */
int cdb_bind_int(CdbStmt *st, int idx, int64_t value);
int cdb_bind_text(CdbStmt *st, int idx, const char *text);
int cdb_bind_null(CdbStmt *st, int idx);
/* Runs the statement at its first call, then moves row by row: CDB_ROW, CDB_DONE, or an error. */
int cdb_step(CdbStmt *st);
/* Columns of the current row, from 0. A boolean reads as 1 or 0. */
bool cdb_column_is_null(CdbStmt *st, int i);
/* Whether the column holds an integer (not NULL, not text that looks like one in SQLite). */
bool cdb_column_is_int(CdbStmt *st, int i);
int64_t cdb_column_int(CdbStmt *st, int i);
/* NULL for NULL; valid until the next step, reset or finalize. */
const char *cdb_column_text(CdbStmt *st, int i);
size_t cdb_column_bytes(CdbStmt *st, int i);
/* Back to before the first step, bindings kept. */
int cdb_reset(CdbStmt *st);
/* Bindings back to NULL. */
void cdb_clear_bindings(CdbStmt *st);
void cdb_finalize(CdbStmt *st);

/* Runs sql (one or more statements, no parameters, no rows wanted). CDB_OK or CDB_ERROR. */
int cdb_exec(Cdb *db, const char *sql);
/*
 * Statements (no parameters, no rows) that set up each session of db: run now and, on
 * PostgreSQL, again after every reconnection (session-level locks die with a connection). SQLite
 * runs them once. CDB_OK or CDB_ERROR.
 */
int cdb_session_sql(Cdb *db, const char *sql);
/* Rows changed by the last INSERT, UPDATE or DELETE. */
int64_t cdb_changes(Cdb *db);
/* Whether no transaction is open. */
bool cdb_autocommit(Cdb *db);

/*
 * Transactions. A write transaction takes the database's single writer lock up front (SQLite:
 * BEGIN IMMEDIATE, waiting up to the busy timeout; PostgreSQL: BEGIN and a transaction-level
 * advisory lock every instance takes, so writers take turns as in SQLite). A read transaction
 * sees one snapshot. CDB_OK or CDB_ERROR.
 */
int cdb_begin_write(Cdb *db);
int cdb_begin_read(Cdb *db);
int cdb_commit(Cdb *db);
int cdb_rollback(Cdb *db);

/* A number that changes when another connection (or process, or instance) changed the
 * database; -1 on error. PostgreSQL: counts the change notifications received, no round trip. */
int64_t cdb_data_version(Cdb *db);

/* The last error on db (or the statement's connection). */
const char *cdb_errmsg(const Cdb *db);
CdbErr cdb_errclass(const Cdb *db);
Cdb *cdb_stmt_db(const CdbStmt *st);

#endif
