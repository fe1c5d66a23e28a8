/*
 * Unit tests for proxy/intercept.c: the classification of statements (relay, virtual tables,
 * duro_refresh in all its client forms, refused mixes), the relations read with CTE scoping, the
 * lexical pre-filter, and view names given as strings. Table-driven; each row names what it checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/intercept.h"

#define PASS    INTERCEPT_PASS
#define VIRTUAL INTERCEPT_VIRTUAL
#define MIXED   INTERCEPT_MIXED
#define REFRESH INTERCEPT_REFRESH

/* One classification: kind, relations as "a, b", and the refresh or error details. */
typedef struct Case {
    const char *what;
    const char *sql;
    InterceptKind kind;
    const char *relations;
    const char *sqlstate; /* MIXED only */
    const char *name;     /* REFRESH: literal name, or NULL */
    int param;
    bool force;
    int force_param;
} Case;

static const Case cases[] = {
    /* Relayed */
    {"plain select", "select * from public.orders", PASS, "public.orders"},
    {"unqualified", "SELECT a FROM Orders", PASS, "orders"},
    {"quoted keeps case", "select * from \"First\".\"Cities\"", PASS, "First.Cities"},
    {"catalog dropped", "select * from db.first.cities", PASS, "first.cities"},
    {"join", "select * from a join b.c on a.x = c.x left join d using (x)", PASS, "a, b.c, d"},
    {"subquery in where",
     "select 1 from a where x in (select y from b where z > (select 1 from c))", PASS, "a, b, c"},
    {"union", "select x from a union all select x from b except select x from a", PASS, "a, b"},
    {"lateral", "select * from a, lateral (select * from b where b.x = a.x) s", PASS, "a, b"},
    {"cte excluded", "with c as (select * from first.cities) select * from c join d on true", PASS,
     "first.cities, d"},
    {"cte shadows a view", "with cities as (select 1) select * from cities", PASS, ""},
    {"qualified name is not the cte", "with cities as (select 1) select * from first.cities", PASS,
     "first.cities"},
    {"cte body sees earlier ctes only",
     "with a as (select * from b), b as (select * from a) select * from b", PASS, "b"},
    {"recursive cte", "with recursive t as (select 1 union all select * from t) select * from t",
     PASS, ""},
    {"nested with scope", "select * from (with x as (select 1) select * from x) s, x", PASS, "x"},
    {"dml", "insert into t select * from u", PASS, "t, u"},
    {"repeats once", "select * from a, a b, public.a", PASS, "a, public.a"},
    {"parse error", "selec * from duro.status", PASS, ""},
    {"redshift syntax", "select top 10 * from duro.status", PASS, ""},
    {"duro in a string", "select 'duro.status', 'duro_refresh(1)' from t", PASS, "t"},
    {"duro in a comment", "select 1 -- from duro.status\n", PASS, ""},
    {"column named duro", "select duro from t", PASS, "t"},
    {"other schema's status", "select * from public.status", PASS, "public.status"},
    {"other schema's refresh", "select pg_catalog.duro_refresh('x')", PASS, ""},
    {"several plain statements", "select 1; select * from a; begin", PASS, "a"},
    {"set", "set search_path = duro", PASS, ""},
    /* Virtual tables */
    {"status", "select * from duro.status", VIRTUAL, ""},
    {"quoted schema", "select * from \"duro\".\"runs\" where id > 3", VIRTUAL, ""},
    {"upper case", "SELECT * FROM DURO.STATUS", VIRTUAL, ""},
    {"join of both", "select * from duro.status s join duro.runs r on r.view = s.view", VIRTUAL,
     ""},
    {"subquery of duro", "select * from duro.runs where view in (select view from duro.status)",
     VIRTUAL, ""},
    {"trailing semicolon", "select * from duro.status;", VIRTUAL, ""},
    /* Refused */
    {"unknown duro table", "select * from duro.nothing", MIXED, "", "42P01"},
    {"mixed with a table", "select * from duro.status join t on true", MIXED, "t", "0A000"},
    {"mixed in a subquery", "select * from t where v in (select view from duro.status)", MIXED, "t",
     "0A000"},
    {"insert into duro", "insert into duro.status values (1)", MIXED, "", "0A000"},
    {"delete from duro", "delete from duro.runs", MIXED, "", "0A000"},
    {"explain", "explain select * from duro.status", MIXED, "", "0A000"},
    {"select into", "select * into t from duro.status", MIXED, "t", "0A000"},
    {"for update", "select * from duro.status for update", MIXED, "", "0A000"},
    {"unknown duro function", "select duro.nothing()", MIXED, "", "42883"},
    {"two duro statements", "select * from duro.status; select * from duro.runs", MIXED, "",
     "0A000"},
    {"duro with others", "select 1; call duro_refresh('a.b')", MIXED, "", "0A000"},
    {"refresh in where", "select * from t where duro_refresh('a.b') is not null", MIXED, "t",
     "0A000"},
    {"refresh joined", "select * from duro_refresh('a.b') r, t", MIXED, "t", "0A000"},
    {"refresh in expression", "select duro_refresh('a.b') || 'x'", MIXED, "", "0A000"},
    {"refresh with where", "select * from duro_refresh('a.b') where true", MIXED, "", "0A000"},
    {"refresh no args", "call duro_refresh()", MIXED, "", "42883"},
    {"refresh three args", "call duro_refresh('a.b', true, 1)", MIXED, "", "42883"},
    {"refresh column arg", "select duro_refresh(view) from t", MIXED, "t", "0A000"},
    {"refresh expression arg", "call duro_refresh('a' || '.b')", MIXED, "", "0A000"},
    {"refresh integer arg", "call duro_refresh(1)", MIXED, "", "42883"},
    {"refresh bad force", "call duro_refresh('a.b', 'maybe')", MIXED, "", "42883"},
    {"refresh star", "select duro_refresh(*)", MIXED, "", "0A000"},
    /* duro_refresh */
    {"call", "CALL duro_refresh('first.cities')", REFRESH, "", NULL, "first.cities"},
    {"call force", "CALL duro_refresh('first.cities', true)", REFRESH, "", NULL, "first.cities", 0,
     true},
    {"call no force", "call duro_refresh('first.cities', false)", REFRESH, "", NULL,
     "first.cities"},
    {"call force text", "call duro_refresh('x.y', 'yes')", REFRESH, "", NULL, "x.y", 0, true},
    {"call param", "call DURO_REFRESH($1)", REFRESH, "", NULL, NULL, 1},
    {"call params", "call duro_refresh($1, $2)", REFRESH, "", NULL, NULL, 1, false, 2},
    {"select", "SELECT duro_refresh('x.y')", REFRESH, "", NULL, "x.y"},
    {"select alias", "SELECT duro_refresh('x.y') AS r;", REFRESH, "", NULL, "x.y"},
    {"select from", "SELECT * FROM duro_refresh('x.y')", REFRESH, "", NULL, "x.y"},
    {"jdbc call", "select * from duro_refresh($1) as result", REFRESH, "", NULL, NULL, 1},
    {"jdbc call force", "select * from duro_refresh($1,$2) as result", REFRESH, "", NULL, NULL, 1,
     false, 2},
    {"qualified", "call duro.duro_refresh('a.\"B\"')", REFRESH, "", NULL, "a.\"B\""},
    {"cast args", "call duro_refresh($2::text, $1::bool)", REFRESH, "", NULL, NULL, 2, false, 1},
    {"comment around", "/* go */ call duro_refresh('a.b') -- now", REFRESH, "", NULL, "a.b"},
};

/* "a, b" for the relations found; caller frees. */
static char *render_relations(const InterceptInfo *info)
{
    return strvec_join(&info->relations, ", ");
}

static const char *kind_name(InterceptKind k)
{
    static const char *const names[] = {"PASS", "VIRTUAL", "MIXED", "REFRESH"};
    return names[k];
}

static void test_classify(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const Case *c = &cases[i];
        InterceptInfo info;
        assert_int_equal(intercept_analyze(c->sql, &info), 0);
        char *rels = render_relations(&info);
        bool ok = info.kind == c->kind && strcmp(rels, c->relations) == 0;
        if (c->kind == MIXED)
            ok = ok && info.error_sqlstate != NULL &&
                 strcmp(info.error_sqlstate, c->sqlstate) == 0 && info.error_message != NULL &&
                 info.error_message[0] != '\0';
        else
            ok = ok && info.error_sqlstate == NULL;
        if (c->kind == REFRESH)
            ok = ok &&
                 (c->name == NULL ? info.refresh_name == NULL
                                  : info.refresh_name && strcmp(info.refresh_name, c->name) == 0) &&
                 info.refresh_param == c->param && info.refresh_force == c->force &&
                 info.refresh_force_param == c->force_param;
        if (!ok) {
            print_error("case \"%s\": got %s [%s] state=%s msg=%s name=%s param=%d force=%d/%d\n",
                        c->what, kind_name(info.kind), rels,
                        info.error_sqlstate ? info.error_sqlstate : "-",
                        info.error_message ? info.error_message : "-",
                        info.refresh_name ? info.refresh_name : "-", info.refresh_param,
                        info.refresh_force, info.refresh_force_param);
            failures++;
        }
        free(rels);
        intercept_info_free(&info);
    }
    assert_int_equal(failures, 0);
}

static void test_statement_count(void **state)
{
    (void)state;
    InterceptInfo info;
    assert_int_equal(intercept_analyze("select 1; select 2;", &info), 0);
    assert_int_equal(info.n_statements, 2);
    intercept_info_free(&info);
    assert_int_equal(intercept_analyze("select * from duro.runs", &info), 0);
    assert_int_equal(info.n_statements, 1);
    intercept_info_free(&info);
    assert_int_equal(intercept_analyze("", &info), 0);
    assert_int_equal(info.n_statements, 0);
    assert_int_equal(info.kind, PASS);
    intercept_info_free(&info);
}

/* A statement nested far deeper than anyone writes is relayed untouched, without exhausting the
 * stack: 5,000 chained additions over duro.status. */
static void test_pathological_depth(void **state)
{
    (void)state;
    enum { TERMS = 5000 };
    char *sql = xmalloc(TERMS * 2 + 64);
    char *p = sql + sprintf(sql, "select 1");
    for (int i = 0; i < TERMS; i++)
        p += sprintf(p, "+1");
    strcpy(p, " from duro.status");
    InterceptInfo info;
    assert_int_equal(intercept_analyze(sql, &info), 0);
    assert_int_equal(info.kind, PASS);
    assert_int_equal(info.relations.n, 0);
    intercept_info_free(&info);
    free(sql);
}

/* The managed views' table names of the pre-filter tests, sorted. */
static const char *const view_names[] = {"Mixed", "cities", "daily_orders"};

/* An identifier over the length limit is cut as the parser cuts it, never inside a UTF-8
 * sequence: 62 letters and an 'e' with an accent name the table of those 62 letters. */
static void test_may_concern_long_ident(void **state)
{
    (void)state;
    char name[63], sql[128];
    memset(name, 'a', 62);
    name[62] = '\0';
    const char *const names[] = {name};
    InterceptNameSet set = {names, 1};
    static const char *const quotes[] = {"", "\""};
    for (size_t i = 0; i < ARRAY_LEN(quotes); i++) {
        snprintf(sql, sizeof sql, "select * from %s%s\xc3\xa9%s", quotes[i], name, quotes[i]);
        assert_true(intercept_may_concern(sql, strlen(sql), intercept_name_set_has, &set));
        InterceptInfo info;
        assert_int_equal(intercept_analyze(sql, &info), 0);
        assert_int_equal(info.relations.n, 1);
        assert_string_equal(info.relations.items[0], name);
        intercept_info_free(&info);
    }
}

static void test_may_concern(void **state)
{
    (void)state;
    static const struct {
        const char *sql;
        bool expected;
    } cases_mc[] = {
        {"select * from duro.status", true},
        {"SELECT * FROM DURO.STATUS", true},
        {"select * from \"duro\".status", true},
        {"select * from \"DURO\".status", true},
        {"call duro_refresh('a.b')", true},
        {"CALL Duro_Refresh($1)", true},
        {"select * from first.cities", true},
        {"select * from CITIES", true},
        {"select * from \"cities\"", true},
        {"select * from \"Cities\"", false},
        {"select * from \"Mixed\"", true},
        {"select * from Mixed", false},
        {"select * from daily_orders where x = 1", true},
        {"select * from daily_orders_old", false},
        {"select * from orders", false},
        {"select 'duro.status'", false},
        {"select 'it''s duro'", false},
        {"select E'it\\'s duro'", false},
        {"select E'a\\\\' || cities", true},
        {"select 'a\\' from cities", true},
        {"select $$ duro $$", false},
        {"select $tag$ duro $x$ cities $tag$", false},
        {"select $tag$ a $tag$, duro", true},
        {"select $1 from duro.status", true},
        {"select a$duro from t", false},
        {"-- duro\nselect 1", false},
        {"select 1 -- duro", false},
        {"/* duro /* nested */ cities */ select 1", false},
        {"/* a */ select 1 from cities /* b */", true},
        {"select 1duro", true},
        {"select durox, xduro, \"duro \"", false},
        {"select x'00', b'1', n'duro'", false},
        {"select 'unterminated duro", false},
        {"", false},
    };
    InterceptNameSet set = {view_names, ARRAY_LEN(view_names)};
    int failures = 0;
    for (size_t i = 0; i < ARRAY_LEN(cases_mc); i++) {
        const char *sql = cases_mc[i].sql;
        bool got = intercept_may_concern(sql, strlen(sql), intercept_name_set_has, &set);
        if (got != cases_mc[i].expected) {
            print_error("may_concern(%s) = %d\n", sql, got);
            failures++;
        }
    }
    /* A length shorter than the text: only that prefix is looked at. */
    assert_false(intercept_may_concern("select 1; duro", 9, NULL, NULL));
    assert_true(intercept_may_concern("select duro", 11, NULL, NULL));
    assert_false(intercept_may_concern("select cities", 13, NULL, NULL));
    assert_int_equal(failures, 0);
}

static void test_name_set(void **state)
{
    (void)state;
    InterceptNameSet set = {view_names, ARRAY_LEN(view_names)};
    assert_true(intercept_name_set_has("cities", 6, &set));
    assert_true(intercept_name_set_has("Mixed", 5, &set));
    assert_false(intercept_name_set_has("citie", 5, &set));
    assert_false(intercept_name_set_has("citiesx", 7, &set));
    assert_false(intercept_name_set_has("a", 1, &set));
    InterceptNameSet empty = {NULL, 0};
    assert_false(intercept_name_set_has("cities", 6, &empty));
}

static void test_view_name(void **state)
{
    (void)state;
    static const struct {
        const char *arg;
        const char *expected; /* NULL: malformed */
    } cases_vn[] = {
        {"first.cities", "first.cities"},
        {"First.Cities", "first.cities"},
        {"\"first\".\"cities\"", "first.cities"},
        {"\"First\".cities", "First.cities"},
        {"\"Odd.Name\".x", "Odd.Name.x"},
        {"a.\"b\"\"c\"", "a.b\"c"},
        {" a.b ", "a.b"},
        {"cities", NULL},
        {"a.b.c", NULL},
        {".b", NULL},
        {"a.", NULL},
        {"\"\".b", NULL},
        {"\"a.b", NULL},
        {"a.\"b", NULL},
        {"a\"x\".b", NULL},
        {"a b.c", NULL},
        {"\"a\"x.b", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases_vn); i++) {
        char *got = intercept_view_name(cases_vn[i].arg);
        if (cases_vn[i].expected == NULL) {
            if (got != NULL)
                print_error("'%s' gave %s\n", cases_vn[i].arg, got);
            assert_null(got);
        } else {
            if (got == NULL)
                print_error("'%s' was rejected\n", cases_vn[i].arg);
            assert_non_null(got);
            assert_string_equal(got, cases_vn[i].expected);
        }
        free(got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),           cmocka_unit_test(test_statement_count),
        cmocka_unit_test(test_may_concern),        cmocka_unit_test(test_may_concern_long_ident),
        cmocka_unit_test(test_name_set),           cmocka_unit_test(test_view_name),
        cmocka_unit_test(test_pathological_depth),
    };
    return cmocka_run_group_tests_name("intercept", tests, NULL, NULL);
}
