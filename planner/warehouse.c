/*
 * libpq connection of a worker (see warehouse.h). Statements are sent with
 * PQsendQueryParams and awaited with poll() in short slices, checking the
 * deadline and the cancel flag between slices; either sends a cancel request
 * and still reads the statement's end, so the connection stays usable.
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

int64_t wh_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

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
        *error = xasprintf("cannot connect to the warehouse %s:%s as %s: %s", s->warehouse.host,
                           port, s->warehouse.user, msg);
        size_t n = strlen(*error);
        while (n > 0 && (*error)[n - 1] == '\n')
            (*error)[--n] = '\0';
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

WhStatus wh_exec(Warehouse *w, const char *sql, int nparams, const char *const *params,
                 int64_t deadline_us, PGresult **res)
{
    if (res)
        *res = NULL;
    set_error(w, "", NULL);
    if (atomic_load(&w->cancel_requested)) {
        set_error(w, "cancelled", "57014");
        return WH_CANCELLED;
    }
    if (!PQsendQueryParams(w->conn, sql, nparams, NULL, params, NULL, NULL, 0)) {
        set_error(w, PQerrorMessage(w->conn), NULL);
        return WH_ERROR;
    }
    WhStatus stopped = WH_OK; /* set once a cancel has been sent, and why */
    PGresult *last = NULL;
    bool failed = false;
    for (;;) {
        while (PQisBusy(w->conn)) {
            if (stopped == WH_OK) {
                if (atomic_load(&w->cancel_requested))
                    stopped = WH_CANCELLED;
                else if (deadline_us && wh_now_us() >= deadline_us)
                    stopped = WH_TIMEOUT;
                if (stopped != WH_OK)
                    send_cancel(w);
            }
            if (wait_readable(w) != 0 || !PQconsumeInput(w->conn)) {
                set_error(w, PQerrorMessage(w->conn), "08006");
                PQclear(last);
                return WH_ERROR;
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
        } else {
            PQclear(last);
            last = r;
        }
    }
    if (stopped != WH_OK && failed) {
        set_error(w, stopped == WH_TIMEOUT ? "timed out" : "cancelled", "57014");
        PQclear(last);
        return stopped;
    }
    if (failed) {
        PQclear(last);
        return WH_ERROR;
    }
    if (res)
        *res = last;
    else
        PQclear(last);
    return WH_OK;
}
