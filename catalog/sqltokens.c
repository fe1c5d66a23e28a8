/*
 * What catalog/sqlinfo reads from libpg_query's tokenizer alone (see sqltokens.h): relations and
 * statement checks for text the parser rejects, statement spans, how a reference is written, and
 * the table a CREATE TABLE names; plus sqlinfo's public functions that need nothing more. Not for:
 * text the parser reads, or deciding when the tokenizer may stand in for the parser (sqlinfo).
 */
#include "catalog/sqltokens.h"

#include <pg_query.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/names.h"
#include "catalog/sqltree.h"

/* Most parts of a relation name: catalog.schema.name. */
#define SQLTOKENS_MAX_NAME_PARTS 3

int sqlanalysis_fail(SqlAnalysis *a, int offset, const char *fmt, ...)
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
static void add_relation_owned(SqlAnalysis *a, char *schema, char *name, int location)
{
    SqlInfo *out = a->out;
    grow_array((void **)&out->relations, &a->relations_cap, out->n_relations + 1,
               sizeof(SqlRelation));
    out->relations[out->n_relations++] = (SqlRelation){schema, name, location, {-1, -1}, false};
}

/* ---- Tokens of one statement ---- */

/* The significant tokens (comments dropped) of one statement, or of a whole text. */
typedef struct Tokens {
    const char *sql;
    PgQuery__ScanToken **t;
    int n;
} Tokens;

/* A whole text's tokens as Tokens. */
static Tokens all_of(const SqlTokens *ts)
{
    return (Tokens){ts->sql, ts->t, ts->n};
}

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
static int tok_check_select(SqlAnalysis *a, const Tokens *ts)
{
    int first = 0;
    if (!tok_is(ts, first, PG_QUERY__TOKEN__SELECT) && !tok_is(ts, first, PG_QUERY__TOKEN__WITH) &&
        !tok_is(ts, first, PG_QUERY__TOKEN__ASCII_40)) {
        int at = (int)ts->t[first]->start;
        if (ts->t[first]->keyword_kind != PG_QUERY__KEYWORD_KIND__NO_KEYWORD) {
            char *kw = tok_upper(ts, first);
            sqlanalysis_fail(a, at, "expected a SELECT statement, found %s", kw);
            free(kw);
            return -1;
        }
        return sqlanalysis_fail(a, at, "expected a SELECT statement");
    }
    for (int i = 0; i < ts->n; i++) {
        if (tok_is(ts, i, PG_QUERY__TOKEN__INTO))
            return sqlanalysis_fail(a, ts->t[i]->start,
                                    "expected a SELECT statement, found SELECT INTO");
        if (tok_is(ts, i, PG_QUERY__TOKEN__ASCII_40) &&
            (tok_is(ts, i + 1, PG_QUERY__TOKEN__INSERT) ||
             tok_is(ts, i + 1, PG_QUERY__TOKEN__UPDATE) ||
             tok_is(ts, i + 1, PG_QUERY__TOKEN__DELETE_P) ||
             tok_is(ts, i + 1, PG_QUERY__TOKEN__MERGE))) {
            char *kw = tok_upper(ts, i + 1);
            sqlanalysis_fail(a, ts->t[i + 1]->start, "a view may not modify data (%s in WITH)", kw);
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

/* Whether token i is the "#" of a Redshift temporary table's name (#name, no blank between). */
static bool tok_temp_marker(const Tokens *ts, int i)
{
    if (!tok_is(ts, i, PG_QUERY__TOKEN__Op) || !tok_label(ts, i + 1))
        return false;
    const PgQuery__ScanToken *t = ts->t[i];
    return t->end - t->start == 1 && ts->sql[t->start] == '#' && ts->t[i + 1]->start == t->end;
}

/*
 * Finds relations in one statement's tokens. After FROM, JOIN or a comma of a FROM list (at a
 * query level, not inside extract(... from ...)): a name, schema.name or catalog.schema.name is a
 * relation (unqualified names that are visible CTEs excepted). Elsewhere schema.name is recorded
 * too, unless its first part is an alias, a CTE or a table named in the statement (then it is
 * alias.column); longer chains there are column references and ignored. A name followed by "("
 * is a function, one followed by ".*" a column star, one after "::" a type. A FROM item #name is
 * a Redshift temporary table: not a relation, but it and its alias are known names.
 */
static void tok_relations(SqlAnalysis *a, const Tokens *ts)
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
        if (expect && tok_temp_marker(ts, i)) {
            int al = tok_is(ts, i + 2, PG_QUERY__TOKEN__AS) ? i + 3 : i + 2;
            strvec_push_owned(&known, tok_name(ts, i + 1));
            if (tok_name_start(ts, al))
                strvec_push_owned(&known, tok_name(ts, al));
            expect = false;
            i++;
            continue;
        }
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

int sqltokens_analyze(const SqlTokens *text, SqlKind kind, SqlInfo *out, char **error,
                      int *error_offset)
{
    SqlAnalysis analysis = {text->sql, out, 0, NULL, -1}, *a = &analysis;
    Tokens whole = all_of(text);
    const Tokens *all = &whole;
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
        rc = sqlanalysis_fail(a, -1, "expected a %s statement, found nothing", what);
        goto done;
    }
    if (kind != SQL_KIND_TESTS && n_stmts > 1) {
        rc = sqlanalysis_fail(a, second_at, "expected a single %s statement, found %d statements",
                              what, n_stmts);
        goto done;
    }

    for (int s = 0; s < n_sig; s++) {
        if (sig[s]->token == PG_QUERY__TOKEN__ASCII_59)
            continue;
        int e = s;
        while (e < n_sig && sig[e]->token != PG_QUERY__TOKEN__ASCII_59)
            e++;
        Tokens ts = {all->sql, sig + s, e - s};
        if (kind == SQL_KIND_DDL) {
            /* CREATE [GLOBAL|LOCAL] [TEMP|TEMPORARY|UNLOGGED] TABLE ...: no relations. */
            SqlRelation table = {0};
            int end, at;
            bool temporary;
            const char *problem = created_name(&ts, &table, &end, &temporary, &at);
            free(table.schema);
            free(table.name);
            if (problem) {
                rc = sqlanalysis_fail(a, at, "%s", problem);
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
    *error = a->error;
    *error_offset = a->error_offset;
    return rc;
}

/* ---- Reading a text's tokens ---- */

int sqltokens_scan(const char *sql, SqlTokens *ts)
{
    *ts = (SqlTokens){sql, NULL, NULL, 0, NULL, -1};
    PgQueryScanResult scanned = pg_query_scan(sql);
    if (scanned.error != NULL) {
        ts->error = xstrdup(scanned.error->message);
        ts->error_offset = sqltree_cursor_offset(sql, scanned.error->cursorpos);
    } else {
        ts->scan = pg_query__scan_result__unpack(NULL, scanned.pbuf.len,
                                                 (const uint8_t *)scanned.pbuf.data);
        if (ts->scan == NULL)
            ts->error = xstrdup("could not read the tokens");
    }
    pg_query_free_scan_result(scanned);
    if (ts->scan == NULL)
        return -1;
    ts->t = xmalloc(sizeof(PgQuery__ScanToken *) * (ts->scan->n_tokens + 1));
    for (size_t i = 0; i < ts->scan->n_tokens; i++)
        if (ts->scan->tokens[i]->token != PG_QUERY__TOKEN__SQL_COMMENT &&
            ts->scan->tokens[i]->token != PG_QUERY__TOKEN__C_COMMENT)
            ts->t[ts->n++] = ts->scan->tokens[i];
    return 0;
}

void sqltokens_free(SqlTokens *ts)
{
    if (ts->scan != NULL)
        pg_query__scan_result__free_unpacked(ts->scan, NULL);
    free(ts->t);
    free(ts->error);
    *ts = (SqlTokens){0};
}

size_t sqltokens_statements(const SqlTokens *text, SqlSpan **spans)
{
    Tokens whole = all_of(text);
    const Tokens *all = &whole;
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
void sqltokens_record_extent(const SqlTokens *text, bool parsed, SqlRelation *r)
{
    Tokens whole = all_of(text);
    const Tokens *ts = &whole;
    int first = -1;
    for (int i = 0; i < ts->n && first < 0; i++)
        if ((int)ts->t[i]->start == r->location)
            first = i;
    if (first < 0)
        return;
    int last = first, parts = 1;
    while (parts < SQLTOKENS_MAX_NAME_PARTS && tok_is(ts, first - 1, PG_QUERY__TOKEN__ASCII_46) &&
           tok_label(ts, first - 2)) {
        first -= 2;
        parts++;
    }
    while (parts < SQLTOKENS_MAX_NAME_PARTS && tok_is(ts, last + 1, PG_QUERY__TOKEN__ASCII_46) &&
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

int sqltokens_created_table(const SqlTokens *text, SqlRelation *table, int *end, bool *temporary,
                            char **error, int *error_offset)
{
    Tokens whole = all_of(text);
    const Tokens *all = &whole;
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
    SqlTokens sc;
    if (sqltokens_scan(sql, &sc) < 0) {
        *error = sc.error;
        *error_offset = sc.error_offset;
        sc.error = NULL;
        sqltokens_free(&sc);
        return -1;
    }
    int rc = sqltokens_created_table(&sc, table, end, temporary, error, error_offset);
    sqltokens_free(&sc);
    return rc;
}

int sqlinfo_statements(const char *sql, SqlSpan **spans, size_t *n, char **error)
{
    SqlTokens sc;
    *spans = NULL;
    *n = 0;
    *error = NULL;
    if (sqltokens_scan(sql, &sc) < 0) {
        *error = sc.error;
        sc.error = NULL;
        sqltokens_free(&sc);
        return -1;
    }
    *n = sqltokens_statements(&sc, spans);
    sqltokens_free(&sc);
    return 0;
}

bool sqlinfo_has_table_attributes(const char *sql)
{
    static const char *const words[] = {"diststyle", "distkey", "sortkey"};
    SqlTokens sc;
    bool hit = false;
    if (sqltokens_scan(sql, &sc) < 0) {
        sqltokens_free(&sc);
        return false;
    }
    for (int i = 0; i < sc.n && !hit; i++) {
        const PgQuery__ScanToken *t = sc.t[i];
        if (t->token != PG_QUERY__TOKEN__IDENT || sql[t->start] == '"')
            continue;
        char *name = names_ident(sql + t->start, (size_t)(t->end - t->start));
        for (size_t k = 0; k < ARRAY_LEN(words); k++)
            hit = hit || strcmp(name, words[k]) == 0;
        free(name);
    }
    sqltokens_free(&sc);
    return hit;
}
