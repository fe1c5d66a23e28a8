/*
 * Translating one whole SELECT over duro.status and duro.runs: FROM and joins, the select list and
 * its output names, WHERE, GROUP BY and HAVING with PostgreSQL's grouping checks, ORDER BY, LIMIT
 * and OFFSET, and the shapes that are not supported. Not for: expressions (translate.c).
 */
#include "sqlengine/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Adds a FROM item of a RangeVar; returns its index or -1. */
static int add_from(Tx *tx, const PgQuery__RangeVar *rv)
{
    if (rv->schemaname == NULL || strcmp(rv->schemaname, "duro") != 0 ||
        (rv->catalogname != NULL && rv->catalogname[0] != '\0')) {
        return vt_tx_fail(
            tx, "0A000", "only duro.status, duro.runs and duro.leader can be read here, not %s%s%s",
            rv->schemaname && rv->schemaname[0] ? rv->schemaname : "",
            rv->schemaname && rv->schemaname[0] ? "." : "", rv->relname);
    }
    int table = vt_table_index(rv->relname);
    if (table < 0)
        return vt_tx_fail(tx, "42P01", "relation \"duro.%s\" does not exist", rv->relname);
    if (rv->alias != NULL && rv->alias->n_colnames > 0)
        return vt_tx_fail(tx, "0A000", "duro.%s: column aliases in FROM are not supported",
                          rv->relname);
    if (tx->label == NULL)
        tx->label = vt_tables[table].label;
    tx->st->tables |= 1u << table;
    if (table == VT_TABLE_RUNS)
        tx->st->runs_refs++;
    grow_array((void **)&tx->from, &tx->from_cap, tx->n_from + 1, sizeof(FromItem));
    bool aliased = rv->alias != NULL && rv->alias->aliasname && rv->alias->aliasname[0];
    tx->from[tx->n_from] =
        (FromItem){aliased ? rv->alias->aliasname : vt_tables[table].name, aliased, table};
    return (int)tx->n_from++;
}

/* Sets the label from the first relation of the FROM clause, before anything can fail. */
static void find_label(Tx *tx, const PgQuery__Node *n)
{
    while (n != NULL && tx->label == NULL) {
        if (n->node_case == PG_QUERY__NODE__NODE_RANGE_VAR) {
            int table = vt_table_index(n->range_var->relname);
            tx->label = table >= 0 ? vt_tables[table].label : "duro.status";
            return;
        }
        if (n->node_case != PG_QUERY__NODE__NODE_JOIN_EXPR)
            return;
        n = n->join_expr->larg;
    }
}

/* A FROM clause item as SQLite SQL (*sql, caller frees). */
static int translate_from(Tx *tx, const PgQuery__Node *n, char **sql)
{
    if (n->node_case == PG_QUERY__NODE__NODE_RANGE_VAR) {
        int i = add_from(tx, n->range_var);
        if (i < 0)
            return -1;
        *sql = xasprintf("\"%s\" AS \"t%d\"", vt_tables[tx->from[i].table].name, i);
        return 0;
    }
    if (n->node_case == PG_QUERY__NODE__NODE_JOIN_EXPR) {
        const PgQuery__JoinExpr *j = n->join_expr;
        if (j->is_natural || j->n_using_clause > 0)
            return vt_unsupported(tx, "NATURAL joins and USING");
        if (j->alias != NULL)
            return vt_unsupported(tx, "aliases of joins");
        static const char *const kinds[] = {"", "INNER", "LEFT", "FULL", "RIGHT"};
        int k = j->jointype;
        if (k < 1 || k > 4)
            return vt_unsupported(tx, "this join type");
        char *l = NULL, *r = NULL;
        if (translate_from(tx, j->larg, &l) != 0 || translate_from(tx, j->rarg, &r) != 0) {
            free(l);
            free(r);
            return -1;
        }
        Expr q = {0};
        int rc = 0;
        if (j->quals != NULL) {
            Clause saved = tx->clause;
            tx->clause = CL_JOIN;
            rc = vt_translate(tx, j->quals, &q);
            if (rc == 0)
                rc = vt_require_bool(tx, &q, "JOIN/ON");
            tx->clause = saved;
        }
        if (rc == 0)
            *sql = q.sql ? xasprintf("%s %s JOIN %s ON %s", l, kinds[k], r, q.sql)
                         : xasprintf("%s CROSS JOIN %s", l, r);
        vt_expr_clear(&q);
        free(l);
        free(r);
        return rc;
    }
    if (n->node_case == PG_QUERY__NODE__NODE_RANGE_SUBSELECT)
        return vt_unsupported(tx, "subqueries in FROM");
    if (n->node_case == PG_QUERY__NODE__NODE_RANGE_FUNCTION)
        return vt_unsupported(tx, "functions in FROM");
    return vt_unsupported(tx, "this FROM item");
}

/* The output name PostgreSQL gives an expression without an alias. */
static const char *figure_name(const Expr *e)
{
    return e->name_strength > 0 && e->name != NULL ? e->name : "?column?";
}

/* One output column in progress. */
typedef struct Target {
    char *sql;
    char *name;
    Ty type;
    int scale;
} Target;

static void targets_free(Target *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].sql);
        free(t[i].name);
    }
    free(t);
}

/* Translates the select list into *targets; checks grouping when tx->grouped. */
static int translate_targets(Tx *tx, const PgQuery__SelectStmt *s, Target **targets, size_t *n)
{
    size_t cap = 0;
    *targets = NULL;
    *n = 0;
    tx->clause = CL_TARGET;
    for (size_t i = 0; i < s->n_target_list; i++) {
        const PgQuery__Node *node = s->target_list[i];
        if (node->node_case != PG_QUERY__NODE__NODE_RES_TARGET)
            return vt_tx_fail(tx, "42601", "bad select list");
        const PgQuery__ResTarget *rt = node->res_target;
        const PgQuery__Node *val = rt->val;
        if (val != NULL && val->node_case == PG_QUERY__NODE__NODE_COLUMN_REF) {
            const PgQuery__ColumnRef *cr = val->column_ref;
            if (cr->n_fields > 0 &&
                cr->fields[cr->n_fields - 1]->node_case == PG_QUERY__NODE__NODE_A_STAR) {
                const char *rel =
                    cr->n_fields >= 2 ? vt_node_str(cr->fields[cr->n_fields - 2]) : NULL;
                bool any = false;
                if (cr->n_fields > 3 ||
                    (cr->n_fields == 3 &&
                     strcmp(vt_node_str(cr->fields[0]) ? vt_node_str(cr->fields[0]) : "", "duro") !=
                         0))
                    return vt_tx_fail(tx, "42P01", "missing FROM-clause entry");
                for (size_t f = 0; f < tx->n_from; f++) {
                    if (rel != NULL && strcmp(tx->from[f].name, rel) != 0)
                        continue;
                    any = true;
                    for (size_t c = 0; c < vt_tables[tx->from[f].table].n; c++) {
                        const ColDef *cd = &vt_tables[tx->from[f].table].cols[c];
                        char *sql = xasprintf("\"t%zu\".\"%s\"", f, cd->name);
                        if (tx->grouped && !strvec_contains(&tx->group_sql, sql)) {
                            free(sql);
                            return vt_tx_fail(tx, "42803",
                                              "column \"%s.%s\" must appear in the GROUP BY clause "
                                              "or be used in an aggregate function",
                                              tx->from[f].name, cd->name);
                        }
                        grow_array((void **)targets, &cap, *n + 1, sizeof(Target));
                        (*targets)[(*n)++] = (Target){sql, xstrdup(cd->name), cd->type, -1};
                    }
                }
                if (!any)
                    return rel ? vt_tx_fail(tx, "42P01",
                                            "missing FROM-clause entry for table \"%s\"", rel)
                               : vt_tx_fail(tx, "42601",
                                            "SELECT * with no tables specified is not "
                                            "valid");
                continue;
            }
        }
        Expr e;
        if (vt_translate(tx, val, &e) != 0 || vt_resolve(tx, &e) != 0) {
            vt_expr_clear(&e);
            return -1;
        }
        if (e.ungrouped != NULL) {
            vt_tx_fail(
                tx, "42803",
                "column \"%s\" must appear in the GROUP BY clause or be used in an aggregate "
                "function",
                e.ungrouped);
            vt_expr_clear(&e);
            return -1;
        }
        grow_array((void **)targets, &cap, *n + 1, sizeof(Target));
        (*targets)[(*n)++] = (Target){
            e.sql, xstrdup(rt->name && rt->name[0] ? rt->name : figure_name(&e)), e.type, e.scale};
        e.sql = NULL;
        vt_expr_clear(&e);
    }
    return 0;
}

/* A position ("order by 2") or output name ("order by n") naming a select-list item: its
 * 1-based index, 0 when n is neither, -1 on error. by_name: output names count. */
static int target_ref(Tx *tx, const PgQuery__Node *n, bool by_name, const char *clause)
{
    if (n->node_case == PG_QUERY__NODE__NODE_A_CONST &&
        n->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
        int k = n->a_const->ival->ival;
        if (k < 1 || (size_t)k > tx->n_targets)
            return vt_tx_fail(tx, "42P10", "%s position %d is not in select list", clause, k);
        return k;
    }
    if (by_name && n->node_case == PG_QUERY__NODE__NODE_COLUMN_REF &&
        n->column_ref->n_fields == 1) {
        const char *name = vt_node_str(n->column_ref->fields[0]);
        for (size_t i = 0; name != NULL && i < tx->n_targets; i++)
            if (strcmp(tx->target_name[i], name) == 0)
                return (int)i + 1;
    }
    return 0;
}

/* Translates a LIMIT/OFFSET expression (int8) into *sql. */
static int translate_limit(Tx *tx, const PgQuery__Node *n, const char *dflt, char **sql)
{
    Expr e;
    tx->clause = CL_LIMIT;
    if (vt_translate(tx, n, &e) != 0 || vt_coerce(tx, &e, TY_INT8) != 0) {
        vt_expr_clear(&e);
        return -1;
    }
    if (e.type != TY_INT8 && e.type != TY_INT4) {
        vt_tx_fail(tx, "42804", "argument of LIMIT must be type bigint, not type %s",
                   vt_ty_info[e.type].name);
        vt_expr_clear(&e);
        return -1;
    }
    *sql = xasprintf("coalesce(%s, %s)", e.sql, dflt);
    vt_expr_clear(&e);
    return 0;
}

/* Requires e (translated in a grouped query) to use columns only in aggregates or grouped. */
static int check_grouped(Tx *tx, const Expr *e)
{
    if (e->ungrouped == NULL)
        return 0;
    return vt_tx_fail(tx, "42803",
                      "column \"%s\" must appear in the GROUP BY clause or be used in an aggregate "
                      "function",
                      e->ungrouped);
}

/* GROUP BY items: input columns first, then positions and output names; into list. */
static int translate_group_by(Tx *tx, const PgQuery__SelectStmt *s, StrVec *list)
{
    for (size_t i = 0; i < s->n_group_clause; i++) {
        const PgQuery__Node *g = s->group_clause[i];
        Expr e;
        if (g->node_case == PG_QUERY__NODE__NODE_GROUPING_SET)
            return vt_unsupported(tx, "ROLLUP, CUBE and GROUPING SETS");
        tx->clause = CL_GROUP;
        int k = target_ref(tx, g, false, "GROUP BY");
        if (k < 0)
            return -1;
        if (k == 0 && vt_translate(tx, g, &e) != 0) {
            vt_expr_clear(&e);
            /* an output name when no input column has it */
            if (strcmp(tx->err->sqlstate, "42703") != 0 ||
                (k = target_ref(tx, g, true, "GROUP BY")) <= 0)
                return -1;
            tx->err->sqlstate[0] = '\0';
        }
        if (k > 0) {
            strvec_push(&tx->group_sql, tx->target_sql[k - 1]);
            strvec_push(list, tx->target_sql[k - 1]);
            continue;
        }
        if (vt_resolve(tx, &e) != 0) {
            vt_expr_clear(&e);
            return -1;
        }
        strvec_push(&tx->group_sql, e.sql);
        strvec_push(list, e.sql);
        vt_expr_clear(&e);
    }
    return 0;
}

/* ORDER BY: positions and output names first, then expressions; PostgreSQL's NULLs order. */
static int translate_order_by(Tx *tx, const PgQuery__SelectStmt *s, StrVec *list)
{
    for (size_t i = 0; i < s->n_sort_clause; i++) {
        const PgQuery__Node *sn = s->sort_clause[i];
        if (sn->node_case != PG_QUERY__NODE__NODE_SORT_BY)
            return vt_tx_fail(tx, "42601", "bad ORDER BY");
        const PgQuery__SortBy *sb = sn->sort_by;
        if (sb->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_USING)
            return vt_unsupported(tx, "ORDER BY ... USING");
        tx->clause = CL_ORDER;
        int k = target_ref(tx, sb->node, true, "ORDER BY");
        char *key;
        if (k < 0)
            return -1;
        if (k > 0) {
            key = xasprintf("%d", k);
        } else {
            Expr e;
            if (vt_translate(tx, sb->node, &e) != 0 || vt_resolve(tx, &e) != 0 ||
                check_grouped(tx, &e) != 0) {
                vt_expr_clear(&e);
                return -1;
            }
            key = e.sql;
            e.sql = NULL;
            vt_expr_clear(&e);
        }
        bool desc = sb->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_DESC;
        bool nulls_first =
            sb->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_FIRST ||
            (sb->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_DEFAULT && desc);
        strvec_push_owned(list, xasprintf("%s %s NULLS %s", key, desc ? "DESC" : "ASC",
                                          nulls_first ? "FIRST" : "LAST"));
        free(key);
    }
    return 0;
}

/* Checks what a SELECT uses that is not supported at all. */
static int check_select_shape(Tx *tx, const PgQuery__SelectStmt *s, bool *distinct)
{
    if (s->op != PG_QUERY__SET_OPERATION__SETOP_NONE)
        return vt_unsupported(tx, "UNION, INTERSECT and EXCEPT");
    if (s->with_clause != NULL)
        return vt_unsupported(tx, "WITH queries");
    if (s->into_clause != NULL)
        return vt_unsupported(tx, "SELECT INTO");
    if (s->n_locking_clause > 0)
        return vt_unsupported(tx, "FOR UPDATE and FOR SHARE");
    if (s->n_window_clause > 0)
        return vt_unsupported(tx, "window functions");
    if (s->n_values_lists > 0)
        return vt_unsupported(tx, "VALUES");
    if (s->group_distinct)
        return vt_unsupported(tx, "GROUP BY DISTINCT");
    if (s->limit_option == PG_QUERY__LIMIT_OPTION__LIMIT_OPTION_WITH_TIES)
        return vt_unsupported(tx, "FETCH ... WITH TIES");
    *distinct = false;
    for (size_t i = 0; i < s->n_distinct_clause; i++) {
        if (s->distinct_clause[i] != NULL &&
            s->distinct_clause[i]->node_case != PG_QUERY__NODE__NODE__NOT_SET)
            return vt_unsupported(tx, "DISTINCT ON");
        *distinct = true;
    }
    return 0;
}

/* Translates one SELECT into SQLite SQL (*sql) and the statement's columns. */
int vt_translate_select(Tx *tx, const PgQuery__SelectStmt *s, char **sql)
{
    StrVec parts = {0}, list = {0};
    Target *targets = NULL;
    size_t n_targets = 0;
    Expr e = {0};
    char *from_sql = NULL, *where_sql = NULL, *group_sql = NULL, *having_sql = NULL;
    char *order_sql = NULL, *limit_sql = NULL, *offset_sql = NULL;
    bool distinct = false;
    int rc = -1;
    for (size_t i = 0; i < s->n_from_clause; i++)
        find_label(tx, s->from_clause[i]);
    if (tx->label == NULL)
        tx->label = "duro";
    if (check_select_shape(tx, s, &distinct) != 0)
        goto done;

    for (size_t i = 0; i < s->n_from_clause; i++) {
        char *item;
        if (translate_from(tx, s->from_clause[i], &item) != 0)
            goto done;
        strvec_push_owned(&list, item);
    }
    from_sql = list.n ? strvec_join(&list, ", ") : NULL;
    strvec_clear(&list);

    if (s->where_clause != NULL) {
        tx->clause = CL_WHERE;
        if (vt_translate(tx, s->where_clause, &e) != 0 || vt_require_bool(tx, &e, "WHERE") != 0)
            goto done;
        where_sql = e.sql;
        e.sql = NULL;
        vt_expr_clear(&e);
    }

    /* The select list, once to learn names, positions and whether it aggregates. */
    tx->grouped = false;
    if (translate_targets(tx, s, &targets, &n_targets) != 0)
        goto done;
    tx->n_targets = n_targets;
    tx->target_sql = xcalloc(n_targets ? n_targets : 1, sizeof(char *));
    tx->target_name = xcalloc(n_targets ? n_targets : 1, sizeof(char *));
    for (size_t i = 0; i < n_targets; i++) {
        tx->target_sql[i] = targets[i].sql;
        tx->target_name[i] = targets[i].name;
    }
    bool grouped = s->n_group_clause > 0 || s->having_clause != NULL || tx->saw_agg;

    if (translate_group_by(tx, s, &list) != 0)
        goto done;
    group_sql = list.n ? strvec_join(&list, ", ") : NULL;
    strvec_clear(&list);

    /* The select list again, now checking that it is grouped. */
    if (grouped) {
        tx->grouped = true;
        Target *again = NULL;
        size_t n_again = 0;
        int r = translate_targets(tx, s, &again, &n_again);
        targets_free(again, n_again);
        if (r != 0)
            goto done;
    }

    if (s->having_clause != NULL) {
        tx->clause = CL_HAVING;
        if (vt_translate(tx, s->having_clause, &e) != 0 || vt_require_bool(tx, &e, "HAVING") != 0 ||
            check_grouped(tx, &e) != 0)
            goto done;
        having_sql = e.sql;
        e.sql = NULL;
        vt_expr_clear(&e);
    }

    if (translate_order_by(tx, s, &list) != 0)
        goto done;
    order_sql = list.n ? strvec_join(&list, ", ") : NULL;
    strvec_clear(&list);

    if (s->limit_count != NULL && translate_limit(tx, s->limit_count, "-1", &limit_sql) != 0)
        goto done;
    if (s->limit_offset != NULL && translate_limit(tx, s->limit_offset, "0", &offset_sql) != 0)
        goto done;

    for (size_t i = 0; i < n_targets; i++)
        strvec_push(&list, targets[i].sql);
    char *select_list = list.n ? strvec_join(&list, ", ") : xstrdup("NULL");
    strvec_push_owned(&parts, xasprintf("SELECT %s%s", distinct ? "DISTINCT " : "", select_list));
    free(select_list);
    if (from_sql)
        strvec_push_owned(&parts, xasprintf("FROM %s", from_sql));
    if (where_sql)
        strvec_push_owned(&parts, xasprintf("WHERE %s", where_sql));
    if (group_sql)
        strvec_push_owned(&parts, xasprintf("GROUP BY %s", group_sql));
    if (having_sql)
        strvec_push_owned(&parts, xasprintf("HAVING %s", having_sql));
    if (order_sql)
        strvec_push_owned(&parts, xasprintf("ORDER BY %s", order_sql));
    if (limit_sql || offset_sql)
        strvec_push_owned(&parts, xasprintf("LIMIT %s OFFSET %s", limit_sql ? limit_sql : "-1",
                                            offset_sql ? offset_sql : "0"));
    *sql = strvec_join(&parts, " ");

    VtStatement *st = tx->st;
    st->ncols = n_targets;
    st->cols = xcalloc(n_targets ? n_targets : 1, sizeof(VtColumn));
    st->col_ty = xcalloc(n_targets ? n_targets : 1, sizeof(Ty));
    st->col_scale = xcalloc(n_targets ? n_targets : 1, sizeof(int));
    for (size_t i = 0; i < n_targets; i++) {
        Ty t = targets[i].type == TY_UNKNOWN ? TY_TEXT : targets[i].type;
        st->cols[i] = (VtColumn){xstrdup(targets[i].name), vt_ty_info[t].oid, vt_ty_info[t].len};
        st->col_ty[i] = t;
        st->col_scale[i] = targets[i].scale;
    }
    rc = 0;
done:
    free(from_sql);
    free(where_sql);
    free(group_sql);
    free(having_sql);
    free(order_sql);
    free(limit_sql);
    free(offset_sql);
    vt_expr_clear(&e);
    strvec_free(&parts);
    strvec_free(&list);
    targets_free(targets, n_targets);
    free(tx->target_sql);
    free(tx->target_name);
    tx->target_sql = tx->target_name = NULL;
    return rc;
}
