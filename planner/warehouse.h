/*
 * The worker's connection to the warehouse (libpq): connect from the
 * [warehouse] settings, and run one statement at a time with parameters bound,
 * a deadline, and cancellation from another thread; rows streamed to a
 * callback, and a file streamed into COPY FROM STDIN. Waiting happens in poll(),
 * so a deadline or a cancel really stops the statement on the server.
 * Not for: the gateway's client sessions (proxy/).
 */
#ifndef DURO_PLANNER_WAREHOUSE_H
#define DURO_PLANNER_WAREHOUSE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/settings.h"
#include "core/util.h"

typedef struct Warehouse Warehouse;

typedef enum WhStatus {
    WH_OK = 0,
    WH_ERROR = -1,     /* the server or the connection said no: wh_error tells */
    WH_TIMEOUT = -2,   /* the deadline passed; the statement was cancelled */
    WH_CANCELLED = -3, /* wh_cancel was called; the statement was cancelled */
} WhStatus;

/* Connects as the service account. Returns 0, or -1 with *error (caller frees; no secrets). */
int wh_connect(const Settings *s, Warehouse **out, char **error) MUST_CHECK;
void wh_close(Warehouse *w);

/*
 * Runs one statement, with nparams text parameters ($1...), until it finishes,
 * deadline_us passes (clock_mono_us time; 0 = none) or wh_cancel is
 * called. On WH_OK and res not NULL, *res is the last result (caller PQclear()s).
 */
WhStatus wh_exec(Warehouse *w, const char *sql, int nparams, const char *const *params,
                 int64_t deadline_us, PGresult **res) MUST_CHECK;

/*
 * Called by wh_query_rows with each result that has rows (one row each in
 * single-row mode), then once with the final result, which has no rows left
 * but still describes the columns. Returns 0, or -1 with *error (allocated; the
 * warehouse frees it) to stop the statement, which then fails with that error.
 */
typedef int (*WhRowFn)(void *arg, const PGresult *res, char **error);

/*
 * Runs one query without parameters and hands its rows to on_row as they
 * arrive (libpq single-row mode), under a deadline and wh_cancel as wh_exec.
 */
WhStatus wh_query_rows(Warehouse *w, const char *sql, int64_t deadline_us, WhRowFn on_row,
                       void *arg) MUST_CHECK;

/*
 * Runs a COPY ... FROM STDIN and streams the file at path as its data, under a
 * deadline and wh_cancel as wh_exec (a stop ends the COPY with an error). On
 * WH_OK, *rows is the number of rows copied (-1 when the server did not say).
 */
WhStatus wh_copy_in(Warehouse *w, const char *sql, const char *path, int64_t deadline_us,
                    int64_t *rows) MUST_CHECK;

/* Asks the statement running on w, if any, to stop; safe from any thread. Sticky until wh_reset. */
void wh_cancel(Warehouse *w);
void wh_reset_cancel(Warehouse *w);
/* Whether wh_cancel was called (and not reset): for work besides statements that must stop too. */
bool wh_cancel_requested(const Warehouse *w);

/* The last error: the server's message (with detail), or the client's. */
const char *wh_error(const Warehouse *w);
/* The last error's SQLSTATE, or "" when it was not the server's. */
const char *wh_sqlstate(const Warehouse *w);
/* Whether the connection is still usable (it is not after a lost connection). */
int wh_ok(const Warehouse *w);

#endif
