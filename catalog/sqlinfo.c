/*
 * Reads the SQL of a view, its tests or a processor's DDL with libpg_query (see sqlinfo.h): which
 * relations it reads (catalog/sqltree's walk over the protobuf parse tree), which columns it
 * outputs (PostgreSQL's FigureColname rules over the same tree), what kind of statements it holds,
 * and when the tokenizer (catalog/sqltokens) stands in for a parser that rejected the text. Not
 * for: resolving names against the repository or deciding what is a managed view.
 */
#include "catalog/sqlinfo.h"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/sqlredshift.h"
#include "catalog/sqltokens.h"
#include "catalog/sqltree.h"

/* qsort order: by position in the text. */
static int relation_cmp(const void *pa, const void *pb)
{
    const SqlRelation *x = pa, *y = pb;
    return (x->location > y->location) - (x->location < y->location);
}

/* Whether a string field is set (protobuf-c leaves unset strings empty). */
static bool is_set(const char *s)
{
    return s != NULL && s[0] != '\0';
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

/* Node types whose name does not read as the SQL command. */
static const struct {
    const char *type;
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
    const ProtobufCMessage *m = sqltree_node_message(node);
    if (m == NULL)
        return xstrdup("an unknown statement");
    const char *type = m->descriptor->short_name;
    if (node->node_case == PG_QUERY__NODE__NODE_SELECT_STMT)
        return xstrdup(node->select_stmt->into_clause ? "SELECT INTO" : "SELECT");
    if (node->node_case == PG_QUERY__NODE__NODE_GRANT_STMT)
        return xstrdup(node->grant_stmt->is_grant ? "GRANT" : "REVOKE");
    if (node->node_case == PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT &&
        node->create_table_as_stmt->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW)
        return xstrdup("CREATE MATERIALIZED VIEW");
    for (size_t i = 0; i < ARRAY_LEN(statement_names); i++)
        if (strcmp(type, statement_names[i].type) == 0)
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

/* ---- Relations, and what a view may not hold anywhere in its tree ---- */

static bool on_relation(void *arg, const PgQuery__RangeVar *rv)
{
    SqlAnalysis *a = arg;
    SqlInfo *out = a->out;
    grow_array((void **)&out->relations, &a->relations_cap, out->n_relations + 1,
               sizeof(SqlRelation));
    out->relations[out->n_relations++] =
        (SqlRelation){is_set(rv->schemaname) ? xstrdup(rv->schemaname) : NULL,
                      xstrdup(rv->relname),
                      rv->location,
                      {-1, -1},
                      false};
    return true;
}

/* Stops the walk at SELECT INTO and at a data-modifying statement in WITH. */
static bool on_message(void *arg, const ProtobufCMessage *m)
{
    SqlAnalysis *a = arg;
    if (m->descriptor == &pg_query__select_stmt__descriptor) {
        const PgQuery__IntoClause *into = ((const PgQuery__SelectStmt *)m)->into_clause;
        if (into == NULL)
            return true;
        sqlanalysis_fail(a, into->rel != NULL ? into->rel->location : -1,
                         "expected a SELECT statement, found SELECT INTO");
        return false;
    }
    if (m->descriptor == &pg_query__common_table_expr__descriptor) {
        const PgQuery__CommonTableExpr *cte = (const PgQuery__CommonTableExpr *)m;
        if (cte->ctequery == NULL || cte->ctequery->node_case == PG_QUERY__NODE__NODE_SELECT_STMT)
            return true;
        char *what = statement_name(cte->ctequery);
        sqlanalysis_fail(a, cte->location, "a view may not modify data (%s in WITH)", what);
        free(what);
        return false;
    }
    return true;
}

/* ---- Output column names (PostgreSQL's FigureColname) ---- */

/* Node types named after themselves. */
static const struct {
    PgQuery__Node__NodeCase type;
    const char *name;
} node_names[] = {
    {PG_QUERY__NODE__NODE_GROUPING_FUNC, "grouping"},
    {PG_QUERY__NODE__NODE_A_ARRAY_EXPR, "array"},
    {PG_QUERY__NODE__NODE_ROW_EXPR, "row"},
    {PG_QUERY__NODE__NODE_COALESCE_EXPR, "coalesce"},
    {PG_QUERY__NODE__NODE_XML_SERIALIZE, "xmlserialize"},
};

/* The SQL value functions (current_date and friends), by PgQuery__SQLValueFunctionOp - 1. */
static const char *const sql_value_names[] = {
    "current_date", "current_time", "current_time",   "current_timestamp", "current_timestamp",
    "localtime",    "localtime",    "localtimestamp", "localtimestamp",    "current_role",
    "current_user", "user",         "session_user",   "current_catalog",   "current_schema",
};

/* The XML functions, by PgQuery__XmlExprOp - 1 (IS_DOCUMENT has no name). */
static const char *const xml_names[] = {
    "xmlconcat", "xmlelement", "xmlforest", "xmlparse", "xmlpi", "xmlroot", "xmlserialize",
};

/* names[value - 1], or NULL when value is outside the table. */
static const char *name_by_value(int value, const char *const *names, size_t n)
{
    return value >= 1 && (size_t)value <= n ? names[value - 1] : NULL;
}

static bool first_column(const PgQuery__SelectStmt *sel, const char **name, bool *known);

/* Whether n is a String node; if so its value goes to *name. */
static bool string_of(const PgQuery__Node *n, const char **name)
{
    if (n == NULL || n->node_case != PG_QUERY__NODE__NODE_STRING)
        return false;
    *name = n->string->sval != NULL ? n->string->sval : "";
    return true;
}

/* The last String node of a list (ColumnRef fields, indirection); false when there is none. */
static bool last_string(PgQuery__Node *const *list, size_t n, const char **name)
{
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= string_of(list[i], name);
    return found;
}

/* Whether the last node of a list is A_Star. */
static bool ends_in_star(PgQuery__Node *const *list, size_t n)
{
    return n > 0 && list[n - 1]->node_case == PG_QUERY__NODE__NODE_A_STAR;
}

/* Whether a target is "*" or "x.*", which expands to columns only the database knows. */
static bool is_star_target(const PgQuery__Node *val)
{
    if (val == NULL)
        return false;
    if (val->node_case == PG_QUERY__NODE__NODE_COLUMN_REF)
        return ends_in_star(val->column_ref->fields, val->column_ref->n_fields);
    if (val->node_case == PG_QUERY__NODE__NODE_A_INDIRECTION)
        return ends_in_star(val->a_indirection->indirection, val->a_indirection->n_indirection);
    return false;
}

/*
 * FigureColnameInternal for node n: sets *name (a string of the tree or a literal) and returns the
 * confidence, 0 (none), 1 (second best) or 2 (good). *known turns false when the name depends on
 * a "*" inside a scalar subquery. Recursion follows a path the walk already bounded.
 */
static int figure_colname(const PgQuery__Node *n, const char **name, bool *known)
{
    const char *literal = NULL;
    int strength;

    if (n == NULL)
        return 0;
    switch (n->node_case) {
    case PG_QUERY__NODE__NODE_COLUMN_REF:
        return last_string(n->column_ref->fields, n->column_ref->n_fields, name) ? 2 : 0;
    case PG_QUERY__NODE__NODE_A_INDIRECTION:
        if (last_string(n->a_indirection->indirection, n->a_indirection->n_indirection, name))
            return 2;
        return figure_colname(n->a_indirection->arg, name, known);
    case PG_QUERY__NODE__NODE_FUNC_CALL: {
        const PgQuery__FuncCall *fc = n->func_call;
        return fc->n_funcname > 0 && string_of(fc->funcname[fc->n_funcname - 1], name) ? 2 : 0;
    }
    case PG_QUERY__NODE__NODE_A_EXPR:
        literal = n->a_expr->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NULLIF ? "nullif" : NULL;
        break;
    case PG_QUERY__NODE__NODE_TYPE_CAST: {
        strength = figure_colname(n->type_cast->arg, name, known);
        const PgQuery__TypeName *t = n->type_cast->type_name;
        if (strength <= 1 && t != NULL && t->n_names > 0 &&
            string_of(t->names[t->n_names - 1], name))
            return 1;
        return strength;
    }
    case PG_QUERY__NODE__NODE_COLLATE_CLAUSE:
        return figure_colname(n->collate_clause->arg, name, known);
    case PG_QUERY__NODE__NODE_SUB_LINK: {
        const PgQuery__SubLink *sl = n->sub_link;
        if (sl->sub_link_type == PG_QUERY__SUB_LINK_TYPE__EXPR_SUBLINK) {
            /* The name of the subquery's only column, whatever its strength there. */
            const PgQuery__Node *sub = sl->subselect;
            return sub != NULL && sub->node_case == PG_QUERY__NODE__NODE_SELECT_STMT &&
                           first_column(sub->select_stmt, name, known)
                       ? 2
                       : 0;
        }
        if (sl->sub_link_type == PG_QUERY__SUB_LINK_TYPE__EXISTS_SUBLINK)
            literal = "exists";
        else if (sl->sub_link_type == PG_QUERY__SUB_LINK_TYPE__ARRAY_SUBLINK)
            literal = "array";
        break;
    }
    case PG_QUERY__NODE__NODE_CASE_EXPR:
        strength = figure_colname(n->case_expr->defresult, name, known);
        if (strength <= 1) {
            *name = "case";
            return 1;
        }
        return strength;
    case PG_QUERY__NODE__NODE_MIN_MAX_EXPR:
        literal = n->min_max_expr->op == PG_QUERY__MIN_MAX_OP__IS_GREATEST ? "greatest"
                  : n->min_max_expr->op == PG_QUERY__MIN_MAX_OP__IS_LEAST  ? "least"
                                                                           : NULL;
        break;
    case PG_QUERY__NODE__NODE_SQLVALUE_FUNCTION:
        literal = name_by_value((int)n->sqlvalue_function->op, sql_value_names,
                                ARRAY_LEN(sql_value_names));
        break;
    case PG_QUERY__NODE__NODE_XML_EXPR:
        literal = name_by_value((int)n->xml_expr->op, xml_names, ARRAY_LEN(xml_names));
        break;
    default:
        for (size_t i = 0; i < ARRAY_LEN(node_names); i++)
            if (n->node_case == node_names[i].type)
                literal = node_names[i].name;
        break;
    }
    if (literal == NULL)
        return 0;
    *name = literal;
    return 2;
}

/* The output name of one target; false (and *known false) when it is a star. */
static bool target_name(const PgQuery__Node *target, const char **name, bool *known)
{
    if (target == NULL || target->node_case != PG_QUERY__NODE__NODE_RES_TARGET)
        return false;
    const PgQuery__ResTarget *rt = target->res_target;
    if (is_set(rt->name)) {
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

/* The branch of a set operation whose columns name the result. */
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
            strvec_push(cols, e->column_def->colname != NULL ? e->column_def->colname : "");
        else if (e->node_case == PG_QUERY__NODE__NODE_TABLE_LIKE_CLAUSE)
            *known = false;
    }
}

/* ---- Parsed mode ---- */

/* Where a statement starts in the text (its stmt_location may include blanks and comments). */
static int statement_offset(const char *sql, const PgQuery__RawStmt *raw)
{
    return skip_blank(sql, raw->stmt_location);
}

/* Rejects a statement that is not what kind wants; returns 0 or -1. */
static int check_statement(SqlAnalysis *a, const PgQuery__RawStmt *raw, SqlKind kind)
{
    const PgQuery__Node *node = raw->stmt;
    bool ok = kind == SQL_KIND_DDL
                  ? node != NULL && node->node_case == PG_QUERY__NODE__NODE_CREATE_STMT
                  : node != NULL && node->node_case == PG_QUERY__NODE__NODE_SELECT_STMT &&
                        node->select_stmt->into_clause == NULL;
    if (ok)
        return 0;
    char *what = statement_name(node);
    sqlanalysis_fail(a, statement_offset(a->sql, raw), "expected a %s statement, found %s",
                     kind == SQL_KIND_DDL ? "CREATE TABLE" : "SELECT", what);
    free(what);
    return -1;
}

/* Analyses the statements the parser read. Returns 0, -1 (a->error set), or 1 when the tree is
 * deeper than sqltree walks (out is then to be emptied and read from tokens). */
static int analyze_tree(SqlAnalysis *a, const PgQuery__ParseResult *tree, SqlKind kind)
{
    SqlInfo *out = a->out;
    size_t n = tree->n_stmts;
    const char *what = kind == SQL_KIND_DDL ? "CREATE TABLE" : "SELECT";

    out->mode = SQL_PARSED;
    out->n_statements = (int)n;
    out->columns_known = true;
    if (n == 0)
        return sqlanalysis_fail(a, -1, "expected a %s statement, found nothing", what);
    if (kind != SQL_KIND_TESTS && n > 1)
        return sqlanalysis_fail(a, statement_offset(a->sql, tree->stmts[1]),
                                "expected a single %s statement, found %zu statements", what, n);
    for (size_t i = 0; i < n; i++) {
        if (check_statement(a, tree->stmts[i], kind) < 0)
            return -1;
        if (kind == SQL_KIND_DDL)
            continue;
        SqlTreeVisitor visitor = {on_relation, on_message, a};
        SqlTreeWalk walked = sqltree_walk(&tree->stmts[i]->stmt->base, &visitor);
        if (walked == SQLTREE_TOO_DEEP)
            return 1;
        if (walked == SQLTREE_STOPPED)
            return -1;
    }
    if (kind == SQL_KIND_DDL)
        create_columns(tree->stmts[0]->stmt->create_stmt, &out->columns, &out->columns_known);
    else
        select_columns(tree->stmts[0]->stmt->select_stmt, &out->columns, &out->columns_known);
    return 0;
}

/* ---- When the parser rejects the text ---- */

/* The parser's message on the rewritten text, naming the token of the original text at the same
 * offset ("syntax error at or near ..." quotes the token it stopped at). Caller frees. */
static char *near_original(const SqlTokens *ts, const SqlTree *rewritten)
{
    static const char prefix[] = "syntax error at or near \"";
    if (strncmp(rewritten->error, prefix, sizeof(prefix) - 1) == 0)
        for (int i = 0; i < ts->n; i++)
            if ((int)ts->t[i]->start == rewritten->error_offset)
                return xasprintf("%s%.*s\"", prefix, (int)(ts->t[i]->end - ts->t[i]->start),
                                 ts->sql + ts->t[i]->start);
    return xstrdup(rewritten->error);
}

/*
 * The parser rejected sql (tree->error); its tokens were read. Checks the statements from their
 * tokens, then decides, per the dialect, whether the tokens stand in for the parser (see
 * sqlinfo_analyze_as). Returns 0, or -1 with *error filled.
 */
static int analyze_rejected(const char *sql, const SqlTokens *ts, const SqlTree *tree, SqlKind kind,
                            Dialect dialect, SqlInfo *out, SqlError *error)
{
    if (sqltokens_analyze(ts, kind, out, &error->message, &error->offset) < 0)
        return -1;
    if (tree->too_deep)
        return 0; /* not a syntax error: read as the tokenizer does, whatever the dialect */

    const SqlTree *reported = tree;
    SqlTree neutral = {NULL, NULL, -1};
    char *rewritten = dialect == DIALECT_REDSHIFT ? sqlredshift_neutral(sql, ts->t, ts->n) : NULL;
    if (rewritten != NULL) {
        int parsed = sqltree_parse(rewritten, &neutral);
        if (parsed == 0 || neutral.too_deep) {
            sqltree_free(&neutral);
            free(rewritten);
            return 0;
        }
        reported = &neutral; /* same length, same offsets: its error is the one left to fix */
    }
    error->message = reported == &neutral ? near_original(ts, reported) : xstrdup(reported->error);
    error->offset = reported->error_offset;
    error->syntax = true;
    /* "at end of input": point just past the last token rather than at trailing blanks. */
    if (ts->n > 0 && (error->offset < 0 || error->offset > (int)ts->t[ts->n - 1]->end))
        error->offset = (int)ts->t[ts->n - 1]->end;
    sqltree_free(&neutral);
    free(rewritten);
    return -1;
}

/* ---- Entry points ---- */

int sqlinfo_analyze_as(const char *sql, SqlKind kind, Dialect dialect, SqlInfo *out,
                       SqlError *error)
{
    SqlAnalysis a = {sql, out, 0, NULL, -1};
    SqlTokens ts;
    SqlTree tree;
    int rc;

    memset(out, 0, sizeof(*out));
    *error = (SqlError){NULL, -1, false};
    bool scanned = sqltokens_scan(sql, &ts) == 0;
    if (sqltree_parse(sql, &tree) == 0) {
        /* A tree deeper than sqltree walks is read as the tokenizer does, whatever the dialect. */
        rc = analyze_tree(&a, tree.result, kind);
        if (rc > 0) {
            sqlinfo_free(out);
            rc = sqltokens_analyze(&ts, kind, out, &error->message, &error->offset);
        } else if (rc < 0) {
            error->message = a.error;
            error->offset = a.error_offset;
        }
    } else if (!scanned) {
        rc = -1;
        error->message = ts.error;
        error->offset = ts.error_offset;
        error->syntax = true;
        ts.error = NULL;
    } else {
        rc = analyze_rejected(sql, &ts, &tree, kind, dialect, out, error);
    }
    sqltree_free(&tree);

    if (rc == 0 && out->n_relations > 1)
        qsort(out->relations, out->n_relations, sizeof(SqlRelation), relation_cmp);
    if (rc == 0) {
        out->statements = NULL;
        (void)sqltokens_statements(&ts, &out->statements);
        for (size_t i = 0; i < out->n_relations; i++)
            sqltokens_record_extent(&ts, out->mode == SQL_PARSED, &out->relations[i]);
    }
    if (rc == 0 && kind == SQL_KIND_DDL) {
        int end;
        bool temporary;
        rc = sqltokens_created_table(&ts, &out->created, &end, &temporary, &error->message,
                                     &error->offset);
    }
    sqltokens_free(&ts);
    if (rc < 0) {
        sqlinfo_free(out);
        if (error->message == NULL)
            error->message = xstrdup("invalid SQL");
        return -1;
    }
    return 0;
}

int sqlinfo_analyze(const char *sql, SqlKind kind, SqlInfo *out, char **error, int *error_offset)
{
    SqlError e;
    int rc = sqlinfo_analyze_as(sql, kind, DIALECT_REDSHIFT, out, &e);
    *error = e.message;
    *error_offset = e.offset;
    return rc;
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
    free(info->statements);
    strvec_free(&info->columns);
    free(info->created.schema);
    free(info->created.name);
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

int sqlinfo_column_of(const char *text, int offset)
{
    int column = 1;
    for (int i = 0; i < offset && text[i] != '\0'; i++) {
        if (text[i] == '\n')
            column = 1;
        else if (((unsigned char)text[i] & 0xC0) != 0x80)
            column++;
    }
    return column;
}
