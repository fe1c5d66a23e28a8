/*
 * Translating PostgreSQL expressions into SQLite SQL while tracking their PostgreSQL types: the
 * translation state and its errors, typing and coercion of literals and parameters, columns,
 * constants, casts, and the dispatch over expression nodes. Client text only reaches SQLite as
 * bound parameters or re-quoted literals. Not for: operators (operators.c), function calls
 * (calls.c) or whole statements (select.c).
 */
#include "sqlengine/internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Records the first error; always returns -1. */
int vt_tx_fail(Tx *tx, const char *sqlstate, const char *fmt, ...)
{
    if (tx->err->sqlstate[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        snprintf(tx->err->sqlstate, sizeof(tx->err->sqlstate), "%s", sqlstate);
        vsnprintf(tx->err->message, sizeof(tx->err->message), fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* 0A000 with the table named: "duro.status: window functions are not supported". */
int vt_unsupported(Tx *tx, const char *what)
{
    return vt_tx_fail(tx, "0A000", "%s: %s %s not supported", tx->label, what,
                      str_ends_with(what, "s") ? "are" : "is");
}

void vt_expr_clear(Expr *e)
{
    free(e->sql);
    free(e->lit);
    free(e->ungrouped);
    memset(e, 0, sizeof(*e));
}

const char *vt_node_str(const PgQuery__Node *n)
{
    return n != NULL && n->node_case == PG_QUERY__NODE__NODE_STRING ? n->string->sval : NULL;
}

/* A string literal quoted for SQLite. */
static char *quote_literal(const char *s)
{
    size_t n = 2;
    for (const char *p = s; *p; p++)
        n += *p == '\'' ? 2 : 1;
    char *out = xmalloc(n + 1), *o = out;
    *o++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            *o++ = '\'';
        *o++ = *p;
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

/* A double as an SQLite literal. */
static char *double_sql(double v)
{
    if (isnan(v))
        return xstrdup("NULL");
    if (isinf(v))
        return xstrdup(v > 0 ? "9e999" : "-9e999");
    char *s = xasprintf("%.17g", v);
    if (strpbrk(s, ".e") == NULL) { /* stays a REAL for SQLite: 7.0 / 2 is not integer division */
        char *r = xasprintf("%s.0", s);
        free(s);
        s = r;
    }
    return s;
}

/* Makes sure parameter n exists; returns its index or -1. */
int vt_use_param(Tx *tx, int n)
{
    VtStatement *st = tx->st;
    if (n < 1 || n > VT_MAX_PARAMS)
        return vt_tx_fail(tx, "42P02", "there is no parameter $%d", n);
    if ((size_t)n > st->nparams) {
        st->param_ty = xrealloc(st->param_ty, sizeof(Ty) * (size_t)n);
        st->param_oid = xrealloc(st->param_oid, sizeof(uint32_t) * (size_t)n);
        for (size_t i = st->nparams; i < (size_t)n; i++) {
            st->param_ty[i] = TY_UNKNOWN;
            st->param_oid[i] = 0;
        }
        st->nparams = (size_t)n;
    }
    return n - 1;
}

/* Gives an untyped expression (literal, NULL, pending parameter) type t. */
int vt_coerce(Tx *tx, Expr *e, Ty t)
{
    if (e->type != TY_UNKNOWN || t == TY_UNKNOWN)
        return 0;
    if (t == TY_COUNT)
        t = TY_TEXT;
    e->type = t;
    if (e->null_lit)
        return 0;
    if (e->param > 0) {
        tx->st->param_ty[e->param - 1] = t;
        return 0;
    }
    const char *s = e->lit;
    int64_t i;
    double f;
    bool b;
    DtSpecial special;
    int rc;
    switch (t) {
    case TY_INT4:
    case TY_INT8:
        if (vt_parse_int8(s, &i) != 0)
            return vt_tx_fail(tx, "22P02", "invalid input syntax for type %s: \"%s\"",
                              vt_ty_info[t].name, s);
        if (t == TY_INT4 && (i < INT32_MIN || i > INT32_MAX))
            return vt_tx_fail(tx, "22003", "value \"%s\" is out of range for type integer", s);
        e->sql = xasprintf("%lld", (long long)i);
        return 0;
    case TY_FLOAT8:
    case TY_NUMERIC:
        if (vt_parse_float8(s, &f) != 0)
            return vt_tx_fail(tx, "22P02", "invalid input syntax for type %s: \"%s\"",
                              vt_ty_info[t].name, s);
        e->sql = double_sql(f);
        if (t == TY_NUMERIC) {
            const char *dot = strchr(s, '.');
            e->scale = dot && !strpbrk(s, "eE") ? (int)strspn(dot + 1, "0123456789") : 0;
        }
        return 0;
    case TY_BOOL:
        if (parse_bool(s, &b) != 0)
            return vt_tx_fail(tx, "22P02", "invalid input syntax for type boolean: \"%s\"", s);
        e->sql = xstrdup(b ? "1" : "0");
        return 0;
    case TY_TS:
    case TY_DATE:
        if (vt_parse_timestamp(s, t == TY_DATE, &i, &special) != 0)
            return vt_tx_fail(tx, "22007", "invalid input syntax for type %s: \"%s\"",
                              vt_ty_info[t].name, s);
        if (special == DT_PLAIN) {
            e->sql = xasprintf("%lld", (long long)i);
        } else {
            static const char *const forms[] = {"", "duro_now()", "(duro_cast(duro_now(), 7, 8))",
                                                "(duro_cast(duro_now(), 7, 8) + 86400000000)",
                                                "(duro_cast(duro_now(), 7, 8) - 86400000000)"};
            e->sql = xstrdup(forms[special]);
        }
        return 0;
    case TY_INTERVAL:
        rc = vt_parse_interval(s, &i);
        if (rc == -2)
            return vt_tx_fail(tx, "0A000", "%s: intervals of months or years are not supported",
                              tx->label);
        if (rc != 0)
            return vt_tx_fail(tx, "22007", "invalid input syntax for type interval: \"%s\"", s);
        e->sql = xasprintf("%lld", (long long)i);
        return 0;
    default:
        e->sql = quote_literal(s);
        return 0;
    }
}

/* Finishes an expression whose type may still be unknown: text, as PostgreSQL resolves it. */
int vt_resolve(Tx *tx, Expr *e)
{
    return vt_coerce(tx, e, TY_TEXT);
}

/* The SQL of e as text (PostgreSQL's output of its type); e must be typed. */
char *vt_text_sql(const Expr *e)
{
    if (e->type == TY_TEXT)
        return xstrdup(e->sql);
    return xasprintf("duro_cast(%s, %d, %d)", e->sql, (int)e->type, (int)TY_TEXT);
}

/* Moves the first "ungrouped" mark of src to dst when dst has none. */
void vt_take_ungrouped(Expr *dst, Expr *src)
{
    if (dst->ungrouped == NULL) {
        dst->ungrouped = src->ungrouped;
        src->ungrouped = NULL;
    }
}

/* Translates both operands and gives them a common type; *t receives it. */
int vt_translate_pair(Tx *tx, const PgQuery__Node *l, const PgQuery__Node *r, Expr *a, Expr *b,
                      Ty *t, const char *op)
{
    if (vt_translate(tx, l, a) != 0 || vt_translate(tx, r, b) != 0)
        return -1;
    Ty c = vt_common_type(a->type, b->type);
    if (c == TY_COUNT)
        return vt_tx_fail(tx, "42883", "operator does not exist: %s %s %s",
                          vt_ty_info[a->type].name, op, vt_ty_info[b->type].name);
    if (c == TY_UNKNOWN)
        c = TY_TEXT;
    if (vt_coerce(tx, a, c) != 0 || vt_coerce(tx, b, c) != 0)
        return -1;
    *t = c;
    return 0;
}

/* Requires a boolean (an untyped literal becomes one). */
int vt_require_bool(Tx *tx, Expr *e, const char *what)
{
    if (vt_coerce(tx, e, TY_BOOL) != 0)
        return -1;
    if (e->type != TY_BOOL)
        return vt_tx_fail(tx, "42804", "argument of %s must be type boolean, not type %s", what,
                          vt_ty_info[e->type].name);
    return 0;
}

/* Column reference: the FROM item and column, with PostgreSQL's errors. */
static int translate_column(Tx *tx, const PgQuery__ColumnRef *cr, Expr *out)
{
    const char *parts[4] = {0};
    size_t n = cr->n_fields;
    if (n > 3)
        return vt_tx_fail(tx, "42601", "improper qualified name (too many dotted names)");
    for (size_t i = 0; i < n; i++) {
        parts[i] = vt_node_str(cr->fields[i]);
        if (parts[i] == NULL)
            return vt_tx_fail(tx, "0A000", "%s: \"*\" is only supported in the select list",
                              tx->label);
    }
    const char *col = parts[n - 1], *rel = n >= 2 ? parts[n - 2] : NULL;
    const char *schema = n == 3 ? parts[0] : NULL;
    int found = -1, col_index = -1;
    for (size_t i = 0; i < tx->n_from; i++) {
        const FromItem *f = &tx->from[i];
        if (rel != NULL && (strcmp(f->name, rel) != 0 || (schema && f->aliased)))
            continue;
        if (schema != NULL && strcmp(schema, "duro") != 0)
            continue;
        for (size_t c = 0; c < vt_tables[f->table].n; c++) {
            if (strcmp(vt_tables[f->table].cols[c].name, col) == 0) {
                if (found >= 0)
                    return vt_tx_fail(tx, "42702", "column reference \"%s\" is ambiguous", col);
                found = (int)i;
                col_index = (int)c;
            }
        }
        if (rel != NULL && found < 0)
            return vt_tx_fail(tx, "42703", "column %s.%s does not exist", rel, col);
    }
    if (found < 0) {
        if (rel != NULL)
            return vt_tx_fail(tx, "42P01", "missing FROM-clause entry for table \"%s\"", rel);
        return vt_tx_fail(tx, "42703", "column \"%s\" does not exist", col);
    }
    const ColDef *cd = &vt_tables[tx->from[found].table].cols[col_index];
    out->sql = xasprintf("\"t%d\".\"%s\"", found, cd->name);
    out->type = cd->type;
    out->scale = -1;
    out->name = cd->name;
    out->name_strength = 2;
    if (tx->grouped && tx->agg_depth == 0)
        out->ungrouped = xasprintf("%s.%s", tx->from[found].name, cd->name);
    return 0;
}

/* A constant. */
static int translate_const(Tx *tx, const PgQuery__AConst *c, Expr *out)
{
    out->scale = -1;
    if (c->isnull) {
        out->null_lit = true;
        out->sql = xstrdup("NULL");
        return 0;
    }
    switch (c->val_case) {
    case PG_QUERY__A__CONST__VAL_IVAL:
        out->type = TY_INT4;
        out->sql = xasprintf("%d", c->ival->ival);
        return 0;
    case PG_QUERY__A__CONST__VAL_FVAL: {
        const char *s = c->fval->fval;
        if (s[strspn(s, "0123456789.eE+-")] != '\0')
            return vt_tx_fail(tx, "42601", "invalid number \"%s\"", s);
        int64_t i;
        if (strpbrk(s, ".eE") == NULL && vt_parse_int8(s, &i) == 0) {
            out->type = TY_INT8;
            out->sql = xasprintf("%lld", (long long)i);
            return 0;
        }
        out->type = TY_NUMERIC;
        out->sql = double_sql(strtod(s, NULL));
        const char *dot = strchr(s, '.');
        out->scale = dot && !strpbrk(s, "eE") ? (int)strspn(dot + 1, "0123456789") : -1;
        return 0;
    }
    case PG_QUERY__A__CONST__VAL_BOOLVAL:
        out->type = TY_BOOL;
        out->sql = xstrdup(c->boolval->boolval ? "1" : "0");
        return 0;
    case PG_QUERY__A__CONST__VAL_SVAL:
        out->lit = xstrdup(c->sval->sval);
        return 0;
    default:
        return vt_unsupported(tx, "bit string constants");
    }
}

/* The type a TypeName names, with numeric's scale (-1 when none). */
static int type_of_typename(Tx *tx, const PgQuery__TypeName *tn, Ty *t, int *scale)
{
    const char *name = tn->n_names ? vt_node_str(tn->names[tn->n_names - 1]) : NULL;
    *scale = -1;
    if (name == NULL || tn->n_array_bounds > 0 || tn->setof)
        return vt_unsupported(tx, "array types");
    *t = vt_ty_of_name(name);
    if (*t == TY_COUNT)
        return vt_tx_fail(tx, "0A000", "%s: type %s is not supported", tx->label, name);
    if (tn->n_typmods > 0) {
        if (*t == TY_NUMERIC && tn->n_typmods <= 2) {
            const PgQuery__Node *m = tn->typmods[tn->n_typmods - 1];
            if (tn->n_typmods == 1)
                *scale = 0;
            else if (m->node_case == PG_QUERY__NODE__NODE_A_CONST &&
                     m->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL)
                *scale = m->a_const->ival->ival;
            else
                return vt_unsupported(tx, "type modifiers");
        } else if (*t != TY_TEXT && *t != TY_TS) {
            return vt_unsupported(tx, "type modifiers");
        }
    }
    return 0;
}

/* Emits a cast of e (typed or not) to t, in place. */
static int cast_to(Tx *tx, Expr *e, Ty t, int scale)
{
    if (e->type == TY_UNKNOWN) {
        if (vt_coerce(tx, e, t) != 0)
            return -1;
    } else if (e->type != t) {
        if (!vt_cast_allowed(e->type, t))
            return vt_tx_fail(tx, "42846", "cannot cast type %s to %s", vt_ty_info[e->type].name,
                              vt_ty_info[t].name);
        char *sql = xasprintf("duro_cast(%s, %d, %d)", e->sql, (int)e->type, (int)t);
        free(e->sql);
        e->sql = sql;
        e->scale = -1;
        e->type = t;
    }
    if (t == TY_NUMERIC && scale >= 0) {
        char *sql = xasprintf("duro_round(%s, %d)", e->sql, scale);
        free(e->sql);
        e->sql = sql;
        e->scale = scale;
    }
    return 0;
}

static int translate_cast(Tx *tx, const PgQuery__TypeCast *tc, Expr *out)
{
    Ty t = TY_COUNT; /* set when type_of_typename succeeds */
    int scale;
    if (vt_translate(tx, tc->arg, out) != 0 || type_of_typename(tx, tc->type_name, &t, &scale) != 0)
        return -1;
    if (out->name_strength <= 1) {
        const PgQuery__TypeName *tn = tc->type_name;
        out->name = vt_node_str(tn->names[tn->n_names - 1]);
        out->name_strength = 1;
    }
    int rc = cast_to(tx, out, t, scale);
    out->param = 0;
    out->null_lit = false;
    return rc;
}

/* After translating a node: an expression equal to a GROUP BY expression is grouped. */
static void mark_grouped(Tx *tx, Expr *e)
{
    if (e->ungrouped != NULL && e->sql != NULL && strvec_contains(&tx->group_sql, e->sql)) {
        free(e->ungrouped);
        e->ungrouped = NULL;
    }
}

int vt_translate(Tx *tx, const PgQuery__Node *n, Expr *out)
{
    memset(out, 0, sizeof(*out));
    out->scale = -1;
    if (n == NULL)
        return vt_tx_fail(tx, "42601", "missing expression");
    int rc;
    switch (n->node_case) {
    case PG_QUERY__NODE__NODE_COLUMN_REF:
        rc = translate_column(tx, n->column_ref, out);
        break;
    case PG_QUERY__NODE__NODE_A_CONST:
        rc = translate_const(tx, n->a_const, out);
        break;
    case PG_QUERY__NODE__NODE_PARAM_REF: {
        int i = vt_use_param(tx, n->param_ref->number);
        if (i < 0)
            return -1;
        out->param = n->param_ref->number;
        out->type = tx->st->param_ty[i];
        out->sql = xasprintf("?%d", out->param);
        rc = 0;
        break;
    }
    case PG_QUERY__NODE__NODE_TYPE_CAST:
        rc = translate_cast(tx, n->type_cast, out);
        break;
    case PG_QUERY__NODE__NODE_A_EXPR:
        rc = vt_translate_aexpr(tx, n->a_expr, out);
        break;
    case PG_QUERY__NODE__NODE_BOOL_EXPR:
        rc = vt_translate_bool(tx, n->bool_expr, out);
        break;
    case PG_QUERY__NODE__NODE_NULL_TEST: {
        Expr a = {0};
        rc = vt_translate(tx, n->null_test->arg, &a);
        if (rc == 0 && (rc = vt_resolve(tx, &a)) == 0) {
            out->sql = xasprintf(
                "(%s IS %sNULL)", a.sql,
                n->null_test->nulltesttype == PG_QUERY__NULL_TEST_TYPE__IS_NULL ? "" : "NOT ");
            out->type = TY_BOOL;
            vt_take_ungrouped(out, &a);
        }
        vt_expr_clear(&a);
        break;
    }
    case PG_QUERY__NODE__NODE_BOOLEAN_TEST: {
        static const char *const forms[] = {"",         "IS 1",    "IS NOT 1",   "IS 0",
                                            "IS NOT 0", "IS NULL", "IS NOT NULL"};
        Expr a = {0};
        int k = n->boolean_test->booltesttype;
        rc = vt_translate(tx, n->boolean_test->arg, &a);
        if (rc == 0 && (rc = vt_require_bool(tx, &a, "IS TRUE")) == 0 && k >= 1 && k <= 6) {
            out->sql = xasprintf("(%s %s)", a.sql, forms[k]);
            out->type = TY_BOOL;
            vt_take_ungrouped(out, &a);
        }
        vt_expr_clear(&a);
        break;
    }
    case PG_QUERY__NODE__NODE_CASE_EXPR:
        rc = vt_translate_case(tx, n->case_expr, out);
        break;
    case PG_QUERY__NODE__NODE_COALESCE_EXPR:
        rc = vt_translate_coalesce(tx, n->coalesce_expr, out);
        break;
    case PG_QUERY__NODE__NODE_FUNC_CALL:
        rc = vt_translate_func(tx, n->func_call, out);
        break;
    case PG_QUERY__NODE__NODE_SQLVALUE_FUNCTION: {
        PgQuery__SQLValueFunctionOp op = n->sqlvalue_function->op;
        if (op == PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP ||
            op == PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP_N ||
            op == PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP ||
            op == PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP_N) {
            out->sql = xstrdup("duro_now()");
            out->type = TY_TS;
            out->name = op <= PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP_N
                            ? "current_timestamp"
                            : "localtimestamp";
        } else if (op == PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_DATE) {
            out->sql = xasprintf("duro_cast(duro_now(), %d, %d)", (int)TY_TS, (int)TY_DATE);
            out->type = TY_DATE;
            out->name = "current_date";
        } else {
            return vt_unsupported(tx, "this SQL value function");
        }
        out->name_strength = 2;
        rc = 0;
        break;
    }
    case PG_QUERY__NODE__NODE_SUB_LINK:
        return vt_unsupported(tx, "subqueries");
    case PG_QUERY__NODE__NODE_MIN_MAX_EXPR:
        return vt_unsupported(tx, "GREATEST and LEAST");
    case PG_QUERY__NODE__NODE_A_ARRAY_EXPR:
    case PG_QUERY__NODE__NODE_A_INDIRECTION:
        return vt_unsupported(tx, "arrays");
    case PG_QUERY__NODE__NODE_ROW_EXPR:
        return vt_unsupported(tx, "row constructors");
    case PG_QUERY__NODE__NODE_COLLATE_CLAUSE:
        return vt_unsupported(tx, "COLLATE");
    default:
        return vt_tx_fail(tx, "0A000", "%s: %s is not supported", tx->label,
                          n->base.descriptor && n->node_case ? "this expression" : "an empty node");
    }
    if (rc == 0 && tx->grouped)
        mark_grouped(tx, out);
    return rc;
}
