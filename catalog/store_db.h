/*
 * The catalog store's insides, shared by catalog/store.c (opening, views),
 * catalog/store_runs.c (runs and their markers) and catalog/store_reads.c
 * (reads through the gateway): the Store itself, the SQLite helpers (prefix
 * sdb_) and the bounds of the values read back. Only those files include it. Not for: anything
 * outside catalog/store*.c.
 */
#ifndef DURO_CATALOG_STORE_DB_H
#define DURO_CATALOG_STORE_DB_H

#include <sqlite3.h>
#include <stdint.h>

#include "catalog/store.h"

struct Store {
    sqlite3 *db;
    sqlite3_stmt *data_version; /* prepared once: asked before every statement the gateway reads */
    char *path;
    char *key;   /* the file's identity (device and inode) for catalog/marker */
    char *error; /* the last failure on this Store, or NULL */
    int errcode; /* its SQLite extended result code (SQLITE_ERROR for our own checks) */
};

/*
 * A catalog file up to this size is checked whole at its first open in a
 * process (SQLite's quick_check: about 1.5 s for 460 MB in the page cache);
 * a larger one only in part (store.c). 256 MB; tests lower it.
 */
extern int64_t sdb_check_full_bytes;

/* Records a failure found by the store's own checks. */
void sdb_set_error(Store *s, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Records the connection's current SQLite error, prefixed with what was being done. */
void sdb_set_db_error(Store *s, const char *doing);
int sdb_prepare(Store *s, const char *sql, sqlite3_stmt **st);
/*
 * Binds parameters ?1, ?2, ... in order, one letter of spec each: 't' a
 * const char * (NULL binds NULL), 'i' an int64_t, 'n' an int64_t where a
 * negative value means unknown and binds NULL.
 */
int sdb_bind_values(Store *s, sqlite3_stmt *st, const char *spec, ...);
/* Runs a statement that returns no rows and resets it for reuse. */
int sdb_step_done(Store *s, sqlite3_stmt *st, const char *doing);
/* Runs one or more statements without parameters. */
int sdb_exec_sql(Store *s, const char *sql, const char *doing);
/* A write transaction, its lock taken up front; a read transaction (one snapshot). */
int sdb_begin_write(Store *s);
int sdb_begin_read(Store *s);
int sdb_commit(Store *s);
/* Rolls back the open transaction, if any; keeps the error that caused it. */
void sdb_rollback(Store *s);

/* A copy of a text column, or NULL when it is NULL; longer than STORE_MAX_TEXT, cut there. */
char *sdb_col_text(sqlite3_stmt *st, int i);
/* The same, never NULL. */
char *sdb_col_text_nn(sqlite3_stmt *st, int i);
/* An integer column; if_null when it is NULL or not an integer. */
int64_t sdb_col_int(sqlite3_stmt *st, int i, int64_t if_null);
/* An integer column within [min, max]; if_unknown when NULL, not an integer or out of range. */
int64_t sdb_col_range(sqlite3_stmt *st, int i, int64_t min, int64_t max, int64_t if_unknown);
/* A timestamp column (0 .. STORE_MAX_TIME_US); 0 = unknown. */
int64_t sdb_col_time(sqlite3_stmt *st, int i);
/* The columns sdb_read_run reads, in its order. */
#define RUN_SELECT                                                                                 \
    "SELECT id, \"view\", \"trigger\", outcome, started_us, finished_us, \"rows\", error FROM "    \
    "runs"
/* Fills *run from a row of RUN_SELECT (values out of range read as unknown; a build whose end
 * the catalog could not take shows that end). */
void sdb_read_run(Store *s, sqlite3_stmt *st, StoreRun *run);
/* Reads the steps of run (its id bound to st's first parameter) in the order they ran. 0 or -1. */
int sdb_read_steps(Store *s, sqlite3_stmt *st, StoreRun *run);

#endif
