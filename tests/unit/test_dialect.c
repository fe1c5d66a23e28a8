/*
 * Unit tests for planner/dialect.c: the exact SQL of every build step for PostgreSQL and Redshift
 * (temp table attributes from inherited configs, grants, renames, snapshots), statement
 * extraction, a Python processor's DDL turned into its temp table, and the rewrite of a view's
 * tests to read its temp table. Texts only: the statements were also run against PostgreSQL 15
 * when written; the e2e suite runs them through the pipeline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "planner/dialect.h"

#define PG DIALECT_POSTGRES
#define RS DIALECT_REDSHIFT

/* Parses text (which must be valid) and applies it to c. */
static void apply_conf(ViewConfig *c, const char *path, const char *text)
{
    ConfigFile f;
    DiagList d = {0};
    config_file_parse(path, text, &f, &d);
    for (size_t i = 0; i < d.n; i++)
        print_error("unexpected: %s:%d: %s\n", d.items[i].path, d.items[i].line,
                    d.items[i].message);
    assert_int_equal(d.n, 0);
    config_apply(c, &f);
    config_file_free(&f);
    diag_free(&d);
}

/* Fills v as the view schema.table with query, tests and configs (any may be NULL). */
static void view_init(View *v, const char *schema, const char *table, const char *query,
                      const char *tests, const char *schema_conf, const char *table_conf)
{
    memset(v, 0, sizeof(*v));
    v->name = xasprintf("%s.%s", schema, table);
    v->schema = xstrdup(schema);
    v->table = xstrdup(table);
    v->kind = VIEW_KIND_SQL;
    v->query = query != NULL ? xstrdup(query) : NULL;
    v->tests = tests != NULL ? xstrdup(tests) : NULL;
    config_init(&v->config);
    if (schema_conf != NULL)
        apply_conf(&v->config, "first/first.conf", schema_conf);
    if (table_conf != NULL)
        apply_conf(&v->config, "first/cities.conf", table_conf);
}

/* Frees what view_init allocated. */
static void view_free(View *v)
{
    free(v->name);
    free(v->schema);
    free(v->table);
    free(v->query);
    free(v->tests);
    config_free(&v->config);
}

/* Asserts that got (which it frees) is want; NULL stands for "no statement". */
static void expect_sql(char *got, const char *want)
{
    if (want == NULL) {
        if (got != NULL)
            print_error("want NULL, got:\n%s\n", got);
        assert_null(got);
        return;
    }
    if (got == NULL || strcmp(got, want) != 0)
        print_error("want:\n%s\ngot:\n%s\n", want, got ? got : "(NULL)");
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_identifiers(void **state)
{
    (void)state;
    expect_sql(sql_ident("cities"), "\"cities\"");
    expect_sql(sql_ident("Cities"), "\"Cities\"");
    expect_sql(sql_ident("we\"ird"), "\"we\"\"ird\"");
    expect_sql(sql_ident("\""), "\"\"\"\"");
    expect_sql(sql_ident("a b;drop"), "\"a b;drop\"");
    expect_sql(sql_table("first", "cities", DIALECT_TEMP_SUFFIX), "\"first\".\"cities_duro_temp\"");
    expect_sql(sql_table("first", "cities", NULL), "\"first\".\"cities\"");
    expect_sql(sql_table("first", "cities", ""), "\"first\".\"cities\"");
    expect_sql(sql_table("a\"b", "c\"d", "_x"), "\"a\"\"b\".\"c\"\"d_x\"");
}

/* dialect_statement input -> output (NULL: not exactly one statement). */
static const struct {
    const char *what, *sql, *want;
} statement_cases[] = {
    {"plain", "select 1", "select 1"},
    {"trailing semicolon", "select 1;", "select 1"},
    {"semicolon and blanks", "select 1 ;  \n\n", "select 1"},
    {"trailing line comment", "select 1 -- trailing", "select 1"},
    {"comment after the semicolon", "select 1; -- done\n/* end */\n", "select 1"},
    {"comment before the semicolon", "select 1 /* c */ ;", "select 1"},
    {"leading blanks and comment", "\n  -- the cities\nselect 1", "select 1"},
    {"inner comments kept", "select a -- first\n, b /* second */ from t;",
     "select a -- first\n, b /* second */ from t"},
    {"semicolon in a string", "select ';' from x;", "select ';' from x"},
    {"semicolon in dollar quotes", "select $$a;b$$", "select $$a;b$$"},
    {"Redshift-only syntax", "select top 10 * from x;", "select top 10 * from x"},
    {"repeated semicolons", "select 1;;", "select 1"},
    {"two statements", "select 1; select 2", NULL},
    {"two statements, one line", "select 1;select 2;", NULL},
    {"empty", "", NULL},
    {"blank", " \n\t", NULL},
    {"only a comment", "-- nothing", NULL},
    {"only semicolons", ";;", NULL},
    {"unterminated string", "select 'x", NULL},
    {"unterminated comment", "select 1 /* x", NULL},
};

static void test_statement(void **state)
{
    (void)state;
    size_t failed = 0;
    for (size_t i = 0; i < ARRAY_LEN(statement_cases); i++) {
        char *got = dialect_statement(statement_cases[i].sql);
        const char *want = statement_cases[i].want;
        bool ok = (got == NULL && want == NULL) ||
                  (got != NULL && want != NULL && strcmp(got, want) == 0);
        if (!ok) {
            print_error("case \"%s\": want %s%s%s, got %s%s%s\n", statement_cases[i].what,
                        want ? "[" : "", want ? want : "NULL", want ? "]" : "", got ? "[" : "",
                        got ? got : "NULL", got ? "]" : "");
            failed++;
        }
        free(got);
    }
    assert_null(dialect_statement(NULL));
    assert_int_equal(failed, 0);
}

/* A Redshift temp table for a config: schema and table .conf texts -> the exact CREATE TABLE. */
static const struct {
    const char *what, *schema_conf, *table_conf, *want;
} redshift_cases[] = {
    {"no config", NULL, NULL,
     "CREATE TABLE \"first\".\"cities_duro_temp\" AS\nselect city, country from first.raw\n"},
    {"diststyle even", NULL, "diststyle=even",
     "CREATE TABLE \"first\".\"cities_duro_temp\" DISTSTYLE EVEN AS\n"
     "select city, country from first.raw\n"},
    {"diststyle all", NULL, "diststyle=all",
     "CREATE TABLE \"first\".\"cities_duro_temp\" DISTSTYLE ALL AS\n"
     "select city, country from first.raw\n"},
    {"diststyle auto", NULL, "diststyle=AUTO",
     "CREATE TABLE \"first\".\"cities_duro_temp\" DISTSTYLE AUTO AS\n"
     "select city, country from first.raw\n"},
    {"diststyle key", NULL, "diststyle=key",
     "CREATE TABLE \"first\".\"cities_duro_temp\" DISTSTYLE KEY AS\n"
     "select city, country from first.raw\n"},
    {"distkey only", NULL, "distkey=city",
     "CREATE TABLE \"first\".\"cities_duro_temp\" DISTSTYLE KEY DISTKEY (\"city\") AS\n"
     "select city, country from first.raw\n"},
    {"distkey overrides diststyle even", NULL, "diststyle=even\ndistkey=city",
     "CREATE TABLE \"first\".\"cities_duro_temp\" DISTSTYLE KEY DISTKEY (\"city\") AS\n"
     "select city, country from first.raw\n"},
    {"distkey overrides diststyle all", NULL, "distkey=city\ndiststyle=all",
     "CREATE TABLE \"first\".\"cities_duro_temp\" DISTSTYLE KEY DISTKEY (\"city\") AS\n"
     "select city, country from first.raw\n"},
    {"sortkey, one column", NULL, "sortkey=city",
     "CREATE TABLE \"first\".\"cities_duro_temp\" COMPOUND SORTKEY (\"city\") AS\n"
     "select city, country from first.raw\n"},
    {"sortkey, several columns", NULL, "sortkey=country, city",
     "CREATE TABLE \"first\".\"cities_duro_temp\" COMPOUND SORTKEY (\"country\", \"city\") AS\n"
     "select city, country from first.raw\n"},
    {"all three", NULL, "diststyle=even\ndistkey=city\nsortkey=city, country",
     "CREATE TABLE \"first\".\"cities_duro_temp\" DISTSTYLE KEY DISTKEY (\"city\") COMPOUND "
     "SORTKEY (\"city\", \"country\") AS\nselect city, country from first.raw\n"},
    {"diststyle and sortkey", NULL, "sortkey=city\ndiststyle=all",
     "CREATE TABLE \"first\".\"cities_duro_temp\" DISTSTYLE ALL COMPOUND SORTKEY (\"city\") AS\n"
     "select city, country from first.raw\n"},
    {"inherited from the schema", "distkey=city\nsortkey=country", NULL,
     "CREATE TABLE \"first\".\"cities_duro_temp\" DISTSTYLE KEY DISTKEY (\"city\") COMPOUND "
     "SORTKEY (\"country\") AS\nselect city, country from first.raw\n"},
    {"distkey reset by the table", "distkey=city\nsortkey=country", "distkey=null",
     "CREATE TABLE \"first\".\"cities_duro_temp\" COMPOUND SORTKEY (\"country\") AS\n"
     "select city, country from first.raw\n"},
    {"everything reset by the table", "diststyle=all\ndistkey=city\nsortkey=country",
     "diststyle=null\ndistkey=null\nsortkey=null",
     "CREATE TABLE \"first\".\"cities_duro_temp\" AS\nselect city, country from first.raw\n"},
    {"distkey reset, inherited diststyle stays", "diststyle=even\ndistkey=city", "distkey=null",
     "CREATE TABLE \"first\".\"cities_duro_temp\" DISTSTYLE EVEN AS\n"
     "select city, country from first.raw\n"},
    {"table overrides the schema's sortkey", "sortkey=country", "sortkey=city",
     "CREATE TABLE \"first\".\"cities_duro_temp\" COMPOUND SORTKEY (\"city\") AS\n"
     "select city, country from first.raw\n"},
    {"quoted column names", NULL, "distkey=\"Ci\"\"ty\"\nsortkey=\"Country\", city",
     "CREATE TABLE \"first\".\"cities_duro_temp\" DISTSTYLE KEY DISTKEY (\"Ci\"\"ty\") COMPOUND "
     "SORTKEY (\"Country\", \"city\") AS\nselect city, country from first.raw\n"},
};

static void test_create_temp_redshift(void **state)
{
    (void)state;
    size_t failed = 0;
    for (size_t i = 0; i < ARRAY_LEN(redshift_cases); i++) {
        View v;
        view_init(&v, "first", "cities", "select city, country from first.raw", NULL,
                  redshift_cases[i].schema_conf, redshift_cases[i].table_conf);
        char *got = dialect_create_temp(RS, &v);
        if (got == NULL || strcmp(got, redshift_cases[i].want) != 0) {
            print_error("case \"%s\"\n  want: %s\n  got:  %s\n", redshift_cases[i].what,
                        redshift_cases[i].want, got ? got : "(NULL)");
            failed++;
        }
        free(got);
        view_free(&v);
    }
    assert_int_equal(failed, 0);
}

static void test_create_temp_query_text(void **state)
{
    (void)state;
    View v;

    /* The trailing ";" and comment go, inner lines stay. */
    view_init(&v, "first", "cities",
              "-- cities of the world\nselect city,\n       country\nfrom first.raw; -- the end\n",
              NULL, NULL, "distkey=city");
    expect_sql(dialect_create_temp(RS, &v),
               "CREATE TABLE \"first\".\"cities_duro_temp\" DISTSTYLE KEY DISTKEY (\"city\") AS\n"
               "select city,\n       country\nfrom first.raw\n");
    /* PostgreSQL: the same query, no attributes whatever the config says. */
    expect_sql(dialect_create_temp(PG, &v), "CREATE TABLE \"first\".\"cities_duro_temp\" AS\n"
                                            "select city,\n       country\nfrom first.raw\n");
    view_free(&v);

    /* Redshift-only syntax the parser rejects is kept verbatim. */
    view_init(&v, "first", "cities", "select top 10 city from first.raw order by 1 -- x", NULL,
              NULL, "sortkey=city");
    expect_sql(dialect_create_temp(RS, &v),
               "CREATE TABLE \"first\".\"cities_duro_temp\" COMPOUND SORTKEY (\"city\") AS\n"
               "select top 10 city from first.raw order by 1\n");
    view_free(&v);

    /* PostgreSQL without any config. */
    view_init(&v, "public", "shops", "select 1 as one;", NULL, NULL, NULL);
    expect_sql(dialect_create_temp(PG, &v),
               "CREATE TABLE \"public\".\"shops_duro_temp\" AS\nselect 1 as one\n");
    view_free(&v);

    /* Not exactly one statement: nothing to build. */
    view_init(&v, "first", "cities", "select 1; select 2", NULL, NULL, NULL);
    expect_sql(dialect_create_temp(RS, &v), NULL);
    expect_sql(dialect_create_temp(PG, &v), NULL);
    view_free(&v);
    view_init(&v, "first", "cities", "-- nothing", NULL, NULL, NULL);
    expect_sql(dialect_create_temp(PG, &v), NULL);
    view_free(&v);

    /* Processors are built from their DDL elsewhere. */
    view_init(&v, "first", "countries", "select 1", NULL, NULL, NULL);
    v.kind = VIEW_KIND_PROCESSOR;
    expect_sql(dialect_create_temp(RS, &v), NULL);
    view_free(&v);
}

/* A processor's DDL for first.countries -> its temp table's CREATE TABLE (NULL: rejected, with
 * an error containing `error`). */
static const struct {
    const char *what;
    Dialect d;
    const char *table_conf, *ddl, *want, *error;
} processor_cases[] = {
    {"the example, PostgreSQL", PG, NULL,
     "create table first.countries (\n    country text,\n    cities int,\n    size_class text\n)\n",
     "create table \"first\".\"countries_duro_temp\" (\n    country text,\n    cities int,\n"
     "    size_class text\n)",
     NULL},
    {"the example, Redshift without attributes", RS, NULL,
     "create table first.countries (country text, cities int);",
     "create table \"first\".\"countries_duro_temp\" (country text, cities int)", NULL},
    {"Redshift: the config's attributes are appended", RS,
     "diststyle=even\ndistkey=country\nsortkey=cities, country",
     "create table first.countries (country text, cities int);",
     "create table \"first\".\"countries_duro_temp\" (country text, cities int) DISTSTYLE KEY "
     "DISTKEY (\"country\") COMPOUND SORTKEY (\"cities\", \"country\")",
     NULL},
    {"PostgreSQL: no attributes whatever the config says", PG, "distkey=country\nsortkey=cities",
     "create table first.countries (country text, cities int)",
     "create table \"first\".\"countries_duro_temp\" (country text, cities int)", NULL},
    {"Redshift: the DDL's own DISTSTYLE wins", RS, "distkey=country\nsortkey=cities",
     "create table first.countries (country text, cities int) diststyle all",
     "create table \"first\".\"countries_duro_temp\" (country text, cities int) diststyle all",
     NULL},
    {"Redshift: a column's own DISTKEY wins", RS, "sortkey=cities",
     "CREATE TABLE first.countries (country text DISTKEY, cities int)",
     "CREATE TABLE \"first\".\"countries_duro_temp\" (country text DISTKEY, cities int)", NULL},
    {"Redshift: an INTERLEAVED SORTKEY wins", RS, "diststyle=all",
     "create table first.countries (country text, cities int) interleaved sortkey (country)",
     "create table \"first\".\"countries_duro_temp\" (country text, cities int) interleaved "
     "sortkey (country)",
     NULL},
    {"Redshift: names in strings and comments are not attributes", RS, "distkey=country",
     "create table first.countries (country text default 'first.countries diststyle', /* sortkey "
     "*/ cities int)",
     "create table \"first\".\"countries_duro_temp\" (country text default 'first.countries "
     "diststyle', /* sortkey */ cities int) DISTSTYLE KEY DISTKEY (\"country\")",
     NULL},
    {"Redshift: a quoted column named sortkey is not an attribute", RS, "sortkey=sortkey",
     "create table first.countries (\"sortkey\" int)",
     "create table \"first\".\"countries_duro_temp\" (\"sortkey\" int) COMPOUND SORTKEY "
     "(\"sortkey\")",
     NULL},
    {"quoted names", PG, NULL, "CREATE TABLE \"first\".\"countries\" (x int);",
     "CREATE TABLE \"first\".\"countries_duro_temp\" (x int)", NULL},
    {"upper case folds", RS, NULL, "CREATE TABLE FIRST.Countries(x int)",
     "CREATE TABLE \"first\".\"countries_duro_temp\"(x int)", NULL},
    {"comments before and inside the name", PG, NULL,
     "-- the result\ncreate table /* here */ first /* s */ . -- t\n countries (x int) -- end\n",
     "create table /* here */ \"first\".\"countries_duro_temp\" (x int)", NULL},
    {"IF NOT EXISTS", RS, "sortkey=x", "create table if not exists first.countries (x int)",
     "create table if not exists \"first\".\"countries_duro_temp\" (x int) COMPOUND SORTKEY "
     "(\"x\")",
     NULL},
    {"UNLOGGED", PG, NULL, "create unlogged table first.countries (x int)",
     "create unlogged table \"first\".\"countries_duro_temp\" (x int)", NULL},
    {"unqualified: the view's schema", PG, NULL, "create table countries (x int)",
     "create table \"first\".\"countries_duro_temp\" (x int)", NULL},
    {"LIKE in the column list", RS, NULL, "create table first.countries (like first.raw)",
     "create table \"first\".\"countries_duro_temp\" (like first.raw)", NULL},
    {"another table", PG, NULL, "create table first.other (x int)", NULL,
     "the DDL creates first.other, not first.countries"},
    {"another schema", RS, NULL, "create table second.countries (x int)", NULL,
     "the DDL creates second.countries, not first.countries"},
    {"unqualified other table", PG, NULL, "create table countries_raw (x int)", NULL,
     "the DDL creates countries_raw, not first.countries"},
    {"quoted names keep their case", PG, NULL, "create table \"First\".\"Countries\" (x int)", NULL,
     "the DDL creates \"First\".\"Countries\", not first.countries"},
    {"a database-qualified name", PG, NULL, "create table db.first.countries (x int)", NULL,
     "expected the table's name as table or schema.table"},
    {"a temporary table", PG, NULL, "create temp table countries (x int)", NULL,
     "must be a permanent table"},
    {"a global temporary table", PG, NULL, "create global temporary table countries (x int)", NULL,
     "must be a permanent table"},
    {"CREATE TABLE AS", PG, NULL, "create table first.countries as select 1 as x", NULL,
     "expected the column list after the table's name"},
    {"not CREATE TABLE", PG, NULL, "create view first.countries as select 1", NULL,
     "expected a CREATE TABLE statement"},
    {"a SELECT", PG, NULL, "select 1", NULL, "expected a CREATE TABLE statement"},
    {"no name", PG, NULL, "create table (x int)", NULL, "expected the table's name"},
    {"two statements", PG, NULL, "create table first.countries (x int); select 1", NULL,
     "not exactly one"},
    {"only a comment", PG, NULL, "-- nothing", NULL, "not exactly one"},
};

static void test_processor_create_temp(void **state)
{
    (void)state;
    size_t failed = 0;
    for (size_t i = 0; i < ARRAY_LEN(processor_cases); i++) {
        View v;
        view_init(&v, "first", "countries", "select 1", NULL, NULL, processor_cases[i].table_conf);
        v.kind = VIEW_KIND_PROCESSOR;
        v.ddl = xstrdup(processor_cases[i].ddl);
        char *error = NULL;
        char *got = dialect_processor_create_temp(processor_cases[i].d, &v, &error);
        const char *want = processor_cases[i].want, *want_error = processor_cases[i].error;
        bool ok = want != NULL ? got != NULL && strcmp(got, want) == 0 && error == NULL
                               : got == NULL && error != NULL && strstr(error, want_error) != NULL;
        if (!ok) {
            print_error("case \"%s\"\n  want: %s\n  got:  %s\n  error: %s\n",
                        processor_cases[i].what, want ? want : want_error, got ? got : "(NULL)",
                        error ? error : "(none)");
            failed++;
        }
        free(got);
        free(error);
        free(v.ddl);
        view_free(&v);
    }
    assert_int_equal(failed, 0);
}

static void test_grant(void **state)
{
    (void)state;
    View v;

    view_init(&v, "first", "cities", "select 1", NULL, "grant_select=metabase",
              "grant_select=jane, john");
    expect_sql(dialect_grant(DIALECT_REDSHIFT, &v),
               "GRANT SELECT ON \"first\".\"cities\" TO \"jane\", \"john\"");
    view_free(&v);

    view_init(&v, "first", "cities", "select 1", NULL, "grant_select=metabase",
              "grant_select+=group analysts, role Readers, \"Jane Doe\"");
    expect_sql(dialect_grant(DIALECT_REDSHIFT, &v),
               "GRANT SELECT ON \"first\".\"cities\" TO \"Jane Doe\", GROUP \"analysts\", "
               "\"metabase\", ROLE \"readers\"");
    /* PostgreSQL names roles without the keyword (GRANT ... TO ROLE x is a syntax error there). */
    expect_sql(dialect_grant(DIALECT_POSTGRES, &v),
               "GRANT SELECT ON \"first\".\"cities\" TO \"Jane Doe\", GROUP \"analysts\", "
               "\"metabase\", \"readers\"");
    view_free(&v);

    view_init(&v, "first", "cities", "select 1", NULL, NULL,
              "grant_select=public, metabase-ro, group \"Data\"\"Team\"");
    expect_sql(dialect_grant(DIALECT_REDSHIFT, &v), "GRANT SELECT ON \"first\".\"cities\" TO GROUP "
                                                    "\"Data\"\"Team\", \"metabase-ro\", PUBLIC");
    view_free(&v);

    /* Nothing to grant: no statement. */
    view_init(&v, "first", "cities", "select 1", NULL, NULL, NULL);
    expect_sql(dialect_grant(DIALECT_REDSHIFT, &v), NULL);
    view_free(&v);
    view_init(&v, "first", "cities", "select 1", NULL, "grant_select=metabase",
              "grant_select-=metabase");
    expect_sql(dialect_grant(DIALECT_REDSHIFT, &v), NULL);
    view_free(&v);
    view_init(&v, "first", "cities", "select 1", NULL, "grant_select=metabase",
              "grant_select=null");
    expect_sql(dialect_grant(DIALECT_REDSHIFT, &v), NULL);
    view_free(&v);
}

static void test_ddl(void **state)
{
    (void)state;
    expect_sql(dialect_create_schema("first"), "CREATE SCHEMA IF NOT EXISTS \"first\"");
    expect_sql(dialect_create_schema("we\"ird"), "CREATE SCHEMA IF NOT EXISTS \"we\"\"ird\"");
    expect_sql(dialect_drop_table("first", "cities", DIALECT_TEMP_SUFFIX),
               "DROP TABLE IF EXISTS \"first\".\"cities_duro_temp\"");
    expect_sql(dialect_drop_table("first", "cities", DIALECT_OLD_SUFFIX),
               "DROP TABLE IF EXISTS \"first\".\"cities_duro_old\"");
    expect_sql(dialect_drop_table("first", "cities", NULL),
               "DROP TABLE IF EXISTS \"first\".\"cities\"");
    expect_sql(dialect_rename("first", "cities", "cities_duro_old"),
               "ALTER TABLE \"first\".\"cities\" RENAME TO \"cities_duro_old\"");
    expect_sql(dialect_rename("first", "cities_duro_temp", "cities"),
               "ALTER TABLE \"first\".\"cities_duro_temp\" RENAME TO \"cities\"");
    expect_sql(dialect_rename("a\"b", "c", "d\"e"),
               "ALTER TABLE \"a\"\"b\".\"c\" RENAME TO \"d\"\"e\"");

    /* pg_get_viewdef's text: leading blank, trailing ";". */
    expect_sql(dialect_replace_view("first", "v_a", " SELECT cities.city\n   FROM first.cities;"),
               "CREATE OR REPLACE VIEW \"first\".\"v_a\" AS\nSELECT cities.city\n"
               "   FROM first.cities");
    expect_sql(dialect_replace_view("other", "V\"b", "select 1 ; \n"),
               "CREATE OR REPLACE VIEW \"other\".\"V\"\"b\" AS\nselect 1");
    expect_sql(dialect_replace_view("other", "v", "select ';'"),
               "CREATE OR REPLACE VIEW \"other\".\"v\" AS\nselect ';'");
}

/* The view first.cities's tests -> each rewritten statement, joined with "\n;\n". */
static const struct {
    const char *what, *tests, *want;
} rewrite_cases[] = {
    {"qualified, gets its own name as an alias",
     "select (city = 'Paris') as correct_capital_of_france from first.cities where country = "
     "'France';",
     "select (city = 'Paris') as correct_capital_of_france from \"first\".\"cities_duro_temp\" AS "
     "\"cities\" where country = 'France'"},
    {"column qualified by the table name", "select bool_and(cities.city <> '') from first.cities",
     "select bool_and(cities.city <> '') from \"first\".\"cities_duro_temp\" AS \"cities\""},
    {"upper case and spaces around the dot", "select count(*) > 0 from FIRST . Cities",
     "select count(*) > 0 from \"first\".\"cities_duro_temp\" AS \"cities\""},
    {"comment inside the name", "select count(*) > 0 from first /* s */ . cities",
     "select count(*) > 0 from \"first\".\"cities_duro_temp\" AS \"cities\""},
    {"quoted", "select count(*) > 0 from \"first\".\"cities\"",
     "select count(*) > 0 from \"first\".\"cities_duro_temp\" AS \"cities\""},
    {"case-sensitive quoted names are other tables",
     "select count(*) > 0 from \"First\".\"Cities\"",
     "select count(*) > 0 from \"First\".\"Cities\""},
    {"strings and comments are left alone",
     "select 'first.cities' <> '' /* first.cities */ from first.raw -- first.cities\n",
     "select 'first.cities' <> '' /* first.cities */ from first.raw"},
    {"other tables are left alone",
     "select count(*) > 0 from first.cities_raw, second.cities, cities, first.citiesx",
     "select count(*) > 0 from first.cities_raw, second.cities, cities, first.citiesx"},
    {"a CTE named like the view", "with cities as (select 1 as x) select count(*) = 1 from cities",
     "with cities as (select 1 as x) select count(*) = 1 from cities"},
    {"an alias is kept", "select count(*) > 0 from first.cities c where c.city <> ''",
     "select count(*) > 0 from \"first\".\"cities_duro_temp\" c where c.city <> ''"},
    {"AS alias is kept", "select count(*) > 0 from first.cities as c(a, b)",
     "select count(*) > 0 from \"first\".\"cities_duro_temp\" as c(a, b)"},
    {"joins",
     "select count(*) = 0 from first.cities join first.countries k using (country) "
     "left join first.cities x on true",
     "select count(*) = 0 from \"first\".\"cities_duro_temp\" AS \"cities\" join "
     "first.countries k using (country) left join \"first\".\"cities_duro_temp\" x on true"},
    {"self join, comma list",
     "select count(*) = 2 from first.cities, first.cities b where b.city = cities.city",
     "select count(*) = 2 from \"first\".\"cities_duro_temp\" AS \"cities\", "
     "\"first\".\"cities_duro_temp\" b where b.city = cities.city"},
    {"subqueries", "select (select count(*) from first.cities) = (select count(*) from first.raw)",
     "select (select count(*) from \"first\".\"cities_duro_temp\" AS \"cities\") = (select "
     "count(*) from first.raw)"},
    {"EXISTS", "select not exists (select 1 from first.cities where city is null)",
     "select not exists (select 1 from \"first\".\"cities_duro_temp\" AS \"cities\" where city is "
     "null)"},
    {"ONLY", "select count(*) > 0 from only first.cities",
     "select count(*) > 0 from only \"first\".\"cities_duro_temp\" AS \"cities\""},
    {"TABLE takes no alias", "select count(*) > 0 from (table first.cities) t",
     "select count(*) > 0 from (table \"first\".\"cities_duro_temp\") t"},
    {"catalog-qualified", "select count(*) > 0 from db.first.cities",
     "select count(*) > 0 from \"first\".\"cities_duro_temp\" AS \"cities\""},
    {"multi-byte text before the reference", "select 'é€😀' <> '' from first.cities",
     "select 'é€😀' <> '' from \"first\".\"cities_duro_temp\" AS \"cities\""},
    {"Redshift-only syntax, tokenized", "select top 1 city = 'Paris' from first.cities",
     "select top 1 city = 'Paris' from \"first\".\"cities_duro_temp\" AS \"cities\""},
    {"tokenized with an alias", "select top 1 c.city = 'Paris' from FIRST.\"cities\" c",
     "select top 1 c.city = 'Paris' from \"first\".\"cities_duro_temp\" c"},
    {"several statements",
     "-- the tests\nselect count(*) > 0 from first.cities;\n\n"
     "select bool_and(city <> '') from first.cities c; -- names\n/* end */\n",
     "select count(*) > 0 from \"first\".\"cities_duro_temp\" AS \"cities\"\n;\n"
     "select bool_and(city <> '') from \"first\".\"cities_duro_temp\" c"},
    {"only comments", "-- nothing yet\n", ""},
};

/* The rewritten tests of view (schema.table) joined with "\n;\n"; NULL on error. Caller frees. */
static char *rewrite(const char *schema, const char *table, const char *tests)
{
    View v;
    StrVec out = {0};
    char *error = NULL, *joined = NULL;
    view_init(&v, schema, table, "select 1", tests, NULL, NULL);
    if (dialect_tests(&v, &out, &error) == 0)
        joined = strvec_join(&out, "\n;\n");
    else
        print_error("error: %s\n", error);
    free(error);
    strvec_free(&out);
    view_free(&v);
    return joined;
}

static void test_tests_rewrite(void **state)
{
    (void)state;
    size_t failed = 0;
    for (size_t i = 0; i < ARRAY_LEN(rewrite_cases); i++) {
        char *got = rewrite("first", "cities", rewrite_cases[i].tests);
        if (got == NULL || strcmp(got, rewrite_cases[i].want) != 0) {
            print_error("case \"%s\"\n  want: %s\n  got:  %s\n", rewrite_cases[i].what,
                        rewrite_cases[i].want, got ? got : "(NULL)");
            failed++;
        }
        free(got);
    }
    assert_int_equal(failed, 0);
}

static void test_tests_public_schema(void **state)
{
    (void)state;
    /* An unqualified name means schema public. */
    expect_sql(rewrite("public", "cities",
                       "select count(*) > 0 from cities join public.cities c "
                       "on true join first.cities f on true"),
               "select count(*) > 0 from \"public\".\"cities_duro_temp\" AS \"cities\" join "
               "\"public\".\"cities_duro_temp\" c on true join first.cities f on true");
    /* A CTE hides the view; its body still reads the view. */
    expect_sql(rewrite("public", "cities",
                       "with cities as (select * from cities) select count(*) > 0 from cities"),
               "with cities as (select * from \"public\".\"cities_duro_temp\" AS \"cities\") "
               "select count(*) > 0 from cities");
    /* Quoted, a name needing quotes. */
    expect_sql(rewrite("public", "cities", "select count(*) > 0 from \"cities\""),
               "select count(*) > 0 from \"public\".\"cities_duro_temp\" AS \"cities\"");
}

static void test_tests_edges(void **state)
{
    (void)state;
    View v;
    StrVec out = {0};
    char *error = (char *)"untouched";

    /* No tests file: nothing to run. */
    view_init(&v, "first", "cities", "select 1", NULL, NULL, NULL);
    strvec_push(&out, "kept");
    assert_int_equal(dialect_tests(&v, &out, &error), 0);
    assert_null(error);
    assert_int_equal(out.n, 1);
    view_free(&v);

    /* Appends to what out holds. */
    view_init(&v, "first", "cities", "select 1", "select 1; select 2 from first.cities", NULL,
              NULL);
    assert_int_equal(dialect_tests(&v, &out, &error), 0);
    assert_int_equal(out.n, 3);
    assert_string_equal(out.items[0], "kept");
    assert_string_equal(out.items[1], "select 1");
    assert_string_equal(out.items[2], "select 2 from \"first\".\"cities_duro_temp\" AS \"cities\"");
    view_free(&v);

    /* Not a SELECT: an error, nothing appended. */
    view_init(&v, "first", "cities", "select 1", "select 1; delete from first.cities", NULL, NULL);
    assert_int_equal(dialect_tests(&v, &out, &error), -1);
    assert_non_null(error);
    assert_non_null(strstr(error, "SELECT"));
    free(error);
    assert_int_equal(out.n, 3);
    view_free(&v);

    /* Even the tokenizer rejects it. */
    view_init(&v, "first", "cities", "select 1", "select 'unterminated from first.cities", NULL,
              NULL);
    assert_int_equal(dialect_tests(&v, &out, &error), -1);
    assert_non_null(error);
    free(error);
    assert_int_equal(out.n, 3);
    view_free(&v);
    strvec_free(&out);
}

static void test_snapshots(void **state)
{
    (void)state;
    View v;
    view_init(&v, "first", "cities", "select 1", NULL, NULL,
              "snapshots_interval=1d\nsnapshots_stored_for=4w");

    expect_sql(dialect_snapshot_create(PG, &v),
               "CREATE TABLE \"first\".\"cities_history\" AS SELECT *, now() AS "
               "snapshot_timestamp FROM \"first\".\"cities\"");
    expect_sql(dialect_snapshot_create(RS, &v),
               "CREATE TABLE \"first\".\"cities_history\" AS SELECT *, GETDATE() AS "
               "snapshot_timestamp FROM \"first\".\"cities\"");
    expect_sql(dialect_snapshot_due(PG, &v),
               "SELECT coalesce(max(snapshot_timestamp) <= now() - interval '86400 seconds', "
               "true) FROM \"first\".\"cities_history\"");
    expect_sql(dialect_snapshot_due(RS, &v),
               "SELECT coalesce(max(snapshot_timestamp) <= GETDATE() - interval '86400 seconds', "
               "true) FROM \"first\".\"cities_history\"");
    expect_sql(
        dialect_snapshot_insert(PG, &v),
        "INSERT INTO \"first\".\"cities_history\" SELECT *, now() FROM \"first\".\"cities\"");
    expect_sql(dialect_snapshot_insert(RS, &v), "INSERT INTO \"first\".\"cities_history\" SELECT "
                                                "*, GETDATE() FROM \"first\".\"cities\"");
    expect_sql(dialect_snapshot_prune(PG, &v),
               "DELETE FROM \"first\".\"cities_history\" WHERE snapshot_timestamp < now() - "
               "interval '2419200 seconds'");
    expect_sql(dialect_snapshot_prune(RS, &v),
               "DELETE FROM \"first\".\"cities_history\" WHERE snapshot_timestamp < GETDATE() - "
               "interval '2419200 seconds'");
    view_free(&v);

    /* Kept forever: nothing to prune. */
    view_init(&v, "first", "cities", "select 1", NULL, "snapshots_stored_for=4w",
              "snapshots_interval=1h\nsnapshots_stored_for=null");
    expect_sql(dialect_snapshot_prune(PG, &v), NULL);
    expect_sql(dialect_snapshot_prune(RS, &v), NULL);
    expect_sql(dialect_snapshot_due(PG, &v),
               "SELECT coalesce(max(snapshot_timestamp) <= now() - interval '3600 seconds', "
               "true) FROM \"first\".\"cities_history\"");
    view_free(&v);
}

static void test_catalog_queries(void **state)
{
    (void)state;
    const char *deps = dialect_dependent_views_sql(PG);
    assert_string_equal(deps, dialect_dependent_views_sql(RS));
    /* Bound parameters, views only, ordered by depth: checked against PostgreSQL 15. */
    assert_non_null(strstr(deps, "WITH RECURSIVE"));
    assert_non_null(strstr(deps, "n.nspname = $1 AND t.relname = $2"));
    assert_non_null(strstr(deps, "v.relkind = 'v'"));
    assert_non_null(strstr(deps, "UNION ALL"));
    assert_non_null(strstr(deps, "ORDER BY x.depth, n.nspname, c.relname"));
    assert_null(strstr(deps, "regclass"));
    assert_null(strstr(deps, "$3"));

    assert_string_equal(dialect_leftovers_sql(PG), dialect_leftovers_sql(RS));
    assert_string_equal(
        dialect_leftovers_sql(PG),
        "SELECT schemaname::text AS \"schema\", tablename::text AS \"table\" FROM "
        "pg_catalog.pg_tables\n"
        "WHERE tablename LIKE '%!_duro!_temp' ESCAPE '!' OR tablename LIKE '%!_duro!_old' ESCAPE "
        "'!'\nORDER BY schemaname, tablename");
}

/* The texts that find and end the sessions a dead Duro left running (the PostgreSQL ones run
 * against PostgreSQL 15 by tests/e2e/test_orphans.py). */
static void test_sessions(void **state)
{
    (void)state;
    assert_string_equal(
        dialect_sessions_sql(PG),
        "SELECT pid::text AS pid, application_name::text AS name FROM pg_catalog.pg_stat_activity\n"
        "WHERE usename = current_user AND pid <> pg_catalog.pg_backend_pid()\n"
        "  AND left(application_name, length($1::text)) = $1::text\n"
        "ORDER BY pid");
    assert_string_equal(
        dialect_sessions_sql(RS),
        "SELECT pid::varchar AS pid, trim(split_part(substring(query, 4), ' */', 1)) AS name\n"
        "FROM stv_recents\n"
        "WHERE status = 'Running' AND trim(user_name) = current_user AND pid <> pg_backend_pid()\n"
        "  AND left(query, length($1::varchar) + 3) = '/* ' || $1::varchar\n"
        "ORDER BY pid");
    assert_string_equal(dialect_terminate_sql(PG),
                        "SELECT pg_catalog.pg_terminate_backend($1::integer)");
    assert_string_equal(dialect_terminate_sql(RS), "SELECT pg_terminate_backend($1::integer)");
    assert_string_equal(dialect_session_alive_sql(PG),
                        "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE pid = $1::integer");
    assert_string_equal(dialect_session_alive_sql(RS),
                        "SELECT count(*) FROM stv_sessions WHERE process = $1::integer");
}

static void test_lock(void **state)
{
    (void)state;
    StrVec rels = {0};
    strvec_push(&rels, "\"first\".\"cities_vv\"");
    strvec_push(&rels, "\"first\".\"cities\"");
    expect_sql(dialect_lock(DIALECT_POSTGRES, &rels),
               "LOCK TABLE \"first\".\"cities_vv\", \"first\".\"cities\" IN ACCESS EXCLUSIVE MODE");
    expect_sql(dialect_lock(DIALECT_REDSHIFT, &rels),
               "LOCK \"first\".\"cities_vv\", \"first\".\"cities\"");
    strvec_free(&rels);
}

/* The swap's bounded lock waits and the query naming who is in the way, as sent. */
static void test_swap_lock_bound(void **state)
{
    (void)state;
    expect_sql(dialect_swap_lock_bound(PG, 5000), "SET LOCAL lock_timeout = '5000ms'");
    expect_sql(dialect_swap_lock_bound(RS, 5000), "SET LOCAL statement_timeout TO 5000");
    assert_null(dialect_swap_lock_unbound(PG));
    assert_string_equal(dialect_swap_lock_unbound(RS), "SET LOCAL statement_timeout TO DEFAULT");
    assert_true(dialect_lock_timed_out(PG, "55P03"));
    assert_false(dialect_lock_timed_out(PG, "57014")); /* a cancel is not a lock wait there */
    assert_false(dialect_lock_timed_out(PG, "40P01"));
    assert_false(dialect_lock_timed_out(PG, ""));
    assert_true(dialect_lock_timed_out(RS, "57014"));
    assert_false(dialect_lock_timed_out(RS, "55P03"));

    assert_string_equal(
        dialect_lock_holders_sql(PG),
        "SELECT a.pid::text AS \"pid\", a.usename::text AS \"user\", a.state::text AS \"state\",\n"
        "       to_char(a.state_change AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC' AS "
        "\"since\",\n"
        "       floor(extract(epoch FROM clock_timestamp() - a.state_change))::bigint::text AS "
        "\"seconds\"\n"
        "FROM pg_catalog.pg_stat_activity a\n"
        "WHERE a.pid <> pg_catalog.pg_backend_pid()\n"
        "  AND (a.xact_start IS NULL OR a.xact_start <= clock_timestamp() - $3::integer * interval "
        "'1 second')\n"
        "  AND EXISTS (SELECT 1 FROM pg_catalog.pg_locks l\n"
        "              JOIN pg_catalog.pg_class c ON c.oid = l.relation\n"
        "              JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
        "              WHERE l.pid = a.pid AND l.granted AND n.nspname = $1 AND c.relname = $2)\n"
        "ORDER BY a.xact_start NULLS LAST, a.pid\n"
        "LIMIT 3");
    assert_string_equal(
        dialect_lock_holders_sql(RS),
        "SELECT DISTINCT t.pid::text AS \"pid\", trim(t.txn_owner)::text AS \"user\",\n"
        "       CASE WHEN r.pid IS NULL THEN 'idle in transaction' ELSE 'active' END AS "
        "\"state\",\n"
        "       to_char(t.txn_start, 'YYYY-MM-DD HH24:MI:SS') || ' UTC' AS \"since\",\n"
        "       datediff(second, t.txn_start, getdate())::text AS \"seconds\"\n"
        "FROM svv_transactions t\n"
        "JOIN pg_catalog.pg_class c ON c.oid = t.relation\n"
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
        "LEFT JOIN (SELECT DISTINCT pid FROM stv_recents WHERE status = 'Running') r ON r.pid = "
        "t.pid\n"
        "WHERE t.granted AND t.lockable_object_type = 'relation' AND t.pid <> pg_backend_pid()\n"
        "  AND n.nspname = $1 AND c.relname = $2\n"
        "  AND t.txn_start <= dateadd(second, -$3::integer, getdate())\n"
        "ORDER BY 4, 1\n"
        "LIMIT 3");
}

/* Asserts the statements dialect_guard_take appends for d, schema "big", one by one. */
static void assert_guard_take(Dialect d, const char *const *want, size_t n)
{
    StrVec got = {0};
    dialect_guard_take(d, "big", &got);
    assert_int_equal(got.n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(got.items[i], want[i]);
    strvec_free(&got);
}

static void test_guard(void **state)
{
    (void)state;
    /* PostgreSQL: a session-level advisory lock, keys "duro" and hashtext(schema.table). */
    const char *pg[] = {
        "SELECT pg_catalog.pg_try_advisory_lock(1685418607, pg_catalog.hashtext($1::text))"};
    assert_guard_take(PG, pg, 1);
    char *sql = dialect_guard_release(PG, "big");
    assert_string_equal(
        sql, "SELECT pg_catalog.pg_advisory_unlock(1685418607, pg_catalog.hashtext($1::text))");
    free(sql);
    sql = dialect_guard_holder(PG, "big");
    assert_string_equal(
        sql,
        "SELECT a.application_name::text AS name, l.pid::text AS pid,\n"
        "       to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS since\n"
        "FROM pg_catalog.pg_locks l\n"
        "LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid\n"
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2\n"
        "  AND l.classid = 1685418607::oid\n"
        "  AND l.objid = pg_catalog.hashtext($1::text)::oid\n"
        "  AND l.database = (SELECT oid FROM pg_catalog.pg_database\n"
        "                    WHERE datname = pg_catalog.current_database())\n"
        "LIMIT 1");
    free(sql);

    /* Redshift: a row per view in "s"."duro_build_guard", claimed under LOCK in a short
     * transaction; a row whose session is gone from STV_SESSIONS is stale. */
    const char *rs[] = {
        "CREATE SCHEMA IF NOT EXISTS \"big\"",
        "CREATE TABLE IF NOT EXISTS \"big\".\"duro_build_guard\" (view_name VARCHAR(256) NOT "
        "NULL, owner_pid INTEGER NOT NULL, since TIMESTAMP NOT NULL)",
        "BEGIN",
        "LOCK \"big\".\"duro_build_guard\"",
        "DELETE FROM \"big\".\"duro_build_guard\" WHERE view_name = $1::varchar AND owner_pid "
        "NOT IN (SELECT process FROM stv_sessions)",
        "INSERT INTO \"big\".\"duro_build_guard\" SELECT $1::varchar, pg_backend_pid(), "
        "getdate() WHERE NOT EXISTS (SELECT 1 FROM \"big\".\"duro_build_guard\" WHERE "
        "view_name = $1::varchar)",
        "COMMIT",
        "SELECT count(*) > 0 FROM \"big\".\"duro_build_guard\" WHERE view_name = $1::varchar "
        "AND owner_pid = pg_backend_pid()",
    };
    assert_guard_take(RS, rs, sizeof(rs) / sizeof(rs[0]));
    sql = dialect_guard_release(RS, "big");
    assert_string_equal(sql, "DELETE FROM \"big\".\"duro_build_guard\" WHERE view_name = "
                             "$1::varchar AND owner_pid = pg_backend_pid()");
    free(sql);
    sql = dialect_guard_holder(RS, "big");
    assert_string_equal(sql,
                        "SELECT trim(s.user_name)::varchar AS name, g.owner_pid::varchar AS pid,\n"
                        "       to_char(g.since, 'YYYY-MM-DD HH24:MI:SS') AS since\n"
                        "FROM \"big\".\"duro_build_guard\" g LEFT JOIN stv_sessions s ON "
                        "s.process = g.owner_pid\n"
                        "WHERE g.view_name = $1::varchar\n"
                        "LIMIT 1");
    free(sql);
}

/* The published copies of duro.status and duro.runs: Redshift's text pinned, PostgreSQL's run
 * against PostgreSQL 15 by tests/e2e/test_publish.py. */
static void test_publish(void **state)
{
    (void)state;
    assert_string_equal(dialect_publish_name(PUBLISH_STATUS), "status");
    assert_string_equal(dialect_publish_name(PUBLISH_RUNS), "runs");
    assert_int_equal(dialect_publish_ncolumns(PUBLISH_STATUS), 14);
    assert_int_equal(dialect_publish_ncolumns(PUBLISH_RUNS), 9);
    expect_sql(
        dialect_publish_create(RS, "duro", PUBLISH_STATUS),
        "CREATE TABLE IF NOT EXISTS \"duro\".\"status\" (\"view\" VARCHAR(65535), "
        "\"interval\" VARCHAR(65535), \"effective_interval\" VARCHAR(65535), \"state\" "
        "VARCHAR(65535), \"last_refresh\" TIMESTAMPTZ, \"last_duration_s\" DOUBLE PRECISION, "
        "\"next_refresh\" TIMESTAMPTZ, \"rows\" BIGINT, \"depends_on\" VARCHAR(65535), "
        "\"last_error\" VARCHAR(65535), \"source\" VARCHAR(65535), \"reads_24h\" BIGINT, "
        "\"last_read\" TIMESTAMPTZ, \"readers\" VARCHAR(65535))");
    expect_sql(dialect_publish_create(RS, "duro", PUBLISH_RUNS),
               "CREATE TABLE IF NOT EXISTS \"duro\".\"runs\" (\"id\" BIGINT, \"view\" "
               "VARCHAR(65535), \"started\" TIMESTAMPTZ, \"finished\" TIMESTAMPTZ, \"outcome\" "
               "VARCHAR(65535), \"duration_s\" DOUBLE PRECISION, \"rows\" BIGINT, \"trigger\" "
               "VARCHAR(65535), \"error\" VARCHAR(65535))");
    expect_sql(dialect_publish_create(PG, "Ops", PUBLISH_RUNS),
               "CREATE TABLE IF NOT EXISTS \"Ops\".\"runs\" (\"id\" int8, \"view\" text, "
               "\"started\" timestamptz, \"finished\" timestamptz, \"outcome\" text, "
               "\"duration_s\" float8, \"rows\" int8, \"trigger\" text, \"error\" text)");

    /* Batches: plain INSERT ... VALUES with one parameter per value, on both dialects. */
    expect_sql(dialect_publish_insert("duro", PUBLISH_RUNS, 2),
               "INSERT INTO \"duro\".\"runs\" (\"id\", \"view\", \"started\", \"finished\", "
               "\"outcome\", \"duration_s\", \"rows\", \"trigger\", \"error\") VALUES ($1, $2, "
               "$3, $4, $5, $6, $7, $8, $9), ($10, $11, $12, $13, $14, $15, $16, $17, $18)");
    char *big = dialect_publish_insert("duro", PUBLISH_STATUS, 500);
    assert_non_null(strstr(big, "($6987, $6988, $6989, $6990, $6991, $6992, $6993, $6994, "
                                "$6995, $6996, $6997, $6998, $6999, $7000)"));
    assert_null(strstr(big, "$7001"));
    free(big);
    /* Status rows replaced whole (DELETE + INSERT); runs after the last final id, and those the
     * catalog no longer keeps, deleted before they are inserted again. */
    expect_sql(dialect_publish_clear_status("duro"), "DELETE FROM \"duro\".\"status\"");
    expect_sql(dialect_publish_trim_runs("duro"),
               "DELETE FROM \"duro\".\"runs\" WHERE \"id\" > $1 OR \"id\" < $2");
    expect_sql(dialect_publish_final_sql("duro"),
               "SELECT coalesce((SELECT min(\"id\") - 1 FROM \"duro\".\"runs\" WHERE "
               "\"outcome\" = 'running'), (SELECT max(\"id\") FROM \"duro\".\"runs\"), 0)");
    assert_string_equal(dialect_publish_exists_sql(),
                        "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' AND "
                        "c.relname IN ('status', 'runs')");

    /* Grants: usage of the schema, then SELECT on both tables, to every reader. */
    StrVec readers = {0}, out = {0};
    dialect_publish_grants(RS, "duro", &readers, &out);
    assert_int_equal(out.n, 0);
    strvec_push(&readers, "jane");
    strvec_push(&readers, "group analysts");
    strvec_push(&readers, "role bi");
    dialect_publish_grants(RS, "duro", &readers, &out);
    assert_int_equal(out.n, 2);
    assert_string_equal(
        out.items[0],
        "GRANT USAGE ON SCHEMA \"duro\" TO \"jane\", GROUP \"analysts\", ROLE \"bi\"");
    assert_string_equal(out.items[1], "GRANT SELECT ON \"duro\".\"status\", \"duro\".\"runs\" "
                                      "TO \"jane\", GROUP \"analysts\", ROLE \"bi\"");
    strvec_clear(&out);
    strvec_clear(&readers);
    strvec_push(&readers, "public");
    dialect_publish_grants(PG, "duro", &readers, &out);
    assert_string_equal(out.items[1],
                        "GRANT SELECT ON \"duro\".\"status\", \"duro\".\"runs\" TO PUBLIC");
    strvec_free(&out);
    strvec_free(&readers);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock),
        cmocka_unit_test(test_swap_lock_bound),
        cmocka_unit_test(test_identifiers),
        cmocka_unit_test(test_statement),
        cmocka_unit_test(test_create_temp_redshift),
        cmocka_unit_test(test_create_temp_query_text),
        cmocka_unit_test(test_processor_create_temp),
        cmocka_unit_test(test_grant),
        cmocka_unit_test(test_ddl),
        cmocka_unit_test(test_tests_rewrite),
        cmocka_unit_test(test_tests_public_schema),
        cmocka_unit_test(test_tests_edges),
        cmocka_unit_test(test_snapshots),
        cmocka_unit_test(test_catalog_queries),
        cmocka_unit_test(test_sessions),
        cmocka_unit_test(test_guard),
        cmocka_unit_test(test_publish),
    };
    return cmocka_run_group_tests_name("dialect", tests, NULL, NULL);
}
