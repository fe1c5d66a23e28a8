/*
 * Translating function calls: aggregates (count, sum, avg, min, max, ...), extract/date_part,
 * date_trunc, the string functions, concat and round, with PostgreSQL's argument types and
 * errors. Not for: operators (operators.c) or what the functions compute in SQLite (functions.c).
 */
#include "sqlengine/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A string constant argument (extract's field, date_trunc's unit), lower-cased; NULL if not. */
static char *const_text_arg(const PgQuery__Node *n)
{
    if (n == NULL || n->node_case != PG_QUERY__NODE__NODE_A_CONST ||
        n->a_const->val_case != PG_QUERY__A__CONST__VAL_SVAL)
        return NULL;
    char *s = xstrdup(n->a_const->sval->sval);
    str_lower(s);
    return s;
}

/* extract(field from x) / date_part('field', x). */
static int translate_extract(Tx *tx, const PgQuery__FuncCall *fc, bool as_float, Expr *out)
{
    static const char *const fields[] = {"epoch",   "year",   "month",        "day",         "hour",
                                         "minute",  "second", "dow",          "isodow",      "doy",
                                         "quarter", "week",   "milliseconds", "microseconds"};
    static const char *const aliases[][2] = {{"years", "year"},
                                             {"months", "month"},
                                             {"days", "day"},
                                             {"hours", "hour"},
                                             {"minutes", "minute"},
                                             {"seconds", "second"},
                                             {"millisecond", "milliseconds"},
                                             {"microsecond", "microseconds"}};
    char *field = const_text_arg(fc->args[0]);
    Expr x = {0};
    int rc = -1;
    if (field == NULL) {
        vt_unsupported(tx, "non-constant extract fields");
        goto done;
    }
    for (size_t i = 0; i < ARRAY_LEN(aliases); i++)
        if (strcmp(field, aliases[i][0]) == 0) {
            free(field);
            field = xstrdup(aliases[i][1]);
        }
    bool known = false;
    for (size_t i = 0; i < ARRAY_LEN(fields); i++)
        known = known || strcmp(field, fields[i]) == 0;
    if (!known) {
        vt_tx_fail(tx, "0A000", "%s: extract field \"%s\" is not supported", tx->label, field);
        goto done;
    }
    if (vt_translate(tx, fc->args[1], &x) != 0 || vt_coerce(tx, &x, TY_TS) != 0)
        goto done;
    if (x.type != TY_TS && x.type != TY_DATE && x.type != TY_INTERVAL) {
        vt_tx_fail(tx, "42883", "function extract(unknown, %s) does not exist",
                   vt_ty_info[x.type].name);
        goto done;
    }
    out->sql = xasprintf("duro_extract('%s', %s, %d)", field, x.sql, (int)x.type);
    out->type = as_float ? TY_FLOAT8 : TY_NUMERIC;
    if (strcmp(field, "second") == 0 || (strcmp(field, "epoch") == 0 && x.type != TY_DATE))
        out->scale = 6;
    else if (strcmp(field, "milliseconds") == 0)
        out->scale = 3;
    else
        out->scale = 0;
    if (as_float)
        out->scale = -1;
    vt_take_ungrouped(out, &x);
    rc = 0;
done:
    free(field);
    vt_expr_clear(&x);
    return rc;
}

/* An aggregate call. */
static int translate_aggregate(Tx *tx, const PgQuery__FuncCall *fc, const char *name, Expr *out)
{
    Expr a = {0}, sep = {0};
    int rc = -1;
    char *filter = NULL;
    if (tx->clause == CL_WHERE || tx->clause == CL_GROUP || tx->clause == CL_JOIN ||
        tx->clause == CL_LIMIT)
        return vt_tx_fail(tx, "42803", "aggregate functions are not allowed in %s",
                          tx->clause == CL_WHERE   ? "WHERE"
                          : tx->clause == CL_GROUP ? "GROUP BY"
                          : tx->clause == CL_JOIN  ? "JOIN conditions"
                                                   : "LIMIT");
    if (tx->agg_depth > 0)
        return vt_tx_fail(tx, "42803", "aggregate function calls cannot be nested");
    if (fc->n_agg_order > 0)
        return vt_unsupported(tx, "ORDER BY inside aggregates");
    tx->saw_agg = true;
    tx->agg_depth++;
    if (fc->agg_filter != NULL) {
        Expr f = {0};
        Clause saved = tx->clause;
        if (vt_translate(tx, fc->agg_filter, &f) != 0 || vt_require_bool(tx, &f, "FILTER") != 0) {
            vt_expr_clear(&f);
            goto done;
        }
        tx->clause = saved;
        filter = xasprintf(" FILTER (WHERE %s)", f.sql);
        vt_expr_clear(&f);
    }
    const char *distinct = fc->agg_distinct ? "DISTINCT " : "";
    if (fc->agg_star) {
        if (strcmp(name, "count") != 0) {
            vt_tx_fail(tx, "42809", "%s(*) must be used to call a parameterless aggregate function",
                       name);
            goto done;
        }
        out->sql = xasprintf("count(*)%s", filter ? filter : "");
        out->type = TY_INT8;
        rc = 0;
        goto done;
    }
    size_t want = strcmp(name, "string_agg") == 0 ? 2 : 1;
    if (fc->n_args != want) {
        vt_tx_fail(tx, "42883", "function %s with %zu arguments does not exist", name, fc->n_args);
        goto done;
    }
    if (vt_translate(tx, fc->args[0], &a) != 0 || vt_resolve(tx, &a) != 0)
        goto done;
    Ty t = a.type;
    const char *fn = name, *wrap = "%s";
    if (strcmp(name, "count") == 0) {
        out->type = TY_INT8;
    } else if (strcmp(name, "min") == 0 || strcmp(name, "max") == 0) {
        out->type = t;
        out->scale = a.scale;
    } else if (strcmp(name, "sum") == 0) {
        if (!vt_ty_is_number(t) && t != TY_INTERVAL)
            goto no_function;
        out->type = t == TY_INT4 ? TY_INT8 : t == TY_INT8 ? TY_NUMERIC : t;
        out->scale = t == TY_INT8 ? 0 : a.scale;
    } else if (strcmp(name, "avg") == 0) {
        if (!vt_ty_is_number(t) && t != TY_INTERVAL)
            goto no_function;
        out->type = t == TY_INTERVAL ? TY_INTERVAL : TY_FLOAT8;
        if (t == TY_INTERVAL)
            wrap = "CAST(round(%s) AS INTEGER)";
    } else if (strcmp(name, "bool_and") == 0 || strcmp(name, "every") == 0 ||
               strcmp(name, "bool_or") == 0) {
        if (t != TY_BOOL)
            goto no_function;
        fn = name[5] == 'o' ? "max" : "min";
        out->type = TY_BOOL;
    } else { /* string_agg */
        if (fc->agg_distinct) {
            vt_unsupported(tx, "string_agg(DISTINCT ...)");
            goto done;
        }
        if (vt_translate(tx, fc->args[1], &sep) != 0 || vt_resolve(tx, &sep) != 0)
            goto done;
        if (t != TY_TEXT || sep.type != TY_TEXT)
            goto no_function;
        char *inner = xasprintf("group_concat(%s, %s)%s", a.sql, sep.sql, filter ? filter : "");
        out->sql = inner;
        out->type = TY_TEXT;
        rc = 0;
        goto done;
    }
    char *call = xasprintf("%s(%s%s)%s", fn, distinct, a.sql, filter ? filter : "");
    out->sql = vt_format_template(wrap, call, "");
    free(call);
    rc = 0;
    goto done;
no_function:
    vt_tx_fail(tx, "42883", "function %s(%s) does not exist", name, vt_ty_info[t].name);
done:
    tx->agg_depth--;
    free(filter);
    vt_expr_clear(&a);
    vt_expr_clear(&sep);
    return rc;
}

/* A scalar function with text arguments and a fixed SQLite counterpart. */
static int translate_text_fn(Tx *tx, const PgQuery__FuncCall *fc, const char *name,
                             const char *sqlite_name, Ty result, Expr *out)
{
    Expr a = {0};
    int rc = -1;
    if (fc->n_args != 1) {
        vt_tx_fail(tx, "42883", "function %s with %zu arguments does not exist", name, fc->n_args);
    } else if (vt_translate(tx, fc->args[0], &a) == 0 && vt_resolve(tx, &a) == 0) {
        if (a.type != TY_TEXT) {
            vt_tx_fail(tx, "42883", "function %s(%s) does not exist", name,
                       vt_ty_info[a.type].name);
        } else {
            out->sql = xasprintf("%s(%s)", sqlite_name, a.sql);
            out->type = result;
            vt_take_ungrouped(out, &a);
            rc = 0;
        }
    }
    vt_expr_clear(&a);
    return rc;
}

/* concat(a, b, ...): NULLs ignored, everything as text. */
static int translate_concat(Tx *tx, const PgQuery__FuncCall *fc, Expr *out)
{
    StrVec parts = {0};
    int rc = -1;
    for (size_t i = 0; i < fc->n_args; i++) {
        Expr a = {0};
        if (vt_translate(tx, fc->args[i], &a) != 0 || vt_resolve(tx, &a) != 0) {
            vt_expr_clear(&a);
            goto done;
        }
        char *t = vt_text_sql(&a);
        strvec_push_owned(&parts, xasprintf("coalesce(%s, '')", t));
        free(t);
        vt_take_ungrouped(out, &a);
        vt_expr_clear(&a);
    }
    if (parts.n == 0) {
        vt_tx_fail(tx, "42883", "function concat() does not exist");
        goto done;
    }
    char *joined = strvec_join(&parts, " || ");
    out->sql = xasprintf("(%s)", joined);
    free(joined);
    out->type = TY_TEXT;
    rc = 0;
done:
    strvec_free(&parts);
    return rc;
}

/* round(x) and round(x, n). */
static int translate_round(Tx *tx, const PgQuery__FuncCall *fc, Expr *out)
{
    Expr a = {0}, d = {0};
    int rc = -1;
    if (fc->n_args < 1 || fc->n_args > 2) {
        vt_tx_fail(tx, "42883", "function round with %zu arguments does not exist", fc->n_args);
        goto done;
    }
    if (vt_translate(tx, fc->args[0], &a) != 0 || vt_coerce(tx, &a, TY_FLOAT8) != 0)
        goto done;
    if (fc->n_args == 2 &&
        (vt_translate(tx, fc->args[1], &d) != 0 || vt_coerce(tx, &d, TY_INT4) != 0))
        goto done;
    if (!vt_ty_is_number(a.type) || (fc->n_args == 2 && d.type != TY_INT4 && d.type != TY_INT8) ||
        (fc->n_args == 2 && a.type == TY_FLOAT8)) {
        vt_tx_fail(tx, "42883", "function round(%s%s%s) does not exist", vt_ty_info[a.type].name,
                   fc->n_args == 2 ? ", " : "", fc->n_args == 2 ? vt_ty_info[d.type].name : "");
        goto done;
    }
    if (a.type == TY_FLOAT8) {
        out->sql = xasprintf("duro_round(%s, NULL)", a.sql);
        out->type = TY_FLOAT8;
    } else {
        out->sql = xasprintf("duro_round(%s, %s)", a.sql, fc->n_args == 2 ? d.sql : "0");
        out->type = TY_NUMERIC;
        out->scale = 0;
        if (fc->n_args == 2) {
            const PgQuery__Node *n = fc->args[1];
            out->scale = n->node_case == PG_QUERY__NODE__NODE_A_CONST &&
                                 n->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL &&
                                 n->a_const->ival->ival >= 0
                             ? n->a_const->ival->ival
                             : -1;
        }
    }
    vt_take_ungrouped(out, &a);
    vt_take_ungrouped(out, &d);
    rc = 0;
done:
    vt_expr_clear(&a);
    vt_expr_clear(&d);
    return rc;
}

/* left(s, n) and right(s, n), negative n counting from the other end as PostgreSQL does. */
static int translate_left_right(Tx *tx, const PgQuery__FuncCall *fc, bool left, Expr *out)
{
    const char *name = left ? "left" : "right";
    Expr a = {0}, k = {0};
    int rc = -1;
    if (fc->n_args != 2) {
        vt_tx_fail(tx, "42883", "function %s with %zu arguments does not exist", name, fc->n_args);
        goto done;
    }
    if (vt_translate(tx, fc->args[0], &a) != 0 || vt_resolve(tx, &a) != 0 ||
        vt_translate(tx, fc->args[1], &k) != 0 || vt_coerce(tx, &k, TY_INT4) != 0)
        goto done;
    if (a.type != TY_TEXT || k.type != TY_INT4) {
        vt_tx_fail(tx, "42883", "function %s(%s, %s) does not exist", name, vt_ty_info[a.type].name,
                   vt_ty_info[k.type].name);
        goto done;
    }
    if (left)
        out->sql = xasprintf("(CASE WHEN (%s) >= 0 THEN substr(%s, 1, (%s)) ELSE substr(%s, 1, "
                             "max(length(%s) + (%s), 0)) END)",
                             k.sql, a.sql, k.sql, a.sql, a.sql, k.sql);
    else
        out->sql = xasprintf("(CASE WHEN (%s) > 0 THEN substr(%s, -(%s)) WHEN (%s) = 0 THEN '' "
                             "ELSE substr(%s, 1 - (%s)) END)",
                             k.sql, a.sql, k.sql, k.sql, a.sql, k.sql);
    out->type = TY_TEXT;
    vt_take_ungrouped(out, &a);
    vt_take_ungrouped(out, &k);
    rc = 0;
done:
    vt_expr_clear(&a);
    vt_expr_clear(&k);
    return rc;
}

/* to_char(timestamptz or date, pattern). */
static int translate_to_char(Tx *tx, const PgQuery__FuncCall *fc, Expr *out)
{
    Expr a = {0}, f = {0};
    int rc = -1;
    if (fc->n_args != 2) {
        vt_tx_fail(tx, "42883", "function to_char with %zu arguments does not exist", fc->n_args);
        goto done;
    }
    if (vt_translate(tx, fc->args[0], &a) != 0 || vt_coerce(tx, &a, TY_TS) != 0 ||
        vt_translate(tx, fc->args[1], &f) != 0 || vt_resolve(tx, &f) != 0)
        goto done;
    if (vt_ty_is_number(a.type) || a.type == TY_INTERVAL) {
        vt_tx_fail(tx, "0A000", "%s: to_char of a %s is not supported (only of timestamps)",
                   tx->label, vt_ty_info[a.type].name);
        goto done;
    }
    if ((a.type != TY_TS && a.type != TY_DATE) || f.type != TY_TEXT) {
        vt_tx_fail(tx, "42883", "function to_char(%s, %s) does not exist", vt_ty_info[a.type].name,
                   vt_ty_info[f.type].name);
        goto done;
    }
    out->sql = xasprintf("duro_to_char(%s, %s, %d)", a.sql, f.sql, a.type == TY_DATE);
    out->type = TY_TEXT;
    vt_take_ungrouped(out, &a);
    vt_take_ungrouped(out, &f);
    rc = 0;
done:
    vt_expr_clear(&a);
    vt_expr_clear(&f);
    return rc;
}

int vt_translate_func(Tx *tx, const PgQuery__FuncCall *fc, Expr *out)
{
    const char *name = vt_node_str(fc->funcname[fc->n_funcname - 1]);
    if (name == NULL)
        return vt_tx_fail(tx, "42601", "bad function name");
    if (fc->n_funcname > 2 ||
        (fc->n_funcname == 2 &&
         strcmp(vt_node_str(fc->funcname[0]) ? vt_node_str(fc->funcname[0]) : "", "pg_catalog") !=
             0))
        return vt_tx_fail(tx, "42883", "function %s does not exist", name);
    out->name = name;
    out->name_strength = 2;
    out->scale = -1;
    if (fc->over != NULL)
        return vt_unsupported(tx, "window functions");
    static const char *const aggregates[] = {"count",    "min",     "max",   "sum",       "avg",
                                             "bool_and", "bool_or", "every", "string_agg"};
    for (size_t i = 0; i < ARRAY_LEN(aggregates); i++)
        if (strcmp(name, aggregates[i]) == 0)
            return translate_aggregate(tx, fc, name, out);
    if (fc->agg_star || fc->agg_distinct || fc->n_agg_order || fc->agg_filter)
        return vt_tx_fail(tx, "42809", "%s is not an aggregate function", name);
    if (fc->func_variadic)
        return vt_unsupported(tx, "VARIADIC");
    for (size_t i = 0; i < fc->n_args; i++)
        if (fc->args[i]->node_case == PG_QUERY__NODE__NODE_NAMED_ARG_EXPR)
            return vt_unsupported(tx, "named arguments");
    static const char *const nows[] = {"now", "transaction_timestamp", "statement_timestamp",
                                       "clock_timestamp"};
    for (size_t i = 0; i < ARRAY_LEN(nows); i++) {
        if (strcmp(name, nows[i]) == 0) {
            if (fc->n_args != 0)
                return vt_tx_fail(tx, "42883", "function %s with arguments does not exist", name);
            out->sql = xstrdup("duro_now()");
            out->type = TY_TS;
            return 0;
        }
    }
    if (strcmp(name, "lower") == 0 || strcmp(name, "upper") == 0)
        return translate_text_fn(tx, fc, name, name, TY_TEXT, out);
    if (strcmp(name, "length") == 0 || strcmp(name, "char_length") == 0 ||
        strcmp(name, "character_length") == 0)
        return translate_text_fn(tx, fc, name, "length", TY_INT4, out);
    if (strcmp(name, "concat") == 0)
        return translate_concat(tx, fc, out);
    if (strcmp(name, "left") == 0 || strcmp(name, "right") == 0)
        return translate_left_right(tx, fc, name[0] == 'l', out);
    if (strcmp(name, "to_char") == 0)
        return translate_to_char(tx, fc, out);
    if (strcmp(name, "round") == 0)
        return translate_round(tx, fc, out);
    if ((strcmp(name, "extract") == 0 || strcmp(name, "date_part") == 0) && fc->n_args == 2)
        return translate_extract(tx, fc, name[0] == 'd', out);
    if (strcmp(name, "date_trunc") == 0 && fc->n_args == 2) {
        static const char *const units[] = {"microseconds", "milliseconds", "second", "minute",
                                            "hour",         "day",          "week",   "month",
                                            "quarter",      "year"};
        char *unit = const_text_arg(fc->args[0]);
        bool known = false;
        for (size_t i = 0; unit != NULL && i < ARRAY_LEN(units); i++)
            known = known || strcmp(unit, units[i]) == 0;
        Expr x = {0};
        int rc = -1;
        if (!known)
            vt_tx_fail(tx, "0A000", "%s: date_trunc unit %s%s%s is not supported", tx->label,
                       unit ? "\"" : "", unit ? unit : "(not a constant)", unit ? "\"" : "");
        else if (vt_translate(tx, fc->args[1], &x) == 0 && vt_coerce(tx, &x, TY_TS) == 0) {
            if (x.type != TY_TS && x.type != TY_DATE) {
                vt_tx_fail(tx, "42883", "function date_trunc(unknown, %s) does not exist",
                           vt_ty_info[x.type].name);
            } else {
                out->sql = xasprintf("duro_date_trunc('%s', %s)", unit, x.sql);
                out->type = TY_TS;
                vt_take_ungrouped(out, &x);
                rc = 0;
            }
        }
        free(unit);
        vt_expr_clear(&x);
        return rc;
    }
    if (strcmp(name, "abs") == 0 && fc->n_args == 1) {
        Expr a = {0};
        int rc = -1;
        if (vt_translate(tx, fc->args[0], &a) == 0 && vt_coerce(tx, &a, TY_FLOAT8) == 0) {
            if (!vt_ty_is_number(a.type) && a.type != TY_INTERVAL) {
                vt_tx_fail(tx, "42883", "function abs(%s) does not exist", vt_ty_info[a.type].name);
            } else {
                out->sql = xasprintf("abs(%s)", a.sql);
                out->type = a.type;
                out->scale = a.scale;
                vt_take_ungrouped(out, &a);
                rc = 0;
            }
        }
        vt_expr_clear(&a);
        return rc;
    }
    return vt_tx_fail(tx, "0A000", "%s: function %s is not supported", tx->label, name);
}
