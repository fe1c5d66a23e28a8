/*
 * Classifies a client's SQL for the gateway: catalog/sqltree's walk over libpg_query's protobuf
 * parse tree (with WITH scoping) finds duro.* relations, duro_refresh calls and the other relations
 * read; plus a one-pass lexer that tells cheaply whether the text could concern Duro at all. Not
 * for: running anything, or deciding whether a relation is a managed view.
 */
#include "proxy/intercept.h"

#include <pg_query/pg_query.pb-c.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "catalog/names.h"
#include "catalog/sqltree.h"
#include "sqlengine/vtable.h"

/* What the walk of one statement found. */
typedef struct Walk {
    InterceptInfo *out;
    int refresh_calls;
    int duro_relations;
    int other_relations;
    char *first_duro;   /* "duro.status" as written, for messages */
    char *unknown_duro; /* first duro.xxx that is not a virtual table */
    char *unknown_func; /* first duro.xxx() that is not duro_refresh */
    char *first_other;  /* first other relation, for messages */
} Walk;

/* The string of a String node, or NULL. */
static const char *node_str(const PgQuery__Node *n)
{
    return n != NULL && n->node_case == PG_QUERY__NODE__NODE_STRING ? n->string->sval : NULL;
}

/* Whether a function name list is duro_refresh or duro.duro_refresh. */
static bool is_refresh_name(PgQuery__Node **names, size_t n)
{
    const char *last = n > 0 ? node_str(names[n - 1]) : NULL;
    if (last == NULL || strcmp(last, "duro_refresh") != 0)
        return false;
    if (n == 1)
        return true;
    const char *schema = node_str(names[n - 2]);
    return n == 2 && schema != NULL && strcmp(schema, "duro") == 0;
}

/* sqltree's relation visitor: a relation that is not a CTE. */
static bool on_relation(void *arg, const PgQuery__RangeVar *rv)
{
    Walk *w = arg;
    const char *schema = rv->schemaname != NULL && rv->schemaname[0] ? rv->schemaname : NULL;
    if (schema != NULL && strcmp(schema, "duro") == 0) {
        w->duro_relations++;
        if (w->first_duro == NULL)
            w->first_duro = xasprintf("duro.%s", rv->relname);
        if (!vtable_is_table(rv->relname) && w->unknown_duro == NULL)
            w->unknown_duro = xasprintf("duro.%s", rv->relname);
        return true;
    }
    char *name = schema ? xasprintf("%s.%s", schema, rv->relname) : xstrdup(rv->relname);
    w->other_relations++;
    if (w->first_other == NULL)
        w->first_other = xstrdup(name);
    if (strvec_contains(&w->out->relations, name))
        free(name);
    else
        strvec_push_owned(&w->out->relations, name);
    return true;
}

/* sqltree's message visitor: function calls, for duro_refresh and duro.xxx(). */
static bool on_message(void *arg, const ProtobufCMessage *m)
{
    Walk *w = arg;
    if (m->descriptor != &pg_query__func_call__descriptor)
        return true;
    const PgQuery__FuncCall *fc = (const PgQuery__FuncCall *)m;
    if (is_refresh_name(fc->funcname, fc->n_funcname)) {
        w->refresh_calls++;
    } else if (fc->n_funcname == 2 && w->unknown_func == NULL) {
        const char *schema = node_str(fc->funcname[0]);
        const char *name = node_str(fc->funcname[1]);
        if (schema != NULL && name != NULL && strcmp(schema, "duro") == 0)
            w->unknown_func = xasprintf("duro.%s", name);
    }
    return true;
}

/* Records an error classification; always leaves kind MIXED. */
static void set_error(InterceptInfo *out, const char *sqlstate, char *message)
{
    out->kind = INTERCEPT_MIXED;
    free(out->error_sqlstate);
    free(out->error_message);
    out->error_sqlstate = xstrdup(sqlstate);
    out->error_message = message;
}

/* Strips casts to a string or boolean type around a refresh argument. */
static const PgQuery__Node *strip_cast(const PgQuery__Node *n)
{
    while (n != NULL && n->node_case == PG_QUERY__NODE__NODE_TYPE_CAST &&
           n->type_cast->type_name != NULL && n->type_cast->type_name->n_names > 0) {
        const PgQuery__TypeName *t = n->type_cast->type_name;
        const char *name = node_str(t->names[t->n_names - 1]);
        if (name == NULL || t->n_array_bounds > 0 ||
            (strcmp(name, "text") != 0 && strcmp(name, "varchar") != 0 &&
             strcmp(name, "bool") != 0))
            break;
        n = n->type_cast->arg;
    }
    return n;
}

#define REFRESH_SIGNATURE "duro_refresh(view text [, force boolean])"

/* Reads the arguments of a standalone duro_refresh call into out (REFRESH or MIXED). */
static void read_refresh_call(InterceptInfo *out, const PgQuery__FuncCall *fc)
{
    if (fc->agg_star || fc->agg_distinct || fc->func_variadic || fc->over != NULL ||
        fc->agg_filter != NULL || fc->n_agg_order > 0) {
        set_error(out, "0A000", xstrdup("duro_refresh is a plain function: " REFRESH_SIGNATURE));
        return;
    }
    if (fc->n_args < 1 || fc->n_args > 2) {
        set_error(out, "42883",
                  xasprintf("function duro_refresh with %zu arguments does not exist; "
                            "call " REFRESH_SIGNATURE,
                            fc->n_args));
        return;
    }
    const PgQuery__Node *name = strip_cast(fc->args[0]);
    if (name->node_case == PG_QUERY__NODE__NODE_PARAM_REF) {
        out->refresh_param = name->param_ref->number;
    } else if (name->node_case == PG_QUERY__NODE__NODE_A_CONST &&
               name->a_const->val_case == PG_QUERY__A__CONST__VAL_SVAL) {
        out->refresh_name = xstrdup(name->a_const->sval->sval);
    } else if (name->node_case == PG_QUERY__NODE__NODE_A_CONST) {
        set_error(out, "42883",
                  xstrdup("duro_refresh: the view must be a string such as 'schema.view'"));
        return;
    } else {
        set_error(out, "0A000",
                  xstrdup("duro_refresh: the view must be a string literal or a parameter"));
        return;
    }
    if (fc->n_args == 2) {
        const PgQuery__Node *force = strip_cast(fc->args[1]);
        bool v = false;
        if (force->node_case == PG_QUERY__NODE__NODE_PARAM_REF) {
            out->refresh_force_param = force->param_ref->number;
        } else if (force->node_case == PG_QUERY__NODE__NODE_A_CONST &&
                   force->a_const->val_case == PG_QUERY__A__CONST__VAL_BOOLVAL) {
            out->refresh_force = force->a_const->boolval->boolval;
        } else if (force->node_case == PG_QUERY__NODE__NODE_A_CONST &&
                   force->a_const->val_case == PG_QUERY__A__CONST__VAL_SVAL &&
                   parse_bool(force->a_const->sval->sval, &v) == 0) {
            out->refresh_force = v;
        } else if (force->node_case == PG_QUERY__NODE__NODE_A_CONST) {
            set_error(out, "42883", xstrdup("duro_refresh: force must be true or false"));
            goto fail;
        } else {
            set_error(out, "0A000",
                      xstrdup("duro_refresh: force must be a boolean literal or a parameter"));
            goto fail;
        }
    }
    out->kind = INTERCEPT_REFRESH;
    return;
fail:
    free(out->refresh_name);
    out->refresh_name = NULL;
    out->refresh_param = 0;
}

/* The duro_refresh call a whole statement consists of, or NULL: CALL f(..), SELECT f(..) [AS x],
 * SELECT * FROM f(..) [AS x]. */
static const PgQuery__FuncCall *standalone_refresh(const PgQuery__Node *stmt)
{
    if (stmt->node_case == PG_QUERY__NODE__NODE_CALL_STMT) {
        const PgQuery__FuncCall *fc = stmt->call_stmt->funccall;
        return fc != NULL && is_refresh_name(fc->funcname, fc->n_funcname) ? fc : NULL;
    }
    if (stmt->node_case != PG_QUERY__NODE__NODE_SELECT_STMT)
        return NULL;
    const PgQuery__SelectStmt *s = stmt->select_stmt;
    if (s->op != PG_QUERY__SET_OPERATION__SETOP_NONE || s->with_clause || s->into_clause ||
        s->where_clause || s->n_group_clause || s->having_clause || s->n_window_clause ||
        s->n_values_lists || s->n_sort_clause || s->limit_offset || s->limit_count ||
        s->n_locking_clause || s->n_distinct_clause || s->n_target_list != 1 ||
        s->target_list[0]->node_case != PG_QUERY__NODE__NODE_RES_TARGET)
        return NULL;
    const PgQuery__Node *val = s->target_list[0]->res_target->val;
    if (val == NULL)
        return NULL;
    if (s->n_from_clause == 0) {
        if (val->node_case != PG_QUERY__NODE__NODE_FUNC_CALL)
            return NULL;
        const PgQuery__FuncCall *fc = val->func_call;
        return is_refresh_name(fc->funcname, fc->n_funcname) ? fc : NULL;
    }
    if (s->n_from_clause != 1 || val->node_case != PG_QUERY__NODE__NODE_COLUMN_REF ||
        val->column_ref->n_fields != 1 ||
        val->column_ref->fields[0]->node_case != PG_QUERY__NODE__NODE_A_STAR ||
        s->from_clause[0]->node_case != PG_QUERY__NODE__NODE_RANGE_FUNCTION)
        return NULL;
    const PgQuery__RangeFunction *rf = s->from_clause[0]->range_function;
    if (rf->lateral || rf->ordinality || rf->is_rowsfrom || rf->n_functions != 1 ||
        rf->n_coldeflist > 0 || rf->functions[0]->node_case != PG_QUERY__NODE__NODE_LIST)
        return NULL;
    const PgQuery__List *pair = rf->functions[0]->list;
    if (pair->n_items < 1 || pair->items[0]->node_case != PG_QUERY__NODE__NODE_FUNC_CALL)
        return NULL;
    const PgQuery__FuncCall *fc = pair->items[0]->func_call;
    return is_refresh_name(fc->funcname, fc->n_funcname) ? fc : NULL;
}

/* Classifies one statement into *one (kind and error fields only); relations go to the shared
 * list in w->out. */
static void classify(Walk *w, const PgQuery__Node *stmt, InterceptInfo *one)
{
    SqlTreeVisitor visitor = {on_relation, on_message, w};
    if (sqltree_walk(&stmt->base, &visitor) == SQLTREE_TOO_DEEP)
        return; /* sqltree_parse turns such trees away; relayed as it is regardless */
    if (w->refresh_calls > 0) {
        const PgQuery__FuncCall *fc = w->refresh_calls == 1 ? standalone_refresh(stmt) : NULL;
        if (fc != NULL)
            read_refresh_call(one, fc);
        else
            set_error(one, "0A000",
                      xstrdup("duro_refresh must be called on its own: CALL "
                              "duro_refresh('schema.table'), SELECT duro_refresh(...) or SELECT "
                              "* FROM duro_refresh(...)"));
        return;
    }
    if (w->unknown_func != NULL) {
        set_error(one, "42883", xasprintf("function %s does not exist", w->unknown_func));
        return;
    }
    if (w->duro_relations == 0)
        return;
    if (w->unknown_duro != NULL) {
        set_error(
            one, "42P01",
            xasprintf(
                "relation \"%s\" does not exist (Duro has duro.status, duro.runs and duro.leader)",
                w->unknown_duro));
    } else if (stmt->node_case != PG_QUERY__NODE__NODE_SELECT_STMT ||
               stmt->select_stmt->into_clause != NULL || stmt->select_stmt->n_locking_clause > 0) {
        set_error(
            one, "0A000",
            xasprintf("%s is read-only and can only be read by a plain SELECT", w->first_duro));
    } else if (w->other_relations > 0) {
        set_error(one, "0A000",
                  xasprintf("%s cannot be combined with other relations (%s) in one query",
                            w->first_duro, w->first_other));
        one->copy_answers = true;
    } else {
        one->kind = INTERCEPT_VIRTUAL;
    }
}

int intercept_analyze(const char *sql, InterceptInfo *out)
{
    memset(out, 0, sizeof(*out));
    SqlTree parsed;
    if (sqltree_parse(sql, &parsed) < 0)
        goto done;
    const PgQuery__ParseResult *tree = parsed.result;
    out->n_statements = (int)tree->n_stmts;
    for (size_t i = 0; i < tree->n_stmts; i++) {
        const PgQuery__RawStmt *raw = tree->stmts[i];
        if (raw->stmt == NULL)
            continue;
        Walk w = {.out = out};
        InterceptInfo one = {0};
        classify(&w, raw->stmt, &one);
        free(w.first_duro);
        free(w.unknown_duro);
        free(w.unknown_func);
        free(w.first_other);
        if (one.kind == INTERCEPT_PASS)
            continue;
        if (tree->n_stmts > 1) {
            intercept_info_free(&one);
            if (out->kind != INTERCEPT_MIXED)
                set_error(out, "0A000",
                          xstrdup("send Duro's statements on their own, not with others in one "
                                  "query"));
            continue;
        }
        out->kind = one.kind;
        out->refresh_name = one.refresh_name;
        out->refresh_param = one.refresh_param;
        out->refresh_force = one.refresh_force;
        out->refresh_force_param = one.refresh_force_param;
        out->error_sqlstate = one.error_sqlstate;
        out->error_message = one.error_message;
        out->copy_answers = one.copy_answers;
    }
done:
    if (out->kind == INTERCEPT_VIRTUAL) {
        out->tree = parsed.result;
        parsed.result = NULL;
    }
    sqltree_free(&parsed);
    return 0;
}

void intercept_info_free(InterceptInfo *info)
{
    free(info->refresh_name);
    free(info->error_sqlstate);
    free(info->error_message);
    strvec_free(&info->relations);
    if (info->tree != NULL)
        pg_query__parse_result__free_unpacked(info->tree, NULL);
    memset(info, 0, sizeof(*info));
}

/* ---- The pre-filter ---- */

bool intercept_name_set_has(const char *ident, size_t len, void *set)
{
    const InterceptNameSet *s = set;
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strncmp(s->names[mid], ident, len);
        if (c == 0)
            c = s->names[mid][len] != '\0'; /* a longer name sorts after */
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static bool ident_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static bool ident_char(unsigned char c)
{
    return ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

/* Whether a folded identifier concerns Duro. */
static bool ident_concerns(const char *id, size_t n, InterceptIsName is_name, void *arg)
{
    if ((n == 4 && strncasecmp(id, "duro", 4) == 0) ||
        (n == 12 && strncasecmp(id, "duro_refresh", 12) == 0))
        return true;
    return is_name != NULL && n > 0 && is_name(id, n, arg);
}

/* The offset just past a string literal's closing quote starting at i (the opening quote), or
 * len when unterminated. backslash: E'' rules. */
static size_t skip_string(const char *s, size_t len, size_t i, bool backslash)
{
    for (i++; i < len; i++) {
        if (backslash && s[i] == '\\') {
            i++;
        } else if (s[i] == '\'') {
            if (i + 1 < len && s[i + 1] == '\'')
                i++;
            else
                return i + 1;
        }
    }
    return len;
}

/* When s[i] starts a dollar quote ($$ or $tag$), the offset past its end (len when unterminated);
 * otherwise 0. */
static size_t skip_dollar(const char *s, size_t len, size_t i)
{
    size_t t = i + 1;
    if (t < len && ident_start((unsigned char)s[t]))
        while (t < len && ident_char((unsigned char)s[t]) && s[t] != '$')
            t++;
    if (t >= len || s[t] != '$')
        return 0;
    size_t tag_len = t + 1 - i; /* "$tag$" */
    for (size_t k = t + 1; k + tag_len <= len; k++)
        if (s[k] == '$' && memcmp(s + k, s + i, tag_len) == 0)
            return k + tag_len;
    return len;
}

bool intercept_may_concern(const char *sql, size_t len, InterceptIsName is_name, void *arg)
{
    /* One byte past the limit, so that names_clip cuts identifiers as the parser does. */
    char id[NAMES_MAX_IDENT + 2];
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)sql[i];
        if (c == '-' && i + 1 < len && sql[i + 1] == '-') {
            while (i < len && sql[i] != '\n')
                i++;
        } else if (c == '/' && i + 1 < len && sql[i + 1] == '*') {
            int depth = 1;
            for (i += 2; i < len && depth > 0;) {
                if (sql[i] == '/' && i + 1 < len && sql[i + 1] == '*') {
                    depth++;
                    i += 2;
                } else if (sql[i] == '*' && i + 1 < len && sql[i + 1] == '/') {
                    depth--;
                    i += 2;
                } else {
                    i++;
                }
            }
        } else if (c == '\'') {
            i = skip_string(sql, len, i, false);
        } else if (c == '$') {
            size_t end = skip_dollar(sql, len, i);
            i = end > 0 ? end : i + 1;
        } else if (c == '"') {
            size_t n = 0;
            for (i++; i < len; i++) {
                if (sql[i] == '"') {
                    if (i + 1 < len && sql[i + 1] == '"')
                        i++;
                    else
                        break;
                }
                if (n <= NAMES_MAX_IDENT)
                    id[n++] = sql[i];
            }
            i++;
            n = names_clip(id, n);
            id[n] = '\0';
            if (ident_concerns(id, n, is_name, arg))
                return true;
        } else if (c >= '0' && c <= '9') {
            while (i < len && ((sql[i] >= '0' && sql[i] <= '9') || sql[i] == '.'))
                i++;
        } else if (ident_start(c)) {
            size_t start = i, n = 0;
            for (; i < len && ident_char((unsigned char)sql[i]); i++)
                if (n <= NAMES_MAX_IDENT) {
                    char ch = sql[i];
                    id[n++] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
                }
            n = names_clip(id, n);
            id[n] = '\0';
            if (i < len && sql[i] == '\'') {
                /* E'..' has backslash escapes; B'..', X'..', N'..' are plain strings. */
                bool e = i - start == 1 && (sql[start] == 'e' || sql[start] == 'E');
                i = skip_string(sql, len, i, e);
                continue;
            }
            if (ident_concerns(id, n, is_name, arg))
                return true;
        } else {
            i++;
        }
    }
    return false;
}

/* ---- View names given as strings ---- */

char *intercept_view_name(const char *arg)
{
    return names_parse_qualified(arg);
}
