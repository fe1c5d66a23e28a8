/*
 * The engine's public entry points for statements: parsing and preparing a SELECT, binding
 * parameters given as text, running it and reading each value back with its PostgreSQL text
 * output. Not for: the translation itself (translate.c, select.c) or the wire format (proxy/).
 */
#include "sqlengine/internal.h"

#include <errno.h>

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog/sqltree.h"

/* Copies SQLite's error into err: our functions' "SQLSTATE:message", or a generic state. */
static void sqlite_error(sqlite3 *db, VtError *err)
{
    const char *msg = sqlite3_errmsg(db);
    const char *colon = strchr(msg, ':');
    if (colon != NULL && colon - msg == 5 &&
        strspn(msg, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") >= 5) {
        memcpy(err->sqlstate, msg, 5);
        err->sqlstate[5] = '\0';
        snprintf(err->message, sizeof(err->message), "%s", colon + 1);
    } else if (strstr(msg, "integer overflow") != NULL) {
        snprintf(err->sqlstate, sizeof(err->sqlstate), "22003");
        snprintf(err->message, sizeof(err->message), "bigint out of range");
    } else if (strstr(msg, "aggregate") != NULL) {
        snprintf(err->sqlstate, sizeof(err->sqlstate), "42803");
        snprintf(err->message, sizeof(err->message), "%s", msg);
    } else {
        snprintf(err->sqlstate, sizeof(err->sqlstate), "XX000");
        snprintf(err->message, sizeof(err->message), "virtual tables: %s", msg);
    }
}

static int fill_error(VtError *err, const char *sqlstate, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* Fills err; always returns -1. */
static int fill_error(VtError *err, const char *sqlstate, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", sqlstate);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

VtStatement *vtable_prepare(VtDb *db, const char *sql, const uint32_t *param_types,
                            size_t n_param_types, VtError *err)
{
    VtStatement *st = NULL;
    memset(err, 0, sizeof(*err));
    SqlTree tree;
    if (sqltree_parse(sql, &tree) == 0)
        st = vtable_prepare_tree(db, tree.result, param_types, n_param_types, err);
    else if (tree.too_deep)
        fill_error(err, "54001", "%s", tree.error);
    else
        fill_error(err, "42601", "%s", tree.error);
    sqltree_free(&tree);
    return st;
}

/* Whether n is `view = 'literal'` or `view = $n` (either side); sets st's runs_view. */
static bool view_equals(VtStatement *st, const PgQuery__Node *n)
{
    if (n == NULL || n->node_case != PG_QUERY__NODE__NODE_A_EXPR)
        return false;
    const PgQuery__AExpr *e = n->a_expr;
    if (e->kind != PG_QUERY__A__EXPR__KIND__AEXPR_OP || e->n_name != 1 ||
        !vt_node_str(e->name[0]) || strcmp(vt_node_str(e->name[0]), "=") != 0)
        return false;
    for (int side = 0; side < 2; side++) {
        const PgQuery__Node *col = side ? e->rexpr : e->lexpr, *val = side ? e->lexpr : e->rexpr;
        if (col == NULL || col->node_case != PG_QUERY__NODE__NODE_COLUMN_REF || val == NULL)
            continue;
        const PgQuery__ColumnRef *cr = col->column_ref;
        const char *last = cr->n_fields ? vt_node_str(cr->fields[cr->n_fields - 1]) : NULL;
        if (last == NULL || strcmp(last, "view") != 0)
            continue;
        if (val->node_case == PG_QUERY__NODE__NODE_A_CONST && !val->a_const->isnull &&
            val->a_const->val_case == PG_QUERY__A__CONST__VAL_SVAL) {
            st->runs_view = xstrdup(val->a_const->sval->sval);
            return true;
        }
        if (val->node_case == PG_QUERY__NODE__NODE_PARAM_REF && val->param_ref->number >= 1 &&
            (size_t)val->param_ref->number <= st->nparams &&
            st->param_ty[val->param_ref->number - 1] == TY_TEXT) {
            st->runs_view_param = val->param_ref->number;
            return true;
        }
    }
    return false;
}

/* Whether where, a conjunction, has a `view = ...` conjunct (sets st's runs_view). */
static bool where_view_equals(VtStatement *st, const PgQuery__Node *where)
{
    if (where != NULL && where->node_case == PG_QUERY__NODE__NODE_BOOL_EXPR &&
        where->bool_expr->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR) {
        for (size_t i = 0; i < where->bool_expr->n_args; i++)
            if (where_view_equals(st, where->bool_expr->args[i]))
                return true;
        return false;
    }
    return view_equals(st, where);
}

/*
 * Sets st's runs_view when the statement reads duro.runs once, as the only item of its top-level
 * FROM, and its WHERE requires view = a text literal or text parameter: then only that view's
 * runs need loading (vtable_runs_view).
 */
static void find_runs_view(VtStatement *st, const PgQuery__SelectStmt *s)
{
    if (st->runs_refs != 1 || s->op != PG_QUERY__SET_OPERATION__SETOP_NONE ||
        s->with_clause != NULL || s->n_from_clause != 1 || s->from_clause[0] == NULL ||
        s->from_clause[0]->node_case != PG_QUERY__NODE__NODE_RANGE_VAR ||
        strcmp(s->from_clause[0]->range_var->relname, "runs") != 0)
        return;
    (void)where_view_equals(st, s->where_clause);
}

/* A LIMIT or OFFSET that is a non-negative integer literal (*value) or a parameter (*param). */
static bool count_value(const VtStatement *st, const PgQuery__Node *n, int64_t *value, int *param)
{
    *value = 0;
    *param = 0;
    if (n == NULL)
        return true;
    if (n->node_case == PG_QUERY__NODE__NODE_A_CONST && !n->a_const->isnull &&
        n->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL && n->a_const->ival->ival >= 0) {
        *value = n->a_const->ival->ival;
        return true;
    }
    if (n->node_case == PG_QUERY__NODE__NODE_PARAM_REF && n->param_ref->number >= 1 &&
        (size_t)n->param_ref->number <= st->nparams) {
        *param = n->param_ref->number;
        return true;
    }
    return false;
}

/* Whether target t may give an output column called "id" other than duro.runs's own id (which an
 * unqualified ORDER BY id would then mean, as in PostgreSQL). */
static bool other_output_id(const PgQuery__ResTarget *t)
{
    const PgQuery__Node *v = t->val;
    bool plain = v != NULL && v->node_case == PG_QUERY__NODE__NODE_COLUMN_REF &&
                 v->column_ref->n_fields >= 1 &&
                 v->column_ref->fields[v->column_ref->n_fields - 1]->node_case ==
                     PG_QUERY__NODE__NODE_STRING;
    if (t->name != NULL && *t->name)
        return strcmp(t->name, "id") == 0 &&
               !(plain && strcmp(vt_node_str(v->column_ref->fields[v->column_ref->n_fields - 1]),
                                 "id") == 0);
    /* Without an alias only a column or a cast of one (`id::text`) is named id. */
    return v != NULL && v->node_case == PG_QUERY__NODE__NODE_TYPE_CAST;
}

/*
 * Sets st's runs_newest when (find_runs_view's conditions met) the statement is ordered by id
 * descending first and limited, its WHERE is nothing or exactly the view = ... of runs_view, and
 * nothing groups, aggregates or removes rows: then the newest LIMIT + OFFSET runs of what the
 * WHERE allows give the same result as every run.
 */
static void find_runs_newest(VtStatement *st, const PgQuery__SelectStmt *s, bool saw_agg)
{
    if (st->runs_refs != 1 || s->op != PG_QUERY__SET_OPERATION__SETOP_NONE ||
        s->with_clause != NULL || s->n_from_clause != 1 || s->from_clause[0] == NULL ||
        s->from_clause[0]->node_case != PG_QUERY__NODE__NODE_RANGE_VAR ||
        strcmp(s->from_clause[0]->range_var->relname, "runs") != 0 || saw_agg ||
        s->n_group_clause > 0 || s->having_clause != NULL || s->n_distinct_clause > 0 ||
        s->n_window_clause > 0 || s->limit_count == NULL || s->n_sort_clause == 0 ||
        s->limit_option == PG_QUERY__LIMIT_OPTION__LIMIT_OPTION_WITH_TIES)
        return;
    if (s->where_clause != NULL && (s->where_clause->node_case != PG_QUERY__NODE__NODE_A_EXPR ||
                                    (st->runs_view == NULL && st->runs_view_param == 0)))
        return;
    const PgQuery__Node *first = s->sort_clause[0];
    if (first->node_case != PG_QUERY__NODE__NODE_SORT_BY ||
        first->sort_by->sortby_dir != PG_QUERY__SORT_BY_DIR__SORTBY_DESC ||
        first->sort_by->node == NULL ||
        first->sort_by->node->node_case != PG_QUERY__NODE__NODE_COLUMN_REF)
        return;
    const PgQuery__ColumnRef *cr = first->sort_by->node->column_ref;
    const char *last = cr->n_fields ? vt_node_str(cr->fields[cr->n_fields - 1]) : NULL;
    if (last == NULL || strcmp(last, "id") != 0)
        return;
    for (size_t i = 0; cr->n_fields == 1 && i < s->n_target_list; i++)
        if (s->target_list[i]->node_case != PG_QUERY__NODE__NODE_RES_TARGET ||
            other_output_id(s->target_list[i]->res_target))
            return;
    if (!count_value(st, s->limit_count, &st->runs_limit, &st->runs_limit_param) ||
        !count_value(st, s->limit_offset, &st->runs_offset, &st->runs_offset_param))
        return;
    st->runs_newest = true;
}

VtStatement *vtable_prepare_tree(VtDb *db, const PgQuery__ParseResult *tree,
                                 const uint32_t *param_types, size_t n_param_types, VtError *err)
{
    VtStatement *st = xcalloc(1, sizeof(*st));
    Tx tx = {.st = st, .err = err};
    char *lite = NULL;
    memset(err, 0, sizeof(*err));
    st->db = db;
    if (tree->n_stmts != 1 || tree->stmts[0]->stmt == NULL ||
        tree->stmts[0]->stmt->node_case != PG_QUERY__NODE__NODE_SELECT_STMT) {
        vt_tx_fail(&tx, "0A000", "duro.status and duro.runs are read by one SELECT at a time");
        goto fail;
    }
    if (n_param_types > 0) {
        if (vt_use_param(
                &tx, (int)(n_param_types > VT_MAX_PARAMS ? VT_MAX_PARAMS + 1 : n_param_types)) < 0)
            goto fail;
        for (size_t i = 0; i < n_param_types; i++) {
            st->param_oid[i] = vt_ty_of_oid(param_types[i]) == TY_UNKNOWN ? 0 : param_types[i];
            st->param_ty[i] = vt_ty_of_oid(param_types[i]);
        }
    }
    if (vt_translate_select(&tx, tree->stmts[0]->stmt->select_stmt, &lite) != 0)
        goto fail;
    for (size_t i = 0; i < st->nparams; i++)
        if (st->param_ty[i] == TY_UNKNOWN)
            st->param_ty[i] = TY_TEXT;
    find_runs_view(st, tree->stmts[0]->stmt->select_stmt);
    find_runs_newest(st, tree->stmts[0]->stmt->select_stmt, tx.saw_agg);
    if (sqlite3_prepare_v2(db->db, lite, -1, &st->stmt, NULL) != SQLITE_OK) {
        sqlite_error(db->db, err);
        goto fail;
    }
    st->sql = lite;
    strvec_free(&tx.group_sql);
    free(tx.from);
    return st;
fail:
    if (err->sqlstate[0] == '\0')
        vt_tx_fail(&tx, "XX000", "cannot translate the query");
    free(lite);
    strvec_free(&tx.group_sql);
    free(tx.from);
    vtable_statement_free(st);
    return NULL;
}

VtStatement *vtable_statement_copy(VtDb *db, const VtStatement *src, VtError *err)
{
    memset(err, 0, sizeof(*err));
    VtStatement *st = xcalloc(1, sizeof(*st));
    st->db = db;
    st->sql = xstrdup(src->sql);
    st->tables = src->tables;
    st->runs_refs = src->runs_refs;
    st->runs_view = src->runs_view ? xstrdup(src->runs_view) : NULL;
    st->runs_view_param = src->runs_view_param;
    st->runs_newest = src->runs_newest;
    st->runs_limit = src->runs_limit;
    st->runs_offset = src->runs_offset;
    st->runs_limit_param = src->runs_limit_param;
    st->runs_offset_param = src->runs_offset_param;
    st->ncols = src->ncols;
    st->nparams = src->nparams;
    st->cols = xcalloc(src->ncols ? src->ncols : 1, sizeof(*st->cols));
    st->col_ty = xcalloc(src->ncols ? src->ncols : 1, sizeof(*st->col_ty));
    st->col_scale = xcalloc(src->ncols ? src->ncols : 1, sizeof(*st->col_scale));
    for (size_t i = 0; i < src->ncols; i++) {
        st->cols[i] = src->cols[i];
        st->cols[i].name = xstrdup(src->cols[i].name);
        st->col_ty[i] = src->col_ty[i];
        st->col_scale[i] = src->col_scale[i];
    }
    st->param_ty = xcalloc(src->nparams ? src->nparams : 1, sizeof(*st->param_ty));
    st->param_oid = xcalloc(src->nparams ? src->nparams : 1, sizeof(*st->param_oid));
    if (src->nparams) {
        memcpy(st->param_ty, src->param_ty, src->nparams * sizeof(*st->param_ty));
        memcpy(st->param_oid, src->param_oid, src->nparams * sizeof(*st->param_oid));
    }
    if (sqlite3_prepare_v2(db->db, st->sql, -1, &st->stmt, NULL) != SQLITE_OK) {
        sqlite_error(db->db, err);
        vtable_statement_free(st);
        return NULL;
    }
    return st;
}

int vtable_set_timezone(VtDb *db, const char *name)
{
    if (name == NULL || *name == '\0') {
        vt_zone_clear(&db->zone);
        return 0;
    }
    if (strcmp(db->zone.name, name) == 0)
        return 0;
    return vt_zone_load(name, &db->zone);
}

size_t vtable_nparams(const VtStatement *st)
{
    return st->nparams;
}

uint32_t vtable_param_type(const VtStatement *st, size_t i)
{
    return st->param_oid[i] != 0 ? st->param_oid[i] : vt_ty_info[st->param_ty[i]].oid;
}

size_t vtable_ncolumns(const VtStatement *st)
{
    return st->ncols;
}

bool vtable_reads(const VtStatement *st, VtTable t)
{
    return (st->tables & (1u << t)) != 0;
}

const char *vtable_runs_view(const VtStatement *st, const char *const *params, size_t nparams)
{
    if (st->runs_view)
        return st->runs_view;
    if (st->runs_view_param > 0 && (size_t)st->runs_view_param <= nparams)
        return params[st->runs_view_param - 1];
    return NULL;
}

/* A count given as a parameter's text: its value, or -1 when it is none (NULL, not a number). */
static int64_t param_count(const char *const *params, size_t nparams, int param)
{
    if (param < 1 || (size_t)param > nparams || params[param - 1] == NULL)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(params[param - 1], &end, 10);
    while (*end == ' ')
        end++;
    return errno || *end || end == params[param - 1] || v < 0 ? -1 : (int64_t)v;
}

bool vtable_runs_newest(const VtStatement *st, const char *const *params, size_t nparams,
                        size_t *count)
{
    *count = 0;
    if (!st->runs_newest)
        return false;
    int64_t limit =
        st->runs_limit_param ? param_count(params, nparams, st->runs_limit_param) : st->runs_limit;
    int64_t offset = st->runs_offset_param ? param_count(params, nparams, st->runs_offset_param)
                                           : st->runs_offset;
    if (limit < 0 || offset < 0 || limit > INT32_MAX || offset > INT32_MAX)
        return false;
    *count = (size_t)(limit + offset);
    return true;
}

const VtColumn *vtable_column(const VtStatement *st, size_t i)
{
    return &st->cols[i];
}

/* Converts parameter i's text to its type and binds it. */
static int bind_param(VtStatement *st, size_t i, const char *text, VtError *err)
{
    sqlite3_stmt *s = st->stmt;
    int idx = (int)i + 1;
    Ty t = st->param_ty[i];
    int64_t v;
    double f;
    bool b;
    DtSpecial special;
    int rc;
    if (idx > sqlite3_bind_parameter_count(s))
        idx = 0; /* not used by the query: only checked */
    if (text == NULL) {
        if (idx)
            sqlite3_bind_null(s, idx);
        return 0;
    }
    switch (t) {
    case TY_INT4:
    case TY_INT8:
        if (vt_parse_int8(text, &v) != 0)
            return fill_error(err, "22P02", "invalid input syntax for type %s: \"%s\"",
                              vt_ty_info[t].name, text);
        if (t == TY_INT4 && (v < INT32_MIN || v > INT32_MAX))
            return fill_error(err, "22003", "value \"%s\" is out of range for type integer", text);
        if (idx)
            sqlite3_bind_int64(s, idx, v);
        return 0;
    case TY_FLOAT8:
    case TY_NUMERIC:
        if (vt_parse_float8(text, &f) != 0)
            return fill_error(err, "22P02", "invalid input syntax for type %s: \"%s\"",
                              vt_ty_info[t].name, text);
        if (idx)
            sqlite3_bind_double(s, idx, f);
        return 0;
    case TY_BOOL:
        if (parse_bool(text, &b) != 0)
            return fill_error(err, "22P02", "invalid input syntax for type boolean: \"%s\"", text);
        if (idx)
            sqlite3_bind_int(s, idx, b);
        return 0;
    case TY_TS:
    case TY_DATE:
        if (vt_parse_timestamp(text, t == TY_DATE, &v, &special) != 0)
            return fill_error(err, "22007", "invalid input syntax for type %s: \"%s\"",
                              vt_ty_info[t].name, text);
        if (idx)
            sqlite3_bind_int64(s, idx, vt_resolve_special(special, v, st->db->now));
        return 0;
    case TY_INTERVAL:
        rc = vt_parse_interval(text, &v);
        if (rc == -2)
            return fill_error(err, "0A000",
                              "intervals of months or years are not supported: \"%s\"", text);
        if (rc != 0)
            return fill_error(err, "22007", "invalid input syntax for type interval: \"%s\"", text);
        if (idx)
            sqlite3_bind_int64(s, idx, v);
        return 0;
    default:
        if (idx)
            sqlite3_bind_text(s, idx, text, -1, SQLITE_TRANSIENT);
        return 0;
    }
}

/* Reads column c of the current row as type t into v. */
static void read_value(sqlite3_stmt *s, int c, Ty t, int scale, const VtZone *zone, VtValue *v)
{
    memset(v, 0, sizeof(*v));
    if (sqlite3_column_type(s, c) == SQLITE_NULL) {
        v->null = true;
        return;
    }
    switch (t) {
    case TY_BOOL:
        v->i = sqlite3_column_int64(s, c) != 0;
        v->text = xstrdup(v->i ? "t" : "f");
        return;
    case TY_INT4:
    case TY_INT8:
        v->i = sqlite3_column_int64(s, c);
        v->f = (double)v->i;
        v->text = xasprintf("%lld", (long long)v->i);
        return;
    case TY_FLOAT8:
        v->f = sqlite3_column_double(s, c);
        v->text = vt_format_float8(v->f);
        return;
    case TY_NUMERIC:
        if (sqlite3_column_type(s, c) == SQLITE_INTEGER) {
            v->i = sqlite3_column_int64(s, c);
            v->f = (double)v->i;
            v->text = scale > 0 ? xasprintf("%lld.%0*d", (long long)v->i, scale, 0)
                                : xasprintf("%lld", (long long)v->i);
        } else {
            v->f = sqlite3_column_double(s, c);
            v->text = vt_format_numeric(v->f, scale);
        }
        return;
    case TY_TS:
    case TY_DATE:
        v->i = sqlite3_column_int64(s, c);
        v->text = vt_format_timestamp(v->i, t == TY_DATE, zone);
        return;
    case TY_INTERVAL:
        v->i = sqlite3_column_int64(s, c);
        v->text = vt_format_interval(v->i);
        return;
    default:
        v->text = xstrdup((const char *)sqlite3_column_text(s, c));
        return;
    }
}

/* The current time in µs since the epoch. */
static int64_t clock_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

/* SQLite's progress handler: non-zero stops the statement (SQLITE_INTERRUPT). */
static int progress_cb(void *arg)
{
    VtDb *db = arg;
    const VtLimits *lim = db->limits;
    if (lim == NULL)
        return 0;
    if (lim->cancel != NULL && atomic_load(lim->cancel)) {
        db->stopped = VT_STOP_CANCEL;
        return 1;
    }
    if (lim->deadline_us != 0 && lim->now_us != NULL && lim->now_us() >= lim->deadline_us) {
        db->stopped = VT_STOP_TIMEOUT;
        return 1;
    }
    return 0;
}

/* The error of a statement stopped by its limits. */
static int stop_error(VtStop why, const VtLimits *lim, VtError *err)
{
    switch (why) {
    case VT_STOP_CANCEL:
        return fill_error(err, "57014", "canceling statement due to user request");
    case VT_STOP_TIMEOUT:
        return fill_error(err, "57014", "canceling statement due to statement timeout");
    default:
        return fill_error(err, "54000", "the result is larger than %zu bytes", lim->max_bytes);
    }
}

/* Bytes a value takes in the result, for VtLimits.max_bytes. */
static size_t value_bytes(const VtValue *v)
{
    return sizeof(*v) + (v->text ? strlen(v->text) + 1 : 0);
}

int vtable_execute(VtStatement *st, const char *const *params, size_t nparams, VtValue **rows,
                   size_t *nrows, VtError *err)
{
    return vtable_execute_limited(st, params, nparams, NULL, rows, nrows, err, NULL);
}

int vtable_execute_limited(VtStatement *st, const char *const *params, size_t nparams,
                           const VtLimits *lim, VtValue **rows, size_t *nrows, VtError *err,
                           VtStop *stopped)
{
    size_t bytes = 0;
    if (stopped != NULL)
        *stopped = VT_STOP_NONE;
    sqlite3_stmt *s = st->stmt;
    VtValue *out = NULL;
    size_t n = 0, cap = 0;
    memset(err, 0, sizeof(*err));
    *rows = NULL;
    *nrows = 0;
    if (nparams != st->nparams)
        return fill_error(err, "08P01",
                          "bind message supplies %zu parameters, but prepared statement requires "
                          "%zu",
                          nparams, st->nparams);
    st->db->now = st->db->fixed_now ? st->db->fixed_now : clock_now_us();
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    for (size_t i = 0; i < nparams; i++)
        if (bind_param(st, i, params[i], err) != 0)
            return -1;
    VtDb *db = st->db;
    db->limits = lim;
    db->stopped = VT_STOP_NONE;
    if (lim != NULL)
        sqlite3_progress_handler(db->db, VT_PROGRESS_STEPS, progress_cb, db);
    for (;;) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW || db->stopped != VT_STOP_NONE) {
            if (db->stopped != VT_STOP_NONE)
                stop_error(db->stopped, lim, err);
            else
                sqlite_error(db->db, err);
            goto fail;
        }
        grow_array((void **)&out, &cap, (n + 1) * (st->ncols ? st->ncols : 1), sizeof(VtValue));
        for (size_t c = 0; c < st->ncols; c++) {
            VtValue *v = &out[n * st->ncols + c];
            read_value(s, (int)c, st->col_ty[c], st->col_scale[c], &db->zone, v);
            bytes += value_bytes(v);
        }
        n++;
        if (lim != NULL && lim->max_bytes && bytes > lim->max_bytes) {
            db->stopped = VT_STOP_SIZE;
            stop_error(db->stopped, lim, err);
            goto fail;
        }
    }
    sqlite3_reset(s);
    sqlite3_progress_handler(db->db, 0, NULL, NULL);
    db->limits = NULL;
    *rows = out;
    *nrows = n;
    return 0;
fail:
    if (stopped != NULL)
        *stopped = db->stopped;
    sqlite3_reset(s);
    sqlite3_progress_handler(db->db, 0, NULL, NULL);
    db->limits = NULL;
    vtable_rows_free(out, n, st->ncols);
    return -1;
}

void vtable_rows_free(VtValue *rows, size_t nrows, size_t ncols)
{
    if (rows == NULL)
        return;
    for (size_t i = 0; i < nrows * ncols; i++)
        free(rows[i].text);
    free(rows);
}

void vtable_statement_free(VtStatement *st)
{
    if (st == NULL)
        return;
    sqlite3_finalize(st->stmt);
    for (size_t i = 0; i < st->ncols; i++)
        free(st->cols[i].name);
    free(st->cols);
    free(st->col_ty);
    free(st->col_scale);
    free(st->sql);
    free(st->param_ty);
    free(st->param_oid);
    free(st->runs_view);
    free(st);
}
