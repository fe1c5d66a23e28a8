/*
 * Duro's virtual tables duro.status and duro.runs: the rows Duro gives are loaded into an
 * in-memory SQLite database, and a client's PostgreSQL SELECT over them is translated from its
 * parse tree into SQLite SQL with PostgreSQL's types, names and output formats (timestamptz in
 * the session's TimeZone). Pure: no sockets, no threads of its own; a VtDb and its statements are
 * used by one thread at a time, and a statement can be copied to another thread's VtDb.
 * Not for: deciding whether a statement is Duro's (proxy/intercept.c) or the wire format.
 */
#ifndef DURO_SQLENGINE_VTABLE_H
#define DURO_SQLENGINE_VTABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

/* A NULL timestamp in the rows given to vtable_load. */
#define VT_NULL_TIME INT64_MIN

/* PostgreSQL type OIDs: of result columns and parameters here, and of what the gateway
 * answers and reads in binary (proxy/answer.c). */
#define VT_OID_BOOL        16
#define VT_OID_INT8        20
#define VT_OID_INT2        21
#define VT_OID_INT4        23
#define VT_OID_TEXT        25
#define VT_OID_FLOAT4      700
#define VT_OID_FLOAT8      701
#define VT_OID_UNKNOWN     705
#define VT_OID_VARCHAR     1043
#define VT_OID_DATE        1082
#define VT_OID_TIMESTAMP   1114
#define VT_OID_TIMESTAMPTZ 1184
#define VT_OID_INTERVAL    1186
#define VT_OID_NUMERIC     1700

/* NULLs: strings NULL, timestamps VT_NULL_TIME, floats NAN, rows negative. */
typedef struct VtStatusRow {
    const char *view, *interval, *effective_interval, *state;
    int64_t last_refresh_us;
    double last_duration_s;
    int64_t next_refresh_us;
    int64_t rows;
    const char *depends_on, *last_error, *source;
    int64_t reads_24h;    /* statements that read it through the gateway in the last 24 h */
    int64_t last_read_us; /* the last such read */
    const char *readers;  /* the roles that read it in the last 24 h, sorted, comma-separated */
} VtStatusRow;

/* Same NULL conventions as VtStatusRow; id is never NULL. */
typedef struct VtRunRow {
    int64_t id;
    const char *view;
    int64_t started_us, finished_us;
    const char *outcome;
    double duration_s;
    int64_t rows;
    const char *trigger, *error;
} VtRunRow;

/* duro.leader: who leads the scheduler (the same NULL conventions). */
typedef struct VtLeaderRow {
    const char *instance, *host; /* host: host name and process id, "host:pid" */
    int64_t generation;
    int64_t since_us;
    bool this_instance; /* it is the instance answering */
} VtLeaderRow;
/* Timestamps are microseconds since the Unix epoch, UTC. */

typedef struct VtDb VtDb;

/* An in-memory database with both tables, empty. NULL with *error (caller frees) on failure. */
VtDb *vtable_open(char **error);
void vtable_close(VtDb *db);
/* Replaces the contents of duro.status and duro.runs (the strings are copied). -1 with *error
 * (caller frees). */
int vtable_load(VtDb *db, const VtStatusRow *status, size_t n_status, const VtRunRow *runs,
                size_t n_runs, char **error) MUST_CHECK;
/* Replaces the contents of duro.leader (none or one row). -1 with *error (caller frees). */
int vtable_load_leader(VtDb *db, const VtLeaderRow *rows, size_t n, char **error) MUST_CHECK;
/* Fixes what now() and 'now' mean for the next executions (µs since the epoch), for tests;
 * 0 goes back to the real clock. */
void vtable_set_clock(VtDb *db, int64_t now_us);

typedef struct VtError {
    char sqlstate[6];
    char message[512];
} VtError;

/* A result column: PostgreSQL's output name, type OID and type length (see VT_OID_*). */
typedef struct VtColumn {
    char *name;
    uint32_t type_oid;
    int16_t type_len;
} VtColumn;

/*
 * One result value. text: PostgreSQL's text output (timestamptz '2026-11-22 06:30:00.123456+00'
 * with the fraction's trailing zeros dropped, float8 shortest round-trip, bool 't'/'f', date
 * '2026-11-22', interval '1 day 02:00:00'). i: int8/int4 value, bool 0/1, timestamptz, date
 * (midnight) and interval as µs (timestamps since the Unix epoch). f: float8 or numeric value.
 */
typedef struct VtValue {
    bool null;
    char *text;
    int64_t i;
    double f;
} VtValue;

typedef struct VtStatement VtStatement;
struct PgQuery__ParseResult;

/*
 * Translates sql (one SELECT reading duro.status and/or duro.runs) for db. Parameters: a $n used
 * with a column, a typed value or a cast gets that type, otherwise text; param_types[i] given by
 * the client (0 or 705 = unspecified) override. Returns NULL with *err on failure: 42601 syntax,
 * 0A000 unsupported construct (the message names it), 42703 unknown column, 42P01 unknown table,
 * 42883 no such operator or function, 42803 grouping errors, 22P02/22007 bad literals.
 */
VtStatement *vtable_prepare(VtDb *db, const char *sql, const uint32_t *param_types,
                            size_t n_param_types, VtError *err);
/* The same for a statement the caller has parsed already (libpg_query's unpacked protobuf tree,
 * which stays the caller's): the tree must hold one SELECT. */
VtStatement *vtable_prepare_tree(VtDb *db, const struct PgQuery__ParseResult *tree,
                                 const uint32_t *param_types, size_t n_param_types, VtError *err);
size_t vtable_nparams(const VtStatement *st);
/* The parameter's type OID: the client's when it gave one, else the inferred one. */
uint32_t vtable_param_type(const VtStatement *st, size_t i);
size_t vtable_ncolumns(const VtStatement *st);

/* The virtual tables, in the order of their bits in vtable_reads. */
typedef enum VtTable {
    VT_TABLE_STATUS,
    VT_TABLE_RUNS,
    VT_TABLE_LEADER,
} VtTable;
/* Whether duro.<relname> is one of the virtual tables. */
bool vtable_is_table(const char *relname);
/* Whether st reads table t (anywhere in it: FROM, a join, a subquery), so rows of a table it
 * does not read need not be loaded. */
bool vtable_reads(const VtStatement *st, VtTable t);
/* The view whose runs are the only ones st can read, with these parameters (a `view = 'x'` or
 * `view = $1` its WHERE requires, duro.runs its only table), or NULL when it may read any. */
const char *vtable_runs_view(const VtStatement *st, const char *const *params, size_t nparams);
/* Whether st, with these parameters, reads at most the *count runs with the highest ids of those
 * vtable_runs_view allows (`ORDER BY id DESC LIMIT n [OFFSET m]`, duro.runs its only table, no
 * other condition, nothing grouped): then only those need loading. */
bool vtable_runs_newest(const VtStatement *st, const char *const *params, size_t nparams,
                        size_t *count);
const VtColumn *vtable_column(const VtStatement *st, size_t i);

/*
 * Runs st with parameter values as text (PostgreSQL text input; a NULL pointer is SQL NULL).
 * Fills *rows with nrows * ncolumns values, row-major (free with vtable_rows_free). Returns 0, or
 * -1 with *err (08P01 wrong parameter count, 22P02/22007/22003 bad parameter text, 22012
 * division by zero, ...) and nothing to free.
 */
int vtable_execute(VtStatement *st, const char *const *params, size_t nparams, VtValue **rows,
                   size_t *nrows, VtError *err) MUST_CHECK;
void vtable_rows_free(VtValue *rows, size_t nrows, size_t ncols);

/* What stops an execution early: a cancel flag set from another thread, a deadline on a clock
 * the caller gives (µs), and a bound on the result's size in memory (0 = none). */
typedef struct VtLimits {
    const atomic_bool *cancel;
    int64_t deadline_us;
    int64_t (*now_us)(void);
    size_t max_bytes;
} VtLimits;

/* Why vtable_execute_limited stopped. */
typedef enum VtStop {
    VT_STOP_NONE,
    VT_STOP_CANCEL,  /* 57014 canceling statement due to user request */
    VT_STOP_TIMEOUT, /* 57014 canceling statement due to statement timeout */
    VT_STOP_SIZE,    /* 54000 the result is larger than max_bytes */
} VtStop;

/* vtable_execute under lim (NULL = none); *stopped (when not NULL) says whether a limit ended it.
 */
int vtable_execute_limited(VtStatement *st, const char *const *params, size_t nparams,
                           const VtLimits *lim, VtValue **rows, size_t *nrows, VtError *err,
                           VtStop *stopped) MUST_CHECK;

/* The statement src (prepared on another VtDb, read only here) prepared again on db. NULL with
 * *err when db cannot prepare it. */
VtStatement *vtable_statement_copy(VtDb *db, const VtStatement *src, VtError *err);

/* The TimeZone timestamptz values are printed in from now on: a zoneinfo name (Europe/Paris),
 * UTC, or a POSIX fixed offset as PostgreSQL reports it (<+01>-01); NULL or "" = UTC. Returns
 * 0, or -1 when the zone is unknown (UTC is used). */
int vtable_set_timezone(VtDb *db, const char *name);
void vtable_statement_free(VtStatement *st);

#endif
