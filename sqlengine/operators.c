/*
 * Translating PostgreSQL's operators and conditionals: arithmetic on numbers, timestamps, dates
 * and intervals, comparisons, LIKE, IN, BETWEEN, IS [NOT] NULL/DISTINCT, AND/OR/NOT, CASE and
 * COALESCE. Not for: function calls (calls.c) or the typing rules themselves (types.c).
 */
#include "sqlengine/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* fmt (one of the engine's fixed templates with up to two %s) applied to a and b. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
char *vt_format_template(const char *fmt, const char *a, const char *b)
{
    return xasprintf(fmt, a, b);
}
#pragma GCC diagnostic pop

/* Arithmetic: + - * / % between numbers, timestamps, dates and intervals. */
static int translate_arith(Tx *tx, const char *op, Expr *a, Expr *b, Expr *out)
{
    /* An untyped operand takes the other's type, as PostgreSQL resolves unknown literals. */
    if (a->type == TY_UNKNOWN && b->type == TY_UNKNOWN)
        return vt_tx_fail(tx, "42725", "operator is not unique: unknown %s unknown", op);
    if (vt_coerce(tx, a, b->type) != 0 || vt_coerce(tx, b, a->type) != 0)
        return -1;
    Ty x = a->type, y = b->type, r = TY_COUNT;
    char c = op[0];
    const char *fmt = NULL;
    if (vt_ty_is_number(x) && vt_ty_is_number(y)) {
        r = vt_common_type(x, y);
        fmt = c == '/' ? "duro_div(%s, %s)" : c == '%' ? "duro_mod(%s, %s)" : NULL;
    } else if (c == '-' && (x == TY_TS || x == TY_DATE) && (y == TY_TS || y == TY_DATE) &&
               !(x == TY_DATE && y == TY_DATE)) {
        r = TY_INTERVAL;
    } else if (c == '-' && x == TY_DATE && y == TY_DATE) {
        r = TY_INT4;
        fmt = "((%s - %s) / 86400000000)";
    } else if ((c == '+' || c == '-') && (x == TY_TS || x == TY_DATE) && y == TY_INTERVAL) {
        r = TY_TS;
    } else if (c == '+' && x == TY_INTERVAL && (y == TY_TS || y == TY_DATE)) {
        r = TY_TS;
    } else if ((c == '+' || c == '-') && x == TY_INTERVAL && y == TY_INTERVAL) {
        r = TY_INTERVAL;
    } else if ((c == '+' || c == '-') && x == TY_DATE && (y == TY_INT4 || y == TY_INT8)) {
        r = TY_DATE;
        fmt = c == '+' ? "(%s + %s * 86400000000)" : "(%s - %s * 86400000000)";
    } else if (c == '*' && ((x == TY_INTERVAL && vt_ty_is_number(y)) ||
                            (vt_ty_is_number(x) && y == TY_INTERVAL))) {
        r = TY_INTERVAL;
        fmt = "CAST(round(%s * %s) AS INTEGER)";
    } else if (c == '/' && x == TY_INTERVAL && vt_ty_is_number(y)) {
        r = TY_INTERVAL;
        fmt = "CAST(round(duro_div(CAST(%s AS REAL), %s)) AS INTEGER)";
    }
    if (r == TY_COUNT || (c == '%' && !(vt_ty_is_number(x) && vt_ty_is_number(y))))
        return vt_tx_fail(tx, "42883", "operator does not exist: %s %s %s", vt_ty_info[x].name, op,
                          vt_ty_info[y].name);
    if (fmt != NULL) {
        out->sql = vt_format_template(fmt, a->sql, b->sql);
    } else {
        out->sql = xasprintf("(%s %c %s)", a->sql, c, b->sql);
    }
    out->type = r;
    out->scale = -1;
    return 0;
}

/* The operators of A_Expr kind AEXPR_OP. */
static int translate_op(Tx *tx, const PgQuery__AExpr *ae, Expr *out)
{
    const char *op = ae->n_name == 1 ? vt_node_str(ae->name[0]) : NULL;
    Expr a = {0}, b = {0};
    int rc = -1;
    if (op == NULL) {
        return vt_tx_fail(tx, "0A000", "%s: qualified operators are not supported", tx->label);
    }
    if (ae->lexpr == NULL) { /* prefix - or + */
        if (strcmp(op, "-") != 0 && strcmp(op, "+") != 0)
            return vt_tx_fail(tx, "0A000", "%s: operator %s is not supported", tx->label, op);
        if (vt_translate(tx, ae->rexpr, &b) != 0 || vt_coerce(tx, &b, TY_FLOAT8) != 0)
            goto done;
        if (!vt_ty_is_number(b.type) && b.type != TY_INTERVAL) {
            vt_tx_fail(tx, "42883", "operator does not exist: %s %s", op, vt_ty_info[b.type].name);
            goto done;
        }
        out->sql = op[0] == '-' ? xasprintf("(- %s)", b.sql) : xstrdup(b.sql);
        out->type = b.type;
        out->scale = b.scale;
        vt_take_ungrouped(out, &b);
        rc = 0;
        goto done;
    }
    static const char *const cmp[] = {"=", "<>", "<", ">", "<=", ">="};
    for (size_t i = 0; i < ARRAY_LEN(cmp); i++) {
        if (strcmp(op, cmp[i]) == 0) {
            Ty t;
            if (vt_translate_pair(tx, ae->lexpr, ae->rexpr, &a, &b, &t, op) != 0)
                goto done;
            out->sql = xasprintf("(%s %s %s)", a.sql, op, b.sql);
            out->type = TY_BOOL;
            rc = 0;
            goto merge;
        }
    }
    if (vt_translate(tx, ae->lexpr, &a) != 0 || vt_translate(tx, ae->rexpr, &b) != 0)
        goto done;
    if (strcmp(op, "||") == 0) {
        if (vt_resolve(tx, &a) != 0 || vt_resolve(tx, &b) != 0)
            goto done;
        char *x = vt_text_sql(&a), *y = vt_text_sql(&b);
        out->sql = xasprintf("(%s || %s)", x, y);
        free(x);
        free(y);
        out->type = TY_TEXT;
        rc = 0;
    } else if (strlen(op) == 1 && strchr("+-*/%", op[0]) != NULL) {
        rc = translate_arith(tx, op, &a, &b, out);
    } else {
        rc = vt_tx_fail(tx, "0A000", "%s: operator %s is not supported", tx->label, op);
    }
merge:
    vt_take_ungrouped(out, &a);
    vt_take_ungrouped(out, &b);
done:
    vt_expr_clear(&a);
    vt_expr_clear(&b);
    return rc;
}

/* The items of a List node (IN lists, BETWEEN bounds). */
static PgQuery__Node **list_items(const PgQuery__Node *n, size_t *count)
{
    if (n == NULL || n->node_case != PG_QUERY__NODE__NODE_LIST) {
        *count = 0;
        return NULL;
    }
    *count = n->list->n_items;
    return n->list->items;
}

/* Translates e and items to one common type; fills exprs[0..n] (e first). */
static int translate_common(Tx *tx, const PgQuery__Node *first, PgQuery__Node **items, size_t n,
                            Expr *exprs, const char *what)
{
    Ty t = TY_UNKNOWN;
    for (size_t i = 0; i <= n; i++) {
        if (vt_translate(tx, i == 0 ? first : items[i - 1], &exprs[i]) != 0)
            return -1;
        Ty c = vt_common_type(t, exprs[i].type);
        if (c == TY_COUNT)
            return vt_tx_fail(tx, "42804", "%s types %s and %s cannot be matched", what,
                              vt_ty_info[t].name, vt_ty_info[exprs[i].type].name);
        t = c;
    }
    if (t == TY_UNKNOWN)
        t = TY_TEXT;
    for (size_t i = 0; i <= n; i++)
        if (vt_coerce(tx, &exprs[i], t) != 0)
            return -1;
    return 0;
}

int vt_translate_aexpr(Tx *tx, const PgQuery__AExpr *ae, Expr *out)
{
    const char *op = ae->n_name == 1 ? vt_node_str(ae->name[0]) : NULL;
    size_t n = 0;
    PgQuery__Node **items;
    Expr *ex = NULL;
    int rc = -1;
    switch (ae->kind) {
    case PG_QUERY__A__EXPR__KIND__AEXPR_OP:
        return translate_op(tx, ae, out);
    case PG_QUERY__A__EXPR__KIND__AEXPR_DISTINCT:
    case PG_QUERY__A__EXPR__KIND__AEXPR_NOT_DISTINCT:
    case PG_QUERY__A__EXPR__KIND__AEXPR_NULLIF: {
        Expr a = {0}, b = {0};
        Ty t;
        if (vt_translate_pair(tx, ae->lexpr, ae->rexpr, &a, &b, &t, "=") == 0) {
            if (ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NULLIF) {
                out->sql = xasprintf("nullif(%s, %s)", a.sql, b.sql);
                out->type = t;
                out->scale = a.scale;
                out->name = "nullif";
                out->name_strength = 2;
            } else {
                out->sql = xasprintf(
                    "(%s %s %s)", a.sql,
                    ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_DISTINCT ? "IS NOT" : "IS", b.sql);
                out->type = TY_BOOL;
            }
            vt_take_ungrouped(out, &a);
            vt_take_ungrouped(out, &b);
            rc = 0;
        }
        vt_expr_clear(&a);
        vt_expr_clear(&b);
        return rc;
    }
    case PG_QUERY__A__EXPR__KIND__AEXPR_IN:
        items = list_items(ae->rexpr, &n);
        if (items == NULL)
            return vt_unsupported(tx, "subqueries");
        break;
    case PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN:
    case PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN:
    case PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN_SYM:
    case PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN_SYM:
        items = list_items(ae->rexpr, &n);
        if (n != 2)
            return vt_tx_fail(tx, "42601", "syntax error in BETWEEN");
        break;
    case PG_QUERY__A__EXPR__KIND__AEXPR_LIKE:
    case PG_QUERY__A__EXPR__KIND__AEXPR_ILIKE: {
        Expr a = {0}, b = {0};
        if (ae->rexpr != NULL && ae->rexpr->node_case == PG_QUERY__NODE__NODE_FUNC_CALL)
            return vt_unsupported(tx, "LIKE with ESCAPE");
        if (vt_translate(tx, ae->lexpr, &a) == 0 && vt_translate(tx, ae->rexpr, &b) == 0 &&
            vt_resolve(tx, &a) == 0 && vt_resolve(tx, &b) == 0) {
            if (a.type != TY_TEXT || b.type != TY_TEXT) {
                vt_tx_fail(tx, "42883", "operator does not exist: %s %s %s",
                           vt_ty_info[a.type].name, op ? op : "~~", vt_ty_info[b.type].name);
            } else {
                bool neg = op != NULL && op[0] == '!';
                out->sql = xasprintf("(%sduro_like(%s, %s, %d))", neg ? "NOT " : "", a.sql, b.sql,
                                     ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_ILIKE);
                out->type = TY_BOOL;
                vt_take_ungrouped(out, &a);
                vt_take_ungrouped(out, &b);
                rc = 0;
            }
        }
        vt_expr_clear(&a);
        vt_expr_clear(&b);
        return rc;
    }
    case PG_QUERY__A__EXPR__KIND__AEXPR_SIMILAR:
        return vt_unsupported(tx, "SIMILAR TO");
    case PG_QUERY__A__EXPR__KIND__AEXPR_OP_ANY:
    case PG_QUERY__A__EXPR__KIND__AEXPR_OP_ALL: {
        /* x = ANY (ARRAY[...]) is x IN (...), x <> ALL (ARRAY[...]) is x NOT IN (...). */
        bool any = ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP_ANY;
        const PgQuery__Node *r = ae->rexpr;
        if (r != NULL && r->node_case == PG_QUERY__NODE__NODE_TYPE_CAST &&
            r->type_cast->arg != NULL &&
            r->type_cast->arg->node_case == PG_QUERY__NODE__NODE_A_ARRAY_EXPR)
            r = r->type_cast->arg;
        if (op == NULL || strcmp(op, any ? "=" : "<>") != 0)
            return vt_unsupported(tx, any ? "ANY with an operator other than ="
                                          : "ALL with an operator other than <>");
        if (r == NULL || r->node_case != PG_QUERY__NODE__NODE_A_ARRAY_EXPR)
            return vt_unsupported(tx, any ? "ANY over anything but ARRAY[...]"
                                          : "ALL over anything but ARRAY[...]");
        items = r->a_array_expr->elements;
        n = r->a_array_expr->n_elements;
        if (n == 0)
            return vt_tx_fail(tx, "42P18", "cannot determine type of empty array");
        break;
    }
    default:
        return vt_unsupported(tx, "this operator");
    }
    bool in_list = ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_IN ||
                   ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP_ANY ||
                   ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP_ALL;
    ex = xcalloc(n + 1, sizeof(Expr));
    if (translate_common(tx, ae->lexpr, items, n, ex, in_list ? "IN" : "BETWEEN") != 0)
        goto done;
    if (in_list) {
        StrVec parts = {0};
        for (size_t i = 1; i <= n; i++)
            strvec_push(&parts, ex[i].sql);
        char *list = strvec_join(&parts, ", ");
        strvec_free(&parts);
        out->sql = xasprintf("(%s %sIN (%s))", ex[0].sql,
                             op != NULL && strcmp(op, "<>") == 0 ? "NOT " : "", list);
        free(list);
    } else {
        bool neg = ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN ||
                   ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN_SYM;
        bool sym = ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN_SYM ||
                   ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN_SYM;
        if (sym)
            out->sql = xasprintf("(%s((%s BETWEEN %s AND %s) OR (%s BETWEEN %s AND %s)))",
                                 neg ? "NOT " : "", ex[0].sql, ex[1].sql, ex[2].sql, ex[0].sql,
                                 ex[2].sql, ex[1].sql);
        else
            out->sql = xasprintf("(%s %sBETWEEN %s AND %s)", ex[0].sql, neg ? "NOT " : "",
                                 ex[1].sql, ex[2].sql);
    }
    out->type = TY_BOOL;
    for (size_t i = 0; i <= n; i++)
        vt_take_ungrouped(out, &ex[i]);
    rc = 0;
done:
    for (size_t i = 0; ex != NULL && i <= n; i++)
        vt_expr_clear(&ex[i]);
    free(ex);
    return rc;
}

int vt_translate_bool(Tx *tx, const PgQuery__BoolExpr *be, Expr *out)
{
    StrVec parts = {0};
    int rc = -1;
    const char *name = be->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR  ? "AND"
                       : be->boolop == PG_QUERY__BOOL_EXPR_TYPE__OR_EXPR ? "OR"
                                                                         : "NOT";
    for (size_t i = 0; i < be->n_args; i++) {
        Expr a = {0};
        if (vt_translate(tx, be->args[i], &a) != 0 || vt_require_bool(tx, &a, name) != 0) {
            vt_expr_clear(&a);
            goto done;
        }
        strvec_push(&parts, a.sql);
        vt_take_ungrouped(out, &a);
        vt_expr_clear(&a);
    }
    if (be->boolop == PG_QUERY__BOOL_EXPR_TYPE__NOT_EXPR) {
        if (parts.n != 1)
            goto done;
        out->sql = xasprintf("(NOT %s)", parts.items[0]);
    } else {
        char *sep = xasprintf(" %s ", name);
        char *joined = strvec_join(&parts, sep);
        out->sql = xasprintf("(%s)", joined);
        free(sep);
        free(joined);
    }
    out->type = TY_BOOL;
    rc = 0;
done:
    strvec_free(&parts);
    return rc;
}

/* CASE [arg] WHEN .. THEN .. [ELSE ..] END */
int vt_translate_case(Tx *tx, const PgQuery__CaseExpr *ce, Expr *out)
{
    size_t n = ce->n_args;
    Expr arg = {0};
    Expr *conds = xcalloc(n ? n : 1, sizeof(Expr)), *results = xcalloc(n + 1, sizeof(Expr));
    int rc = -1;
    StrVec parts = {0};
    Ty t = TY_UNKNOWN;
    if (ce->arg != NULL) {
        PgQuery__Node **whens = xcalloc(n ? n : 1, sizeof(PgQuery__Node *));
        for (size_t i = 0; i < n; i++) {
            if (ce->args[i]->node_case != PG_QUERY__NODE__NODE_CASE_WHEN) {
                free(whens);
                goto done;
            }
            whens[i] = ce->args[i]->case_when->expr;
        }
        Expr *all = xcalloc(n + 1, sizeof(Expr));
        int r = translate_common(tx, ce->arg, whens, n, all, "CASE/WHEN");
        free(whens);
        arg = all[0];
        for (size_t i = 0; i < n; i++)
            conds[i] = all[i + 1];
        free(all);
        if (r != 0)
            goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const PgQuery__CaseWhen *w = ce->args[i]->case_when;
        if (ce->arg == NULL && (vt_translate(tx, w->expr, &conds[i]) != 0 ||
                                vt_require_bool(tx, &conds[i], "CASE") != 0))
            goto done;
        if (vt_translate(tx, w->result, &results[i]) != 0)
            goto done;
    }
    if (ce->defresult != NULL && vt_translate(tx, ce->defresult, &results[n]) != 0)
        goto done;
    for (size_t i = 0; i <= n; i++) {
        if (i == n && ce->defresult == NULL)
            break;
        Ty c = vt_common_type(t, results[i].type);
        if (c == TY_COUNT) {
            vt_tx_fail(tx, "42804", "CASE types %s and %s cannot be matched", vt_ty_info[t].name,
                       vt_ty_info[results[i].type].name);
            goto done;
        }
        t = c;
    }
    if (t == TY_UNKNOWN)
        t = TY_TEXT;
    strvec_push(&parts, "CASE");
    if (ce->arg != NULL)
        strvec_push(&parts, arg.sql);
    for (size_t i = 0; i <= n; i++) {
        if (i == n && ce->defresult == NULL)
            break;
        if (vt_coerce(tx, &results[i], t) != 0)
            goto done;
        if (i < n)
            strvec_push_owned(&parts, xasprintf("WHEN %s THEN %s", conds[i].sql, results[i].sql));
        else
            strvec_push_owned(&parts, xasprintf("ELSE %s", results[i].sql));
        vt_take_ungrouped(out, &results[i]);
        if (i < n)
            vt_take_ungrouped(out, &conds[i]);
    }
    strvec_push(&parts, "END");
    out->sql = strvec_join(&parts, " ");
    out->type = t;
    out->scale = -1;
    out->name = "case";
    out->name_strength = 1;
    vt_take_ungrouped(out, &arg);
    rc = 0;
done:
    vt_expr_clear(&arg);
    for (size_t i = 0; i < n; i++)
        vt_expr_clear(&conds[i]);
    for (size_t i = 0; i <= n; i++)
        vt_expr_clear(&results[i]);
    free(conds);
    free(results);
    strvec_free(&parts);
    return rc;
}

int vt_translate_coalesce(Tx *tx, const PgQuery__CoalesceExpr *ce, Expr *out)
{
    size_t n = ce->n_args;
    if (n == 0)
        return vt_tx_fail(tx, "42601", "COALESCE needs arguments");
    Expr *ex = xcalloc(n, sizeof(Expr));
    int rc = -1;
    if (translate_common(tx, ce->args[0], ce->args + 1, n - 1, ex, "COALESCE") == 0) {
        StrVec parts = {0};
        for (size_t i = 0; i < n; i++) {
            strvec_push(&parts, ex[i].sql);
            vt_take_ungrouped(out, &ex[i]);
        }
        if (n == 1)
            strvec_push(&parts, "NULL");
        char *list = strvec_join(&parts, ", ");
        out->sql = xasprintf("coalesce(%s)", list);
        free(list);
        strvec_free(&parts);
        out->type = ex[0].type;
        out->scale = -1;
        out->name = "coalesce";
        out->name_strength = 2;
        rc = 0;
    }
    for (size_t i = 0; i < n; i++)
        vt_expr_clear(&ex[i]);
    free(ex);
    return rc;
}
