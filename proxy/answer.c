/*
 * Duro's answers (see answer.h). Statements and portals of Duro's live in two
 * hash tables per session, by name; a portal holds its rows once executed, so that
 * Execute with a row limit resumes where it stopped, as PostgreSQL does.
 */
#include "proxy/answer.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uthash.h>

#include "catalog/names.h"

#define POSTGRES_EPOCH_US 946684800000000LL /* 2000-01-01 in Unix microseconds */

typedef struct LocalStmt {
    char *name;
    InterceptKind kind; /* INTERCEPT_VIRTUAL or INTERCEPT_REFRESH */
    VtStatement *vt;
    char *refresh_name; /* literal name, or NULL when a parameter */
    int refresh_param;
    bool refresh_force;
    int refresh_force_param;
    const char *tag; /* refresh: "CALL" or "SELECT 1" */
    uint32_t *param_types;
    size_t nparams;
    int refs; /* the table's, and each portal's */
    UT_hash_handle hh;
} LocalStmt;

typedef struct LocalPortal {
    char *name;
    LocalStmt *stmt;
    char **params; /* as text; NULL = SQL NULL */
    size_t nparams;
    int16_t *formats; /* result formats as bound */
    size_t nformats;
    bool run;
    VtValue *rows;
    size_t nrows;
    size_t pos;
    UT_hash_handle hh;
} LocalPortal;

/* The query being evaluated off the loop (at most one: the session holds further input). */
typedef struct AnswerEval {
    EvalJob *job;
    VtStatement *stmt; /* a simple Query's, owned; NULL for a portal's */
    char *portal;      /* the Execute's portal, or NULL for a simple Query */
} AnswerEval;

/* Statements a session may make before its end gives the freed memory back to the system. */
#define ANSWER_TRIM_AFTER 1024

struct Answer {
    LocalStmt *stmts;
    LocalPortal *portals;
    size_t made; /* statements and portals made in the session */
    bool skipping;
    bool errored;     /* an error was queued since answer_take_error */
    const char *user; /* borrowed from the session */
    char *timezone;   /* the session's TimeZone, as the warehouse reported it */
    void (*on_eval)(void *arg);
    void *on_eval_arg;
    AnswerEval eval;
};

static const CodecColumn refresh_columns[] = {
    {"view", VT_OID_TEXT, -1, 0},
    {"refreshed", VT_OID_TEXT, -1, 0},
    {"duration_s", VT_OID_FLOAT8, 8, 0},
};

/* ---- lists ---------------------------------------------------------------------- */

static void stmt_unref(LocalStmt *st)
{
    if (!st || --st->refs > 0)
        return;
    vtable_statement_free(st->vt);
    free(st->name);
    free(st->refresh_name);
    free(st->param_types);
    free(st);
}

static void portal_free(LocalPortal *p)
{
    for (size_t i = 0; i < p->nparams; i++)
        free(p->params[i]);
    free(p->params);
    free(p->formats);
    if (p->rows)
        vtable_rows_free(p->rows, p->nrows, vtable_ncolumns(p->stmt->vt));
    stmt_unref(p->stmt);
    free(p->name);
    free(p);
}

static LocalStmt *find_stmt(const Answer *a, const char *name)
{
    LocalStmt *st;
    HASH_FIND_STR(a->stmts, name, st);
    return st;
}

static LocalPortal *find_portal(const Answer *a, const char *name)
{
    LocalPortal *p;
    HASH_FIND_STR(a->portals, name, p);
    return p;
}

static void drop_stmt(Answer *a, const char *name)
{
    LocalStmt *st = find_stmt(a, name);
    if (st) {
        HASH_DEL(a->stmts, st);
        stmt_unref(st);
    }
}

static void drop_portal(Answer *a, const char *name)
{
    LocalPortal *pt = find_portal(a, name);
    if (pt) {
        HASH_DEL(a->portals, pt);
        portal_free(pt);
    }
}

/* Every portal; HASH_CLEAR alone would keep the table's memory until the next add. */
static void drop_portals(Answer *a)
{
    LocalPortal *p, *tmp;
    HASH_ITER(hh, a->portals, p, tmp)
    {
        HASH_DEL(a->portals, p);
        portal_free(p);
    }
}

static void drop_stmts(Answer *a)
{
    LocalStmt *st, *tmp;
    HASH_ITER(hh, a->stmts, st, tmp)
    {
        HASH_DEL(a->stmts, st);
        stmt_unref(st);
    }
}

Answer *answer_new(void)
{
    return xcalloc(1, sizeof(Answer));
}

static void eval_clear(Answer *a)
{
    if (a->eval.job)
        eval_detach(a->eval.job);
    vtable_statement_free(a->eval.stmt);
    free(a->eval.portal);
    memset(&a->eval, 0, sizeof a->eval);
}

void answer_set_session(Answer *a, const char *user, void (*on_eval)(void *arg), void *arg)
{
    a->user = user;
    a->on_eval = on_eval;
    a->on_eval_arg = arg;
}

void answer_set_timezone(Answer *a, const char *zone)
{
    free(a->timezone);
    a->timezone = zone ? xstrdup(zone) : NULL;
}

bool answer_evaluating(const Answer *a)
{
    return a->eval.job && !eval_finished(a->eval.job);
}

bool answer_eval_cancel(Answer *a)
{
    if (!answer_evaluating(a))
        return false;
    eval_cancel(a->eval.job);
    return true;
}

static void eval_done(void *arg)
{
    Answer *a = arg;
    if (a->on_eval)
        a->on_eval(a->on_eval_arg);
}

/* Hands st to the pool; 1 when it is evaluating, 0 when refused (the error is in out). */
static int eval_start_job(Answer *a, const AnswerEnv *env, const VtStatement *st,
                          char *const *params, size_t nparams, CodecBuf *out, bool extended)
{
    VtError err = {{0}, {0}};
    a->eval.job =
        eval_submit(env->pool, st, params, nparams, a->user, a->timezone, eval_done, a, &err);
    if (!a->eval.job) {
        answer_error(a, out, err.sqlstate, err.message, extended);
        return 0;
    }
    return 1;
}

void answer_free(Answer *a)
{
    if (!a)
        return;
    eval_clear(a);
    free(a->timezone);
    drop_portals(a);
    drop_stmts(a);
    /*
     * Many small blocks freed at once stay in the allocator's free lists, in the process's
     * resident memory, until something allocates them again: after a session that made many
     * statements, they are returned to the system.
     */
    if (a->made >= ANSWER_TRIM_AFTER)
        malloc_trim(0);
    free(a);
}

bool answer_active(const Answer *a)
{
    return a->stmts || a->portals || a->skipping;
}

bool answer_has_statement(const Answer *a, const char *name)
{
    return find_stmt(a, name) != NULL;
}

bool answer_has_portal(const Answer *a, const char *name)
{
    return find_portal(a, name) != NULL;
}

bool answer_skipping(const Answer *a)
{
    return a->skipping;
}

void answer_skip(Answer *a)
{
    a->skipping = true;
}

void answer_sync(Answer *a)
{
    a->skipping = false; /* portals end with their transaction: answer_end_transaction */
}

void answer_end_transaction(Answer *a)
{
    drop_portals(a);
}

void answer_forget_unnamed(Answer *a, bool statement, bool portal)
{
    if (statement)
        drop_stmt(a, "");
    if (portal)
        drop_portal(a, "");
}

void answer_error(Answer *a, CodecBuf *out, const char *sqlstate, const char *message,
                  bool extended)
{
    codec_put_error(out, "ERROR", sqlstate, message, NULL, NULL);
    a->errored = true;
    if (extended)
        a->skipping = true;
}

bool answer_take_error(Answer *a)
{
    bool e = a->errored;
    a->errored = false;
    return e;
}

/* ---- encoding results ----------------------------------------------------------- */

static int16_t format_of(const int16_t *formats, size_t n, size_t i)
{
    if (n == 0)
        return 0;
    return n == 1 ? formats[0] : (i < n ? formats[i] : 0);
}

/* Types whose binary form Duro writes; columns of other types are sent as text whatever the
 * client asked (the RowDescription says so). */
static bool binary_ok(uint32_t oid)
{
    switch (oid) {
    case VT_OID_BOOL:
    case VT_OID_INT8:
    case VT_OID_INT4:
    case VT_OID_TEXT:
    case VT_OID_VARCHAR:
    case VT_OID_FLOAT8:
    case VT_OID_TIMESTAMPTZ:
    case VT_OID_DATE:
    case VT_OID_INTERVAL:
        return true;
    default:
        return false;
    }
}

/* The format a column is sent in. */
static int16_t column_format(const VtStatement *vt, const int16_t *formats, size_t nformats,
                             size_t i)
{
    return binary_ok(vtable_column(vt, i)->type_oid) ? format_of(formats, nformats, i) : 0;
}

static void put_row_description(CodecBuf *out, const VtStatement *vt, const int16_t *formats,
                                size_t nformats)
{
    size_t n = vtable_ncolumns(vt);
    CodecColumn *cols = xcalloc(n ? n : 1, sizeof *cols);
    for (size_t i = 0; i < n; i++) {
        const VtColumn *c = vtable_column(vt, i);
        cols[i] = (CodecColumn){c->name, c->type_oid, c->type_len,
                                column_format(vt, formats, nformats, i)};
    }
    codec_put_row_description(out, cols, n);
    free(cols);
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* One DataRow; binary values for the columns whose format is 1. */
static void put_data_row(CodecBuf *out, const VtStatement *vt, const VtValue *row,
                         const int16_t *formats, size_t nformats)
{
    size_t n = vtable_ncolumns(vt);
    codec_buf_start_message(out, 'D');
    codec_buf_put_int16(out, (int16_t)n);
    for (size_t i = 0; i < n; i++) {
        const VtValue *v = &row[i];
        if (v->null) {
            codec_buf_put_int32(out, -1);
            continue;
        }
        uint32_t oid = vtable_column(vt, i)->type_oid;
        if (column_format(vt, formats, nformats, i) == 1 && oid != VT_OID_TEXT &&
            oid != VT_OID_VARCHAR) {
            uint8_t b[16];
            size_t blen = 8;
            if (oid == VT_OID_INT8) {
                put_be64(b, (uint64_t)v->i);
            } else if (oid == VT_OID_TIMESTAMPTZ) {
                put_be64(b, (uint64_t)(v->i - POSTGRES_EPOCH_US));
            } else if (oid == VT_OID_FLOAT8) {
                uint64_t bits;
                memcpy(&bits, &v->f, 8);
                put_be64(b, bits);
            } else if (oid == VT_OID_INT4 || oid == VT_OID_DATE) {
                int64_t x = oid == VT_OID_INT4 ? v->i : v->i / 86400000000LL - 10957;
                uint8_t t[8];
                put_be64(t, (uint64_t)x);
                memcpy(b, t + 4, 4);
                blen = 4;
            } else if (oid == VT_OID_INTERVAL) {
                put_be64(b, (uint64_t)v->i); /* microseconds, then 0 days and 0 months */
                memset(b + 8, 0, 8);
                blen = 16;
            } else { /* VT_OID_BOOL */
                b[0] = v->i != 0 || v->text[0] == 't';
                blen = 1;
            }
            codec_buf_put_int32(out, (int32_t)blen);
            codec_buf_put_bytes(out, b, blen);
            continue;
        }
        codec_buf_put_int32(out, (int32_t)strlen(v->text));
        codec_buf_put_bytes(out, v->text, strlen(v->text));
    }
    codec_buf_finish_message(out);
}

/* Queues rows pos .. (up to max_rows) and CommandComplete or PortalSuspended. */
static void put_rows(CodecBuf *out, const VtStatement *vt, const VtValue *rows, size_t nrows,
                     size_t *pos, int32_t max_rows, const int16_t *formats, size_t nformats)
{
    size_t ncols = vtable_ncolumns(vt), sent = 0;
    while (*pos < nrows && (max_rows <= 0 || sent < (size_t)max_rows)) {
        put_data_row(out, vt, rows + *pos * ncols, formats, nformats);
        (*pos)++;
        sent++;
    }
    /* As PostgreSQL: suspended once max_rows went, even with no row left; the tag counts this
     * Execute's rows. */
    if (max_rows > 0 && sent == (size_t)max_rows) {
        codec_put_portal_suspended(out);
        return;
    }
    char tag[32];
    snprintf(tag, sizeof tag, "SELECT %zu", sent);
    codec_put_command_complete(out, tag);
}

/* ---- refresh statements ------------------------------------------------------------ */

/* "CALL" when the statement starts with the CALL keyword, else "SELECT 1". */
static const char *refresh_tag(const char *sql)
{
    while (*sql && (isspace((unsigned char)*sql) || *sql == '('))
        sql++;
    return strncasecmp(sql, "call", 4) == 0 ? "CALL" : "SELECT 1";
}

void answer_refresh_clear(AnswerRefresh *r)
{
    free(r->view);
    r->view = NULL;
}

void answer_refresh_result(Answer *a, const char *portal, const AnswerRefresh *refresh,
                           const SchedulerRequest *req, CodecBuf *out)
{
    bool extended = portal != NULL;
    if (req->status == SCHEDULER_UNKNOWN) {
        char *msg = xasprintf("duro_refresh: %s is not a view of Duro's repository", refresh->view);
        answer_error(a, out, "42P01", msg, extended);
        free(msg);
        return;
    }
    if (req->status == SCHEDULER_CANCELLED) {
        answer_error(a, out, "57P01", "duro_refresh: Duro is shutting down", extended);
        return;
    }
    if (req->status == SCHEDULER_FAILED) {
        char *msg = xasprintf("refresh of %s failed: %s: %s", refresh->view,
                              req->failed_view ? req->failed_view : refresh->view,
                              req->error ? req->error : "unknown error");
        answer_error(a, out, "P0001", msg, extended);
        free(msg);
        return;
    }
    LocalPortal *p = portal ? find_portal(a, portal) : NULL;
    const int16_t *formats = p ? p->formats : NULL;
    size_t nformats = p ? p->nformats : 0;
    if (!p) {
        CodecColumn cols[3];
        memcpy(cols, refresh_columns, sizeof cols);
        codec_put_row_description(out, cols, 3);
    }
    char duration[32];
    double secs = (double)(req->finished_us - req->started_us) / 1e6;
    snprintf(duration, sizeof duration, "%.6g", secs);
    codec_buf_start_message(out, 'D');
    codec_buf_put_int16(out, 3);
    const char *texts[2] = {refresh->view, req->refreshed ? req->refreshed : ""};
    for (int i = 0; i < 2; i++) {
        codec_buf_put_int32(out, (int32_t)strlen(texts[i]));
        codec_buf_put_bytes(out, texts[i], strlen(texts[i]));
    }
    if (format_of(formats, nformats, 2) == 1) {
        uint8_t b[8];
        uint64_t bits;
        memcpy(&bits, &secs, 8);
        put_be64(b, bits);
        codec_buf_put_int32(out, 8);
        codec_buf_put_bytes(out, b, 8);
    } else {
        codec_buf_put_int32(out, (int32_t)strlen(duration));
        codec_buf_put_bytes(out, duration, strlen(duration));
    }
    codec_buf_finish_message(out);
    codec_put_command_complete(out, refresh->tag);
    if (p)
        p->run = true;
}

/* ---- the simple protocol ---------------------------------------------------------- */

int answer_query(Answer *a, const AnswerEnv *env, const char *sql, const InterceptInfo *info,
                 CodecBuf *out, AnswerRefresh *refresh)
{
    if (info->kind == INTERCEPT_MIXED) {
        answer_error(a, out, info->error_sqlstate ? info->error_sqlstate : "0A000",
                     info->error_message ? info->error_message : "not supported", false);
        return 0;
    }
    if (info->kind == INTERCEPT_REFRESH) {
        if (info->refresh_param > 0 || info->refresh_force_param > 0) {
            answer_error(a, out, "42P02", "duro_refresh: there is no parameter $1", false);
            return 0;
        }
        refresh->view = names_parse_view(info->refresh_name);
        if (!refresh->view) {
            char *m = xasprintf("duro_refresh: \"%s\" is not a view name (schema.table)",
                                info->refresh_name);
            answer_error(a, out, "42602", m, false);
            free(m);
            return 0;
        }
        refresh->force = info->refresh_force;
        refresh->tag = refresh_tag(sql);
        return 1;
    }
    VtError err = {{0}, {0}};
    VtStatement *vt = vtable_prepare_tree(env->vt, info->tree, NULL, 0, &err);
    if (!vt) {
        answer_error(a, out, err.sqlstate, err.message, false);
        return 0;
    }
    if (vtable_nparams(vt) > 0) {
        answer_error(a, out, "42P02", "there is no parameter $1", false);
        vtable_statement_free(vt);
        return 0;
    }
    if (eval_start_job(a, env, vt, NULL, 0, out, false) == 0) {
        vtable_statement_free(vt);
        return 0;
    }
    a->eval.stmt = vt;
    return 2;
}

bool answer_copy_answers(const AnswerEnv *env, const InterceptInfo *info)
{
    if (info->kind == INTERCEPT_MIXED)
        return info->copy_answers;
    if (info->kind != INTERCEPT_VIRTUAL)
        return false;
    VtError err = {{0}, {0}};
    VtStatement *vt = vtable_prepare_tree(env->vt, info->tree, NULL, 0, &err);
    if (vt) {
        vtable_statement_free(vt);
        return false;
    }
    return strcmp(err.sqlstate, "0A000") == 0;
}

void answer_eval_result(Answer *a, const CodecExecute *e, CodecBuf *out)
{
    VtValue *rows = NULL;
    size_t nrows = 0;
    VtError err = {{0}, {0}};
    int rc = eval_take(a->eval.job, &rows, &nrows, &err);
    a->eval.job = NULL;
    if (!a->eval.portal) {
        if (rc != 0) {
            answer_error(a, out, err.sqlstate, err.message, false);
        } else {
            put_row_description(out, a->eval.stmt, NULL, 0);
            size_t pos = 0;
            put_rows(out, a->eval.stmt, rows, nrows, &pos, 0, NULL, 0);
            vtable_rows_free(rows, nrows, vtable_ncolumns(a->eval.stmt));
        }
        eval_clear(a);
        return;
    }
    LocalPortal *p = find_portal(a, a->eval.portal);
    eval_clear(a);
    if (rc != 0 || !p) {
        if (p == NULL)
            vtable_rows_free(rows, nrows, 0);
        answer_error(a, out, rc != 0 ? err.sqlstate : "34000",
                     rc != 0 ? err.message : "the portal is gone", true);
        return;
    }
    p->rows = rows;
    p->nrows = nrows;
    p->run = true;
    put_rows(out, p->stmt->vt, p->rows, p->nrows, &p->pos, e->max_rows, p->formats, p->nformats);
}

/* ---- the extended protocol -------------------------------------------------------- */

void answer_parse(Answer *a, const AnswerEnv *env, const CodecParse *p, const InterceptInfo *info,
                  bool name_taken, CodecBuf *out)
{
    if (info->kind == INTERCEPT_MIXED) {
        answer_error(a, out, info->error_sqlstate ? info->error_sqlstate : "0A000",
                     info->error_message ? info->error_message : "not supported", true);
        return;
    }
    uint32_t *types = xcalloc(p->nparam_types ? p->nparam_types : 1, sizeof(uint32_t));
    for (size_t i = 0; i < p->nparam_types; i++)
        types[i] = codec_parse_param_type(p, i);
    LocalStmt *st = xcalloc(1, sizeof *st);
    st->name = xstrdup(p->name);
    st->kind = info->kind;
    st->refs = 1;
    if (info->kind == INTERCEPT_VIRTUAL) {
        VtError err = {{0}, {0}};
        st->vt = vtable_prepare_tree(env->vt, info->tree, types, p->nparam_types, &err);
        if (!st->vt) {
            free(types);
            stmt_unref(st);
            answer_error(a, out, err.sqlstate, err.message, true);
            return;
        }
        st->nparams = vtable_nparams(st->vt);
        st->param_types = xcalloc(st->nparams ? st->nparams : 1, sizeof(uint32_t));
        for (size_t i = 0; i < st->nparams; i++)
            st->param_types[i] = vtable_param_type(st->vt, i);
        free(types);
    } else {
        st->refresh_name = info->refresh_name ? xstrdup(info->refresh_name) : NULL;
        st->refresh_param = info->refresh_param;
        st->refresh_force = info->refresh_force;
        st->refresh_force_param = info->refresh_force_param;
        st->tag = refresh_tag(p->query);
        int n = st->refresh_param > st->refresh_force_param ? st->refresh_param
                                                            : st->refresh_force_param;
        if ((size_t)n < p->nparam_types)
            n = (int)p->nparam_types;
        st->nparams = (size_t)n;
        st->param_types = xcalloc(n ? (size_t)n : 1, sizeof(uint32_t));
        for (int i = 0; i < n; i++) {
            uint32_t given = (size_t)i < p->nparam_types ? types[i] : 0;
            st->param_types[i] =
                given ? given : (i + 1 == st->refresh_force_param ? VT_OID_BOOL : VT_OID_TEXT);
        }
        free(types);
    }
    /* As PostgreSQL: the name is checked once the statement is known to be valid. */
    if (*p->name && (name_taken || answer_has_statement(a, p->name))) {
        stmt_unref(st);
        char *msg = xasprintf("prepared statement \"%s\" already exists", p->name);
        answer_error(a, out, "42P05", msg, true);
        free(msg);
        return;
    }
    drop_stmt(a, p->name); /* the unnamed statement is replaced */
    HASH_ADD_KEYPTR(hh, a->stmts, st->name, strlen(st->name), st);
    a->made++;
    codec_put_parse_complete(out);
}

/* A bound parameter as text: text formats as they are, binary ones for the types Duro takes. */
static char *param_text(const CodecValue *v, int16_t format, uint32_t oid, bool *ok)
{
    *ok = true;
    if (!v->data)
        return NULL;
    if (format == 0 || oid == VT_OID_TEXT || oid == VT_OID_VARCHAR || oid == VT_OID_UNKNOWN ||
        oid == 0)
        return xstrndup((const char *)v->data, (size_t)v->len);
    const uint8_t *d = v->data;
    uint64_t u = 0;
    for (int32_t i = 0; i < v->len && i < 8; i++)
        u = u << 8 | d[i];
    if (oid == VT_OID_BOOL && v->len == 1)
        return xstrdup(d[0] ? "t" : "f");
    if (oid == VT_OID_INT2 && v->len == 2)
        return xasprintf("%d", (int16_t)u);
    if (oid == VT_OID_INT4 && v->len == 4)
        return xasprintf("%d", (int32_t)u);
    if (oid == VT_OID_INT8 && v->len == 8)
        return xasprintf("%lld", (long long)(int64_t)u);
    if (oid == VT_OID_FLOAT8 && v->len == 8) {
        double f;
        memcpy(&f, &u, 8);
        return xasprintf("%.17g", f);
    }
    if (oid == VT_OID_FLOAT4 && v->len == 4) {
        uint32_t u32 = (uint32_t)u;
        float f;
        memcpy(&f, &u32, 4);
        return xasprintf("%.9g", (double)f);
    }
    if (oid == VT_OID_TIMESTAMPTZ && v->len == 8) {
        int64_t us = (int64_t)u + POSTGRES_EPOCH_US;
        time_t secs = (time_t)(us / 1000000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char buf[64];
        strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
        return xasprintf("%s.%06lld+00", buf, (long long)(us % 1000000));
    }
    *ok = false;
    return NULL;
}

/* The name PostgreSQL gives a type in "invalid input syntax for type ...", for the types whose
 * text Bind checks; NULL for the others (checked when the statement runs). */
static const char *checked_type(uint32_t oid)
{
    switch (oid) {
    case VT_OID_INT2:
        return "smallint";
    case VT_OID_INT4:
        return "integer";
    case VT_OID_INT8:
        return "bigint";
    case VT_OID_FLOAT4:
        return "real";
    case VT_OID_FLOAT8:
        return "double precision";
    case VT_OID_BOOL:
        return "boolean";
    default:
        return NULL;
    }
}

/* True when text is valid input for the type oid, as PostgreSQL checks a parameter at Bind. */
static bool param_valid(const char *text, uint32_t oid)
{
    while (isspace((unsigned char)*text))
        text++;
    char *end = NULL;
    errno = 0;
    if (oid == VT_OID_BOOL) {
        bool b;
        return parse_bool(text, &b) == 0;
    } else if (oid == VT_OID_FLOAT4 || oid == VT_OID_FLOAT8) {
        (void)strtod(text, &end);
    } else {
        long long v = strtoll(text, &end, 10);
        long long lim = oid == VT_OID_INT2 ? 32767 : oid == VT_OID_INT4 ? 2147483647 : LLONG_MAX;
        if (errno == 0 && (v > lim || v < -lim - 1))
            errno = ERANGE;
    }
    if (end == text || (oid != VT_OID_FLOAT4 && oid != VT_OID_FLOAT8 && errno != 0))
        return false;
    while (isspace((unsigned char)*end))
        end++;
    return *end == '\0';
}

void answer_aborted(Answer *a, CodecBuf *out, bool extended)
{
    answer_error(a, out, "25P02",
                 "current transaction is aborted, commands ignored until end of transaction block",
                 extended);
}

void answer_bind(Answer *a, const uint8_t *msg, size_t len, bool aborted, CodecBuf *out)
{
    CodecBind b;
    CodecError err;
    if (codec_read_bind(msg, len, &b, &err) != CODEC_OK) {
        answer_error(a, out, "08P01", err.msg, true);
        return;
    }
    LocalStmt *st = find_stmt(a, b.statement);
    if (!st) {
        char *m = xasprintf("prepared statement \"%s\" does not exist", b.statement);
        answer_error(a, out, "26000", m, true);
        free(m);
        return;
    }
    if (b.nparams != st->nparams) {
        char *m = xasprintf("bind message supplies %u parameters, but prepared statement \"%s\" "
                            "requires %zu",
                            b.nparams, b.statement, st->nparams);
        answer_error(a, out, "08P01", m, true);
        free(m);
        return;
    }
    if (aborted) {
        answer_aborted(a, out, true);
        return;
    }
    if (*b.portal && answer_has_portal(a, b.portal)) {
        char *m = xasprintf("portal \"%s\" already exists", b.portal);
        answer_error(a, out, "42P03", m, true);
        free(m);
        return;
    }
    LocalPortal *p = xcalloc(1, sizeof *p);
    p->name = xstrdup(b.portal);
    p->stmt = st;
    st->refs++;
    p->nparams = b.nparams;
    p->params = xcalloc(b.nparams ? b.nparams : 1, sizeof(char *));
    CodecValue *values = xcalloc(b.nparams ? b.nparams : 1, sizeof(CodecValue));
    codec_bind_values(&b, values);
    for (size_t i = 0; i < b.nparams; i++) {
        bool ok;
        p->params[i] =
            param_text(&values[i], codec_bind_param_format(&b, i), st->param_types[i], &ok);
        const char *tname = checked_type(st->param_types[i]);
        if (ok && p->params[i] && tname && !param_valid(p->params[i], st->param_types[i])) {
            char *m = xasprintf("invalid input syntax for type %s: \"%s\"", tname, p->params[i]);
            answer_error(a, out, "22P02", m, true);
            free(m);
            free(values);
            portal_free(p);
            return;
        }
        if (!ok) {
            char *m = xasprintf("binary format of parameter $%zu (type %u) is not supported here",
                                i + 1, st->param_types[i]);
            answer_error(a, out, "22P03", m, true);
            free(m);
            free(values);
            portal_free(p);
            return;
        }
    }
    free(values);
    p->nformats = b.nresult_formats;
    p->formats = xcalloc(b.nresult_formats ? b.nresult_formats : 1, sizeof(int16_t));
    for (size_t i = 0; i < b.nresult_formats; i++)
        p->formats[i] = codec_bind_result_format(&b, i);
    if (b.nresult_formats == 1)
        p->formats[0] = codec_bind_result_format(&b, 0);
    drop_portal(a, b.portal);
    HASH_ADD_KEYPTR(hh, a->portals, p->name, strlen(p->name), p);
    a->made++;
    codec_put_bind_complete(out);
}

static void put_statement_rows(CodecBuf *out, const LocalStmt *st, const int16_t *formats,
                               size_t nformats)
{
    if (st->kind == INTERCEPT_VIRTUAL) {
        put_row_description(out, st->vt, formats, nformats);
        return;
    }
    CodecColumn cols[3];
    memcpy(cols, refresh_columns, sizeof cols);
    for (size_t i = 0; i < 3; i++)
        cols[i].format = format_of(formats, nformats, i);
    codec_put_row_description(out, cols, 3);
}

void answer_describe(Answer *a, const CodecTarget *t, CodecBuf *out)
{
    if (t->kind == 'S') {
        LocalStmt *st = find_stmt(a, t->name);
        if (!st) {
            char *m = xasprintf("prepared statement \"%s\" does not exist", t->name);
            answer_error(a, out, "26000", m, true);
            free(m);
            return;
        }
        codec_buf_start_message(out, 't');
        codec_buf_put_int16(out, (int16_t)st->nparams);
        for (size_t i = 0; i < st->nparams; i++)
            codec_buf_put_int32(out, (int32_t)st->param_types[i]);
        codec_buf_finish_message(out);
        put_statement_rows(out, st, NULL, 0);
        return;
    }
    LocalPortal *p = find_portal(a, t->name);
    if (!p) {
        char *m = xasprintf("portal \"%s\" does not exist", t->name);
        answer_error(a, out, "34000", m, true);
        free(m);
        return;
    }
    put_statement_rows(out, p->stmt, p->formats, p->nformats);
}

void answer_close(Answer *a, const CodecTarget *t, CodecBuf *out)
{
    if (t->kind == 'S')
        drop_stmt(a, t->name);
    else
        drop_portal(a, t->name);
    codec_put_close_complete(out);
}

int answer_execute(Answer *a, const AnswerEnv *env, const CodecExecute *e, CodecBuf *out,
                   AnswerRefresh *refresh)
{
    LocalPortal *p = find_portal(a, e->portal);
    if (!p) {
        char *m = xasprintf("portal \"%s\" does not exist", e->portal);
        answer_error(a, out, "34000", m, true);
        free(m);
        return 0;
    }
    LocalStmt *st = p->stmt;
    if (st->kind == INTERCEPT_REFRESH) {
        if (p->run) {
            codec_put_command_complete(out, st->tag); /* PostgreSQL: a run portal returns nothing */
            return 0;
        }
        const char *name = st->refresh_param ? p->params[st->refresh_param - 1] : st->refresh_name;
        bool force = st->refresh_force;
        if (st->refresh_force_param) {
            const char *f = p->params[st->refresh_force_param - 1];
            if (!f || parse_bool(f, &force) != 0) {
                answer_error(a, out, "22P02", "duro_refresh: the second argument must be a boolean",
                             true);
                return 0;
            }
        }
        if (!name) {
            answer_error(a, out, "22004", "duro_refresh: the view name is NULL", true);
            return 0;
        }
        char *view = names_parse_view(name);
        if (!view) {
            char *m = xasprintf("duro_refresh: \"%s\" is not a view name (schema.table)", name);
            answer_error(a, out, "42602", m, true);
            free(m);
            return 0;
        }
        refresh->view = view;
        refresh->force = force;
        refresh->tag = st->tag;
        return 1;
    }
    if (!p->run) {
        if (eval_start_job(a, env, st->vt, p->params, p->nparams, out, true) == 0)
            return 0;
        a->eval.portal = xstrdup(e->portal);
        return 2;
    }
    put_rows(out, st->vt, p->rows, p->nrows, &p->pos, e->max_rows, p->formats, p->nformats);
    return 0;
}
