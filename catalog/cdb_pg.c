/*
 * The catalog's connection to a PostgreSQL database (catalog/cdb.h), over libpq. Statements
 * written for both backends are turned into PostgreSQL's: ?N becomes $N, a bare ? the next
 * number, and SQLite's `INDEXED BY name` hints are dropped; quoted strings, quoted identifiers
 * and comments are left as they are. A statement runs at its first step (text results) and its
 * rows are then read from the result.
 *
 * Parameter types: an integer is sent as int8, text as text. A NULL keeps the type of the
 * value bound before at that index; when there was none, the statement runs with the literal
 * NULL in the parameter's place: the server types it from where it stands, as it would an
 * untyped parameter, but also in `?1 IS NULL OR col = ?1`, where an untyped parameter fails
 * (its type is needed at the IS NULL already) and a text one would not compare with an integer
 * column.
 *
 * Writers take turns through a transaction-level advisory lock (CDB_PG_WRITE_LOCK) that every
 * instance takes at cdb_begin_write. Changes are announced on the channel duro_catalog: the
 * connection LISTENs to it and cdb_data_version counts what other connections sent there.
 *
 * A connection found lost outside a transaction is reset before the next statement (and
 * LISTENs again); inside a transaction the statement fails with CDB_ERR_CONNECTION.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "catalog/cdb_impl.h"

/* The advisory lock key of the single writer: the same in every instance of every version. */
#define CDB_PG_WRITE_LOCK "4478981352331265329"
#define CDB_PG_CHANNEL    "duro_catalog"

#define OID_BOOL    16
#define OID_INT8    20
#define OID_INT2    21
#define OID_INT4    23
#define OID_TEXT    25
#define OID_NUMERIC 1700

struct CdbPg {
    PGconn *conn;
    char *name;
    char *errmsg;
    CdbErr errclass;
    int64_t changes;
    int64_t notified; /* notifications from other connections on the channel */
    int64_t epoch;    /* connections reset */
    bool in_tx;       /* the transaction state last seen while connected */
    char *session;    /* cdb_session_sql's statements, run again after each reconnection */
};

struct CdbPgStmt {
    char *sql;
    int nparams;
    char **values;
    Oid *types;
    PGresult *res;
    bool ran;
    bool failed;
    int row;
    int nrows;
};

static void set_error(struct CdbPg *pg, CdbErr cls, const char *msg)
{
    free(pg->errmsg);
    pg->errmsg = xstrdup(msg);
    pg->errclass = cls;
}

static void clear_error(struct CdbPg *pg)
{
    free(pg->errmsg);
    pg->errmsg = NULL;
    pg->errclass = CDB_ERR_NONE;
}

/* libpq's message without its trailing newline. */
static char *conn_message(PGconn *conn)
{
    const char *m = conn != NULL ? PQerrorMessage(conn) : "";
    size_t n = strlen(m);
    while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
        n--;
    return n > 0 ? xstrndup(m, n) : xstrdup("connection lost");
}

static CdbErr class_of(const char *state, PGconn *conn)
{
    if (state != NULL) {
        if (strcmp(state, "23503") == 0)
            return CDB_ERR_FOREIGN_KEY;
        if (strcmp(state, "53100") == 0)
            return CDB_ERR_FULL;
        if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
            strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0)
            return CDB_ERR_CONNECTION;
        if (strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0 ||
            strcmp(state, "40001") == 0)
            return CDB_ERR_BUSY;
    }
    if (conn == NULL || PQstatus(conn) == CONNECTION_BAD)
        return CDB_ERR_CONNECTION;
    return CDB_ERR_OTHER;
}

/* Records the error of res (NULL: of the connection). */
static void set_result_error(struct CdbPg *pg, const PGresult *res)
{
    const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char *msg;
    if (primary != NULL && detail != NULL)
        msg = xasprintf("%s (%s)", primary, detail);
    else if (primary != NULL)
        msg = xstrdup(primary);
    else
        msg = conn_message(pg->conn);
    free(pg->errmsg);
    pg->errmsg = msg;
    pg->errclass = class_of(state, pg->conn);
}

static void note_tx(struct CdbPg *pg)
{
    PGTransactionStatusType ts = PQtransactionStatus(pg->conn);
    if (ts != PQTRANS_UNKNOWN)
        pg->in_tx = ts != PQTRANS_IDLE;
}

/* Runs sql (one or more statements, no parameters), checking each result. */
static int run_all(struct CdbPg *pg, const char *sql)
{
    if (!PQsendQuery(pg->conn, sql)) {
        set_result_error(pg, NULL);
        note_tx(pg);
        return CDB_ERROR;
    }
    bool failed = false;
    PGresult *res;
    while ((res = PQgetResult(pg->conn)) != NULL) {
        ExecStatusType s = PQresultStatus(res);
        if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY) {
            const char *cmd = PQcmdStatus(res);
            if (strncmp(cmd, "INSERT", 6) == 0 || strncmp(cmd, "UPDATE", 6) == 0 ||
                strncmp(cmd, "DELETE", 6) == 0 || strncmp(cmd, "MERGE", 5) == 0)
                pg->changes = strtoll(PQcmdTuples(res), NULL, 10);
        } else if (!failed) {
            failed = true;
            set_result_error(pg, res);
        }
        PQclear(res);
    }
    if (!failed && PQstatus(pg->conn) == CONNECTION_BAD) {
        failed = true;
        set_result_error(pg, NULL);
    }
    note_tx(pg);
    return failed ? CDB_ERROR : CDB_OK;
}

static int session_setup(struct CdbPg *pg)
{
    if (run_all(pg, "SET client_min_messages = warning; LISTEN " CDB_PG_CHANNEL) != CDB_OK)
        return CDB_ERROR;
    return pg->session ? run_all(pg, pg->session) : CDB_OK;
}

/* Reads what an idle connection received: notifications, or the server's goodbye and the end of
 * the connection, which makes PQstatus say so. */
static void probe(struct CdbPg *pg)
{
    for (int i = 0; i < 8 && PQstatus(pg->conn) == CONNECTION_OK; i++) {
        struct pollfd p = {.fd = PQsocket(pg->conn), .events = POLLIN};
        if (p.fd < 0 || poll(&p, 1, 0) <= 0 || !PQconsumeInput(pg->conn))
            return;
    }
}

/* Before a statement: a connection found lost outside a transaction is reset. */
static int ensure_conn(struct CdbPg *pg)
{
    probe(pg);
    if (PQstatus(pg->conn) != CONNECTION_BAD)
        return CDB_OK;
    if (pg->in_tx) {
        set_error(pg, CDB_ERR_CONNECTION, "the connection to the catalog database was lost");
        return CDB_ERROR;
    }
    PQreset(pg->conn);
    pg->epoch++;
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        char *m = conn_message(pg->conn);
        set_error(pg, CDB_ERR_CONNECTION, m);
        free(m);
        return CDB_ERROR;
    }
    pg->in_tx = false;
    return session_setup(pg);
}

int cdb_pg_session_sql(Cdb *db, const char *sql)
{
    struct CdbPg *pg = db->u.pg;
    clear_error(pg);
    if (ensure_conn(pg) != CDB_OK)
        return CDB_ERROR;
    if (run_all(pg, sql) != CDB_OK)
        return CDB_ERROR;
    free(pg->session);
    pg->session = xstrdup(sql);
    return CDB_OK;
}

/* Replaces each occurrence of secret in *msg by "***". */
static void scrub(char **msg, const char *secret)
{
    size_t slen = secret != NULL ? strlen(secret) : 0;
    if (slen == 0)
        return;
    size_t from = 0;
    char *p;
    while ((p = strstr(*msg + from, secret)) != NULL) {
        size_t at = (size_t)(p - *msg);
        char *m = xasprintf("%.*s***%s", (int)at, *msg, p + slen);
        free(*msg);
        *msg = m;
        from = at + 3;
    }
}

/* The server's notices and warnings are not printed: errors come back as results. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

int cdb_pg_open(const char *target, Cdb **out, CdbErr *errclass, char **error)
{
    *out = NULL;
    if (errclass != NULL)
        *errclass = CDB_ERR_NONE;
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(target, &perr);
    if (opts == NULL) {
        PQfreemem(perr); /* it may quote the URL */
        *error = xstrdup("not a valid PostgreSQL URL");
        if (errclass != NULL)
            *errclass = CDB_ERR_OTHER;
        return -1;
    }
    char *password = NULL;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL)
            password = xstrdup(o->val);
    PQconninfoFree(opts);

    /* Defaults first: the URL's own values, expanded from dbname, come later and win. */
    const char *keys[] = {
        "connect_timeout",  "keepalives",       "keepalives_idle", "keepalives_interval",
        "keepalives_count", "application_name", "dbname",          NULL};
    const char *vals[] = {"5", "1", "5", "2", "3", "duro-catalog", target, NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        char *m = conn_message(conn);
        scrub(&m, password);
        scrub(&m, target);
        *error = xasprintf("cannot connect to the catalog database: %s", m);
        free(m);
        free(password);
        if (errclass != NULL)
            *errclass = CDB_ERR_CONNECTION;
        PQfinish(conn);
        return -1;
    }
    free(password);

    PQsetNoticeProcessor(conn, ignore_notice, NULL);
    struct CdbPg *pg = xcalloc(1, sizeof(*pg));
    pg->conn = conn;
    const char *host = PQhost(conn);
    const char *port = PQport(conn);
    const char *dbname = PQdb(conn);
    pg->name = xasprintf("%s:%s/%s", host != NULL ? host : "", port != NULL ? port : "",
                         dbname != NULL ? dbname : "");
    if (session_setup(pg) != CDB_OK) {
        *error = xasprintf("cannot set up the catalog database connection: %s", pg->errmsg);
        if (errclass != NULL)
            *errclass = pg->errclass;
        PQfinish(conn);
        free(pg->name);
        free(pg->errmsg);
        free(pg);
        return -1;
    }
    Cdb *db = xcalloc(1, sizeof(*db));
    db->kind = CDB_POSTGRES;
    db->u.pg = pg;
    *out = db;
    return 0;
}

void cdb_pg_close(Cdb *db)
{
    struct CdbPg *pg = db->u.pg;
    PQfinish(pg->conn);
    free(pg->name);
    free(pg->errmsg);
    free(pg->session);
    free(pg);
    free(db);
}

const char *cdb_pg_name(const Cdb *db)
{
    return db->u.pg->name;
}

/* --- Statements --------------------------------------------------------------------------- */

static void buf_add(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    grow_array((void **)buf, cap, *len + n + 1, 1);
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '$';
}

/* Whether the word w (upper case) starts at p, whole. */
static bool word_at(const char *sql, const char *p, const char *w)
{
    size_t n = strlen(w);
    if (p > sql && ident_char(p[-1]))
        return false;
    if (strncasecmp(p, w, n) != 0)
        return false;
    return !ident_char(p[n]);
}

/* The end of a quoted run starting at p (the quote q), past the closing quote. */
static const char *skip_quoted(const char *p, char q)
{
    p++;
    while (*p != '\0') {
        if (*p == q) {
            if (p[1] == q) {
                p += 2;
                continue;
            }
            return p + 1;
        }
        p++;
    }
    return p;
}

/* After `INDEXED` at p: the end of `INDEXED BY name`, or NULL when that is not what follows. */
static const char *indexed_by_end(const char *sql, const char *p)
{
    if (!word_at(sql, p, "INDEXED"))
        return NULL;
    p += 7;
    while (isspace((unsigned char)*p))
        p++;
    if (!word_at(sql, p, "BY"))
        return NULL;
    p += 2;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '"' || *p == '`' || *p == '[')
        return skip_quoted(p, *p == '[' ? ']' : *p);
    if (!ident_char(*p))
        return NULL;
    while (ident_char(*p))
        p++;
    return p;
}

/* When p starts a string or quoted name: appends it whole to buf and answers its end; else NULL. */
static const char *copy_quoted(const char *p, char **buf, size_t *len, size_t *cap)
{
    if (*p != '\'' && *p != '"')
        return NULL;
    const char *end = skip_quoted(p, *p);
    buf_add(buf, len, cap, p, (size_t)(end - p));
    return end;
}

/* Turns sql into PostgreSQL's; *nparams gets the highest parameter number. */
static char *translate(const char *sql, int *nparams)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int maxn = 0;
    buf_add(&buf, &len, &cap, "", 0);
    const char *p = sql;
    while (*p != '\0') {
        const char *end;
        if ((end = copy_quoted(p, &buf, &len, &cap)) != NULL) {
            p = end;
        } else if (p[0] == '-' && p[1] == '-') {
            end = p + strcspn(p, "\n");
            buf_add(&buf, &len, &cap, p, (size_t)(end - p));
            p = end;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *close = strstr(p + 2, "*/");
            end = close != NULL ? close + 2 : p + strlen(p);
            buf_add(&buf, &len, &cap, p, (size_t)(end - p));
            p = end;
        } else if (*p == '?') {
            int n;
            p++;
            if (isdigit((unsigned char)*p)) {
                n = (int)strtol(p, (char **)&end, 10);
                p = end;
            } else {
                n = maxn + 1;
            }
            if (n > maxn)
                maxn = n;
            char num[24];
            int k = snprintf(num, sizeof(num), "$%d", n);
            buf_add(&buf, &len, &cap, num, (size_t)k);
        } else if ((*p == 'i' || *p == 'I') && (end = indexed_by_end(sql, p)) != NULL) {
            while (len > 0 && buf[len - 1] == ' ') /* one space stays between the words */
                buf[--len] = '\0';
            buf_add(&buf, &len, &cap, " ", 1);
            p = end;
            while (*p == ' ')
                p++;
        } else if (ident_char(*p)) {
            end = p;
            while (ident_char(*end))
                end++;
            buf_add(&buf, &len, &cap, p, (size_t)(end - p));
            p = end;
        } else {
            buf_add(&buf, &len, &cap, p, 1);
            p++;
        }
    }
    *nparams = maxn;
    return buf;
}

/* The translated sql with each parameter that has no value nor type yet written as NULL. */
static char *inline_nulls(const struct CdbPgStmt *ps)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    buf_add(&buf, &len, &cap, "", 0);
    const char *sql = ps->sql;
    const char *p = sql;
    while (*p != '\0') {
        const char *end;
        if ((end = copy_quoted(p, &buf, &len, &cap)) != NULL) {
            p = end;
            continue;
        }
        if (*p == '$' && isdigit((unsigned char)p[1]) && (p == sql || !ident_char(p[-1]))) {
            char *after;
            long n = strtol(p + 1, &after, 10);
            if (n >= 1 && n <= ps->nparams && ps->values[n - 1] == NULL && ps->types[n - 1] == 0) {
                buf_add(&buf, &len, &cap, "NULL", 4);
                p = after;
                continue;
            }
        }
        buf_add(&buf, &len, &cap, p, 1);
        p++;
    }
    return buf;
}

int cdb_pg_prepare(Cdb *db, const char *sql, CdbStmt **out)
{
    struct CdbPg *pg = db->u.pg;
    *out = NULL;
    clear_error(pg);
    if (ensure_conn(pg) != CDB_OK)
        return CDB_ERROR;
    struct CdbPgStmt *ps = xcalloc(1, sizeof(*ps));
    ps->sql = translate(sql, &ps->nparams);
    size_t n = ps->nparams > 0 ? (size_t)ps->nparams : 1;
    ps->values = xcalloc(n, sizeof(char *));
    ps->types = xcalloc(n, sizeof(Oid));
    CdbStmt *st = xcalloc(1, sizeof(*st));
    st->kind = CDB_POSTGRES;
    st->db = db;
    st->u.pg = ps;
    *out = st;
    return CDB_OK;
}

static int bind_check(CdbStmt *st, int idx)
{
    struct CdbPgStmt *ps = st->u.pg;
    if (idx < 1 || idx > ps->nparams) {
        char *m = xasprintf("no parameter ?%d in the statement", idx);
        set_error(st->db->u.pg, CDB_ERR_OTHER, m);
        free(m);
        return CDB_ERROR;
    }
    free(ps->values[idx - 1]);
    ps->values[idx - 1] = NULL;
    return CDB_OK;
}

int cdb_pg_bind_int(CdbStmt *st, int idx, int64_t value)
{
    if (bind_check(st, idx) != CDB_OK)
        return CDB_ERROR;
    st->u.pg->values[idx - 1] = xasprintf("%" PRId64, value);
    st->u.pg->types[idx - 1] = OID_INT8;
    return CDB_OK;
}

int cdb_pg_bind_text(CdbStmt *st, int idx, const char *text)
{
    if (text == NULL)
        return cdb_pg_bind_null(st, idx);
    if (bind_check(st, idx) != CDB_OK)
        return CDB_ERROR;
    st->u.pg->values[idx - 1] = xstrdup(text);
    st->u.pg->types[idx - 1] = OID_TEXT;
    return CDB_OK;
}

int cdb_pg_bind_null(CdbStmt *st, int idx)
{
    if (bind_check(st, idx) != CDB_OK)
        return CDB_ERROR;
    return CDB_OK;
}

int cdb_pg_step(CdbStmt *st)
{
    struct CdbPgStmt *ps = st->u.pg;
    struct CdbPg *pg = st->db->u.pg;
    if (ps->failed)
        return CDB_ERROR;
    if (!ps->ran) {
        clear_error(pg);
        if (ensure_conn(pg) != CDB_OK)
            return CDB_ERROR;
        ps->ran = true;
        /* NULLs of no known type are written in: the server types a literal NULL from where
         * it stands, as an untyped parameter, but also where only IS NULL tests it. */
        char *sql = ps->sql;
        Oid *types = ps->types;
        for (int i = 0; i < ps->nparams && sql == ps->sql; i++)
            if (ps->values[i] == NULL && ps->types[i] == 0) {
                sql = inline_nulls(ps);
                types = xcalloc((size_t)ps->nparams, sizeof(Oid));
                for (int j = 0; j < ps->nparams; j++)
                    types[j] = ps->types[j] != 0 ? ps->types[j] : OID_TEXT;
            }
        ps->res = PQexecParams(pg->conn, sql, ps->nparams, types, (const char *const *)ps->values,
                               NULL, NULL, 0);
        if (sql != ps->sql) {
            free(sql);
            free(types);
        }
        ExecStatusType s = PQresultStatus(ps->res);
        if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
            set_result_error(pg, ps->res);
            note_tx(pg);
            PQclear(ps->res);
            ps->res = NULL;
            ps->failed = true;
            return CDB_ERROR;
        }
        note_tx(pg);
        const char *cmd = PQcmdStatus(ps->res);
        if (strncmp(cmd, "INSERT", 6) == 0 || strncmp(cmd, "UPDATE", 6) == 0 ||
            strncmp(cmd, "DELETE", 6) == 0 || strncmp(cmd, "MERGE", 5) == 0)
            pg->changes = strtoll(PQcmdTuples(ps->res), NULL, 10);
        ps->nrows = s == PGRES_TUPLES_OK ? PQntuples(ps->res) : 0;
        ps->row = -1;
    }
    if (ps->row + 1 < ps->nrows) {
        ps->row++;
        return CDB_ROW;
    }
    ps->row = ps->nrows;
    return CDB_DONE;
}

static bool has_cell(const struct CdbPgStmt *ps, int i)
{
    return ps->res != NULL && ps->row >= 0 && ps->row < ps->nrows && i >= 0 &&
           i < PQnfields(ps->res);
}

bool cdb_pg_column_is_null(CdbStmt *st, int i)
{
    struct CdbPgStmt *ps = st->u.pg;
    return !has_cell(ps, i) || PQgetisnull(ps->res, ps->row, i);
}

bool cdb_pg_column_is_int(CdbStmt *st, int i)
{
    struct CdbPgStmt *ps = st->u.pg;
    if (cdb_pg_column_is_null(st, i))
        return false;
    Oid t = PQftype(ps->res, i);
    if (t == OID_INT8 || t == OID_INT2 || t == OID_INT4 || t == OID_BOOL)
        return true;
    if (t == OID_NUMERIC)
        return strpbrk(PQgetvalue(ps->res, ps->row, i), ".eEN") == NULL;
    return false;
}

int64_t cdb_pg_column_int(CdbStmt *st, int i)
{
    struct CdbPgStmt *ps = st->u.pg;
    if (cdb_pg_column_is_null(st, i))
        return 0;
    const char *v = PQgetvalue(ps->res, ps->row, i);
    if (PQftype(ps->res, i) == OID_BOOL)
        return v[0] == 't';
    return strtoll(v, NULL, 10);
}

const char *cdb_pg_column_text(CdbStmt *st, int i)
{
    struct CdbPgStmt *ps = st->u.pg;
    if (cdb_pg_column_is_null(st, i))
        return NULL;
    return PQgetvalue(ps->res, ps->row, i);
}

size_t cdb_pg_column_bytes(CdbStmt *st, int i)
{
    struct CdbPgStmt *ps = st->u.pg;
    if (cdb_pg_column_is_null(st, i))
        return 0;
    return (size_t)PQgetlength(ps->res, ps->row, i);
}

int cdb_pg_reset(CdbStmt *st)
{
    struct CdbPgStmt *ps = st->u.pg;
    PQclear(ps->res);
    ps->res = NULL;
    ps->ran = false;
    ps->failed = false;
    ps->row = -1;
    ps->nrows = 0;
    return CDB_OK;
}

void cdb_pg_clear_bindings(CdbStmt *st)
{
    struct CdbPgStmt *ps = st->u.pg;
    for (int i = 0; i < ps->nparams; i++) {
        free(ps->values[i]);
        ps->values[i] = NULL;
    }
}

void cdb_pg_finalize(CdbStmt *st)
{
    struct CdbPgStmt *ps = st->u.pg;
    cdb_pg_clear_bindings(st);
    PQclear(ps->res);
    free(ps->values);
    free(ps->types);
    free(ps->sql);
    free(ps);
    free(st);
}

/* --- Connection-level ------------------------------------------------------------------- */

int cdb_pg_exec(Cdb *db, const char *sql)
{
    struct CdbPg *pg = db->u.pg;
    clear_error(pg);
    if (ensure_conn(pg) != CDB_OK)
        return CDB_ERROR;
    return run_all(pg, sql);
}

int64_t cdb_pg_changes(Cdb *db)
{
    return db->u.pg->changes;
}

bool cdb_pg_autocommit(Cdb *db)
{
    struct CdbPg *pg = db->u.pg;
    PGTransactionStatusType ts = PQtransactionStatus(pg->conn);
    if (ts == PQTRANS_UNKNOWN)
        return !pg->in_tx;
    return ts == PQTRANS_IDLE;
}

int cdb_pg_begin_write(Cdb *db)
{
    struct CdbPg *pg = db->u.pg;
    /* Bounded like SQLite's busy wait; the limit stays for the transaction's statements. */
    char sql[160];
    snprintf(sql, sizeof(sql),
             "BEGIN; SET LOCAL lock_timeout = %d; SELECT pg_advisory_xact_lock(" CDB_PG_WRITE_LOCK
             ")",
             CDB_BUSY_TIMEOUT_MS);
    if (cdb_pg_exec(db, sql) == CDB_OK)
        return CDB_OK;
    if (PQtransactionStatus(pg->conn) != PQTRANS_IDLE &&
        PQtransactionStatus(pg->conn) != PQTRANS_UNKNOWN) {
        char *m = xstrdup(pg->errmsg != NULL ? pg->errmsg : "");
        CdbErr cls = pg->errclass;
        (void)run_all(pg, "ROLLBACK");
        set_error(pg, cls, m);
        free(m);
    }
    return CDB_ERROR;
}

int cdb_pg_begin_read(Cdb *db)
{
    return cdb_pg_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

int cdb_pg_commit(Cdb *db)
{
    struct CdbPg *pg = db->u.pg;
    int rc = cdb_pg_exec(db, "COMMIT");
    if (rc != CDB_OK && PQstatus(pg->conn) == CONNECTION_BAD)
        pg->in_tx = false; /* gone with the connection; the next statement reconnects */
    return rc;
}

int cdb_pg_rollback(Cdb *db)
{
    struct CdbPg *pg = db->u.pg;
    clear_error(pg);
    if (PQstatus(pg->conn) == CONNECTION_BAD) {
        /* The server ended the transaction with the connection; the next statement reconnects. */
        pg->in_tx = false;
        return CDB_OK;
    }
    return run_all(pg, "ROLLBACK");
}

int64_t cdb_pg_data_version(Cdb *db)
{
    struct CdbPg *pg = db->u.pg;
    probe(pg);
    if (PQstatus(pg->conn) == CONNECTION_BAD || !PQconsumeInput(pg->conn)) {
        if (pg->in_tx || ensure_conn(pg) != CDB_OK)
            return -1;
    }
    int self = PQbackendPID(pg->conn);
    PGnotify *n;
    while ((n = PQnotifies(pg->conn)) != NULL) {
        if (strcmp(n->relname, CDB_PG_CHANNEL) == 0 && n->be_pid != self)
            pg->notified++;
        PQfreemem(n);
    }
    return pg->notified + pg->epoch;
}

const char *cdb_pg_errmsg(const Cdb *db)
{
    return db->u.pg->errmsg != NULL ? db->u.pg->errmsg : "not an error";
}

CdbErr cdb_pg_errclass(const Cdb *db)
{
    return db->u.pg->errclass;
}
