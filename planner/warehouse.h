/*
 * The worker's connection to the warehouse (libpq): connect from the
 * [warehouse] settings, and run one statement at a time with parameters bound,
 * a deadline, and cancellation from another thread; rows streamed to a
 * callback, and a file streamed into COPY FROM STDIN. Waiting happens in poll(),
 * so a deadline or a cancel really stops the statement on the server. Every
 * session is named after Duro, the instance and the work it does (application_name;
 * on Redshift also a comment before each statement), so that a restarted Duro can
 * tell the sessions its dead processes left behind; and a connection the server
 * dropped before the work did anything is replaced once, transparently.
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

/*
 * Connects as the service account, named WH_NAME_PREFIX "<instance>/<process>" (see
 * wh_instance_prefix). s must outlive the connection (a lost one is reopened from it).
 * Returns 0, or -1 with *error (caller frees; no secrets).
 */
int wh_connect(const Settings *s, Warehouse **out, char **error) MUST_CHECK;
void wh_close(Warehouse *w);

#define WH_NAME_PREFIX "duro/"
/* The longest session name PostgreSQL keeps (NAMEDATALEN - 1); longer ones are cut. */
#define WH_NAME_MAX 63

/*
 * "duro/<instance>/": what every session name of this instance starts with. The instance is
 * [worker] instance when set (letters, digits, '.', '-' and '_' kept, anything else made '_',
 * at most 20 characters), else 8 hex digits of the SHA-256 of the host name and the catalog's
 * absolute path: two Duros share a warehouse without mistaking each other's sessions as long as
 * they run on different hosts or with different catalogs. Caller frees.
 */
char *wh_instance_prefix(const Settings *s);

/*
 * Whether a session named name (its application_name) belongs to this instance and was left by a
 * Duro process that is gone: one no longer running on this host, or an earlier process that had
 * this process's id. Sessions of live processes (this one, a `duro refresh` beside `duro serve`)
 * are not orphans.
 */
bool wh_name_orphaned(const Settings *s, const char *name);

/*
 * Names the work w does next, e.g. "build first.cities" (characters other than letters, digits
 * and ' ', '.', '-', '_' become '?'), as the session's application_name (cut to WH_NAME_MAX), and
 * starts a unit of work for the retry rule: until a statement of it has committed, a statement
 * that finds the connection dropped (SQLSTATE class 08, 57P01-57P03, or a broken socket) while no
 * transaction was open is sent once more on a new connection; only a second failure is returned.
 */
WhStatus wh_label(Warehouse *w, const char *what, int64_t deadline_us) MUST_CHECK;
/* The session's name as last set (what the warehouse shows as application_name). */
const char *wh_name(const Warehouse *w);

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
