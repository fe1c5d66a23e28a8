/*
 * libpq connection of a worker (see warehouse.h). Statements are sent with
 * PQsendQueryParams and awaited with poll() in short slices, checking the
 * deadline and the cancel flag between slices; either sends a cancel request
 * (or ends a COPY FROM STDIN with an error) and still reads the statement's
 * end, so the connection stays usable.
 */
#include "planner/warehouse.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

struct Warehouse {
    PGconn *conn;
    PGcancel *cancel;
    atomic_bool cancel_requested;
    char *error;
    char sqlstate[6];
};

/* The slice of a wait between checks of the deadline and the cancel flag. */
#define WH_SLICE_MS 100

static void set_error(Warehouse *w, const char *msg, const char *sqlstate)
{
    free(w->error);
    w->error = xstrdup(msg);
    size_t n = strlen(w->error);
    while (n > 0 && (w->error[n - 1] == '\n' || w->error[n - 1] == ' '))
        w->error[--n] = '\0';
    snprintf(w->sqlstate, sizeof(w->sqlstate), "%s", sqlstate ? sqlstate : "");
}

/* Takes the error of a failed result: primary message, then detail when there is one. */
static void set_result_error(Warehouse *w, const PGresult *r)
{
    const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (!primary) {
        set_error(w, PQresultErrorMessage(r), state);
        return;
    }
    char *msg = detail ? xasprintf("%s (%s)", primary, detail) : xstrdup(primary);
    set_error(w, msg, state);
    free(msg);
}

/* Server notices (e.g. "table ... does not exist, skipping") go to the debug log. */
static void on_notice(void *arg, const char *message)
{
    (void)arg;
    log_debug("warehouse: %.*s", (int)strcspn(message, "\n"), message);
}

int wh_connect(const Settings *s, Warehouse **out, char **error)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", s->warehouse.port);
    const char *keys[] = {"host",     "port",    "dbname",           "user",
                          "password", "sslmode", "application_name", "connect_timeout",
                          NULL};
    const char *values[] = {s->warehouse.host,
                            port,
                            s->warehouse.dbname,
                            s->warehouse.user,
                            s->warehouse.password,
                            s->warehouse.sslmode,
                            "duro",
                            "10",
                            NULL};
    *out = NULL;
    PGconn *conn = PQconnectdbParams(keys, values, 0);
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        const char *msg = conn ? PQerrorMessage(conn) : "out of memory";
        /* The one setting an operator most often misses is named, since libpq's "no password
         * supplied" does not say where Duro reads one from. */
        const char *hint = conn && PQconnectionNeedsPassword(conn)
                               ? " (the warehouse asks for a password and none is set: set "
                                 "DURO_WAREHOUSE_PASSWORD in Duro's environment)"
                               : "";
        int len = (int)strlen(msg);
        while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
            len--;
        *error = xasprintf("cannot connect to the warehouse %s:%s as %s: %.*s%s", s->warehouse.host,
                           port, s->warehouse.user, len, msg, hint);
        PQfinish(conn);
        return -1;
    }
    if (PQsetnonblocking(conn, 1) != 0) {
        *error = xasprintf("cannot use the warehouse connection: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return -1;
    }
    PQsetNoticeProcessor(conn, on_notice, NULL);
    Warehouse *w = xcalloc(1, sizeof(*w));
    w->conn = conn;
    w->cancel = PQgetCancel(conn);
    atomic_init(&w->cancel_requested, false);
    *out = w;
    return 0;
}

void wh_close(Warehouse *w)
{
    if (!w)
        return;
    if (w->cancel)
        PQfreeCancel(w->cancel);
    PQfinish(w->conn);
    free(w->error);
    free(w);
}

void wh_cancel(Warehouse *w)
{
    atomic_store(&w->cancel_requested, true);
}

void wh_reset_cancel(Warehouse *w)
{
    atomic_store(&w->cancel_requested, false);
}

bool wh_cancel_requested(const Warehouse *w)
{
    return atomic_load(&w->cancel_requested);
}

const char *wh_error(const Warehouse *w)
{
    return w->error ? w->error : "";
}

const char *wh_sqlstate(const Warehouse *w)
{
    return w->sqlstate;
}

int wh_ok(const Warehouse *w)
{
    return PQstatus(w->conn) == CONNECTION_OK;
}

/* Sends the server a cancel request for whatever runs on w. */
static void send_cancel(Warehouse *w)
{
    char buf[256];
    if (w->cancel && !PQcancel(w->cancel, buf, sizeof(buf)))
        set_error(w, buf, NULL);
}

/* Waits until the socket can be read or WH_SLICE_MS pass; also flushes pending output. */
static int wait_readable(Warehouse *w)
{
    int flush = PQflush(w->conn);
    if (flush < 0)
        return -1;
    struct pollfd p = {.fd = PQsocket(w->conn), .events = POLLIN | (flush ? POLLOUT : 0)};
    int rc = poll(&p, 1, WH_SLICE_MS);
    if (rc < 0 && errno != EINTR)
        return -1;
    return 0;
}

/* Why a running statement must stop now: WH_CANCELLED, WH_TIMEOUT, or WH_OK when it need not. */
static WhStatus stop_reason(const Warehouse *w, int64_t deadline_us)
{
    if (atomic_load(&w->cancel_requested))
        return WH_CANCELLED;
    if (deadline_us && clock_mono_us() >= deadline_us)
        return WH_TIMEOUT;
    return WH_OK;
}

/* Clears the last error; false (with the error set) when a cancel is pending: then send nothing. */
static bool begin(Warehouse *w)
{
    set_error(w, "", NULL);
    if (!atomic_load(&w->cancel_requested))
        return true;
    set_error(w, "cancelled", "57014");
    return false;
}

/* libpq could not queue COPY data yet: waits for the server and reads what it sent. 0, or -1. */
static int copy_wait(Warehouse *w)
{
    return wait_readable(w) == 0 && PQconsumeInput(w->conn) ? 0 : -1;
}

/*
 * Streams f (NULL: nothing) as the data of the COPY FROM STDIN the server waits for, then ends it,
 * or ends it with an error when f cannot be read or the statement must stop (*stopped says why).
 * Returns 0, or -1 when the connection is lost (error set).
 */
static int send_copy_data(Warehouse *w, FILE *f, int64_t deadline_us, WhStatus *stopped)
{
    char buf[64 * 1024];
    const char *abort_with = f ? NULL : "no data to copy";
    while (!abort_with && *stopped == WH_OK) {
        size_t n = fread(buf, 1, sizeof(buf), f);
        if (n == 0) {
            abort_with = ferror(f) ? "cannot read the file to copy" : NULL;
            break;
        }
        int rc;
        while ((rc = PQputCopyData(w->conn, buf, (int)n)) == 0 &&
               (*stopped = stop_reason(w, deadline_us)) == WH_OK && (rc = copy_wait(w)) == 0)
            ;
        if (rc < 0) {
            set_error(w, PQerrorMessage(w->conn), "08006");
            return -1;
        }
        if (*stopped == WH_OK)
            *stopped = stop_reason(w, deadline_us);
    }
    if (*stopped != WH_OK)
        abort_with = *stopped == WH_TIMEOUT ? "timed out" : "cancelled";
    int rc;
    while ((rc = PQputCopyEnd(w->conn, abort_with)) == 0 && (rc = copy_wait(w)) == 0)
        ;
    if (rc < 0) {
        set_error(w, PQerrorMessage(w->conn), "08006");
        return -1;
    }
    return 0;
}

/*
 * Reads every result of the statement just sent, waiting in poll() slices. When the deadline
 * passes, wh_cancel is called or on_row fails, a cancel request is sent and the results are still
 * read to the end. Results with rows go to on_row when given; a COPY FROM STDIN is fed from copy;
 * the last other result goes to *res on WH_OK (res may be NULL).
 */
static WhStatus await_results(Warehouse *w, int64_t deadline_us, WhRowFn on_row, void *arg,
                              FILE *copy, PGresult **res)
{
    WhStatus stopped = WH_OK; /* set once a cancel has been sent, and why (WH_ERROR: on_row) */
    PGresult *last = NULL;
    char *row_error = NULL;
    bool failed = false;
    for (;;) {
        while (PQisBusy(w->conn)) {
            if (stopped == WH_OK && (stopped = stop_reason(w, deadline_us)) != WH_OK)
                send_cancel(w);
            if (wait_readable(w) != 0 || !PQconsumeInput(w->conn)) {
                set_error(w, PQerrorMessage(w->conn), "08006");
                goto lost;
            }
        }
        PGresult *r = PQgetResult(w->conn);
        if (!r)
            break;
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE) {
            if (!failed)
                set_result_error(w, r);
            failed = true;
            PQclear(r);
        } else if (st == PGRES_COPY_IN) {
            PQclear(r);
            if (send_copy_data(w, copy, deadline_us, &stopped) != 0)
                goto lost;
        } else if (on_row && (st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK)) {
            if (stopped == WH_OK && on_row(arg, r, &row_error) != 0) {
                stopped = WH_ERROR;
                send_cancel(w);
            }
            PQclear(r);
        } else {
            PQclear(last);
            last = r;
        }
    }
    if (stopped == WH_ERROR) {
        set_error(w, row_error ? row_error : "stopped", NULL);
        failed = true;
    } else if (stopped != WH_OK && failed) {
        set_error(w, stopped == WH_TIMEOUT ? "timed out" : "cancelled", "57014");
        PQclear(last);
        return stopped;
    }
    free(row_error);
    if (failed) {
        PQclear(last);
        return WH_ERROR;
    }
    if (res)
        *res = last;
    else
        PQclear(last);
    return WH_OK;
lost:
    free(row_error);
    PQclear(last);
    return WH_ERROR;
}

WhStatus wh_exec(Warehouse *w, const char *sql, int nparams, const char *const *params,
                 int64_t deadline_us, PGresult **res)
{
    if (res)
        *res = NULL;
    if (!begin(w))
        return WH_CANCELLED;
    if (!PQsendQueryParams(w->conn, sql, nparams, NULL, params, NULL, NULL, 0)) {
        set_error(w, PQerrorMessage(w->conn), NULL);
        return WH_ERROR;
    }
    return await_results(w, deadline_us, NULL, NULL, NULL, res);
}

WhStatus wh_query_rows(Warehouse *w, const char *sql, int64_t deadline_us, WhRowFn on_row,
                       void *arg)
{
    if (!begin(w))
        return WH_CANCELLED;
    if (!PQsendQueryParams(w->conn, sql, 0, NULL, NULL, NULL, NULL, 0)) {
        set_error(w, PQerrorMessage(w->conn), NULL);
        return WH_ERROR;
    }
    /* Without single-row mode the rows come in one result: more memory, same rows. */
    (void)PQsetSingleRowMode(w->conn);
    return await_results(w, deadline_us, on_row, arg, NULL, NULL);
}

WhStatus wh_copy_in(Warehouse *w, const char *sql, const char *path, int64_t deadline_us,
                    int64_t *rows)
{
    *rows = -1;
    if (!begin(w))
        return WH_CANCELLED;
    FILE *f = fopen(path, "rbe");
    if (!f) {
        char *msg = xasprintf("cannot read %s: %s", path, strerror(errno));
        set_error(w, msg, NULL);
        free(msg);
        return WH_ERROR;
    }
    PGresult *res = NULL;
    WhStatus st = WH_ERROR;
    if (!PQsendQueryParams(w->conn, sql, 0, NULL, NULL, NULL, NULL, 0))
        set_error(w, PQerrorMessage(w->conn), NULL);
    else
        st = await_results(w, deadline_us, NULL, NULL, f, &res);
    fclose(f);
    if (st == WH_OK) {
        const char *tuples = PQcmdTuples(res);
        *rows = *tuples ? strtoll(tuples, NULL, 10) : -1;
    }
    PQclear(res);
    return st;
}
