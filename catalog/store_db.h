/*
 * The catalog store's insides, shared by catalog/store.c (opening, views),
 * catalog/store_runs.c (runs and their markers) and catalog/store_reads.c
 * (reads through the gateway): the Store itself, the helpers on its connection (prefix
 * sdb_) and the bounds of the values read back. Only those files include it. Not for: anything
 * outside catalog/store*.c.
 */
#ifndef DURO_CATALOG_STORE_DB_H
#define DURO_CATALOG_STORE_DB_H

#include <stdint.h>

#include "catalog/cdb.h"
#include "catalog/store.h"

struct Store {
    Cdb *db;
    char *path;     /* the catalog as messages name it: the file, or host:port/dbname */
    char *key;      /* the catalog's identity for catalog/marker: the file's, or "pg:" and path */
    char *error;    /* the last failure on this Store, or NULL */
    CdbErr errcode; /* its class (CDB_ERR_OTHER for our own checks) */
};

/*
 * A catalog file up to this size is checked whole at its first open in a
 * process (SQLite's quick_check: about 1.5 s for 460 MB in the page cache);
 * a larger one only in part (store.c). 256 MB; tests lower it.
 */
extern int64_t sdb_check_full_bytes;

/* The PostgreSQL catalog (store_pg.c): its schema created or migrated; its version (-1 on error).
 */
int spg_open(Store *s, char **error);
int spg_version(Store *s);
/* This process holds its instance's lock on s's connection (its whole life); whether another
 * instance's is held by a connection (1), not (0), or -1 on error. */
int spg_hold_instance(Store *s, const char *instance);
int spg_instance_alive(Store *s, const char *instance);

/* Records a failure found by the store's own checks. */
void sdb_set_error(Store *s, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Records the connection's current error, prefixed with what was being done. */
void sdb_set_db_error(Store *s, const char *doing);
int sdb_prepare(Store *s, const char *sql, CdbStmt **st);
/*
 * Binds parameters ?1, ?2, ... in order, one letter of spec each: 't' a
 * const char * (NULL binds NULL), 'i' an int64_t, 'n' an int64_t where a
 * negative value means unknown and binds NULL.
 */
int sdb_bind_values(Store *s, CdbStmt *st, const char *spec, ...);
/* Runs a statement that returns no rows and resets it for reuse. */
int sdb_step_done(Store *s, CdbStmt *st, const char *doing);
/* Runs one or more statements without parameters. */
int sdb_exec_sql(Store *s, const char *sql, const char *doing);
/* A write transaction, its lock taken up front; a read transaction (one snapshot). */
int sdb_begin_write(Store *s);
int sdb_begin_read(Store *s);
int sdb_commit(Store *s);
/* Rolls back the open transaction, if any; keeps the error that caused it. */
void sdb_rollback(Store *s);

/* A copy of a text column, or NULL when it is NULL; longer than STORE_MAX_TEXT, cut there. */
char *sdb_col_text(CdbStmt *st, int i);
/* The same, never NULL. */
char *sdb_col_text_nn(CdbStmt *st, int i);
/* An integer column; if_null when it is NULL or not an integer. */
int64_t sdb_col_int(CdbStmt *st, int i, int64_t if_null);
/* An integer column within [min, max]; if_unknown when NULL, not an integer or out of range. */
int64_t sdb_col_range(CdbStmt *st, int i, int64_t min, int64_t max, int64_t if_unknown);
/* A timestamp column (0 .. STORE_MAX_TIME_US); 0 = unknown. */
int64_t sdb_col_time(CdbStmt *st, int i);
/* The columns sdb_read_run reads, in its order. */
#define RUN_SELECT                                                                                 \
    "SELECT id, \"view\", \"trigger\", outcome, started_us, finished_us, \"rows\", error FROM "    \
    "runs"
/* Fills *run from a row of RUN_SELECT (values out of range read as unknown; a build whose end
 * the catalog could not take shows that end). */
void sdb_read_run(Store *s, CdbStmt *st, StoreRun *run);
/* Reads the steps of run (its id bound to st's first parameter) in the order they ran. 0 or -1. */
int sdb_read_steps(Store *s, CdbStmt *st, StoreRun *run);
/* Reads every row of st (RUN_SELECT's columns, parameters bound), and their steps when
 * with_steps, into *out (free with store_runs_free). 0, or -1 with the store's error and nothing
 * to free. */
int sdb_read_runs(Store *s, CdbStmt *st, bool with_steps, StoreRun **out, size_t *n);

/*
 * The statements that read a view's run facts again from its runs (views' columns from
 * migration 8), for the views where `name = WHO`: the newest finished run by start then id, the
 * newest success, the runs in progress, and the failures of the view's own (runs with a next
 * try) since that success, of its definition now (started at or after changed_us). Plain SQL;
 * the triggers of both backends run them on every change of a view's runs.
 */
#define FACTS_OWN_FAILURES                                                                         \
    " FROM runs f WHERE f.\"view\" = views.name AND f.retry_us IS NOT NULL"                        \
    " AND f.started_us >= views.changed_us AND f.id > coalesce(views.last_ok_id, 0))"
#define VIEW_FACTS(WHO)                                                                            \
    "UPDATE views SET last_run_id = (SELECT r.id FROM runs r WHERE r.\"view\" = views.name"        \
    " AND r.outcome <> 'running' ORDER BY r.started_us DESC, r.id DESC LIMIT 1),"                  \
    " last_ok_id = (SELECT max(r.id) FROM runs r WHERE r.\"view\" = views.name"                    \
    " AND r.outcome = 'ok'),"                                                                      \
    " running_runs = (SELECT count(*) FROM runs r WHERE r.\"view\" = views.name"                   \
    " AND r.outcome = 'running'),"                                                                 \
    " running_id = (SELECT max(r.id) FROM runs r WHERE r.\"view\" = views.name"                    \
    " AND r.outcome = 'running') WHERE name = " WHO ";\n"                                          \
    "UPDATE views SET last_run_started_us = (SELECT r.started_us FROM runs r"                      \
    " WHERE r.id = views.last_run_id),"                                                            \
    " last_run_outcome = (SELECT r.outcome FROM runs r WHERE r.id = views.last_run_id),"           \
    " last_run_error = (SELECT r.error FROM runs r WHERE r.id = views.last_run_id),"               \
    " own_failures = (SELECT count(*)" FACTS_OWN_FAILURES ","                                      \
    " own_retry_us = (SELECT max(f.retry_us)" FACTS_OWN_FAILURES " WHERE name = " WHO ";\n"

#endif
