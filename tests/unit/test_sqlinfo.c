/*
 * Unit tests for catalog/sqlinfo.c: relations read, CTE scoping, output column names, the
 * tokenizer fallback for SQL the PostgreSQL parser rejects, rejected statements with their
 * offsets, Redshift-only syntax against real mistakes in each dialect, and concurrent use.
 * Table-driven; each row names what it checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "catalog/sqlinfo.h"

#define P SQL_PARSED
#define T SQL_TOKENIZED
#define Q SQL_KIND_QUERY

/* One successful analysis: relations as "schema.name, name" in text order; columns as
 * "a,b", or NULL when they are unknown. */
typedef struct Case {
    const char *what;
    SqlKind kind;
    const char *sql;
    SqlMode mode;
    const char *relations;
    const char *columns;
} Case;

/* One rejected text: the exact message, offset and line. */
typedef struct ErrorCase {
    const char *what;
    SqlKind kind;
    const char *sql;
    const char *message;
    int offset;
    int line;
} ErrorCase;

/* "schema.name, name" for the relations found; caller frees. */
static char *render_relations(const SqlInfo *info)
{
    StrVec parts = {0};
    for (size_t i = 0; i < info->n_relations; i++) {
        const SqlRelation *r = &info->relations[i];
        if (r->schema != NULL)
            strvec_push_owned(&parts, xasprintf("%s.%s", r->schema, r->name));
        else
            strvec_push(&parts, r->name);
    }
    char *s = strvec_join(&parts, ", ");
    strvec_free(&parts);
    return s;
}

/* "a,b" for known columns, NULL when unknown; caller frees. */
static char *render_columns(const SqlInfo *info)
{
    return info->columns_known ? strvec_join(&info->columns, ",") : NULL;
}

/* Runs one Case; on a mismatch prints a readable diff and returns false. */
static bool check_case(const Case *c)
{
    SqlInfo info;
    char *error = NULL;
    int offset = 0;
    if (sqlinfo_analyze(c->sql, c->kind, &info, &error, &offset) != 0) {
        print_error("case \"%s\": unexpected error \"%s\" at %d\n", c->what, error, offset);
        free(error);
        return false;
    }
    char *rels = render_relations(&info);
    char *cols = render_columns(&info);
    bool ok = error == NULL && info.mode == c->mode && strcmp(rels, c->relations) == 0 &&
              (cols == NULL) == (c->columns == NULL) &&
              (cols == NULL || strcmp(cols, c->columns) == 0);
    if (!ok)
        print_error("case \"%s\"\n  sql:       %s\n  mode:      %s (want %s)\n"
                    "  relations: \"%s\" (want \"%s\")\n  columns:   %s (want %s)\n",
                    c->what, c->sql, info.mode == P ? "parsed" : "tokenized",
                    c->mode == P ? "parsed" : "tokenized", rels, c->relations,
                    cols ? cols : "unknown", c->columns ? c->columns : "unknown");
    free(rels);
    free(cols);
    sqlinfo_free(&info);
    return ok;
}

/* Runs one ErrorCase (-1, the message, the offset and its line, an empty result); on a
 * mismatch prints a readable diff and returns false. */
static bool check_error(const ErrorCase *c)
{
    SqlInfo info;
    char *error = NULL;
    int offset = 12345;
    int rc = sqlinfo_analyze(c->sql, c->kind, &info, &error, &offset);
    bool ok = rc == -1 && error != NULL && strcmp(error, c->message) == 0 && offset == c->offset &&
              sqlinfo_line_of(c->sql, offset) == c->line;
    if (!ok)
        print_error("case \"%s\"\n  sql:     %s\n  rc:      %d\n  message: \"%s\" (want \"%s\")\n"
                    "  offset:  %d (want %d), line %d (want %d)\n",
                    c->what, c->sql, rc, error ? error : "(none)", c->message, offset, c->offset,
                    sqlinfo_line_of(c->sql, offset), c->line);
    if (rc == 0)
        sqlinfo_free(&info);
    else
        ok = ok && info.relations == NULL && info.n_relations == 0 && info.columns.n == 0;
    free(error);
    return ok;
}

/* Runs every row of a Case table, then fails if any did not hold. */
static void run_cases(const Case *cases, size_t n)
{
    size_t failed = 0;
    for (size_t i = 0; i < n; i++)
        failed += !check_case(&cases[i]);
    assert_int_equal(failed, 0);
}

/* Runs every row of an ErrorCase table, then fails if any did not hold. */
static void run_errors(const ErrorCase *cases, size_t n)
{
    size_t failed = 0;
    for (size_t i = 0; i < n; i++)
        failed += !check_error(&cases[i]);
    assert_int_equal(failed, 0);
}

/* ---- Relations, parsed ---- */

static const Case relation_cases[] = {
    {"spaces around the dot", Q, "select * from first . cities", P, "first.cities", NULL},
    {"quoted names keep their case", Q, "select * from \"First\".\"Cities\"", P, "First.Cities",
     NULL},
    {"quoted lower case", Q, "select * from \"first\".\"cities\"", P, "first.cities", NULL},
    {"unquoted upper case folds", Q, "select * from FIRST.CITIES", P, "first.cities", NULL},
    {"comments and strings are not relations", Q,
     "select 'first.cities' as a /* first.cities */ from first.shops -- first.cities\n"
     "where b = 'x.y' and c = $$first.cities$$ and d = e'first.cities'",
     P, "first.shops", "a"},
    {"alias.column is not a relation", Q, "select c.city, first.cities.id from first.cities c", P,
     "first.cities", "city,id"},
    {"joins", Q,
     "select * from a.x join a.y using (id) left join a.z on true cross join a.w natural join v", P,
     "a.x, a.y, a.z, a.w, v", NULL},
    {"comma-separated FROM", Q, "select 1 from a, b.c, d", P, "a, b.c, d", "?column?"},
    {"subqueries in WHERE", Q,
     "select 1 from a where id in (select id from b) and exists (select 1 from c)", P, "a, b, c",
     "?column?"},
    {"subquery in the SELECT list", Q, "select (select max(x) from b) from a", P, "b, a", "max"},
    {"subquery in HAVING", Q,
     "select k from a group by k having count(*) > (select count(*) from b)", P, "a, b", "k"},
    {"subquery in ORDER BY", Q, "select k from a order by (select max(k) from b)", P, "a, b", "k"},
    {"set operations", Q,
     "select a from x union all select a from y intersect select a from z except select a from w",
     P, "x, y, z, w", "a"},
    {"LATERAL", Q, "select * from a, lateral (select * from b where b.id = a.id) l", P, "a, b",
     NULL},
    {"derived table", Q, "select s.k from (select k from a) s", P, "a", "k"},
    {"repeats are kept", Q, "select 1 from a join a on true", P, "a, a", "?column?"},
    {"catalog is dropped", Q, "select 1 from db.s.t", P, "s.t", "?column?"},
    {"functions in FROM are not relations", Q,
     "select 1 from generate_series(1, 3) g, s.f(1) h, unnest(array[1]) u", P, "", "?column?"},
    {"ONLY and TABLESAMPLE", Q, "select 1 from only s.t, s.u tablesample system (10)", P,
     "s.t, s.u", "?column?"},
    {"FOR UPDATE OF names an alias", Q, "select 1 from s.t for update of t", P, "s.t", "?column?"},
    {"qualified functions, types and columns", Q,
     "select pg_catalog.now(), x::pg_catalog.int4, s.t.c from s.t", P, "s.t", "now,x,c"},
    {"subquery inside VALUES", Q, "values ((select 1 from a))", P, "a", "column1"},
    {"TABLE", Q, "table s.t", P, "s.t", NULL},
    {"trailing semicolons and comments", Q, "select 1 from a;; -- done\n/* end */", P, "a",
     "?column?"},
    {"tests: two SELECTs", SQL_KIND_TESTS,
     "select (city = 'Paris') as ok from first.cities;\nselect count(*) > 0 from first.shops;", P,
     "first.cities, first.shops", "ok"},
};

static void test_relations_parsed(void **state)
{
    (void)state;
    run_cases(relation_cases, ARRAY_LEN(relation_cases));
}

/* ---- WITH scoping ---- */

static const Case cte_cases[] = {
    {"a CTE is not a relation", Q, "with c as (select * from first.cities) select * from c", P,
     "first.cities", NULL},
    {"a CTE named like a relation", Q,
     "with cities as (select city from first.cities) select city from cities", P, "first.cities",
     "city"},
    {"non-recursive body reads the real table", Q,
     "with cities as (select * from cities) select * from cities", P, "cities", NULL},
    {"recursive body reads itself", Q,
     "with recursive cities as (select * from cities) select * from cities", P, "", NULL},
    {"later CTEs see earlier ones only", Q,
     "with a as (select * from b), b as (select * from a) select * from b", P, "b", NULL},
    {"recursive: all CTEs visible everywhere", Q,
     "with recursive a as (select * from b), b as (select 1) select * from a", P, "", NULL},
    {"schema-qualified is never a CTE", Q,
     "with cities as (select 1) select * from first.cities, cities", P, "first.cities", NULL},
    {"nested WITH is popped", Q,
     "with x as (select 1) select * from (with y as (select * from x) select * from y) s, y", P,
     "y", NULL},
    {"inner CTE body sees the outer one", Q,
     "with x as (select * from t1) select * from (with x as (select * from x) select * from x) s",
     P, "t1", NULL},
    {"CTE inside a WHERE subquery", Q,
     "with x as (select 1) select 1 from t where a in (select * from x)", P, "t", "?column?"},
    {"CTE across set operation branches", Q,
     "with x as (select 1 as k) select k from x union select k from x", P, "", "k"},
    {"WITH in a set operation branch", Q,
     "(with x as (select 1 as k) select k from x) union select k from x", P, "x", "k"},
};

static void test_cte_scoping(void **state)
{
    (void)state;
    run_cases(cte_cases, ARRAY_LEN(cte_cases));
}

/* ---- Output column names (checked against PostgreSQL 15) ---- */

static const Case column_cases[] = {
    {"columns and count(*)", Q, "select city, count(*) from first.cities group by city", P,
     "first.cities", "city,count"},
    {"star", Q, "select * from t", P, "t", NULL},
    {"qualified star", Q, "select c.* from t c", P, "t", NULL},
    {"star among others", Q, "select a, * from t", P, "t", NULL},
    {"composite star", Q, "select (t).* from t", P, "t", NULL},
    {"aliases, quoted and folded", Q,
     "select t.a, b as \"Bee\", c + 1 as total, d AS Dee, \"Mixed\" from t", P, "t",
     "a,Bee,total,dee,Mixed"},
    {"casts", Q, "select x::int, 1::int, 'a'::text, cast(y as varchar(10)), (1)::numeric(10,2)", P,
     "", "x,int4,text,y,numeric"},
    {"CASE", Q,
     "select case when f then b end, case when f then 1 else c end, (case when f then 1 end)::text",
     P, "", "case,c,text"},
    {"arrays, EXISTS and sublinks", Q,
     "select array[1,2], array(select 1), exists(select 1), (select max(y) from u), (select 1), "
     "(values (1)), (select 1 as q)",
     P, "u", "array,array,exists,max,?column?,column1,q"},
    {"scalar subquery of a star", Q, "select (select * from u limit 1)", P, "u", NULL},
    {"function-like expressions", Q,
     "select coalesce(a,b), greatest(1,2), least(1,2), nullif(a,b), row(1,2), grouping(a) "
     "from t group by a, b",
     P, "t", "coalesce,greatest,least,nullif,row,grouping"},
    {"SQL value functions", Q,
     "select current_date, current_timestamp, current_time(0), localtime, localtimestamp, "
     "current_user, session_user, user, current_role, current_catalog, current_schema",
     P, "",
     "current_date,current_timestamp,current_time,localtime,localtimestamp,current_user,"
     "session_user,user,current_role,current_catalog,current_schema"},
    {"no name", Q, "select 1, a + b, -x, not f, a is null, 'lit', null, true from t", P, "t",
     "?column?,?column?,?column?,?column?,?column?,?column?,?column?,?column?"},
    {"qualified function and window", Q,
     "select s.f(x), pg_catalog.upper('a'), sum(x) over () from t", P, "t", "f,upper,sum"},
    {"collation and field selection", Q, "select x collate \"C\", (t).y, ((t)).z from t", P, "t",
     "x,y,z"},
    {"XML", Q, "select xmlelement(name a), xmlconcat(z, z), xmlserialize(content z as text)", P, "",
     "xmlelement,xmlconcat,xmlserialize"},
    {"VALUES", Q, "values (1, 'a'), (2, 'b')", P, "", "column1,column2"},
    {"UNION takes the left names", Q, "select a, b from x union select c, d from y", P, "x, y",
     "a,b"},
    {"parenthesised set operation", Q, "(select a from x) union (select b from y) order by 1", P,
     "x, y", "a"},
    {"CTE columns", Q, "with q as (select 1 as z) select z, q.z as w from q", P, "", "z,w"},
};

static void test_columns(void **state)
{
    (void)state;
    run_cases(column_cases, ARRAY_LEN(column_cases));
}

/* ---- CREATE TABLE ---- */

static const Case ddl_cases[] = {
    {"columns, constraints skipped", SQL_KIND_DDL,
     "create table s.t (a int, b text not null default 'x', primary key (a), "
     "constraint c check (b <> ''));",
     P, "", "a,b"},
    {"quoted column names", SQL_KIND_DDL, "CREATE TABLE \"S\".\"T\" (\"Id\" int, Name varchar(9))",
     P, "", "Id,name"},
    {"LIKE makes columns unknown", SQL_KIND_DDL, "create table t (like u, a int)", P, "", NULL},
    {"INHERITS makes columns unknown", SQL_KIND_DDL, "create table t (a int) inherits (u)", P, "",
     NULL},
    {"Redshift options: tokenized", SQL_KIND_DDL,
     "create table s.t (a int, b text) diststyle even sortkey (a)", T, "", NULL},
    {"Redshift temp table: tokenized", SQL_KIND_DDL,
     "create temp table t (a int encode zstd) diststyle all", T, "", NULL},
};

static void test_ddl(void **state)
{
    (void)state;
    run_cases(ddl_cases, ARRAY_LEN(ddl_cases));
}

/* ---- The table a CREATE TABLE creates ---- */

static void test_created_table(void **state)
{
    (void)state;
    static const struct {
        const char *sql, *schema, *name; /* name NULL: an error containing schema */
        int location, end;
        bool temporary;
    } cases[] = {
        {"create table s.t (a int)", "s", "t", 13, 16, false},
        {"CREATE TABLE IF NOT EXISTS \"S\" . Tee(a int) diststyle even", "S", "tee", 27, 36, false},
        {"/* c */ create unlogged table t (a int)", NULL, "t", 30, 31, false},
        {"create global temp table t (a int); select 1", NULL, "t", 25, 26, true},
        {"create table a.b.c (x int)", "table or schema.table", NULL, 13, -1, false},
        {"create table t as select 1", "expected the column list", NULL, 14, -1, false},
        {"create view v as select 1", "expected a CREATE TABLE statement", NULL, 0, -1, false},
        {"create table (x int)", "expected the table's name", NULL, 13, -1, false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        SqlRelation t;
        int end, at;
        bool temporary;
        char *error = NULL;
        int rc = sqlinfo_created_table(cases[i].sql, &t, &end, &temporary, &error, &at);
        if (cases[i].name == NULL) {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(error, cases[i].schema));
            assert_int_equal(at, cases[i].location);
        } else {
            assert_int_equal(rc, 0);
            if (cases[i].schema)
                assert_string_equal(t.schema, cases[i].schema);
            else
                assert_null(t.schema);
            assert_string_equal(t.name, cases[i].name);
            assert_int_equal(t.location, cases[i].location);
            assert_int_equal(end, cases[i].end);
            assert_int_equal(temporary, cases[i].temporary);
        }
        free(t.schema);
        free(t.name);
        free(error);
    }
}

/* ---- The tokenizer fallback ---- */

static const Case token_cases[] = {
    {"select top", Q, "select top 10 city from first.cities", T, "first.cities", NULL},
    {"comments and strings are not relations", Q,
     "select top 10 * from first.shops /* first.cities */ where x = 'first.cities' "
     "-- first.cities",
     T, "first.shops", NULL},
    {"dollar and escape strings", Q,
     "select top 1 * from t where a = $$first.cities$$ and b = e'first.cities'", T, "t", NULL},
    {"spaces around the dot", Q, "select top 1 * from first . cities", T, "first.cities", NULL},
    {"quoting and case folding", Q,
     "select top 1 * from \"First\".\"Cities\", \"first\".\"cities\", FIRST.CITIES, \"a\"\"b\"", T,
     "First.Cities, first.cities, first.cities, a\"b", NULL},
    {"joins and FROM lists", Q,
     "select top 1 * from a join b on a.id = b.id left join s.c on true, d, (e cross join f)", T,
     "a, b, s.c, d, e, f", NULL},
    {"subqueries", Q,
     "select top 1 x from a where y in (select y from s.b) and exists (select 1 from c)", T,
     "a, s.b, c", NULL},
    {"alias.column is not a relation", Q,
     "select top 1 c.city, s.name from first.cities c join first.shops as s on c.id = s.city_id", T,
     "first.cities, first.shops", NULL},
    {"table.column is not a relation", Q,
     "select top 1 cities.city from first.cities where cities.id > 0", T, "first.cities", NULL},
    {"other qualified names count", Q, "select top 1 first.x from t", T, "first.x, t", NULL},
    {"three parts: column, or catalog.schema.table", Q, "select top 1 s.t.col from db.s.t", T,
     "s.t", NULL},
    {"functions, types and stars", Q,
     "select top 1 t.*, s.f(1), x::s.typ from generate_series(1, 3), s.g(1)", T, "", NULL},
    {"FROM inside functions", Q,
     "select top 1 extract(year from d), substring(x from 2), a is distinct from b from t", T, "t",
     NULL},
    {"CTE named like a relation", Q,
     "with cities as (select top 1 * from cities) select * from cities", T, "cities", NULL},
    {"CTE scoping", Q,
     "with x as (select top 1 * from x), y as (select * from x) select * from y, x, z "
     "where y.a = x.a",
     T, "x, z", NULL},
    {"recursive CTE", Q, "with recursive r as (select top 1 * from r) select * from r", T, "",
     NULL},
    {"set operations in parentheses", Q,
     "(select top 1 a from x) union (select top 1 a from first.y)", T, "x, first.y", NULL},
    {"tests: two statements", SQL_KIND_TESTS, "select top 1 1 from a; select 2 from b.c;", T,
     "a, b.c", NULL},
};

static void test_tokenized(void **state)
{
    (void)state;
    run_cases(token_cases, ARRAY_LEN(token_cases));
}

/* ---- Rejections ---- */

static const ErrorCase error_cases[] = {
    {"two statements", Q, "select 1; select 2",
     "expected a single SELECT statement, found 2 statements", 10, 1},
    {"second statement on a later line", Q, "select 1;\n\n  /* next */ select 2;",
     "expected a single SELECT statement, found 2 statements", 24, 3},
    {"INSERT", Q, "insert into t values (1)", "expected a SELECT statement, found INSERT", 0, 1},
    {"UPDATE after a comment", Q, "-- change\n  update t set a = 1",
     "expected a SELECT statement, found UPDATE", 12, 2},
    {"CREATE TABLE", Q, "create table x (a int)", "expected a SELECT statement, found CREATE TABLE",
     0, 1},
    {"DROP", Q, "drop table t", "expected a SELECT statement, found DROP", 0, 1},
    {"ALTER TABLE", Q, "alter table t add column c int",
     "expected a SELECT statement, found ALTER TABLE", 0, 1},
    {"materialized view", Q, "create materialized view v as select 1",
     "expected a SELECT statement, found CREATE MATERIALIZED VIEW", 0, 1},
    {"SET", Q, "set search_path = x", "expected a SELECT statement, found SET", 0, 1},
    {"DELETE in WITH", Q, "with x as (delete from t returning *) select * from x",
     "a view may not modify data (DELETE in WITH)", 5, 1},
    {"INSERT in a second CTE", Q,
     "with y as (select 1),\nx as (insert into t values (1) returning *) select * from x",
     "a view may not modify data (INSERT in WITH)", 22, 2},
    {"SELECT INTO", Q, "select a into t from x", "expected a SELECT statement, found SELECT INTO",
     0, 1},
    {"SELECT INTO in a UNION", Q, "select a into t from x union select b from y",
     "expected a SELECT statement, found SELECT INTO", 14, 1},
    {"unterminated string", Q, "select 1,\n  'abc",
     "unterminated quoted string at or near \"'abc\"", 12, 2},
    {"offsets are bytes", Q, "select 'é', 'abc", "unterminated quoted string at or near \"'abc\"",
     13, 1},
    {"unterminated comment", Q, "select 1 /* first.cities",
     "unterminated /* comment at or near \"/* first.cities\"", 9, 1},
    {"unterminated identifier", Q, "select \"abc from t",
     "unterminated quoted identifier at or near \"\"abc from t\"", 7, 1},
    {"empty", Q, "", "expected a SELECT statement, found nothing", -1, 1},
    {"only a comment", Q, "-- nothing\n", "expected a SELECT statement, found nothing", -1, 1},
    {"tokenized: two statements", Q, "select top 1 1;\nselect top 1 2",
     "expected a single SELECT statement, found 2 statements", 16, 2},
    {"tokenized: INSERT", Q, "insert into t select top 1 * from x",
     "expected a SELECT statement, found INSERT", 0, 1},
    {"tokenized: not SQL", Q, "foo bar", "expected a SELECT statement", 0, 1},
    {"tokenized: DELETE in WITH", Q, "with x as (delete from t returning *) select top 1 * from x",
     "a view may not modify data (DELETE in WITH)", 11, 1},
    {"tokenized: SELECT INTO", Q, "select top 1 * into t2 from t",
     "expected a SELECT statement, found SELECT INTO", 15, 1},
    {"tests: an INSERT among SELECTs", SQL_KIND_TESTS, "select 1;\ninsert into t values (1)",
     "expected a SELECT statement, found INSERT", 10, 2},
    {"tests: empty", SQL_KIND_TESTS, " ", "expected a SELECT statement, found nothing", -1, 1},
    {"DDL: two tables", SQL_KIND_DDL, "create table a (x int); create table b (y int)",
     "expected a single CREATE TABLE statement, found 2 statements", 24, 1},
    {"DDL: a SELECT", SQL_KIND_DDL, "select 1", "expected a CREATE TABLE statement, found SELECT",
     0, 1},
    {"DDL: a view", SQL_KIND_DDL, "create view v as select 1",
     "expected a CREATE TABLE statement, found CREATE VIEW", 0, 1},
    {"DDL: CREATE TABLE AS", SQL_KIND_DDL, "create table t as select 1",
     "expected a CREATE TABLE statement, found CREATE TABLE AS", 0, 1},
    {"DDL tokenized: a view", SQL_KIND_DDL, "create view v as select top 1 1",
     "expected a CREATE TABLE statement", 0, 1},
};

static void test_rejects(void **state)
{
    (void)state;
    run_errors(error_cases, ARRAY_LEN(error_cases));
}

/* ---- Names the JSON parse tree escapes, and rejections deep in the tree ---- */

static const Case escape_cases[] = {
    {"double quote and non-ASCII in a relation", Q, "select * from \"é\"\"x\".\"a\"\"b\"", P,
     "é\"x.a\"b", NULL},
    {"backslashes in relations and columns", Q,
     "select \"x\\y\", 1 as \"q\"\"r\", t.\"we\"\"ird\" from \"a\\b\" t", P, "a\\b",
     "x\\y,q\"r,we\"ird"},
    {"control characters", Q, "select \"a\tb\" from \"c\001d\"", P, "c\001d", "a\tb"},
    {"characters beyond the BMP", Q, "select \"日本\" from \"s😀\".\"表\"", P, "s😀.表", "日本"},
    {"Unicode escapes in SQL", Q, "select 1 from U&\"d\\0061t\\+000061\"", P, "data", "?column?"},
    {"CTE names with a quote", Q,
     "with \"q\"\"x\" as (select 1) select * from \"q\"\"x\", \"q\"\"y\"", P, "q\"y", NULL},
    {"CTE names with a backslash", Q,
     "with \"a\\b\" as (select 1) select * from \"a\\b\", \"a\\c\"", P, "a\\c", NULL},
    {"DDL column names", SQL_KIND_DDL, "create table t (\"a\"\"b\" int, \"c\\d\" text, \"é\" int)",
     P, "", "a\"b,c\\d,é"},
    {"FOR UPDATE OF in a subquery", Q,
     "with x as (select 1) select * from (select * from s.u for update of x) q, x for share of q",
     P, "s.u", NULL},
};

static void test_escaped_names(void **state)
{
    (void)state;
    run_cases(escape_cases, ARRAY_LEN(escape_cases));
}

static const ErrorCase nested_error_cases[] = {
    {"SELECT INTO in the right branch", Q, "select b from y union select a into t from x",
     "expected a SELECT statement, found SELECT INTO", 36, 1},
    {"SELECT INTO in a derived table", Q, "select * from (select a into t from x) s",
     "expected a SELECT statement, found SELECT INTO", 29, 1},
    {"SELECT INTO in a CTE", Q, "with c as (select a into t from x) select * from c",
     "expected a SELECT statement, found SELECT INTO", 25, 1},
    {"SELECT INTO in a scalar subquery", Q, "select (select a from y union select a into t from x)",
     "expected a SELECT statement, found SELECT INTO", 44, 1},
    {"DELETE in a nested WITH", Q,
     "select * from (with x as (delete from t returning *) select * from x) s",
     "a view may not modify data (DELETE in WITH)", 20, 1},
    {"UPDATE in a WITH under EXISTS", Q,
     "select 1 from a where exists (with y as (update t set a = 1 returning *) select 1 from y)",
     "a view may not modify data (UPDATE in WITH)", 35, 1},
};

static void test_nested_rejects(void **state)
{
    (void)state;
    run_errors(nested_error_cases, ARRAY_LEN(nested_error_cases));
}

/* ---- Locations, statement counts, line numbers ---- */

static void test_locations(void **state)
{
    (void)state;
    SqlInfo info;
    char *error;
    int offset;

    const char *sql = "select *\nfrom first . cities c\njoin \"First\".\"Cities\" d on true";
    assert_int_equal(sqlinfo_analyze(sql, Q, &info, &error, &offset), 0);
    assert_int_equal(info.n_relations, 2);
    assert_int_equal(info.relations[0].location, 14);
    assert_int_equal(sqlinfo_line_of(sql, info.relations[0].location), 2);
    assert_int_equal(info.relations[1].location, 36);
    assert_int_equal(sqlinfo_line_of(sql, info.relations[1].location), 3);
    assert_int_equal(info.n_statements, 1);
    sqlinfo_free(&info);

    sql = "with cities as (select * from cities) select * from cities";
    assert_int_equal(sqlinfo_analyze(sql, Q, &info, &error, &offset), 0);
    assert_int_equal(info.n_relations, 1);
    assert_null(info.relations[0].schema);
    assert_int_equal(info.relations[0].location, 30);
    sqlinfo_free(&info);

    sql = "select top 1 *\nfrom first.cities, x";
    assert_int_equal(sqlinfo_analyze(sql, Q, &info, &error, &offset), 0);
    assert_int_equal(info.mode, SQL_TOKENIZED);
    assert_int_equal(info.n_relations, 2);
    assert_int_equal(info.relations[0].location, 20);
    assert_string_equal(info.relations[0].schema, "first");
    assert_int_equal(info.relations[1].location, 34);
    assert_null(info.relations[1].schema);
    sqlinfo_free(&info);

    sql = "select 1; select 2 from a; -- end";
    assert_int_equal(sqlinfo_analyze(sql, SQL_KIND_TESTS, &info, &error, &offset), 0);
    assert_int_equal(info.n_statements, 2);
    sqlinfo_free(&info);
    sqlinfo_free(&info); /* freeing twice is harmless */
    sqlinfo_free(NULL);
}

/* How each reference is written: its extent and whether it is a FROM item without an alias. */
static void test_extents(void **state)
{
    (void)state;
    static const struct {
        const char *sql;
        int start, end; /* of the first reference */
        bool bare;
    } cases[] = {
        {"select * from first.cities", 14, 26, true},
        {"select * from first /* s */ . cities c", 14, 36, false},
        {"select * from first.cities as c", 14, 26, false},
        {"select * from db.first.cities", 14, 29, true},
        {"select * from x join \"First\".\"Cities\" on true", 21, 37, true},
        {"select top 1 * from first.cities", 20, 32, true}, /* tokenized */
        /* parsed: "(" starts a FROM item; tokenized: it need not */
        {"select * from (first.cities join x on true)", 15, 27, true},
        {"select top 1 * from (first.cities join x on true)", 21, 33, false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        SqlInfo info;
        char *error;
        int offset;
        assert_int_equal(sqlinfo_analyze(cases[i].sql, SQL_KIND_TESTS, &info, &error, &offset), 0);
        assert_true(info.n_relations >= 1);
        const SqlRelation *r = &info.relations[0]; /* the reference to cities */
        for (size_t k = 0; k < info.n_relations; k++)
            if (strcasecmp(info.relations[k].name, "cities") == 0) {
                r = &info.relations[k];
                break;
            }
        if (r->extent.start != cases[i].start || r->extent.end != cases[i].end ||
            r->bare_from_item != cases[i].bare) {
            print_error("%s: extent [%d, %d) bare %d\n", cases[i].sql, r->extent.start,
                        r->extent.end, r->bare_from_item);
            fail();
        }
        sqlinfo_free(&info);
    }
}

/* Statements as recorded by sqlinfo_analyze and sqlinfo_statements, and table attributes. */
static void test_statements(void **state)
{
    (void)state;
    const char *sql = "-- first\nselect 1 /* c */ ;; select ';' from x;\n-- end\n";
    SqlInfo info;
    char *error;
    int offset;
    assert_int_equal(sqlinfo_analyze(sql, SQL_KIND_TESTS, &info, &error, &offset), 0);
    assert_int_equal(info.n_statements, 2);
    assert_int_equal(info.statements[0].start, 9);
    assert_int_equal(info.statements[0].end, 17);
    assert_int_equal(info.statements[1].start, 29);
    assert_int_equal(info.statements[1].end, 46);
    SqlSpan *spans;
    size_t n;
    assert_int_equal(sqlinfo_statements(sql, &spans, &n, &error), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(spans, info.statements, 2 * sizeof(SqlSpan));
    free(spans);
    sqlinfo_free(&info);
    assert_int_equal(sqlinfo_statements("select 'open", &spans, &n, &error), -1);
    assert_non_null(error);
    free(error);

    assert_true(sqlinfo_has_table_attributes("create table t (x int) DISTKEY (x)"));
    assert_true(sqlinfo_has_table_attributes("create table t (x int) sortkey (x)"));
    assert_false(sqlinfo_has_table_attributes("create table t (\"sortkey\" int)"));
    assert_false(sqlinfo_has_table_attributes("create table t (x int) -- diststyle even"));
    assert_false(sqlinfo_has_table_attributes("create table t (x 'open"));
}

static void test_line_of(void **state)
{
    (void)state;
    const char *text = "a\nbc\n\nd";
    assert_int_equal(sqlinfo_line_of(text, -1), 1);
    assert_int_equal(sqlinfo_line_of(text, 0), 1);
    assert_int_equal(sqlinfo_line_of(text, 1), 1); /* the newline itself */
    assert_int_equal(sqlinfo_line_of(text, 2), 2);
    assert_int_equal(sqlinfo_line_of(text, 5), 3);
    assert_int_equal(sqlinfo_line_of(text, 6), 4);
    assert_int_equal(sqlinfo_line_of(text, 1000), 4);
    assert_int_equal(sqlinfo_line_of("", 3), 1);
}

/* A pathologically deep expression is read from tokens rather than overflowing the stack. */
static void test_deep_nesting(void **state)
{
    (void)state;
    StrVec terms = {0};
    for (int i = 0; i < 3000; i++)
        strvec_push(&terms, "a");
    char *sum = strvec_join(&terms, " + ");
    char *sql = xasprintf("select %s from first.cities", sum);
    SqlInfo info;
    char *error;
    int offset;
    assert_int_equal(sqlinfo_analyze(sql, Q, &info, &error, &offset), 0);
    assert_int_equal(info.mode, SQL_TOKENIZED);
    assert_int_equal(info.n_relations, 1);
    assert_string_equal(info.relations[0].name, "cities");
    sqlinfo_free(&info);
    free(sql);
    free(sum);
    strvec_free(&terms);
}

/* ---- Dialects: Redshift-only syntax, and real mistakes in both dialects ---- */

/* One text under both dialects: under Redshift the mode and relations; under PostgreSQL the
 * same when pg_error is NULL, else that syntax error at line:column. */
typedef struct DialectCase {
    const char *what;
    SqlKind kind;
    const char *sql;
    SqlMode mode;
    const char *relations;
    const char *pg_error;
    int line, column;
} DialectCase;

/* Analyses c->sql under one dialect and compares; prints a diff and returns false on a mismatch.
 * want_error NULL: success with mode and relations expected. */
static bool check_dialect(const DialectCase *c, Dialect d, const char *want_error)
{
    SqlInfo info;
    SqlError e;
    const char *name = d == DIALECT_REDSHIFT ? "redshift" : "postgres";
    int rc = sqlinfo_analyze_as(c->sql, c->kind, d, &info, &e);
    bool ok;
    if (rc == 0) {
        char *rels = render_relations(&info);
        ok = want_error == NULL && info.mode == c->mode && strcmp(rels, c->relations) == 0;
        if (!ok)
            print_error("case \"%s\" (%s)\n  sql: %s\n  got: %s, \"%s\"\n  want: %s\n", c->what,
                        name, c->sql, info.mode == P ? "parsed" : "tokenized", rels,
                        want_error ? want_error : c->relations);
        free(rels);
        sqlinfo_free(&info);
        return ok;
    }
    int line = sqlinfo_line_of(c->sql, e.offset), column = sqlinfo_column_of(c->sql, e.offset);
    ok = want_error != NULL && strcmp(e.message, want_error) == 0 && e.syntax && line == c->line &&
         column == c->column && info.n_relations == 0;
    if (!ok)
        print_error("case \"%s\" (%s)\n  sql: %s\n  got: %d:%d: %s (syntax %d)\n"
                    "  want: %d:%d: %s\n",
                    c->what, name, c->sql, line, column, e.message, e.syntax, c->line, c->column,
                    want_error ? want_error : "(success)");
    free(e.message);
    return ok;
}

static const DialectCase redshift_cases[] = {
    {"TOP", Q, "select top 10 city from first.cities", T, "first.cities",
     "syntax error at or near \"10\"", 1, 12},
    {"DISTINCT TOP", Q, "select distinct top 3 city\nfrom first.cities", T, "first.cities",
     "syntax error at or near \"3\"", 1, 21},
    {"QUALIFY", Q,
     "select city, row_number() over (partition by country order by city) as rn\n"
     "from first.cities\nqualify rn = 1",
     T, "first.cities", "syntax error at or near \"rn\"", 3, 9},
    {"QUALIFY after HAVING", Q,
     "select country from first.cities group by country having count(*) > 1\n"
     "qualify rank() over (order by count(*)) = 1",
     T, "first.cities", "syntax error at or near \"qualify\"", 2, 1},
    {"APPROXIMATE COUNT", Q, "select approximate count(distinct city) from first.cities", T,
     "first.cities", "syntax error at or near \"(\"", 1, 25},
    {"PIVOT of a subquery", Q,
     "select * from (select country, city from first.cities)\n"
     "pivot (count(city) for country in ('fr', 'de'))",
     T, "first.cities", "syntax error at or near \"(\"", 2, 13},
    {"PIVOT with an alias", Q,
     "select * from first.sales pivot (sum(amount) for quarter in ('q1', 'q2')) as p", T,
     "first.sales", "syntax error at or near \"(\"", 1, 37},
    {"UNPIVOT INCLUDE NULLS", Q,
     "select * from first.wide unpivot include nulls (amount for quarter in (q1, q2))", T,
     "first.wide", "syntax error at or near \"include\"", 1, 34},
    {"LISTAGG ... WITHIN GROUP: PostgreSQL reads it", Q,
     "select listagg(city, ', ') within group (order by city) from first.cities", P, "first.cities",
     NULL, 0, 0},
    {"LISTAGG(DISTINCT ...) WITHIN GROUP", Q,
     "select listagg(distinct city, ', ') within group (order by city) from first.cities", T,
     "first.cities", "cannot use DISTINCT with WITHIN GROUP", 1, 37},
    {"MEDIAN and PERCENTILE_CONT ... WITHIN GROUP: PostgreSQL reads them", Q,
     "select median(x), percentile_cont(0.5) within group (order by x) from first.cities", P,
     "first.cities", NULL, 0, 0},
    {"#temp table", Q, "select * from #recent r\njoin first.cities c on c.id = r.id", T,
     "first.cities", "syntax error at or near \"#\"", 1, 15},
    {"casts to Redshift types", Q, "select city::varchar(max), doc::super from first.cities", T,
     "first.cities", "syntax error at or near \"max\"", 1, 22},
    {"tests: TOP in a second statement", SQL_KIND_TESTS,
     "select count(*) > 0 from first.cities;\nselect top 1 true from first.shops", T,
     "first.cities, first.shops", "syntax error at or near \"1\"", 2, 12},
    {"DDL: table attributes", SQL_KIND_DDL,
     "create table first.t (a int encode zstd distkey, b varchar(max) identity(1, 1))\n"
     "diststyle key compound sortkey (a, b) backup no",
     T, "", "syntax error at or near \"encode\"", 1, 29},
};

static void test_redshift_syntax(void **state)
{
    (void)state;
    size_t failed = 0;
    for (size_t i = 0; i < ARRAY_LEN(redshift_cases); i++) {
        const DialectCase *c = &redshift_cases[i];
        failed += !check_dialect(c, DIALECT_REDSHIFT, NULL);
        failed += !check_dialect(c, DIALECT_POSTGRES, c->pg_error);
    }
    assert_int_equal(failed, 0);
}

/* Mistakes that are mistakes in both dialects, Redshift syntax next to them or not. */
static const DialectCase broken_cases[] = {
    {"trailing comma in the select list", Q, "select city,\n  country,\nfrom first.cities", T, "",
     "syntax error at or near \"from\"", 3, 1},
    {"unfinished WHERE", Q, "select city from first.cities\nwhere\n\n", T, "",
     "syntax error at end of input", 2, 6},
    {"unbalanced parenthesis", Q, "select (city from first.cities", T, "",
     "syntax error at or near \"from\"", 1, 14},
    {"a closing parenthesis too many", Q, "select city) from first.cities", T, "",
     "syntax error at or near \")\"", 1, 12},
    {"columns after a non-ASCII name", Q, "select 'é', 'ü',\nfrom t", T, "",
     "syntax error at or near \"from\"", 2, 1},
    {"tests: a broken second statement", SQL_KIND_TESTS, "select 1;\nselect 2 from where", T, "",
     "syntax error at or near \"where\"", 2, 15},
};

/* Mistakes next to Redshift-only syntax: Redshift reports the mistake; PostgreSQL stops at the
 * Redshift syntax or at the mistake, whichever comes first (either way an error). */
static const DialectCase broken_redshift_cases[] = {
    {"trailing comma next to TOP", Q, "select top 10 city,\nfrom first.cities", T, "",
     "syntax error at or near \"from\"", 2, 1},
    {"unfinished WHERE before QUALIFY", Q, "select a from t where\nqualify x = 1", T, "",
     "syntax error at or near \"qualify\"", 2, 1},
    {"trailing comma inside a PIVOT'ed subquery", Q,
     "select * from (select country, city, from first.cities)\n"
     "pivot (count(city) for country in ('fr'))",
     T, "", "syntax error at or near \"from\"", 1, 38},
    {"DDL: a missing type next to DISTSTYLE", SQL_KIND_DDL,
     "create table first.t (a int, b) diststyle even", T, "", "syntax error at or near \")\"", 1,
     31},
};

static void test_broken_sql_in_both_dialects(void **state)
{
    (void)state;
    size_t failed = 0;
    for (size_t i = 0; i < ARRAY_LEN(broken_cases); i++) {
        const DialectCase *c = &broken_cases[i];
        failed += !check_dialect(c, DIALECT_REDSHIFT, c->pg_error);
        failed += !check_dialect(c, DIALECT_POSTGRES, c->pg_error);
    }
    for (size_t i = 0; i < ARRAY_LEN(broken_redshift_cases); i++) {
        const DialectCase *c = &broken_redshift_cases[i];
        SqlInfo info;
        SqlError e;
        failed += !check_dialect(c, DIALECT_REDSHIFT, c->pg_error);
        if (sqlinfo_analyze_as(c->sql, c->kind, DIALECT_POSTGRES, &info, &e) == 0) {
            print_error("case \"%s\" (postgres): accepted\n", c->what);
            sqlinfo_free(&info);
            failed++;
        } else {
            failed += !e.syntax;
            free(e.message);
        }
    }
    assert_int_equal(failed, 0);
}

static void test_column_of(void **state)
{
    (void)state;
    const char *text = "ab\né€x\n";
    assert_int_equal(sqlinfo_column_of(text, -1), 1);
    assert_int_equal(sqlinfo_column_of(text, 0), 1);
    assert_int_equal(sqlinfo_column_of(text, 2), 3);
    assert_int_equal(sqlinfo_column_of(text, 3), 1);
    assert_int_equal(sqlinfo_column_of(text, 8), 3); /* 'x': after two characters of 5 bytes */
    assert_int_equal(sqlinfo_column_of(text, 1000), 1);
}

/* ---- Concurrency ---- */

/* Whether one analysis gives the expected mode and relation count (or fails when n_relations
 * is -1); frees everything. */
static bool analyze_ok(const char *sql, SqlMode mode, int n_relations)
{
    SqlInfo info;
    char *error;
    int offset;
    int rc = sqlinfo_analyze(sql, Q, &info, &error, &offset);
    if (rc != 0) {
        free(error);
        return n_relations == -1;
    }
    bool ok = info.mode == mode && (int)info.n_relations == n_relations;
    sqlinfo_free(&info);
    return ok;
}

/* Analyses a parsed, a tokenized and a rejected text many times; returns the failures. */
static void *analyze_many(void *arg)
{
    intptr_t failures = 0;
    (void)arg;
    for (int i = 0; i < 200; i++) {
        failures += !analyze_ok("with c as (select * from first.cities) select city from c "
                                "join s.t on true",
                                P, 2);
        failures += !analyze_ok("select top 1 * from first.shops", T, 1);
        failures += !analyze_ok("select 'x", P, -1);
    }
    return (void *)failures;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t threads[4];
    for (size_t i = 0; i < ARRAY_LEN(threads); i++)
        assert_int_equal(pthread_create(&threads[i], NULL, analyze_many, NULL), 0);
    for (size_t i = 0; i < ARRAY_LEN(threads); i++) {
        void *failures;
        assert_int_equal(pthread_join(threads[i], &failures), 0);
        assert_int_equal((intptr_t)failures, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relations_parsed),
        cmocka_unit_test(test_cte_scoping),
        cmocka_unit_test(test_columns),
        cmocka_unit_test(test_ddl),
        cmocka_unit_test(test_created_table),
        cmocka_unit_test(test_tokenized),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_locations),
        cmocka_unit_test(test_line_of),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_escaped_names),
        cmocka_unit_test(test_nested_rejects),
        cmocka_unit_test(test_extents),
        cmocka_unit_test(test_statements),
        cmocka_unit_test(test_redshift_syntax),
        cmocka_unit_test(test_broken_sql_in_both_dialects),
        cmocka_unit_test(test_column_of),
    };
    return cmocka_run_group_tests_name("sqlinfo", tests, NULL, NULL);
}
