/*
 * libpq connection of a worker (see warehouse.h). Statements are sent with
 * PQsendQueryParams and awaited with poll() in short slices, checking the
 * deadline and the cancel flag between slices; either sends a cancel request
 * (or ends a COPY FROM STDIN with an error) and still reads the statement's
 * end, so the connection stays usable. Session names: "duro/<instance>/<pid>.<start>[/<work>]",
 * where <start> is the process's start time (/proc), which tells a live process from a later one
 * that got the same id.
 */
#include "planner/warehouse.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

struct Warehouse {
    const Settings *settings;
    PGconn *conn;
    PGcancel *cancel;
    atomic_bool cancel_requested;
    char *error;
    char sqlstate[6];
    char *name;       /* application_name */
    char *tag;        /* Redshift: "/ * name * /\n" before each statement (its query lists show
                         no application_name); NULL on PostgreSQL */
    bool retry_armed; /* wh_label's unit of work has not committed anything yet */
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

/* ---- Names ---- */

/* The most of a configured instance name that is kept. */
#define WH_INSTANCE_MAX 20

/* The start time of process pid in clock ticks since boot (/proc/<pid>/stat), or 0 if unknown. */
static unsigned long long process_start(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command name, which is in parentheses and may hold anything: the state is
     * field 3, the start time field 22. */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p++;
    for (int field = 2; field < 21 && p; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

/* "<pid>.<start in hex>": this process among every Duro process of the instance. */
static void process_owner(char *out, size_t size)
{
    long pid = (long)getpid();
    snprintf(out, size, "%ld.%llx", pid, process_start(pid));
}

char *wh_instance_prefix(const Settings *s)
{
    char instance[WH_INSTANCE_MAX + 1];
    const char *configured = s->worker.instance ? s->worker.instance : "";
    if (*configured) {
        size_t n = 0;
        for (; configured[n] && n < WH_INSTANCE_MAX; n++) {
            char c = configured[n];
            bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
            instance[n] = plain ? c : '_';
        }
        instance[n] = '\0';
    } else {
        char host[256] = "", path[PATH_MAX];
        if (gethostname(host, sizeof(host) - 1) != 0)
            host[0] = '\0';
        /* The catalog: the file's absolute path, or a shared one's URL (no password). */
        char *shown = s->catalog.url && *s->catalog.url ? settings_catalog_shown(s) : NULL;
        const char *catalog = shown                             ? shown
                              : realpath(s->catalog.path, path) ? path
                                                                : s->catalog.path;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
            !EVP_DigestUpdate(ctx, host, strlen(host) + 1) ||
            !EVP_DigestUpdate(ctx, catalog, strlen(catalog)) || !EVP_DigestFinal_ex(ctx, md, &len))
            len = 0;
        EVP_MD_CTX_free(ctx);
        free(shown);
        memset(md + len, 0, sizeof(md) - len);
        snprintf(instance, sizeof(instance), "%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
    }
    return xasprintf(WH_NAME_PREFIX "%s/", instance);
}

bool wh_name_orphaned(const Settings *s, const char *name)
{
    char *prefix = wh_instance_prefix(s);
    size_t plen = strlen(prefix);
    bool ours = strncmp(name, prefix, plen) == 0;
    free(prefix);
    if (!ours)
        return false;
    const char *owner = name + plen;
    char *end;
    errno = 0;
    long pid = strtol(owner, &end, 10);
    if (errno || end == owner || *end != '.' || pid <= 0 || pid > INT_MAX)
        return false; /* not a name Duro gives: leave it alone */
    unsigned long long start = strtoull(end + 1, &end, 16);
    if (*end != '/' && *end != '\0')
        return false;
    if (pid == (long)getpid())
        return start != process_start(pid); /* an earlier process with this process's id */
    if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
        return true;
    unsigned long long now = process_start(pid);
    return now != 0 && now != start; /* the id was taken by another process since */
}

/* The label as a session name may show it: plain characters kept, others '?'. */
static char *plain_label(const char *what)
{
    char *out = xstrdup(what);
    for (char *p = out; *p; p++) {
        char c = *p;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == ' ' || c == '.' || c == '-' || c == '_';
        if (!plain)
            *p = '?';
    }
    return out;
}

/* Sets w's name to "duro/<instance>/<owner>[/what]", cut to WH_NAME_MAX, and its tag. */
static void set_name(Warehouse *w, const char *what)
{
    char owner[64];
    process_owner(owner, sizeof(owner));
    char *prefix = wh_instance_prefix(w->settings);
    char *label = what ? plain_label(what) : NULL;
    char *name =
        label ? xasprintf("%s%s/%s", prefix, owner, label) : xasprintf("%s%s", prefix, owner);
    if (strlen(name) > WH_NAME_MAX)
        name[WH_NAME_MAX] = '\0';
    free(w->name);
    w->name = name;
    free(w->tag);
    w->tag = w->settings->warehouse.dialect_kind == DIALECT_REDSHIFT ? xasprintf("/* %s */\n", name)
                                                                     : NULL;
    free(label);
    free(prefix);
}

/* ---- Connections ---- */

/* Opens a connection named name. Returns it, or NULL with *error (caller frees; no secrets). */
static PGconn *open_conn(const Settings *s, const char *name, char **error)
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
                            name,
                            "10",
                            NULL};
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
        return NULL;
    }
    if (PQsetnonblocking(conn, 1) != 0) {
        *error = xasprintf("cannot use the warehouse connection: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, on_notice, NULL);
    return conn;
}

int wh_connect(const Settings *s, Warehouse **out, char **error)
{
    Warehouse *w = xcalloc(1, sizeof(*w));
    w->settings = s;
    atomic_init(&w->cancel_requested, false);
    set_name(w, NULL);
    *out = NULL;
    if (!(w->conn = open_conn(s, w->name, error))) {
        wh_close(w);
        return -1;
    }
    w->cancel = PQgetCancel(w->conn);
    *out = w;
    return 0;
}

/* Replaces w's connection by a new one with the same name. 0, or -1 with the error set. */
static int reconnect(Warehouse *w)
{
    char *error = NULL;
    PGconn *conn = open_conn(w->settings, w->name, &error);
    if (!conn) {
        set_error(w, error, "08001");
        free(error);
        return -1;
    }
    if (w->cancel)
        PQfreeCancel(w->cancel);
    PQfinish(w->conn);
    w->conn = conn;
    w->cancel = PQgetCancel(conn);
    return 0;
}

const char *wh_name(const Warehouse *w)
{
    return w->name;
}

void wh_close(Warehouse *w)
{
    if (!w)
        return;
    if (w->cancel)
        PQfreeCancel(w->cancel);
    PQfinish(w->conn);
    free(w->error);
    free(w->name);
    free(w->tag);
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

/* Sends sql with its parameters, after the tag when there is one. false (error set) on failure. */
static bool send_statement(Warehouse *w, const char *sql, int nparams, const char *const *params)
{
    char *tagged = w->tag ? xasprintf("%s%s", w->tag, sql) : NULL;
    bool ok = PQsendQueryParams(w->conn, tagged ? tagged : sql, nparams, NULL, params, NULL, NULL,
                                0) != 0;
    free(tagged);
    if (!ok)
        set_error(w, PQerrorMessage(w->conn), PQstatus(w->conn) == CONNECTION_BAD ? "08006" : NULL);
    return ok;
}

/* Whether the last error says the connection is gone: SQLSTATE class 08, the server shutting
 * down or not yet up (57P01-57P03), or a broken socket. */
static bool connection_lost(const Warehouse *w)
{
    return strncmp(w->sqlstate, "08", 2) == 0 || strcmp(w->sqlstate, "57P01") == 0 ||
           strcmp(w->sqlstate, "57P02") == 0 || strcmp(w->sqlstate, "57P03") == 0 ||
           PQstatus(w->conn) == CONNECTION_BAD;
}

/* Ends the retry window once a statement may have committed: it succeeded outside a block. */
static void note_success(Warehouse *w, WhStatus st)
{
    if (st == WH_OK && PQtransactionStatus(w->conn) == PQTRANS_IDLE)
        w->retry_armed = false;
}

/* One try of wh_exec. */
static WhStatus exec_once(Warehouse *w, const char *sql, int nparams, const char *const *params,
                          int64_t deadline_us, PGresult **res)
{
    if (!begin(w))
        return WH_CANCELLED;
    if (!send_statement(w, sql, nparams, params))
        return WH_ERROR;
    return await_results(w, deadline_us, NULL, NULL, NULL, res);
}

/* wh_exec under the retry rule of wh_label; keep_armed: a session setting, which commits nothing.
 */
static WhStatus exec_retrying(Warehouse *w, const char *sql, int nparams, const char *const *params,
                              int64_t deadline_us, PGresult **res, bool keep_armed)
{
    if (res)
        *res = NULL;
    bool idle = PQtransactionStatus(w->conn) == PQTRANS_IDLE || PQstatus(w->conn) == CONNECTION_BAD;
    WhStatus st = exec_once(w, sql, nparams, params, deadline_us, res);
    if (st == WH_ERROR && w->retry_armed && idle && connection_lost(w)) {
        w->retry_armed = false;
        log_info("warehouse session %s: the connection was lost (%s); trying again on a new one",
                 w->name, wh_error(w));
        if (reconnect(w) == 0)
            st = exec_once(w, sql, nparams, params, deadline_us, res);
    }
    if (!keep_armed)
        note_success(w, st);
    return st;
}

WhStatus wh_exec(Warehouse *w, const char *sql, int nparams, const char *const *params,
                 int64_t deadline_us, PGresult **res)
{
    return exec_retrying(w, sql, nparams, params, deadline_us, res, false);
}

WhStatus wh_label(Warehouse *w, const char *what, int64_t deadline_us)
{
    set_name(w, what);
    w->retry_armed = true;
    const char *params[] = {w->name};
    WhStatus st = exec_retrying(w, "SELECT pg_catalog.set_config('application_name', $1, false)", 1,
                                params, deadline_us, NULL, true);
    /* A warehouse that refuses the name (the connection still works) is no reason to fail the
     * work: the name given at connect stays, and on Redshift the statements carry it. */
    if (st == WH_ERROR && !connection_lost(w)) {
        log_debug("warehouse session %s: cannot set its name: %s", w->name, wh_error(w));
        return WH_OK;
    }
    return st;
}

WhStatus wh_query_rows(Warehouse *w, const char *sql, int64_t deadline_us, WhRowFn on_row,
                       void *arg)
{
    if (!begin(w))
        return WH_CANCELLED;
    if (!send_statement(w, sql, 0, NULL))
        return WH_ERROR;
    /* Without single-row mode the rows come in one result: more memory, same rows. */
    (void)PQsetSingleRowMode(w->conn);
    WhStatus st = await_results(w, deadline_us, on_row, arg, NULL, NULL);
    note_success(w, st);
    return st;
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
    if (send_statement(w, sql, 0, NULL))
        st = await_results(w, deadline_us, NULL, NULL, f, &res);
    fclose(f);
    note_success(w, st);
    if (st == WH_OK) {
        const char *tuples = PQcmdTuples(res);
        *rows = *tuples ? strtoll(tuples, NULL, 10) : -1;
    }
    PQclear(res);
    return st;
}
