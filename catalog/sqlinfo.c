/*
 * Reads the SQL of a view, its tests or a processor's DDL with libpg_query: which relations it
 * reads (a walk over the whole JSON parse tree, tokenized with jsmn, with WITH scoping) and which
 * columns it outputs (PostgreSQL's FigureColname rules). Text the parser rejects falls back to
 * libpg_query's tokenizer. Not for: resolving names against the repository or deciding what is a
 * managed view.
 */
#include "catalog/sqlinfo.h"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/names.h"

#define JSMN_STATIC
#define JSMN_PARENT_LINKS
#include <jsmn.h>

/* Most parts of a relation name: catalog.schema.name. */
#define SQLINFO_MAX_NAME_PARTS 3
/* Parse trees nested deeper than this many objects are read from tokens instead (see below). */
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
    out->relations[out->n_relations++] = (SqlRelation){schema, name, location, {-1, -1}, false};
}

/* qsort order: by position in the text. */
static int relation_cmp(const void *pa, const void *pb)
{
    const SqlRelation *x = pa, *y = pb;
    return (x->location > y->location) - (x->location < y->location);
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

/* ---- The parse tree: libpg_query's JSON, as jsmn tokens ---- */

/*
 * The tokens of a JSON document, in pre-order. A Node-typed field is wrapped as {"Type":{...}};
 * a field of a concrete struct type is the bare object; fields at their default (false, 0, empty
 * list, NULL) are left out. Token indexes are ints; -1 stands for "absent" and every helper
 * accepts it.
 */
typedef struct Json {
    const char *js;
    jsmntok_t *t;
    int *next; /* for each token, the index just past its subtree (for a key: past its value) */
    int n;
} Json;

/*
 * Tokenizes js into j (free with json_free in every case). Returns 0, 1 when objects nest more
 * than max_depth deep (the root object is at depth 0, a node and its fields object are two
 * levels), or -1 when js is not a JSON object. Iterative, so that a pathological tree (thousands of
 * chained operators) falls back to the tokenizer instead of overflowing the stack in the recursive
 * walks.
 */
static int json_load(Json *j, const char *js, int max_depth)
{
    size_t len = strlen(js);
    unsigned cap = (unsigned)(len / 4) + 16; /* libpg_query writes about one token per 7 bytes */
    jsmn_parser parser;
    int n;

    *j = (Json){js, xmalloc(sizeof(jsmntok_t) * cap), NULL, 0};
    jsmn_init(&parser);
    while ((n = jsmn_parse(&parser, js, len, j->t, cap)) == JSMN_ERROR_NOMEM) {
        cap *= 2; /* jsmn resumes where it ran out */
        j->t = xrealloc(j->t, sizeof(jsmntok_t) * cap);
    }
    if (n <= 0 || j->t[0].type != JSMN_OBJECT)
        return -1;
    j->n = n;
    j->next = xmalloc(sizeof(int) * (size_t)n);

    /* Object depths first, kept in next: a parent always comes before its children. */
    for (int i = 0; i < n; i++) {
        int parent = j->t[i].parent;
        j->next[i] = (parent >= 0 ? j->next[parent] : -1) + (j->t[i].type == JSMN_OBJECT);
        if (j->next[i] > max_depth)
            return 1;
    }
    /* Then extents (-1: not known yet), backwards: a token's last child, met first, ends its
     * parent's subtree. */
    memset(j->next, 0xFF, sizeof(int) * (size_t)n);
    for (int i = n - 1; i >= 0; i--) {
        if (j->next[i] < 0)
            j->next[i] = i + 1;
        int parent = j->t[i].parent;
        if (parent >= 0 && j->next[parent] < 0)
            j->next[parent] = j->next[i];
    }
    return 0;
}

/* Frees what json_load allocated. */
static void json_free(Json *j)
{
    free(j->t);
    free(j->next);
}

/* Whether token i is a string whose raw text is s (keys and enum values are never escaped). */
static bool json_is(const Json *j, int i, const char *s)
{
    if (i < 0 || j->t[i].type != JSMN_STRING)
        return false;
    size_t len = (size_t)(j->t[i].end - j->t[i].start);
    return strlen(s) == len && memcmp(j->js + j->t[i].start, s, len) == 0;
}

/* The value of key in object obj, or -1 when absent (or obj is not an object). */
static int json_get(const Json *j, int obj, const char *key)
{
    if (obj < 0 || j->t[obj].type != JSMN_OBJECT)
        return -1;
    for (int k = obj + 1, c = 0; c < j->t[obj].size; c++, k = j->next[k])
        if (json_is(j, k, key))
            return k + 1;
    return -1;
}

/* The number of elements of array i (0 when absent: libpg_query leaves empty lists out). */
static int json_len(const Json *j, int i)
{
    return (i >= 0 && j->t[i].type == JSMN_ARRAY) ? j->t[i].size : 0;
}

/* The last element of array i, or -1. */
static int json_last(const Json *j, int i)
{
    int n = json_len(j, i), e = i + 1;
    if (n == 0)
        return -1;
    for (int c = 1; c < n; c++)
        e = j->next[e];
    return e;
}

/* An integer field of obj; 0 when absent, as libpg_query leaves zeros out. */
static int json_int(const Json *j, int obj, const char *key)
{
    int v = json_get(j, obj, key);
    if (v < 0 || j->t[v].type != JSMN_PRIMITIVE)
        return 0;
    const char *s = j->js + j->t[v].start, *end = j->js + j->t[v].end;
    bool negative = s < end && *s == '-';
    long value = 0;
    for (s += negative; s < end && *s >= '0' && *s <= '9' && value <= INT32_MAX; s++)
        value = value * 10 + (*s - '0');
    return (int)(negative ? -value : value);
}

/* A boolean field of obj; false when absent. */
static bool json_true(const Json *j, int obj, const char *key)
{
    int v = json_get(j, obj, key);
    return v >= 0 && j->t[v].type == JSMN_PRIMITIVE && j->js[j->t[v].start] == 't';
}

/* Whether token i is a non-empty string: a string field that is set. */
static bool json_str_set(const Json *j, int i)
{
    return i >= 0 && j->t[i].type == JSMN_STRING && j->t[i].end > j->t[i].start;
}

/*
 * Whether two string tokens (absent: "") hold the same string. The raw texts are compared:
 * libpg_query escapes a given string always the same way.
 */
static bool json_same(const Json *j, int a, int b)
{
    bool sa = a >= 0 && j->t[a].type == JSMN_STRING, sb = b >= 0 && j->t[b].type == JSMN_STRING;
    size_t la = sa ? (size_t)(j->t[a].end - j->t[a].start) : 0;
    size_t lb = sb ? (size_t)(j->t[b].end - j->t[b].start) : 0;
    return la == lb && (la == 0 || memcmp(j->js + j->t[a].start, j->js + j->t[b].start, la) == 0);
}

/* The value of the 4 hex digits at s. */
static unsigned hex4(const char *s)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* Writes code point cp as UTF-8 at out; returns the bytes written (at most 4). */
static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * The string token i decoded from JSON (\" \\ \/ \b \f \n \r \t \uXXXX, surrogate pairs included;
 * a lone surrogate becomes U+FFFD); "" when absent. Caller frees.
 */
static char *json_string(const Json *j, int i)
{
    if (i < 0 || j->t[i].type != JSMN_STRING)
        return xstrdup("");
    const char *s = j->js + j->t[i].start;
    size_t len = (size_t)(j->t[i].end - j->t[i].start);
    if (memchr(s, '\\', len) == NULL)
        return xstrndup(s, len);

    char *out = xmalloc(len + 1); /* an escape never decodes to more bytes than it takes */
    size_t n = 0;
    for (size_t k = 0; k < len; k++) {
        if (s[k] != '\\' || k + 1 == len) {
            out[n++] = s[k];
            continue;
        }
        char c = s[++k];
        switch (c) {
        case 'b':
            out[n++] = '\b';
            break;
        case 'f':
            out[n++] = '\f';
            break;
        case 'n':
            out[n++] = '\n';
            break;
        case 'r':
            out[n++] = '\r';
            break;
        case 't':
            out[n++] = '\t';
            break;
        case 'u': {
            if (k + 4 >= len) { /* jsmn checked the digits; stay inside the token regardless */
                k = len;
                break;
            }
            unsigned cp = hex4(s + k + 1);
            k += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && k + 6 < len && s[k + 1] == '\\' &&
                s[k + 2] == 'u') {
                unsigned low = hex4(s + k + 3);
                if (low >= 0xDC00 && low <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    k += 6;
                }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 0xFFFD;
            n += put_utf8(out + n, cp);
            break;
        }
        default: /* \" \\ \/ */
            out[n++] = c;
            break;
        }
    }
    out[n] = '\0';
    return out;
}

/* The fields object of a Node-typed value {"Type":{...}}, or -1; *type gets the "Type" key. */
static int json_node(const Json *j, int i, int *type)
{
    if (i < 0 || j->t[i].type != JSMN_OBJECT || j->t[i].size != 1)
        return -1;
    int k = i + 1; /* node type names start with a capital; field names never do */
    char c = j->js[j->t[k].start];
    if (j->t[k].type != JSMN_STRING || j->t[k].size != 1 || c < 'A' || c > 'Z' ||
        j->t[k + 1].type != JSMN_OBJECT)
        return -1;
    *type = k;
    return k + 1;
}

/* The fields object of i when it is a Node of the given type, else -1. */
static int json_node_of(const Json *j, int i, const char *type)
{
    int k;
    int fields = json_node(j, i, &k);
    return (fields >= 0 && json_is(j, k, type)) ? fields : -1;
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
static char *statement_name(const Json *j, int node)
{
    int type;
    int fields = json_node(j, node, &type);

    if (fields < 0)
        return xstrdup("an unknown statement");
    if (json_is(j, type, "SelectStmt"))
        return xstrdup(json_get(j, fields, "intoClause") >= 0 ? "SELECT INTO" : "SELECT");
    if (json_is(j, type, "GrantStmt"))
        return xstrdup(json_true(j, fields, "is_grant") ? "GRANT" : "REVOKE");
    if (json_is(j, type, "CreateTableAsStmt") &&
        json_is(j, json_get(j, fields, "objtype"), "OBJECT_MATVIEW"))
        return xstrdup("CREATE MATERIALIZED VIEW");
    for (size_t i = 0; i < ARRAY_LEN(statement_names); i++)
        if (json_is(j, type, statement_names[i].type))
            return xstrdup(statement_names[i].command);

    /* CamelCase without the "Stmt" suffix, as upper-case words: AlterTableStmt -> ALTER TABLE. */
    const char *s = j->js + j->t[type].start;
    size_t len = (size_t)(j->t[type].end - j->t[type].start);
    if (len > 4 && strncmp(s + len - 4, "Stmt", 4) == 0)
        len -= 4;
    char *name = xmalloc(2 * len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z' && i > 0)
            name[n++] = ' ';
        name[n++] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
    }
    name[n] = '\0';
    return name;
}

/* ---- Relations: a walk over every object of the parse tree ---- */

/* The CTE names visible at a point of the tree: the first n_visible of the ctes array, then outer.
 */
typedef struct CteScope {
    const struct CteScope *outer;
    int ctes; /* the "ctes" array of a WITH clause */
    int n_visible;
} CteScope;

/* Whether an unqualified name (a string token) refers to a CTE in scope. */
static bool cte_in_scope(const Json *j, const CteScope *scope, int name)
{
    for (; scope != NULL; scope = scope->outer) {
        int e = scope->ctes + 1;
        for (int i = 0; i < scope->n_visible; i++, e = j->next[e]) {
            int cte = json_node_of(j, e, "CommonTableExpr");
            if (cte >= 0 && json_same(j, json_get(j, cte, "ctename"), name))
                return true;
        }
    }
    return false;
}

static int walk_value(Analysis *a, const Json *j, int v, const CteScope *scope);
static int walk_select(Analysis *a, const Json *j, int sel, const CteScope *scope);

/* Records a RangeVar (its fields object) unless it names a CTE in scope. */
static void walk_range_var(Analysis *a, const Json *j, int rv, const CteScope *scope)
{
    int schema = json_get(j, rv, "schemaname"), name = json_get(j, rv, "relname");
    bool qualified = json_str_set(j, schema) || json_str_set(j, json_get(j, rv, "catalogname"));
    if (!qualified && cte_in_scope(j, scope, name))
        return;
    add_relation_owned(a, json_str_set(j, schema) ? json_string(j, schema) : NULL,
                       json_string(j, name), json_int(j, rv, "location"));
}

/*
 * Walks the field values of object obj, except the one at token skip. A key with a capital is a
 * node type; in a SelectStmt (select), larg and rarg are bare SelectStmts.
 */
static int walk_fields(Analysis *a, const Json *j, int obj, const CteScope *scope, int skip,
                       bool select)
{
    for (int k = obj + 1, c = 0; c < j->t[obj].size; c++, k = j->next[k]) {
        int v = k + 1, rc;
        if (v == skip || (j->t[v].type != JSMN_OBJECT && j->t[v].type != JSMN_ARRAY))
            continue;
        char first = j->js[j->t[k].start];
        if (first < 'A' || first > 'Z') {
            if (select && (json_is(j, k, "larg") || json_is(j, k, "rarg")))
                rc = walk_select(a, j, v, scope);
            else
                rc = walk_value(a, j, v, scope);
        } else if (json_is(j, k, "RangeVar")) {
            walk_range_var(a, j, v, scope);
            rc = 0;
        } else if (json_is(j, k, "LockingClause")) {
            rc = 0; /* FOR UPDATE OF names range-table aliases, not relations */
        } else if (json_is(j, k, "SelectStmt")) {
            rc = walk_select(a, j, v, scope);
        } else {
            rc = walk_fields(a, j, v, scope, -1, false);
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Records every relation under the value at token v (an object, an array or a scalar). */
static int walk_value(Analysis *a, const Json *j, int v, const CteScope *scope)
{
    if (j->t[v].type == JSMN_OBJECT)
        return walk_fields(a, j, v, scope, -1, false);
    if (j->t[v].type == JSMN_ARRAY)
        for (int e = v + 1, c = 0; c < j->t[v].size; c++, e = j->next[e])
            if (walk_value(a, j, e, scope) < 0)
                return -1;
    return 0;
}

/* Walks a WITH clause's bodies, each in its own scope, then the rest of its SelectStmt. */
static int walk_with(Analysis *a, const Json *j, int sel, int with, const CteScope *scope)
{
    int ctes = json_get(j, with, "ctes"), n = json_len(j, ctes);
    bool recursive = json_true(j, with, "recursive");
    for (int i = 0, e = ctes + 1; i < n; i++, e = j->next[e]) {
        int cte = json_node_of(j, e, "CommonTableExpr");
        int body = json_get(j, cte, "ctequery");
        if (body < 0)
            continue;
        if (json_node_of(j, body, "SelectStmt") < 0) {
            char *what = statement_name(j, body);
            fail(a, json_int(j, cte, "location"), "a view may not modify data (%s in WITH)", what);
            free(what);
            return -1;
        }
        /* Non-recursive: CTE i sees the ones before it; recursive: all of them. */
        CteScope inner = {scope, ctes, recursive ? n : i};
        if (walk_value(a, j, body, &inner) < 0)
            return -1;
    }
    CteScope all = {scope, ctes, n};
    return walk_fields(a, j, sel, &all, with, true);
}

/* Records every relation under a SelectStmt (its fields object); rejects SELECT INTO anywhere. */
static int walk_select(Analysis *a, const Json *j, int sel, const CteScope *scope)
{
    int into = json_get(j, sel, "intoClause");
    if (into >= 0) {
        int rel = json_get(j, into, "rel");
        return fail(a, rel >= 0 ? json_int(j, rel, "location") : -1,
                    "expected a SELECT statement, found SELECT INTO");
    }
    int with = json_get(j, sel, "withClause");
    if (with >= 0)
        return walk_with(a, j, sel, with, scope);
    return walk_fields(a, j, sel, scope, -1, true);
}

/* ---- Output column names (PostgreSQL's FigureColname) ---- */

/* A column name: a string token of the tree, or a literal when tok is -1 (none: both unset). */
typedef struct ColName {
    const char *literal;
    int tok;
} ColName;

/* An enum value (or node type) and the column name it gives. */
typedef struct NameFor {
    const char *value;
    const char *name;
} NameFor;

/* Node types named after themselves. */
static const NameFor node_names[] = {
    {"GroupingFunc", "grouping"}, {"A_ArrayExpr", "array"},         {"RowExpr", "row"},
    {"CoalesceExpr", "coalesce"}, {"XmlSerialize", "xmlserialize"},
};

/* Sublink kinds named after themselves (an EXPR_SUBLINK takes its subquery's column name). */
static const NameFor sublink_names[] = {
    {"EXISTS_SUBLINK", "exists"},
    {"ARRAY_SUBLINK", "array"},
};

/* GREATEST and LEAST. */
static const NameFor min_max_names[] = {
    {"IS_GREATEST", "greatest"},
    {"IS_LEAST", "least"},
};

/* The SQL value functions (current_date and friends). */
static const NameFor sql_value_names[] = {
    {"SVFOP_CURRENT_DATE", "current_date"},
    {"SVFOP_CURRENT_TIME", "current_time"},
    {"SVFOP_CURRENT_TIME_N", "current_time"},
    {"SVFOP_CURRENT_TIMESTAMP", "current_timestamp"},
    {"SVFOP_CURRENT_TIMESTAMP_N", "current_timestamp"},
    {"SVFOP_LOCALTIME", "localtime"},
    {"SVFOP_LOCALTIME_N", "localtime"},
    {"SVFOP_LOCALTIMESTAMP", "localtimestamp"},
    {"SVFOP_LOCALTIMESTAMP_N", "localtimestamp"},
    {"SVFOP_CURRENT_ROLE", "current_role"},
    {"SVFOP_CURRENT_USER", "current_user"},
    {"SVFOP_USER", "user"},
    {"SVFOP_SESSION_USER", "session_user"},
    {"SVFOP_CURRENT_CATALOG", "current_catalog"},
    {"SVFOP_CURRENT_SCHEMA", "current_schema"},
};

/* The XML functions (IS_DOCUMENT has no name). */
static const NameFor xml_names[] = {
    {"IS_XMLCONCAT", "xmlconcat"},
    {"IS_XMLELEMENT", "xmlelement"},
    {"IS_XMLFOREST", "xmlforest"},
    {"IS_XMLPARSE", "xmlparse"},
    {"IS_XMLPI", "xmlpi"},
    {"IS_XMLROOT", "xmlroot"},
    {"IS_XMLSERIALIZE", "xmlserialize"},
};

/* The name a table gives string token i, or NULL. */
static const char *name_for(const Json *j, int i, const NameFor *table, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (json_is(j, i, table[k].value))
            return table[k].name;
    return NULL;
}

static bool first_column(const Json *j, int sel, ColName *name, bool *known);

/* Whether n is a String node; if so its value goes to *name. */
static bool string_of(const Json *j, int n, ColName *name)
{
    int s = json_node_of(j, n, "String");
    if (s < 0)
        return false;
    int v = json_get(j, s, "sval");
    *name = v >= 0 ? (ColName){NULL, v} : (ColName){"", -1};
    return true;
}

/* The last String node of a list (ColumnRef fields, indirection); false when there is none. */
static bool last_string(const Json *j, int list, ColName *name)
{
    bool found = false;
    for (int e = list + 1, c = 0; c < json_len(j, list); c++, e = j->next[e])
        found |= string_of(j, e, name);
    return found;
}

/* Whether a target is "*" or "x.*", which expands to columns only the database knows. */
static bool is_star_target(const Json *j, int val)
{
    int items = -1, fields;
    if ((fields = json_node_of(j, val, "ColumnRef")) >= 0)
        items = json_get(j, fields, "fields");
    else if ((fields = json_node_of(j, val, "A_Indirection")) >= 0)
        items = json_get(j, fields, "indirection");
    return json_node_of(j, json_last(j, items), "A_Star") >= 0;
}

/*
 * FigureColnameInternal for node n: sets *name (a token of the tree or a literal) and returns the
 * confidence, 0 (none), 1 (second best) or 2 (good). *known turns false when the name depends
 * on a "*" inside a scalar subquery.
 */
static int figure_colname(const Json *j, int n, ColName *name, bool *known)
{
    int type, strength;
    int f = json_node(j, n, &type);
    const char *literal;

    if (f < 0)
        return 0;
    if (json_is(j, type, "ColumnRef"))
        return last_string(j, json_get(j, f, "fields"), name) ? 2 : 0;
    if (json_is(j, type, "A_Indirection")) {
        if (last_string(j, json_get(j, f, "indirection"), name))
            return 2;
        return figure_colname(j, json_get(j, f, "arg"), name, known);
    }
    if (json_is(j, type, "FuncCall"))
        return string_of(j, json_last(j, json_get(j, f, "funcname")), name) ? 2 : 0;
    if (json_is(j, type, "A_Expr")) {
        if (!json_is(j, json_get(j, f, "kind"), "AEXPR_NULLIF"))
            return 0;
        *name = (ColName){"nullif", -1};
        return 2;
    }
    if (json_is(j, type, "TypeCast")) {
        strength = figure_colname(j, json_get(j, f, "arg"), name, known);
        int names = json_get(j, json_get(j, f, "typeName"), "names");
        if (strength <= 1 && string_of(j, json_last(j, names), name))
            return 1;
        return strength;
    }
    if (json_is(j, type, "CollateClause"))
        return figure_colname(j, json_get(j, f, "arg"), name, known);
    if (json_is(j, type, "SubLink")) {
        int kind = json_get(j, f, "subLinkType");
        if (json_is(j, kind, "EXPR_SUBLINK")) {
            /* The name of the subquery's only column, whatever its strength there. */
            int sub = json_node_of(j, json_get(j, f, "subselect"), "SelectStmt");
            return (sub >= 0 && first_column(j, sub, name, known)) ? 2 : 0;
        }
        literal = name_for(j, kind, sublink_names, ARRAY_LEN(sublink_names));
    } else if (json_is(j, type, "CaseExpr")) {
        strength = figure_colname(j, json_get(j, f, "defresult"), name, known);
        if (strength <= 1) {
            *name = (ColName){"case", -1};
            return 1;
        }
        return strength;
    } else if (json_is(j, type, "MinMaxExpr")) {
        literal = name_for(j, json_get(j, f, "op"), min_max_names, ARRAY_LEN(min_max_names));
    } else if (json_is(j, type, "SQLValueFunction")) {
        literal = name_for(j, json_get(j, f, "op"), sql_value_names, ARRAY_LEN(sql_value_names));
    } else if (json_is(j, type, "XmlExpr")) {
        literal = name_for(j, json_get(j, f, "op"), xml_names, ARRAY_LEN(xml_names));
    } else {
        literal = name_for(j, type, node_names, ARRAY_LEN(node_names));
    }
    if (literal == NULL)
        return 0;
    *name = (ColName){literal, -1};
    return 2;
}

/* The output name of one target; false (and *known false) when it is a star. */
static bool target_name(const Json *j, int target, ColName *name, bool *known)
{
    int rt = json_node_of(j, target, "ResTarget");
    if (rt < 0)
        return false;
    int own = json_get(j, rt, "name");
    if (json_str_set(j, own)) {
        *name = (ColName){NULL, own};
        return true;
    }
    int val = json_get(j, rt, "val");
    if (is_star_target(j, val)) {
        *known = false;
        return false;
    }
    *name = (ColName){NULL, -1};
    (void)figure_colname(j, val, name, known);
    if (name->literal == NULL && name->tok < 0)
        *name = (ColName){"?column?", -1};
    return true;
}

/* Appends a column name, decoded from the tree or copied. */
static void push_name(StrVec *cols, const Json *j, ColName name)
{
    if (name.tok >= 0)
        strvec_push_owned(cols, json_string(j, name.tok));
    else
        strvec_push(cols, name.literal);
}

/* The branch of a set operation (a SelectStmt's fields) whose columns name the result. */
static int leftmost(const Json *j, int sel)
{
    int larg;
    while (!json_is(j, json_get(j, sel, "op"), "SETOP_NONE") &&
           (larg = json_get(j, sel, "larg")) >= 0)
        sel = larg;
    return sel;
}

/* The name of a SELECT's first output column; false when unknown or there is none. */
static bool first_column(const Json *j, int sel, ColName *name, bool *known)
{
    sel = leftmost(j, sel);
    if (json_len(j, json_get(j, sel, "valuesLists")) > 0) {
        *name = (ColName){"column1", -1};
        return true;
    }
    int targets = json_get(j, sel, "targetList");
    return json_len(j, targets) > 0 && target_name(j, targets + 1, name, known);
}

/* The output column names of a SELECT (its fields object). */
static void select_columns(const Json *j, int sel, StrVec *cols, bool *known)
{
    sel = leftmost(j, sel);
    int values = json_get(j, sel, "valuesLists");
    if (json_len(j, values) > 0) {
        int first = json_node_of(j, values + 1, "List");
        int n = json_len(j, json_get(j, first, "items"));
        for (int i = 0; i < n; i++)
            strvec_push_owned(cols, xasprintf("column%d", i + 1));
        return;
    }
    int targets = json_get(j, sel, "targetList");
    for (int e = targets + 1, c = 0; c < json_len(j, targets); c++, e = j->next[e]) {
        ColName name;
        if (target_name(j, e, &name, known))
            push_name(cols, j, name);
    }
}

/* The columns of CREATE TABLE; unknown when some come from elsewhere (LIKE, INHERITS, OF). */
static void create_columns(const Json *j, int cs, StrVec *cols, bool *known)
{
    if (json_len(j, json_get(j, cs, "inhRelations")) > 0 || json_get(j, cs, "ofTypename") >= 0 ||
        json_get(j, cs, "partbound") >= 0)
        *known = false;
    int elts = json_get(j, cs, "tableElts");
    for (int e = elts + 1, c = 0; c < json_len(j, elts); c++, e = j->next[e]) {
        int def = json_node_of(j, e, "ColumnDef");
        if (def >= 0)
            strvec_push_owned(cols, json_string(j, json_get(j, def, "colname")));
        else if (json_node_of(j, e, "TableLikeClause") >= 0)
            *known = false;
    }
}

/* ---- Parsed mode ---- */

/* Where a statement (a RawStmt) starts in the text (its stmt_location may include blanks and
 * comments). */
static int statement_offset(const char *sql, const Json *j, int raw)
{
    return skip_blank(sql, json_int(j, raw, "stmt_location"));
}

/* Analyses the statements the parser read. */
static int analyze_tree(Analysis *a, const Json *j, SqlKind kind)
{
    SqlInfo *out = a->out;
    int stmts = json_get(j, 0, "stmts");
    size_t n = (size_t)json_len(j, stmts);
    int first = stmts + 1, second = n > 1 ? j->next[first] : -1;

    out->mode = SQL_PARSED;
    out->n_statements = (int)n;
    out->columns_known = true;

    if (kind == SQL_KIND_DDL) {
        if (n == 0)
            return fail(a, -1, "expected a CREATE TABLE statement, found nothing");
        if (n > 1)
            return fail(a, statement_offset(a->sql, j, second),
                        "expected a single CREATE TABLE statement, found %zu statements", n);
        int node = json_get(j, first, "stmt");
        int cs = json_node_of(j, node, "CreateStmt");
        if (cs < 0) {
            char *what = statement_name(j, node);
            fail(a, statement_offset(a->sql, j, first),
                 "expected a CREATE TABLE statement, found %s", what);
            free(what);
            return -1;
        }
        create_columns(j, cs, &out->columns, &out->columns_known);
        return 0;
    }

    if (n == 0)
        return fail(a, -1, "expected a SELECT statement, found nothing");
    if (kind == SQL_KIND_QUERY && n > 1)
        return fail(a, statement_offset(a->sql, j, second),
                    "expected a single SELECT statement, found %zu statements", n);
    for (int raw = first, i = 0; i < (int)n; i++, raw = j->next[raw]) {
        int node = json_get(j, raw, "stmt");
        int sel = json_node_of(j, node, "SelectStmt");
        if (sel < 0 || json_get(j, sel, "intoClause") >= 0) {
            char *what = statement_name(j, node);
            fail(a, statement_offset(a->sql, j, raw), "expected a SELECT statement, found %s",
                 what);
            free(what);
            return -1;
        }
        if (walk_select(a, j, sel, NULL) < 0)
            return -1;
    }
    select_columns(j, json_node_of(j, json_get(j, first, "stmt"), "SelectStmt"), &out->columns,
                   &out->columns_known);
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
    return names_ident(ts->sql + t->start, (size_t)(t->end - t->start));
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

/* ---- The table a CREATE TABLE creates ---- */

/* Reads the name after CREATE ... TABLE; NULL, or why the tokens are not such a statement. */
static const char *created_name(const Tokens *ts, SqlRelation *table, int *end, bool *temporary,
                                int *at)
{
    int i = 1;
    *at = ts->n > 0 ? (int)ts->t[0]->start : -1;
    if (!tok_is(ts, 0, PG_QUERY__TOKEN__CREATE))
        return "expected a CREATE TABLE statement";
    if (tok_is(ts, i, PG_QUERY__TOKEN__GLOBAL) || tok_is(ts, i, PG_QUERY__TOKEN__LOCAL))
        i++;
    *temporary = tok_is(ts, i, PG_QUERY__TOKEN__TEMP) || tok_is(ts, i, PG_QUERY__TOKEN__TEMPORARY);
    if (*temporary || tok_is(ts, i, PG_QUERY__TOKEN__UNLOGGED))
        i++;
    if (!tok_is(ts, i++, PG_QUERY__TOKEN__TABLE))
        return "expected a CREATE TABLE statement";
    if (tok_is(ts, i, PG_QUERY__TOKEN__IF_P) && tok_is(ts, i + 1, PG_QUERY__TOKEN__NOT) &&
        tok_is(ts, i + 2, PG_QUERY__TOKEN__EXISTS))
        i += 3;
    if (!tok_name_start(ts, i)) {
        *at = i < ts->n ? (int)ts->t[i]->start : -1;
        return "expected the table's name after CREATE TABLE";
    }
    int last = i;
    while (tok_is(ts, last + 1, PG_QUERY__TOKEN__ASCII_46) && tok_label(ts, last + 2))
        last += 2;
    if (last > i + 2) {
        *at = (int)ts->t[i]->start;
        return "expected the table's name as table or schema.table";
    }
    if (!tok_is(ts, last + 1, PG_QUERY__TOKEN__ASCII_40)) {
        *at = (int)ts->t[last]->end;
        return "expected the column list after the table's name";
    }
    table->schema = last > i ? tok_name(ts, i) : NULL;
    table->name = tok_name(ts, last);
    table->location = (int)ts->t[i]->start;
    *end = (int)ts->t[last]->end;
    return NULL;
}

/* Analyses text the parser rejected, statement by statement, from its tokens. */
static int analyze_tokens(Analysis *a, const Tokens *all, SqlKind kind)
{
    SqlInfo *out = a->out;
    PgQuery__ScanToken **sig = all->t;
    int n_sig = all->n, rc = 0;

    out->mode = SQL_TOKENIZED;
    out->columns_known = false;

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
            SqlRelation table = {0};
            int end, at;
            bool temporary;
            const char *problem = created_name(&ts, &table, &end, &temporary, &at);
            free(table.schema);
            free(table.name);
            if (problem) {
                rc = fail(a, at, "%s", problem);
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
    return rc;
}

/* ---- Reading a text's tokens ---- */

/* A text's tokens from libpg_query's scanner: all of them, and the significant ones in all. */
typedef struct Scanned {
    PgQuery__ScanResult *scan; /* NULL when the tokenizer rejected the text */
    Tokens all;                /* comments dropped */
    char *error;               /* why the tokenizer rejected the text */
    int error_offset;
} Scanned;

/* Scans sql into *sc (free with scan_free). Returns 0, or -1 with sc->error set. */
static int scan_text(const char *sql, Scanned *sc)
{
    *sc = (Scanned){NULL, {sql, NULL, 0}, NULL, -1};
    PgQueryScanResult scanned = pg_query_scan(sql);
    if (scanned.error != NULL) {
        sc->error = xstrdup(scanned.error->message);
        sc->error_offset = cursor_to_offset(sql, scanned.error->cursorpos);
    } else {
        sc->scan = pg_query__scan_result__unpack(NULL, scanned.pbuf.len,
                                                 (const uint8_t *)scanned.pbuf.data);
        if (sc->scan == NULL)
            sc->error = xstrdup("could not read the tokens");
    }
    pg_query_free_scan_result(scanned);
    if (sc->scan == NULL)
        return -1;
    sc->all.t = xmalloc(sizeof(PgQuery__ScanToken *) * (sc->scan->n_tokens + 1));
    for (size_t i = 0; i < sc->scan->n_tokens; i++)
        if (sc->scan->tokens[i]->token != PG_QUERY__TOKEN__SQL_COMMENT &&
            sc->scan->tokens[i]->token != PG_QUERY__TOKEN__C_COMMENT)
            sc->all.t[sc->all.n++] = sc->scan->tokens[i];
    return 0;
}

/* Frees what scan_text allocated. */
static void scan_free(Scanned *sc)
{
    if (sc->scan != NULL)
        pg_query__scan_result__free_unpacked(sc->scan, NULL);
    free(sc->all.t);
    free(sc->error);
    *sc = (Scanned){0};
}

/* The statements: the non-empty runs of tokens between semicolons, into *spans (caller frees). */
static size_t statement_spans(const Tokens *all, SqlSpan **spans)
{
    size_t n = 0;
    *spans = xcalloc((size_t)all->n + 1, sizeof(SqlSpan));
    for (int i = 0; i < all->n; i++) {
        if (all->t[i]->token == PG_QUERY__TOKEN__ASCII_59)
            continue;
        int e = i;
        while (e + 1 < all->n && all->t[e + 1]->token != PG_QUERY__TOKEN__ASCII_59)
            e++;
        (*spans)[n++] = (SqlSpan){(int)all->t[i]->start, (int)all->t[e]->end};
        i = e;
    }
    return n;
}

/* Whether token i starts a table alias written without AS, or is AS. */
static bool tok_alias(const Tokens *ts, int i)
{
    return tok_is(ts, i, PG_QUERY__TOKEN__AS) || tok_name_start(ts, i);
}

/*
 * Records how the reference at r->location is written: its whole extent (every part of a
 * dotted name; the tokenizer reports catalog.schema.name at the schema, so parts before it
 * count too) and whether it is a FROM item without an alias. Leaves r as it is when no token
 * starts there.
 */
static void record_extent(const Tokens *ts, bool parsed, SqlRelation *r)
{
    int first = -1;
    for (int i = 0; i < ts->n && first < 0; i++)
        if ((int)ts->t[i]->start == r->location)
            first = i;
    if (first < 0)
        return;
    int last = first, parts = 1;
    while (parts < SQLINFO_MAX_NAME_PARTS && tok_is(ts, first - 1, PG_QUERY__TOKEN__ASCII_46) &&
           tok_label(ts, first - 2)) {
        first -= 2;
        parts++;
    }
    while (parts < SQLINFO_MAX_NAME_PARTS && tok_is(ts, last + 1, PG_QUERY__TOKEN__ASCII_46) &&
           tok_label(ts, last + 2)) {
        last += 2;
        parts++;
    }
    r->extent = (SqlSpan){(int)ts->t[first]->start, (int)ts->t[last]->end};
    int before = first - 1;
    bool from_item = tok_is(ts, before, PG_QUERY__TOKEN__FROM) ||
                     tok_is(ts, before, PG_QUERY__TOKEN__JOIN) ||
                     tok_is(ts, before, PG_QUERY__TOKEN__ONLY) ||
                     tok_is(ts, before, PG_QUERY__TOKEN__ASCII_44) ||
                     (parsed && tok_is(ts, before, PG_QUERY__TOKEN__ASCII_40));
    r->bare_from_item = from_item && !tok_alias(ts, last + 1);
}

/* sqlinfo_created_table on a text's tokens. */
static int created_table_of(const Tokens *all, SqlRelation *table, int *end, bool *temporary,
                            char **error, int *error_offset)
{
    /* The first statement's tokens. */
    int n = 0;
    while (n < all->n && all->t[n]->token != PG_QUERY__TOKEN__ASCII_59)
        n++;
    Tokens ts = {all->sql, all->t, n};
    const char *problem = created_name(&ts, table, end, temporary, error_offset);
    if (problem)
        *error = xstrdup(problem);
    return problem ? -1 : 0;
}

int sqlinfo_created_table(const char *sql, SqlRelation *table, int *end, bool *temporary,
                          char **error, int *error_offset)
{
    memset(table, 0, sizeof(*table));
    *end = -1;
    *temporary = false;
    *error = NULL;
    *error_offset = -1;
    Scanned sc;
    if (scan_text(sql, &sc) < 0) {
        *error = sc.error;
        *error_offset = sc.error_offset;
        sc.error = NULL;
        scan_free(&sc);
        return -1;
    }
    int rc = created_table_of(&sc.all, table, end, temporary, error, error_offset);
    scan_free(&sc);
    return rc;
}

int sqlinfo_statements(const char *sql, SqlSpan **spans, size_t *n, char **error)
{
    Scanned sc;
    *spans = NULL;
    *n = 0;
    *error = NULL;
    if (scan_text(sql, &sc) < 0) {
        *error = sc.error;
        sc.error = NULL;
        scan_free(&sc);
        return -1;
    }
    *n = statement_spans(&sc.all, spans);
    scan_free(&sc);
    return 0;
}

bool sqlinfo_has_table_attributes(const char *sql)
{
    static const char *const words[] = {"diststyle", "distkey", "sortkey"};
    Scanned sc;
    bool hit = false;
    if (scan_text(sql, &sc) < 0) {
        scan_free(&sc);
        return false;
    }
    for (int i = 0; i < sc.all.n && !hit; i++) {
        const PgQuery__ScanToken *t = sc.all.t[i];
        if (t->token != PG_QUERY__TOKEN__IDENT || sql[t->start] == '"')
            continue;
        char *name = names_ident(sql + t->start, (size_t)(t->end - t->start));
        for (size_t k = 0; k < ARRAY_LEN(words); k++)
            hit = hit || strcmp(name, words[k]) == 0;
        free(name);
    }
    scan_free(&sc);
    return hit;
}

/* ---- Entry points ---- */

/* Analyses sql from libpg_query's tokens (the parser rejected it). */
static int analyze_scanned(Analysis *a, const Scanned *sc, SqlKind kind)
{
    if (sc->scan == NULL)
        return fail(a, sc->error_offset, "%s", sc->error);
    return analyze_tokens(a, &sc->all, kind);
}

int sqlinfo_analyze(const char *sql, SqlKind kind, SqlInfo *out, char **error, int *error_offset)
{
    Analysis a = {sql, out, 0, NULL, -1};
    int rc;

    memset(out, 0, sizeof(*out));
    *error = NULL;
    *error_offset = -1;

    Scanned sc;
    (void)scan_text(sql, &sc); /* a rejection is reported only if the parser rejects it too */
    PgQueryParseResult parsed = pg_query_parse(sql);
    if (parsed.error != NULL) {
        rc = analyze_scanned(&a, &sc, kind);
    } else {
        Json tree;
        int loaded = json_load(&tree, parsed.parse_tree, SQLINFO_MAX_DEPTH);
        if (loaded > 0)
            rc = analyze_scanned(&a, &sc, kind);
        else if (loaded < 0)
            rc = fail(&a, -1, "could not read the parse tree");
        else
            rc = analyze_tree(&a, &tree, kind);
        json_free(&tree);
    }
    pg_query_free_parse_result(parsed);

    if (rc < 0) {
        scan_free(&sc);
        sqlinfo_free(out);
        *error = a.error;
        *error_offset = a.error_offset;
        return -1;
    }
    if (out->n_relations > 1)
        qsort(out->relations, out->n_relations, sizeof(SqlRelation), relation_cmp);
    if (sc.scan != NULL) {
        statement_spans(&sc.all, &out->statements);
        for (size_t i = 0; i < out->n_relations; i++)
            record_extent(&sc.all, out->mode == SQL_PARSED, &out->relations[i]);
    }
    if (kind == SQL_KIND_DDL) {
        int end;
        bool temporary;
        rc = sc.scan != NULL
                 ? created_table_of(&sc.all, &out->created, &end, &temporary, error, error_offset)
                 : -1;
        if (rc < 0 && *error == NULL)
            *error = xstrdup(sc.error != NULL ? sc.error : "could not read the tokens");
    }
    scan_free(&sc);
    if (rc < 0) {
        sqlinfo_free(out);
        return -1;
    }
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
