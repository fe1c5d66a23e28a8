/*
 * Reads the SQL of a view, its tests or a processor's DDL with libpg_query: which relations it
 * reads (a walk over the whole parse tree, with WITH scoping) and which columns it outputs
 * (PostgreSQL's FigureColname rules). Text the parser rejects falls back to libpg_query's
 * tokenizer. Not for: resolving names against the repository or deciding what is a managed view.
 */
#include "catalog/sqlinfo.h"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes; the tokenizer path does the same. */
#define SQLINFO_MAX_IDENT 63
/* Parse trees nested deeper than this many messages are read from tokens instead (see below). */
#define SQLINFO_MAX_DEPTH 1000

/* The result being built, its array capacity, and the first error met. */
typedef struct Analysis {
    const char *sql;
    SqlInfo *out;
    size_t relations_cap;
    char *error;
    int error_offset;
} Analysis;

/* Records the first failure (the message is owned by the Analysis); always returns -1. */
static int fail(Analysis *a, int offset, const char *fmt, ...) PRINTF_LIKE(3, 4);

static int fail(Analysis *a, int offset, const char *fmt, ...)
{
    if (a->error == NULL) {
        va_list ap;
        va_start(ap, fmt);
        a->error = xvasprintf(fmt, ap);
        va_end(ap);
        a->error_offset = offset;
    }
    return -1;
}

/* Appends a relation, taking ownership of schema (may be NULL) and name. */
static void add_relation_owned(Analysis *a, char *schema, char *name, int location)
{
    SqlInfo *out = a->out;
    grow_array((void **)&out->relations, &a->relations_cap, out->n_relations + 1,
               sizeof(SqlRelation));
    out->relations[out->n_relations++] = (SqlRelation){schema, name, location};
}

/* qsort order: by position in the text. */
static int relation_cmp(const void *pa, const void *pb)
{
    const SqlRelation *x = pa, *y = pb;
    return (x->location > y->location) - (x->location < y->location);
}

/* A protobuf string field that is set (protobuf-c stores unset strings as ""). */
static bool str_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* The byte offset of the 1-based character position libpg_query reports (the text is UTF-8). */
static int cursor_to_offset(const char *sql, int cursorpos)
{
    if (cursorpos <= 0)
        return -1;
    int off = 0;
    for (int c = 0; c < cursorpos - 1 && sql[off] != '\0'; c++) {
        off++;
        while ((sql[off] & 0xC0) == 0x80)
            off++;
    }
    return off;
}

/* The offset of the first character at or after off that is not whitespace or a comment. */
static int skip_blank(const char *sql, int off)
{
    for (;;) {
        char c = sql[off];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            off++;
        } else if (c == '-' && sql[off + 1] == '-') {
            while (sql[off] != '\0' && sql[off] != '\n')
                off++;
        } else if (c == '/' && sql[off + 1] == '*') {
            int depth = 1; /* PostgreSQL block comments nest */
            off += 2;
            while (sql[off] != '\0' && depth > 0) {
                if (sql[off] == '/' && sql[off + 1] == '*') {
                    depth++;
                    off += 2;
                } else if (sql[off] == '*' && sql[off + 1] == '/') {
                    depth--;
                    off += 2;
                } else {
                    off++;
                }
            }
        } else {
            return off;
        }
    }
}

/* ---- Statement names for messages ---- */

/* Node types whose message name does not read as the SQL command. */
static const struct {
    const char *message;
    const char *command;
} statement_names[] = {
    {"VariableSetStmt", "SET"},           {"VariableShowStmt", "SHOW"},
    {"IndexStmt", "CREATE INDEX"},        {"ViewStmt", "CREATE VIEW"},
    {"CreateStmt", "CREATE TABLE"},       {"CreateTrigStmt", "CREATE TRIGGER"},
    {"CreateSeqStmt", "CREATE SEQUENCE"}, {"CreatedbStmt", "CREATE DATABASE"},
    {"DropdbStmt", "DROP DATABASE"},      {"RuleStmt", "CREATE RULE"},
    {"GrantRoleStmt", "GRANT"},           {"TransactionStmt", "a transaction command"},
    {"ExecuteStmt", "EXECUTE"},
};

/* The SQL command a statement node stands for ("INSERT", "CREATE TABLE AS"); caller frees. */
static char *statement_name(const PgQuery__Node *node)
{
    const PgQuery__SelectStmt *sel;
    const ProtobufCFieldDescriptor *f;
    const ProtobufCMessage *msg;

    if (node->node_case == PG_QUERY__NODE__NODE_SELECT_STMT) {
        sel = node->select_stmt;
        return xstrdup(sel->into_clause ? "SELECT INTO" : "SELECT");
    }
    if (node->node_case == PG_QUERY__NODE__NODE_GRANT_STMT)
        return xstrdup(node->grant_stmt->is_grant ? "GRANT" : "REVOKE");
    if (node->node_case == PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT &&
        node->create_table_as_stmt->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW)
        return xstrdup("CREATE MATERIALIZED VIEW");
    f = protobuf_c_message_descriptor_get_field(&pg_query__node__descriptor, node->node_case);
    if (f == NULL)
        return xstrdup("an unknown statement");
    msg = *(const ProtobufCMessage *const *)((const char *)node + f->offset);
    const char *type = msg->descriptor->short_name;
    for (size_t i = 0; i < ARRAY_LEN(statement_names); i++)
        if (strcmp(statement_names[i].message, type) == 0)
            return xstrdup(statement_names[i].command);

    /* CamelCase without the "Stmt" suffix, as upper-case words: AlterTableStmt -> ALTER TABLE. */
    size_t len = strlen(type);
    if (len > 4 && strcmp(type + len - 4, "Stmt") == 0)
        len -= 4;
    char *name = xmalloc(2 * len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = type[i];
        if (c >= 'A' && c <= 'Z' && i > 0)
            name[n++] = ' ';
        name[n++] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
    }
    name[n] = '\0';
    return name;
}

/* ---- Relations: a walk over every message of the parse tree ---- */

/* The CTE names visible at a point of the tree: the first n_visible of ctes, then outer. */
typedef struct CteScope {
    const struct CteScope *outer;
    PgQuery__Node *const *ctes;
    size_t n_visible;
} CteScope;

/* Whether an unqualified name refers to a CTE in scope. */
static bool cte_in_scope(const CteScope *scope, const char *name)
{
    for (; scope != NULL; scope = scope->outer)
        for (size_t i = 0; i < scope->n_visible; i++) {
            const PgQuery__Node *n = scope->ctes[i];
            if (n->node_case == PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR &&
                strcmp(n->common_table_expr->ctename, name) == 0)
                return true;
        }
    return false;
}

static int walk_message(Analysis *a, const ProtobufCMessage *msg, const CteScope *scope,
                        const ProtobufCMessage *skip);

/* Records a RangeVar unless it names a CTE in scope. */
static void walk_range_var(Analysis *a, const PgQuery__RangeVar *rv, const CteScope *scope)
{
    bool qualified = str_set(rv->schemaname) || str_set(rv->catalogname);
    if (!qualified && cte_in_scope(scope, rv->relname))
        return;
    add_relation_owned(a, str_set(rv->schemaname) ? xstrdup(rv->schemaname) : NULL,
                       xstrdup(rv->relname), rv->location);
}

/* Walks a WITH clause's bodies, each in its own scope, then the rest of its statement. */
static int walk_with(Analysis *a, const ProtobufCMessage *stmt, const PgQuery__WithClause *with,
                     const CteScope *scope)
{
    for (size_t i = 0; i < with->n_ctes; i++) {
        const PgQuery__Node *n = with->ctes[i];
        if (n->node_case != PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR)
            continue;
        const PgQuery__CommonTableExpr *cte = n->common_table_expr;
        const PgQuery__Node *body = cte->ctequery;
        if (body == NULL)
            continue;
        if (body->node_case != PG_QUERY__NODE__NODE_SELECT_STMT) {
            char *what = statement_name(body);
            fail(a, cte->location, "a view may not modify data (%s in WITH)", what);
            free(what);
            return -1;
        }
        /* Non-recursive: CTE i sees the ones before it; recursive: all of them. */
        CteScope inner = {scope, with->ctes, with->recursive ? with->n_ctes : i};
        if (walk_message(a, &body->base, &inner, NULL) < 0)
            return -1;
    }
    CteScope all = {scope, with->ctes, with->n_ctes};
    return walk_message(a, stmt, &all, &with->base);
}

/*
 * Records every relation under msg. Generic over the protobuf-c descriptors so that no node type
 * is missed; RangeVar, WITH scoping, SELECT INTO and FOR UPDATE OF are the special cases.
 * skip is a child message not to descend into (the WITH clause already walked).
 */
static int walk_message(Analysis *a, const ProtobufCMessage *msg, const CteScope *scope,
                        const ProtobufCMessage *skip)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    const char *base = (const char *)msg;

    if (desc == &pg_query__node__descriptor) {
        const PgQuery__Node *node = (const PgQuery__Node *)msg;
        if (node->node_case == PG_QUERY__NODE__NODE__NOT_SET)
            return 0;
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field(desc, node->node_case);
        if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE)
            return 0;
        const ProtobufCMessage *child = *(const ProtobufCMessage *const *)(base + f->offset);
        return child ? walk_message(a, child, scope, NULL) : 0;
    }
    if (desc == &pg_query__range_var__descriptor) {
        walk_range_var(a, (const PgQuery__RangeVar *)msg, scope);
        return 0;
    }
    if (desc == &pg_query__locking_clause__descriptor)
        return 0; /* FOR UPDATE OF names range-table aliases, not relations */
    if (desc == &pg_query__select_stmt__descriptor) {
        const PgQuery__SelectStmt *sel = (const PgQuery__SelectStmt *)msg;
        if (sel->into_clause != NULL) {
            int at = sel->into_clause->rel ? sel->into_clause->rel->location : -1;
            return fail(a, at, "expected a SELECT statement, found SELECT INTO");
        }
        if (sel->with_clause != NULL && skip != &sel->with_clause->base)
            return walk_with(a, msg, sel->with_clause, scope);
    }

    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const ProtobufCMessage *const *items =
                *(const ProtobufCMessage *const *const *)(base + f->offset);
            for (size_t j = 0; j < n; j++)
                if (items[j] != NULL && walk_message(a, items[j], scope, NULL) < 0)
                    return -1;
        } else {
            const ProtobufCMessage *child = *(const ProtobufCMessage *const *)(base + f->offset);
            if (child != NULL && child != skip && walk_message(a, child, scope, NULL) < 0)
                return -1;
        }
    }
    return 0;
}

/* ---- Output column names (PostgreSQL's FigureColname) ---- */

static bool first_column(const PgQuery__SelectStmt *sel, const char **name, bool *known);

/* The name of a String node, or NULL. */
static const char *string_of(const PgQuery__Node *n)
{
    return (n != NULL && n->node_case == PG_QUERY__NODE__NODE_STRING) ? n->string->sval : NULL;
}

/* Whether a target is "*" or "x.*", which expands to columns only the database knows. */
static bool is_star_target(const PgQuery__Node *val)
{
    PgQuery__Node **items = NULL;
    size_t n = 0;
    if (val == NULL)
        return false;
    if (val->node_case == PG_QUERY__NODE__NODE_COLUMN_REF) {
        items = val->column_ref->fields;
        n = val->column_ref->n_fields;
    } else if (val->node_case == PG_QUERY__NODE__NODE_A_INDIRECTION) {
        items = val->a_indirection->indirection;
        n = val->a_indirection->n_indirection;
    }
    return n > 0 && items[n - 1]->node_case == PG_QUERY__NODE__NODE_A_STAR;
}

/*
 * FigureColnameInternal: sets *name (borrowed from the tree or a literal) and returns the
 * confidence, 0 (none), 1 (second best) or 2 (good). *known turns false when the name depends
 * on a "*" inside a scalar subquery.
 */
static int figure_colname(const PgQuery__Node *n, const char **name, bool *known)
{
    int strength;
    if (n == NULL)
        return 0;
    switch (n->node_case) {
    case PG_QUERY__NODE__NODE_COLUMN_REF: {
        const char *last = NULL;
        for (size_t i = 0; i < n->column_ref->n_fields; i++)
            if (string_of(n->column_ref->fields[i]))
                last = string_of(n->column_ref->fields[i]);
        if (last == NULL)
            return 0;
        *name = last;
        return 2;
    }
    case PG_QUERY__NODE__NODE_A_INDIRECTION: {
        const char *last = NULL;
        for (size_t i = 0; i < n->a_indirection->n_indirection; i++)
            if (string_of(n->a_indirection->indirection[i]))
                last = string_of(n->a_indirection->indirection[i]);
        if (last != NULL) {
            *name = last;
            return 2;
        }
        return figure_colname(n->a_indirection->arg, name, known);
    }
    case PG_QUERY__NODE__NODE_FUNC_CALL: {
        const PgQuery__FuncCall *fc = n->func_call;
        if (fc->n_funcname == 0 || string_of(fc->funcname[fc->n_funcname - 1]) == NULL)
            return 0;
        *name = string_of(fc->funcname[fc->n_funcname - 1]);
        return 2;
    }
    case PG_QUERY__NODE__NODE_A_EXPR:
        if (n->a_expr->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NULLIF) {
            *name = "nullif";
            return 2;
        }
        return 0;
    case PG_QUERY__NODE__NODE_TYPE_CAST: {
        const PgQuery__TypeName *tn = n->type_cast->type_name;
        strength = figure_colname(n->type_cast->arg, name, known);
        if (strength <= 1 && tn != NULL && tn->n_names > 0 &&
            string_of(tn->names[tn->n_names - 1]) != NULL) {
            *name = string_of(tn->names[tn->n_names - 1]);
            return 1;
        }
        return strength;
    }
    case PG_QUERY__NODE__NODE_COLLATE_CLAUSE:
        return figure_colname(n->collate_clause->arg, name, known);
    case PG_QUERY__NODE__NODE_GROUPING_FUNC:
        *name = "grouping";
        return 2;
    case PG_QUERY__NODE__NODE_SUB_LINK:
        switch (n->sub_link->sub_link_type) {
        case PG_QUERY__SUB_LINK_TYPE__EXISTS_SUBLINK:
            *name = "exists";
            return 2;
        case PG_QUERY__SUB_LINK_TYPE__ARRAY_SUBLINK:
            *name = "array";
            return 2;
        case PG_QUERY__SUB_LINK_TYPE__EXPR_SUBLINK: {
            /* The name of the subquery's only column, whatever its strength there. */
            const PgQuery__Node *sub = n->sub_link->subselect;
            if (sub == NULL || sub->node_case != PG_QUERY__NODE__NODE_SELECT_STMT)
                return 0;
            return first_column(sub->select_stmt, name, known) ? 2 : 0;
        }
        default:
            return 0;
        }
    case PG_QUERY__NODE__NODE_CASE_EXPR:
        strength = figure_colname(n->case_expr->defresult, name, known);
        if (strength <= 1) {
            *name = "case";
            return 1;
        }
        return strength;
    case PG_QUERY__NODE__NODE_A_ARRAY_EXPR:
        *name = "array";
        return 2;
    case PG_QUERY__NODE__NODE_ROW_EXPR:
        *name = "row";
        return 2;
    case PG_QUERY__NODE__NODE_COALESCE_EXPR:
        *name = "coalesce";
        return 2;
    case PG_QUERY__NODE__NODE_MIN_MAX_EXPR:
        if (n->min_max_expr->op == PG_QUERY__MIN_MAX_OP__IS_GREATEST) {
            *name = "greatest";
            return 2;
        }
        if (n->min_max_expr->op == PG_QUERY__MIN_MAX_OP__IS_LEAST) {
            *name = "least";
            return 2;
        }
        return 0;
    case PG_QUERY__NODE__NODE_SQLVALUE_FUNCTION:
        switch (n->sqlvalue_function->op) {
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_DATE:
            *name = "current_date";
            return 2;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIME:
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIME_N:
            *name = "current_time";
            return 2;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP:
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP_N:
            *name = "current_timestamp";
            return 2;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIME:
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIME_N:
            *name = "localtime";
            return 2;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP:
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP_N:
            *name = "localtimestamp";
            return 2;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_ROLE:
            *name = "current_role";
            return 2;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_USER:
            *name = "current_user";
            return 2;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_USER:
            *name = "user";
            return 2;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_SESSION_USER:
            *name = "session_user";
            return 2;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_CATALOG:
            *name = "current_catalog";
            return 2;
        case PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_SCHEMA:
            *name = "current_schema";
            return 2;
        default:
            return 0;
        }
    case PG_QUERY__NODE__NODE_XML_EXPR: {
        static const char *const xml_names[] = {
            [PG_QUERY__XML_EXPR_OP__IS_XMLCONCAT] = "xmlconcat",
            [PG_QUERY__XML_EXPR_OP__IS_XMLELEMENT] = "xmlelement",
            [PG_QUERY__XML_EXPR_OP__IS_XMLFOREST] = "xmlforest",
            [PG_QUERY__XML_EXPR_OP__IS_XMLPARSE] = "xmlparse",
            [PG_QUERY__XML_EXPR_OP__IS_XMLPI] = "xmlpi",
            [PG_QUERY__XML_EXPR_OP__IS_XMLROOT] = "xmlroot",
            [PG_QUERY__XML_EXPR_OP__IS_XMLSERIALIZE] = "xmlserialize",
        };
        unsigned op = (unsigned)n->xml_expr->op;
        if (op < ARRAY_LEN(xml_names) && xml_names[op] != NULL) {
            *name = xml_names[op];
            return 2;
        }
        return 0;
    }
    case PG_QUERY__NODE__NODE_XML_SERIALIZE:
        *name = "xmlserialize";
        return 2;
    default:
        return 0;
    }
}

/* The output name of one target; false (and *known false) when it is a star. */
static bool target_name(const PgQuery__Node *target, const char **name, bool *known)
{
    if (target->node_case != PG_QUERY__NODE__NODE_RES_TARGET)
        return false;
    const PgQuery__ResTarget *rt = target->res_target;
    if (str_set(rt->name)) {
        *name = rt->name;
        return true;
    }
    if (is_star_target(rt->val)) {
        *known = false;
        return false;
    }
    *name = NULL;
    (void)figure_colname(rt->val, name, known);
    if (*name == NULL)
        *name = "?column?";
    return true;
}

/* The branch of a set operation whose columns name the result: the leftmost. */
static const PgQuery__SelectStmt *leftmost(const PgQuery__SelectStmt *sel)
{
    while (sel->op != PG_QUERY__SET_OPERATION__SETOP_NONE && sel->larg != NULL)
        sel = sel->larg;
    return sel;
}

/* The name of a SELECT's first output column; false when unknown or there is none. */
static bool first_column(const PgQuery__SelectStmt *sel, const char **name, bool *known)
{
    sel = leftmost(sel);
    if (sel->n_values_lists > 0) {
        *name = "column1";
        return true;
    }
    return sel->n_target_list > 0 && target_name(sel->target_list[0], name, known);
}

/* The output column names of a SELECT. */
static void select_columns(const PgQuery__SelectStmt *sel, StrVec *cols, bool *known)
{
    sel = leftmost(sel);
    if (sel->n_values_lists > 0) {
        const PgQuery__Node *first = sel->values_lists[0];
        size_t n = first->node_case == PG_QUERY__NODE__NODE_LIST ? first->list->n_items : 0;
        for (size_t i = 0; i < n; i++)
            strvec_push_owned(cols, xasprintf("column%zu", i + 1));
        return;
    }
    for (size_t i = 0; i < sel->n_target_list; i++) {
        const char *name;
        if (target_name(sel->target_list[i], &name, known))
            strvec_push(cols, name);
    }
}

/* The columns of CREATE TABLE; unknown when some come from elsewhere (LIKE, INHERITS, OF). */
static void create_columns(const PgQuery__CreateStmt *cs, StrVec *cols, bool *known)
{
    if (cs->n_inh_relations > 0 || cs->of_typename != NULL || cs->partbound != NULL)
        *known = false;
    for (size_t i = 0; i < cs->n_table_elts; i++) {
        const PgQuery__Node *e = cs->table_elts[i];
        if (e->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF)
            strvec_push(cols, e->column_def->colname);
        else if (e->node_case == PG_QUERY__NODE__NODE_TABLE_LIKE_CLAUSE)
            *known = false;
    }
}

/* ---- Parsed mode ---- */

/* Where a statement's own text starts (its stmt_location may include blanks and comments). */
static int statement_offset(const char *sql, const PgQuery__RawStmt *raw)
{
    return skip_blank(sql, raw->stmt_location);
}

/* Analyses the statements the parser read. */
static int analyze_tree(Analysis *a, const PgQuery__ParseResult *tree, SqlKind kind)
{
    SqlInfo *out = a->out;
    size_t n = tree->n_stmts;

    out->mode = SQL_PARSED;
    out->n_statements = (int)n;
    out->columns_known = true;

    if (kind == SQL_KIND_DDL) {
        if (n == 0)
            return fail(a, -1, "expected a CREATE TABLE statement, found nothing");
        if (n > 1)
            return fail(a, statement_offset(a->sql, tree->stmts[1]),
                        "expected a single CREATE TABLE statement, found %zu statements", n);
        const PgQuery__Node *node = tree->stmts[0]->stmt;
        if (node->node_case != PG_QUERY__NODE__NODE_CREATE_STMT) {
            char *what = statement_name(node);
            fail(a, statement_offset(a->sql, tree->stmts[0]),
                 "expected a CREATE TABLE statement, found %s", what);
            free(what);
            return -1;
        }
        create_columns(node->create_stmt, &out->columns, &out->columns_known);
        return 0;
    }

    if (n == 0)
        return fail(a, -1, "expected a SELECT statement, found nothing");
    if (kind == SQL_KIND_QUERY && n > 1)
        return fail(a, statement_offset(a->sql, tree->stmts[1]),
                    "expected a single SELECT statement, found %zu statements", n);
    for (size_t i = 0; i < n; i++) {
        const PgQuery__Node *node = tree->stmts[i]->stmt;
        if (node->node_case != PG_QUERY__NODE__NODE_SELECT_STMT ||
            node->select_stmt->into_clause != NULL) {
            char *what = statement_name(node);
            fail(a, statement_offset(a->sql, tree->stmts[i]),
                 "expected a SELECT statement, found %s", what);
            free(what);
            return -1;
        }
        if (walk_message(a, &node->base, NULL, NULL) < 0)
            return -1;
    }
    select_columns(tree->stmts[0]->stmt->select_stmt, &out->columns, &out->columns_known);
    return 0;
}

/* ---- Tokenized mode ---- */

/* The significant tokens (comments dropped) of one statement. */
typedef struct Tokens {
    const char *sql;
    PgQuery__ScanToken **t;
    int n;
} Tokens;

/* A CTE found by the tokenizer: its name and the token range where it is visible. */
typedef struct TokCte {
    char *name;
    int from, to;
} TokCte;

/* Whether token i exists and is of the given kind. */
static bool tok_is(const Tokens *ts, int i, int token)
{
    return i >= 0 && i < ts->n && (int)ts->t[i]->token == token;
}

/* A token that can start a name: an identifier or a keyword allowed as a column/table name. */
static bool tok_name_start(const Tokens *ts, int i)
{
    if (i < 0 || i >= ts->n)
        return false;
    const PgQuery__ScanToken *t = ts->t[i];
    return t->token == PG_QUERY__TOKEN__IDENT ||
           t->keyword_kind == PG_QUERY__KEYWORD_KIND__UNRESERVED_KEYWORD ||
           t->keyword_kind == PG_QUERY__KEYWORD_KIND__COL_NAME_KEYWORD;
}

/* A token allowed after a dot: an identifier or any keyword. */
static bool tok_label(const Tokens *ts, int i)
{
    if (i < 0 || i >= ts->n)
        return false;
    const PgQuery__ScanToken *t = ts->t[i];
    return t->token == PG_QUERY__TOKEN__IDENT ||
           t->keyword_kind != PG_QUERY__KEYWORD_KIND__NO_KEYWORD;
}

/* The name a token stands for, folded as SQL does; caller frees. */
static char *tok_name(const Tokens *ts, int i)
{
    const PgQuery__ScanToken *t = ts->t[i];
    const char *s = ts->sql + t->start;
    size_t len = (size_t)(t->end - t->start);
    char *name;
    if (len >= 2 && s[0] == '"') {
        name = xmalloc(len);
        size_t n = 0;
        for (size_t k = 1; k + 1 < len; k++) {
            name[n++] = s[k];
            if (s[k] == '"' && s[k + 1] == '"')
                k++;
        }
        name[n] = '\0';
    } else {
        name = xstrndup(s, len);
        str_lower(name);
    }
    size_t n = strlen(name);
    if (n > SQLINFO_MAX_IDENT) {
        n = SQLINFO_MAX_IDENT;
        while (n > 0 && (name[n] & 0xC0) == 0x80)
            n--; /* do not cut a UTF-8 sequence */
        name[n] = '\0';
    }
    return name;
}

/* The token text in upper case (for messages); caller frees. */
static char *tok_upper(const Tokens *ts, int i)
{
    const PgQuery__ScanToken *t = ts->t[i];
    char *s = xstrndup(ts->sql + t->start, (size_t)(t->end - t->start));
    for (char *p = s; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return s;
}

/* For each "(", the index of its ")" (or n); for each token, its enclosing "(" (or -1). */
static void match_parens(const Tokens *ts, int *close, int *parent)
{
    int *stack = xmalloc(sizeof(int) * (size_t)(ts->n + 1));
    int depth = 0;
    for (int i = 0; i < ts->n; i++) {
        close[i] = ts->n;
        parent[i] = depth > 0 ? stack[depth - 1] : -1;
        if (tok_is(ts, i, PG_QUERY__TOKEN__ASCII_40)) {
            stack[depth++] = i;
        } else if (tok_is(ts, i, PG_QUERY__TOKEN__ASCII_41) && depth > 0) {
            close[stack[--depth]] = i;
            parent[i] = depth > 0 ? stack[depth - 1] : -1;
        }
    }
    free(stack);
}

/*
 * Finds the CTEs of WITH clauses: WITH [RECURSIVE] name [(cols)] AS [NOT] [MATERIALIZED] (body),
 * ... Each is visible from the end of its body (recursive: from WITH) to the end of the
 * parenthesised query the WITH belongs to. Returns the count; *out is the caller's to free.
 */
static int find_ctes(const Tokens *ts, const int *close, const int *parent, TokCte **out)
{
    TokCte *ctes = NULL;
    size_t cap = 0;
    int n = 0;
    for (int w = 0; w < ts->n; w++) {
        if (!tok_is(ts, w, PG_QUERY__TOKEN__WITH))
            continue;
        int i = w + 1;
        bool recursive = tok_is(ts, i, PG_QUERY__TOKEN__RECURSIVE);
        if (recursive)
            i++;
        int to = parent[w] >= 0 ? close[parent[w]] : ts->n;
        for (;;) {
            if (!tok_name_start(ts, i))
                break;
            int name_at = i++;
            if (tok_is(ts, i, PG_QUERY__TOKEN__ASCII_40))
                i = close[i] + 1;
            if (!tok_is(ts, i, PG_QUERY__TOKEN__AS))
                break;
            i++;
            if (tok_is(ts, i, PG_QUERY__TOKEN__NOT))
                i++;
            if (tok_is(ts, i, PG_QUERY__TOKEN__MATERIALIZED))
                i++;
            if (!tok_is(ts, i, PG_QUERY__TOKEN__ASCII_40))
                break;
            int body_end = close[i];
            grow_array((void **)&ctes, &cap, (size_t)n + 1, sizeof(TokCte));
            ctes[n++] = (TokCte){tok_name(ts, name_at), recursive ? w : body_end, to};
            i = body_end + 1;
            if (!tok_is(ts, i, PG_QUERY__TOKEN__ASCII_44))
                break;
            i++;
        }
    }
    *out = ctes;
    return n;
}

/* Whether name at token index i refers to a CTE the tokenizer found. */
static bool tok_cte_visible(const TokCte *ctes, int n, const char *name, int i)
{
    for (int k = 0; k < n; k++)
        if (ctes[k].from <= i && i <= ctes[k].to && strcmp(ctes[k].name, name) == 0)
            return true;
    return false;
}

/* Rejects statements that are not a plain SELECT, as far as tokens tell. */
static int tok_check_select(Analysis *a, const Tokens *ts)
{
    int first = 0;
    if (!tok_is(ts, first, PG_QUERY__TOKEN__SELECT) && !tok_is(ts, first, PG_QUERY__TOKEN__WITH) &&
        !tok_is(ts, first, PG_QUERY__TOKEN__ASCII_40)) {
        int at = (int)ts->t[first]->start;
        if (ts->t[first]->keyword_kind != PG_QUERY__KEYWORD_KIND__NO_KEYWORD) {
            char *kw = tok_upper(ts, first);
            fail(a, at, "expected a SELECT statement, found %s", kw);
            free(kw);
            return -1;
        }
        return fail(a, at, "expected a SELECT statement");
    }
    for (int i = 0; i < ts->n; i++) {
        if (tok_is(ts, i, PG_QUERY__TOKEN__INTO))
            return fail(a, ts->t[i]->start, "expected a SELECT statement, found SELECT INTO");
        if (tok_is(ts, i, PG_QUERY__TOKEN__ASCII_40) &&
            (tok_is(ts, i + 1, PG_QUERY__TOKEN__INSERT) ||
             tok_is(ts, i + 1, PG_QUERY__TOKEN__UPDATE) ||
             tok_is(ts, i + 1, PG_QUERY__TOKEN__DELETE_P) ||
             tok_is(ts, i + 1, PG_QUERY__TOKEN__MERGE))) {
            char *kw = tok_upper(ts, i + 1);
            fail(a, ts->t[i + 1]->start, "a view may not modify data (%s in WITH)", kw);
            free(kw);
            return -1;
        }
    }
    return 0;
}

/* Whether a keyword ends the FROM list of its query level. */
static bool tok_ends_from(int token)
{
    switch (token) {
    case PG_QUERY__TOKEN__WHERE:
    case PG_QUERY__TOKEN__GROUP_P:
    case PG_QUERY__TOKEN__HAVING:
    case PG_QUERY__TOKEN__WINDOW:
    case PG_QUERY__TOKEN__ORDER:
    case PG_QUERY__TOKEN__LIMIT:
    case PG_QUERY__TOKEN__OFFSET:
    case PG_QUERY__TOKEN__FETCH:
    case PG_QUERY__TOKEN__FOR:
    case PG_QUERY__TOKEN__UNION:
    case PG_QUERY__TOKEN__INTERSECT:
    case PG_QUERY__TOKEN__EXCEPT:
    case PG_QUERY__TOKEN__SELECT:
    case PG_QUERY__TOKEN__RETURNING:
        return true;
    default:
        return false;
    }
}

/*
 * Finds relations in one statement's tokens. After FROM, JOIN or a comma of a FROM list (at a
 * query level, not inside extract(... from ...)): a name, schema.name or catalog.schema.name is a
 * relation (unqualified names that are visible CTEs excepted). Elsewhere schema.name is recorded
 * too, unless its first part is an alias, a CTE or a table named in the statement (then it is
 * alias.column); longer chains there are column references and ignored. A name followed by "("
 * is a function, one followed by ".*" a column star, one after "::" a type.
 */
static void tok_relations(Analysis *a, const Tokens *ts)
{
    int n = ts->n;
    int *close = xmalloc(sizeof(int) * (size_t)(n + 1));
    int *parent = xmalloc(sizeof(int) * (size_t)(n + 1));
    bool *is_query = xcalloc((size_t)n + 1, sizeof(bool));
    bool *in_from = xcalloc((size_t)n + 1, sizeof(bool));
    StrVec known = {0}; /* aliases and table names: what "x" in "x.y" may be besides a schema */
    int *cand = xmalloc(sizeof(int) * (size_t)(n + 1)); /* schema.name seen outside FROM */
    int n_cand = 0, depth = 0;
    bool expect = false;
    TokCte *ctes;

    match_parens(ts, close, parent);
    int n_ctes = find_ctes(ts, close, parent, &ctes);
    is_query[0] = true;

    for (int i = 0; i < n; i++) {
        const PgQuery__ScanToken *t = ts->t[i];
        if (tok_name_start(ts, i) && !tok_is(ts, i - 1, PG_QUERY__TOKEN__ASCII_46)) {
            int j = i, parts = 1;
            while (tok_is(ts, j + 1, PG_QUERY__TOKEN__ASCII_46) && tok_label(ts, j + 2)) {
                j += 2;
                parts++;
            }
            bool column_star = tok_is(ts, j + 1, PG_QUERY__TOKEN__ASCII_46);
            bool call = tok_is(ts, j + 1, PG_QUERY__TOKEN__ASCII_40);
            bool type = tok_is(ts, i - 1, PG_QUERY__TOKEN__TYPECAST);
            bool alias = parts == 1 && (tok_is(ts, i - 1, PG_QUERY__TOKEN__AS) ||
                                        tok_is(ts, i - 1, PG_QUERY__TOKEN__ASCII_41));
            if (alias)
                strvec_push_owned(&known, tok_name(ts, i));
            if (!column_star && !call && !type) {
                if (expect && parts <= 3) {
                    int s = j - 2; /* schema part, if any */
                    char *name = tok_name(ts, j);
                    if (parts == 1 && tok_cte_visible(ctes, n_ctes, name, i)) {
                        free(name);
                    } else {
                        strvec_push(&known, name);
                        add_relation_owned(a, parts > 1 ? tok_name(ts, s) : NULL, name,
                                           (int)ts->t[parts > 1 ? s : i]->start);
                    }
                    /* An alias after a relation: [AS] name. */
                    int al = tok_is(ts, j + 1, PG_QUERY__TOKEN__AS) ? j + 2 : j + 1;
                    if (tok_name_start(ts, al))
                        strvec_push_owned(&known, tok_name(ts, al));
                } else if (!expect && parts == 2) {
                    cand[n_cand++] = i;
                }
            }
            expect = false;
            i = j;
            continue;
        }
        switch ((int)t->token) {
        case PG_QUERY__TOKEN__ASCII_40: /* ( */
            depth++;
            in_from[depth] = false;
            is_query[depth] = expect || tok_is(ts, i + 1, PG_QUERY__TOKEN__SELECT) ||
                              tok_is(ts, i + 1, PG_QUERY__TOKEN__WITH) ||
                              tok_is(ts, i + 1, PG_QUERY__TOKEN__ASCII_40);
            break;                      /* expect carries into a parenthesised FROM item */
        case PG_QUERY__TOKEN__ASCII_41: /* ) */
            if (depth > 0)
                depth--;
            expect = false;
            break;
        case PG_QUERY__TOKEN__FROM:
            expect = is_query[depth] && !tok_is(ts, i - 1, PG_QUERY__TOKEN__DISTINCT);
            if (expect)
                in_from[depth] = true;
            break;
        case PG_QUERY__TOKEN__JOIN:
            in_from[depth] = true;
            expect = true;
            break;
        case PG_QUERY__TOKEN__ASCII_44: /* , */
            expect = in_from[depth];
            break;
        case PG_QUERY__TOKEN__ONLY:
        case PG_QUERY__TOKEN__LATERAL_P:
            break; /* FROM ONLY t, FROM LATERAL (...): keep expecting */
        default:
            if (tok_ends_from((int)t->token))
                in_from[depth] = false;
            expect = false;
            break;
        }
    }

    for (int c = 0; c < n_cand; c++) {
        int i = cand[c];
        char *schema = tok_name(ts, i);
        if (strvec_contains(&known, schema) || tok_cte_visible(ctes, n_ctes, schema, i)) {
            free(schema);
            continue;
        }
        add_relation_owned(a, schema, tok_name(ts, i + 2), (int)ts->t[i]->start);
    }

    for (int k = 0; k < n_ctes; k++)
        free(ctes[k].name);
    free(ctes);
    strvec_free(&known);
    free(cand);
    free(in_from);
    free(is_query);
    free(parent);
    free(close);
}

/* Analyses text the parser rejected, statement by statement, from its tokens. */
static int analyze_tokens(Analysis *a, const PgQuery__ScanResult *scan, SqlKind kind)
{
    SqlInfo *out = a->out;
    size_t total = scan->n_tokens;
    PgQuery__ScanToken **sig = xmalloc(sizeof(PgQuery__ScanToken *) * (total + 1));
    int n_sig = 0, rc = 0;

    out->mode = SQL_TOKENIZED;
    out->columns_known = false;
    for (size_t i = 0; i < total; i++)
        if (scan->tokens[i]->token != PG_QUERY__TOKEN__SQL_COMMENT &&
            scan->tokens[i]->token != PG_QUERY__TOKEN__C_COMMENT)
            sig[n_sig++] = scan->tokens[i];

    /* Statements are the non-empty runs of tokens between semicolons. */
    int n_stmts = 0, second_at = -1;
    for (int i = 0; i < n_sig; i++)
        if (sig[i]->token != PG_QUERY__TOKEN__ASCII_59 &&
            (i == 0 || sig[i - 1]->token == PG_QUERY__TOKEN__ASCII_59)) {
            if (++n_stmts == 2)
                second_at = sig[i]->start;
        }
    out->n_statements = n_stmts;

    const char *what = kind == SQL_KIND_DDL ? "CREATE TABLE" : "SELECT";
    if (n_stmts == 0) {
        rc = fail(a, -1, "expected a %s statement, found nothing", what);
        goto done;
    }
    if (kind != SQL_KIND_TESTS && n_stmts > 1) {
        rc = fail(a, second_at, "expected a single %s statement, found %d statements", what,
                  n_stmts);
        goto done;
    }

    for (int s = 0; s < n_sig; s++) {
        if (sig[s]->token == PG_QUERY__TOKEN__ASCII_59)
            continue;
        int e = s;
        while (e < n_sig && sig[e]->token != PG_QUERY__TOKEN__ASCII_59)
            e++;
        Tokens ts = {a->sql, sig + s, e - s};
        if (kind == SQL_KIND_DDL) {
            /* CREATE [GLOBAL|LOCAL] [TEMP|TEMPORARY|UNLOGGED] TABLE ...: no relations. */
            int i = 1;
            if (tok_is(&ts, i, PG_QUERY__TOKEN__GLOBAL) || tok_is(&ts, i, PG_QUERY__TOKEN__LOCAL))
                i++;
            if (tok_is(&ts, i, PG_QUERY__TOKEN__TEMP) ||
                tok_is(&ts, i, PG_QUERY__TOKEN__TEMPORARY) ||
                tok_is(&ts, i, PG_QUERY__TOKEN__UNLOGGED))
                i++;
            if (!tok_is(&ts, 0, PG_QUERY__TOKEN__CREATE) ||
                !tok_is(&ts, i, PG_QUERY__TOKEN__TABLE)) {
                rc = fail(a, ts.t[0]->start, "expected a CREATE TABLE statement");
                goto done;
            }
        } else {
            if (tok_check_select(a, &ts) < 0) {
                rc = -1;
                goto done;
            }
            tok_relations(a, &ts);
        }
        s = e;
    }
done:
    free(sig);
    return rc;
}

/* ---- Entry points ---- */

/*
 * Whether an encoded message of type desc nests messages more than max_depth deep (or is
 * malformed). Iterative, so that a pathological tree (thousands of chained operators) falls back
 * to the tokenizer instead of overflowing the stack in the recursive unpack and walks.
 */
static bool protobuf_too_deep(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len,
                              int max_depth)
{
    struct Frame {
        const ProtobufCMessageDescriptor *desc;
        const uint8_t *end;
    } *stack = xmalloc(sizeof(struct Frame) * (size_t)(max_depth + 1));
    int depth = 0;
    bool bad = false;

    stack[0] = (struct Frame){desc, p + len};
    while (!bad) {
        if (p == stack[depth].end) {
            if (depth == 0)
                break;
            depth--;
            continue;
        }
        uint64_t key = 0, v = 0;
        const uint8_t *end = stack[depth].end;
        for (int shift = 0; p < end && shift < 64; shift += 7) { /* varint key */
            key |= (uint64_t)(*p & 0x7F) << shift;
            if ((*p++ & 0x80) == 0)
                break;
        }
        switch (key & 7) {
        case 0: /* varint */
            while (p < end && (*p & 0x80))
                p++;
            bad = p == end;
            p++;
            break;
        case 1: /* fixed64 */
        case 5: /* fixed32 */
            bad = (size_t)(end - p) < ((key & 7) == 1 ? 8u : 4u);
            p += bad ? 0 : ((key & 7) == 1 ? 8 : 4);
            break;
        case 2: { /* length-delimited: a message, or a string or packed scalars */
            for (int shift = 0; p < end && shift < 64; shift += 7) {
                v |= (uint64_t)(*p & 0x7F) << shift;
                if ((*p++ & 0x80) == 0)
                    break;
            }
            if (v > (uint64_t)(end - p)) {
                bad = true;
                break;
            }
            const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field(stack[depth].desc, (unsigned)(key >> 3));
            if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                if (depth + 1 > max_depth) {
                    bad = true;
                    break;
                }
                stack[++depth] = (struct Frame){f->descriptor, p + v};
            } else {
                p += v;
            }
            break;
        }
        default:
            bad = true;
        }
    }
    free(stack);
    return bad;
}

/* Analyses sql from libpg_query's tokens (the parser rejected it). */
static int analyze_scanned(Analysis *a, const char *sql, SqlKind kind)
{
    int rc;
    PgQueryScanResult scanned = pg_query_scan(sql);
    if (scanned.error != NULL) {
        rc = fail(a, cursor_to_offset(sql, scanned.error->cursorpos), "%s", scanned.error->message);
    } else {
        PgQuery__ScanResult *scan = pg_query__scan_result__unpack(
            NULL, scanned.pbuf.len, (const uint8_t *)scanned.pbuf.data);
        if (scan == NULL) {
            rc = fail(a, -1, "could not read the tokens");
        } else {
            rc = analyze_tokens(a, scan, kind);
            pg_query__scan_result__free_unpacked(scan, NULL);
        }
    }
    pg_query_free_scan_result(scanned);
    return rc;
}

int sqlinfo_analyze(const char *sql, SqlKind kind, SqlInfo *out, char **error, int *error_offset)
{
    Analysis a = {sql, out, 0, NULL, -1};
    int rc;

    memset(out, 0, sizeof(*out));
    *error = NULL;
    *error_offset = -1;

    PgQueryProtobufParseResult parsed = pg_query_parse_protobuf(sql);
    const uint8_t *data = (const uint8_t *)parsed.parse_tree.data;
    if (parsed.error != NULL || protobuf_too_deep(&pg_query__parse_result__descriptor, data,
                                                  parsed.parse_tree.len, SQLINFO_MAX_DEPTH)) {
        rc = analyze_scanned(&a, sql, kind);
    } else {
        PgQuery__ParseResult *tree =
            pg_query__parse_result__unpack(NULL, parsed.parse_tree.len, data);
        if (tree == NULL) {
            rc = fail(&a, -1, "could not read the parse tree");
        } else {
            rc = analyze_tree(&a, tree, kind);
            pg_query__parse_result__free_unpacked(tree, NULL);
        }
    }
    pg_query_free_protobuf_parse_result(parsed);

    if (rc < 0) {
        sqlinfo_free(out);
        *error = a.error;
        *error_offset = a.error_offset;
        return -1;
    }
    if (out->n_relations > 1)
        qsort(out->relations, out->n_relations, sizeof(SqlRelation), relation_cmp);
    return 0;
}

void sqlinfo_free(SqlInfo *info)
{
    if (info == NULL)
        return;
    for (size_t i = 0; i < info->n_relations; i++) {
        free(info->relations[i].schema);
        free(info->relations[i].name);
    }
    free(info->relations);
    strvec_free(&info->columns);
    memset(info, 0, sizeof(*info));
}

int sqlinfo_line_of(const char *text, int offset)
{
    int line = 1;
    for (int i = 0; i < offset && text[i] != '\0'; i++)
        if (text[i] == '\n')
            line++;
    return line;
}
