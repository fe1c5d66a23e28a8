/*
 * The views repository as a whole: dependencies, effective intervals, enabled
 * flags, cycles, key checks against output columns, definition hashes, and
 * every problem reported with its file and line. Most cases build in memory
 * (repo_build); the example repository is read from examples/views on disk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/repo.h"

#define EXAMPLES "../../examples/views"

/* Builds a repository from alternating path, text strings (ap) with the given options. */
static Repo build_v(const RepoOptions *opt, const char *first, va_list ap)
{
    RepoFile files[64];
    size_t n = 0;
    for (const char *path = first; path; path = va_arg(ap, const char *)) {
        files[n].path = (char *)path;
        files[n].text = va_arg(ap, char *);
        n++;
    }
    Repo r;
    repo_build(files, n, opt, &r);
    return r;
}

/* Builds a repository from alternating path, text strings ending with NULL (the defaults: the
 * PostgreSQL dialect). */
static Repo build(const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    Repo r = build_v(NULL, first, ap);
    va_end(ap);
    return r;
}

/* build() for a Redshift warehouse. */
static Repo build_redshift(const char *first, ...)
{
    RepoOptions opt = {.max_ident_len = REPO_MAX_IDENT_REDSHIFT, .dialect = DIALECT_REDSHIFT};
    va_list ap;
    va_start(ap, first);
    Repo r = build_v(&opt, first, ap);
    va_end(ap);
    return r;
}

static void print_diags(const Repo *r)
{
    for (size_t i = 0; i < r->diags.n; i++)
        print_error("  %s:%d: %s\n", r->diags.items[i].path, r->diags.items[i].line,
                    r->diags.items[i].message);
}

static void assert_valid(const Repo *r)
{
    if (r->diags.n) {
        print_error("unexpected problems:\n");
        print_diags(r);
    }
    assert_int_equal(r->diags.n, 0);
}

/* Asserts a problem at path:line whose message contains want. */
static void assert_problem(const Repo *r, const char *path, int line, const char *want)
{
    for (size_t i = 0; i < r->diags.n; i++)
        if (strcmp(r->diags.items[i].path, path) == 0 && r->diags.items[i].line == line &&
            strstr(r->diags.items[i].message, want))
            return;
    print_error("no problem '%s' at %s:%d; got:\n", want, path, line);
    print_diags(r);
    fail();
}

/* The dependencies of view as "a.b,c.d". */
static char *deps_of(const Repo *r, const char *view)
{
    const View *v = repo_find(r, view);
    assert_non_null(v);
    StrVec names = {0};
    for (size_t i = 0; i < v->n_deps; i++)
        strvec_push(&names, r->views[v->deps[i]].name);
    char *out = strvec_join(&names, ",");
    strvec_free(&names);
    return out;
}

#define assert_deps(r, view, want)                                                                 \
    do {                                                                                           \
        char *got_ = deps_of((r), (view));                                                         \
        assert_string_equal(got_, (want));                                                         \
        free(got_);                                                                                \
    } while (0)

static void test_spec_example_from_disk(void **state)
{
    (void)state;
    Repo r;
    assert_int_equal(repo_load(EXAMPLES, NULL, &r), 0);
    assert_valid(&r);
    assert_int_equal(r.n_views, 7);
    assert_string_equal(r.views[0].name, "finances.detailed");

    const View *cities = repo_find(&r, "first.cities");
    assert_non_null(cities);
    assert_int_equal(cities->interval, 24 * 3600);
    assert_string_equal(cities->source, "first/cities — 24h.sql");
    assert_non_null(cities->tests);
    assert_string_equal(cities->config.distkey, "city");
    assert_string_equal(cities->config.diststyle, "even");
    char *grants = strvec_join(&cities->config.grant_select, ",");
    assert_string_equal(grants, "jane,john");
    free(grants);

    const View *shops = repo_find(&r, "first.shops");
    assert_int_equal(shops->interval, 0);
    assert_int_equal(shops->effective_interval, 3600); /* from first.people */
    assert_deps(&r, "first.shops", "first.cities");
    assert_deps(&r, "first.people", "first.shops");
    assert_deps(&r, "finances.detailed", "first.people");
    assert_deps(&r, "first.countries", "first.cities");
    assert_deps(&r, "second.child", "first.cities");

    const View *countries = repo_find(&r, "first.countries");
    assert_int_equal(countries->kind, VIEW_KIND_PROCESSOR);
    assert_non_null(strstr(countries->ddl, "create table"));
    assert_string_equal(countries->requirements, "first/countries_requirements.txt");
    assert_true(countries->columns_known);
    assert_int_equal(countries->columns.n, 3);

    /* global grant_select=metabase; finances.conf -=metabase; finances/simplified.conf += */
    assert_int_equal(repo_find(&r, "finances.detailed")->config.grant_select.n, 0);
    grants = strvec_join(&repo_find(&r, "finances.simplified")->config.grant_select, ",");
    assert_string_equal(grants, "metabase");
    free(grants);
    grants = strvec_join(&repo_find(&r, "second.child")->config.grant_select, ",");
    assert_string_equal(grants, "metabase");
    free(grants);
    repo_free(&r);
}

static void test_single_view(void **state)
{
    (void)state;
    Repo r = build("first/cities-24h.sql", "select city from first.cities_raw", NULL);
    assert_valid(&r);
    assert_int_equal(r.n_views, 1);
    assert_int_equal(r.views[0].effective_interval, 86400);
    assert_int_equal(r.views[0].n_deps, 0);
    assert_true(r.views[0].enabled);
    repo_free(&r);
}

static void test_empty_repository(void **state)
{
    (void)state;
    Repo r = build("README.md", "# views", NULL);
    assert_valid(&r);
    assert_int_equal(r.n_views, 0);
    repo_free(&r);
}

static void test_dependency_names_follow_sql(void **state)
{
    (void)state;
    Repo r = build("first/cities - 1h.sql", "select 1 as x",                            //
                   "first/spaced - 1h.sql", "select * from first . cities",             //
                   "first/upper - 1h.sql", "select * from FIRST.Cities",                //
                   "first/quoted_upper - 1h.sql", "select * from \"First\".\"Cities\"", //
                   "first/quoted_lower - 1h.sql", "select * from \"first\".\"cities\"", //
                   "first/commented - 1h.sql",
                   "select 'first.cities' as s /* first.cities */ -- first.cities\n", //
                   "first/joined - 1h.sql",
                   "select a.x from first.cities a join second.other b on a.x = b.x "
                   "where a.x in (select x from first.spaced)",
                   NULL);
    assert_valid(&r);
    assert_deps(&r, "first.spaced", "first.cities");
    assert_deps(&r, "first.upper", "first.cities");
    assert_deps(&r, "first.quoted_upper", "");
    assert_deps(&r, "first.quoted_lower", "first.cities");
    assert_deps(&r, "first.commented", "");
    assert_deps(&r, "first.joined", "first.cities,first.spaced");
    repo_free(&r);
}

static void test_cte_and_unqualified_names(void **state)
{
    (void)state;
    Repo r = build("public/cities - 1h.sql", "select 1 as city",                         //
                   "first/cte - 1h.sql",                                                 //
                   "with cities as (select 2 as city) select city from cities",          //
                   "first/plain - 1h.sql", "select city from cities",                    //
                   "first/self - 1h.sql", "select * from first.self union all select 1", //
                   NULL);
    assert_valid(&r);
    assert_deps(&r, "first.cte", "");
    assert_deps(&r, "first.plain", "public.cities");
    assert_deps(&r, "first.self", "");
    repo_free(&r);
}

static void test_redshift_syntax_falls_back_to_tokenizer(void **state)
{
    (void)state;
    Repo r = build_redshift(
        "first/cities - 1h.sql", "select 1 as city", "first/top - 1h.sql",
        "select top 10 city from first.cities /* first.other */ where x = 'first.other'",
        "first/other - 1h.sql", "select 1 as x", NULL);
    assert_valid(&r);
    assert_deps(&r, "first.top", "first.cities");
    assert_true(repo_find(&r, "first.top")->tokenized);
    assert_false(repo_find(&r, "first.top")->columns_known);
    repo_free(&r);
}

/* Asserts a problem at path:line:column whose message is exactly want. */
static void assert_syntax_error(const Repo *r, const char *path, int line, int column,
                                const char *want)
{
    for (size_t i = 0; i < r->diags.n; i++)
        if (strcmp(r->diags.items[i].path, path) == 0 && r->diags.items[i].line == line &&
            r->diags.items[i].column == column && strcmp(r->diags.items[i].message, want) == 0)
            return;
    print_error("no problem '%s' at %s:%d:%d; got:\n", want, path, line, column);
    print_diags(r);
    fail();
}

/* A syntax error is a problem of its file at the parser's line and column, in both dialects;
 * Redshift-only syntax is one only with the PostgreSQL dialect. */
static void test_syntax_errors_by_dialect(void **state)
{
    (void)state;
    const char *comma = "select city,\n  country,\nfrom first.raw";
    const char *where = "select city from first.raw\nwhere";
    const char *top = "-- the ten first\nselect top 10 city from first.cities";
    const char *tests = "select count(*) > 0 from first.cities;\nselect from where";
    for (int d = 0; d < 2; d++) {
        Repo r = (d ? build_redshift : build)("first/cities - 1h.sql", "select 1 as city",
                                              "first/comma - 1h.sql", comma, "first/where - 1h.sql",
                                              where, "first/top - 1h.sql", top,
                                              "first/cities_test.sql", tests, NULL);
        assert_syntax_error(&r, "first/comma - 1h.sql", 3, 1, "syntax error at or near \"from\"");
        assert_syntax_error(&r, "first/where - 1h.sql", 2, 6, "syntax error at end of input");
        assert_syntax_error(&r, "first/cities_test.sql", 2, 13,
                            "syntax error at or near \"where\"");
        if (d) {
            assert_int_equal(r.diags.n, 3);
            assert_deps(&r, "first.top", "first.cities");
            assert_true(repo_find(&r, "first.top")->tokenized);
        } else {
            assert_syntax_error(&r, "first/top - 1h.sql", 2, 12, "syntax error at or near \"10\"");
            assert_int_equal(r.diags.n, 4);
        }
        repo_free(&r);
    }
}

static void test_effective_interval_and_enabled(void **state)
{
    (void)state;
    Repo r = build("a/base.sql", "select 1 as x",              //
                   "a/mid.sql", "select x from a.base",        //
                   "a/fast - 30m.sql", "select x from a.mid",  //
                   "a/slow - 1d.sql", "select x from a.mid",   //
                   "a/own - 1w.sql", "select x from a.base",   //
                   "b/off - 1h.sql", "select 1 as y",          //
                   "b/off.conf", "enabled=false",              //
                   "b/reader - 1h.sql", "select y from b.off", //
                   "b/unused.sql", "select 1 as z",            //
                   "b/unused.conf", "enabled = false",         //
                   NULL);
    assert_valid(&r);
    assert_int_equal(repo_find(&r, "a.mid")->effective_interval, 1800);
    assert_int_equal(repo_find(&r, "a.base")->effective_interval, 1800);
    assert_int_equal(repo_find(&r, "a.own")->effective_interval, 7 * 86400);
    assert_false(repo_find(&r, "b.off")->enabled);
    assert_false(repo_find(&r, "b.reader")->enabled); /* its dependency is disabled */
    assert_true(repo_find(&r, "b.reader")->config.enabled);
    assert_false(repo_find(&r, "b.unused")->enabled);
    assert_int_equal(repo_find(&r, "a.base")->n_dependents, 2);
    repo_free(&r);
}

static void test_cycle_is_printed(void **state)
{
    (void)state;
    Repo r = build("a/x - 1h.sql", "select * from b.y",  //
                   "b/y - 1h.sql", "select * from c.z",  //
                   "c/z - 1h.sql", "select * from a.x",  //
                   "d/ok - 1h.sql", "select * from a.x", //
                   NULL);
    assert_int_equal(r.diags.n, 1);
    assert_problem(&r, "a/x - 1h.sql", 1, "dependency cycle: a.x -> b.y -> c.z -> a.x");
    repo_free(&r);
}

static void test_root_without_interval(void **state)
{
    (void)state;
    Repo r = build("first/shops.sql", "select 1 as id", "first/lonely.sql",
                   "select * from first.shops", NULL);
    assert_problem(&r, "first/lonely.sql", 1,
                   "first.lonely has no interval and no view with an interval depends on it");
    assert_problem(&r, "first/shops.sql", 1, "first.shops has no interval");
    repo_free(&r);
}

static void test_keys_checked_against_output_columns(void **state)
{
    (void)state;
    Repo r = build("first/counts - 1h.sql",
                   "select city, count(*) from first.raw group by city", //
                   "first/counts.conf", "# keys\ndistkey=country\nsortkey=city, count, nope\n",
                   "first/starred - 1h.sql", "select * from first.raw", //
                   "first/starred.conf", "distkey=anything\n",          //
                   "first/ok - 1h.sql", "select a.city as town, b.n from first.raw a, first.raw b",
                   "first/ok.conf", "distkey = TOWN\nsortkey = town,n\n", //
                   NULL);
    assert_int_equal(r.diags.n, 2);
    assert_problem(&r, "first/counts.conf", 2,
                   "distkey 'country' is not an output column of first.counts (its columns: "
                   "city, count)");
    assert_problem(&r, "first/counts.conf", 3, "sortkey column 'nope'");
    repo_free(&r);
}

static void test_diststyle_key_needs_a_distkey(void **state)
{
    (void)state;
    Repo r = build("first.conf", "diststyle=key\n",            //
                   "first/keyless - 1h.sql", "select 1 as id", //
                   "first/keyed - 1h.sql", "select 1 as id",   //
                   "first/keyed.conf", "distkey=id\n",         //
                   NULL);
    assert_int_equal(r.diags.n, 1);
    assert_problem(&r, "first/keyless - 1h.sql", 1, "diststyle=key but no distkey");
    repo_free(&r);
}

static void test_inherited_distkey_blames_the_schema_file(void **state)
{
    (void)state;
    Repo r = build("first.conf", "distkey=id\n",                //
                   "first/good - 1h.sql", "select 1 as id",     //
                   "first/bad - 1h.sql", "select 1 as other",   //
                   "first/reset - 1h.sql", "select 1 as other", //
                   "first/reset.conf", "distkey=null",          //
                   NULL);
    assert_int_equal(r.diags.n, 1);
    assert_problem(&r, "first.conf", 1, "not an output column of first.bad");
    repo_free(&r);
}

static void test_every_problem_is_reported(void **state)
{
    (void)state;
    Repo r = build("my-table - 1h.sql", "select 1",                                //
                   "first/cities - 1.5h.sql", "select 1",                          //
                   "first/broken - 1h.sql", "select 1 as a,\n  'unterminated\n",   //
                   "first/writer - 1h.sql", "\n\ndelete from first.x",             //
                   "first/ok - 1h.sql", "select 1 as a",                           //
                   "first/ok_test.sql", "select true;\n insert into t values (1)", //
                   "first/ok.conf", "grant_select=jane\ncolour=blue\n",            //
                   "first/ghost_test.sql", "select true",                          //
                   "first/ghost.conf", "timeout=1h",                               //
                   NULL);
    assert_problem(&r, "my-table - 1h.sql", 1, "view name 'my-table' is not an SQL identifier");
    assert_problem(&r, "first/cities - 1.5h.sql", 1, "invalid interval '1.5h'");
    assert_problem(&r, "first/broken - 1h.sql", 2, "unterminated");
    assert_problem(&r, "first/writer - 1h.sql", 3, "SELECT");
    assert_problem(&r, "first/ok_test.sql", 2, "SELECT");
    assert_problem(&r, "first/ok.conf", 2, "unknown key 'colour'");
    assert_problem(&r, "first/ghost_test.sql", 1, "tests for first.ghost, which has no view file");
    assert_problem(&r, "first/ghost.conf", 1, "config for first.ghost, which has no view file");
    assert_int_equal(r.diags.n, 8);
    repo_free(&r);
}

static void test_duplicates_and_processor_parts(void **state)
{
    (void)state;
    Repo r = build("first/cities - 1h.sql", "select 1 as a",           //
                   "first.cities - 2h.sql", "select 1 as a",           //
                   "first/p - 1h.sql", "create table first.p (a int)", //
                   "first/p.py", "print(1)",                           //
                   "first/q - 1h.sql", "select 1 as a",                //
                   "first/q_select.sql", "select 1 as a",              //
                   "first/r_requirements.txt", "requests",             //
                   "first/s.py", "print(1)",                           //
                   "first/s_select.sql", "select 1",                   //
                   NULL);
    assert_problem(&r, "first/cities - 1h.sql", 1, "duplicate view file for first.cities");
    assert_problem(&r, "first/p.py", 1, "has no input query (p_select.sql)");
    assert_problem(&r, "first/q_select.sql", 1, "there is no q.py");
    assert_problem(&r, "first/r_requirements.txt", 1, "which has no view file");
    assert_problem(&r, "first/s.py", 1, "processor first.s has no DDL file");
    repo_free(&r);
}

/* A processor's DDL creates the view's own table (its temp copy is made by renaming it). */
static void test_processor_ddl_names_its_view(void **state)
{
    (void)state;
    Repo r = build_redshift("first/a - 1h.sql", "create table first.a (x int)", "first/a.py", "",
                            "first/a_select.sql", "select 1 as x",                          //
                            "first/b - 1h.sql", "create table b (x int)", "first/b.py", "", //
                            "first/b_select.sql", "select 1 as x",                          //
                            "first/c - 1h.sql", "-- result\ncreate table first.other (x int)",
                            "first/c.py", "", "first/c_select.sql", "select 1 as x", //
                            "first/d - 1h.sql", "create table second.d (x int) diststyle even",
                            "first/d.py", "", "first/d_select.sql", "select 1 as x", //
                            NULL);
    assert_problem(&r, "first/c - 1h.sql", 2, "the DDL creates first.other, not first.c");
    assert_problem(&r, "first/d - 1h.sql", 1, "the DDL creates second.d, not first.d");
    assert_int_equal(r.diags.n, 2);
    repo_free(&r);
}

static void test_hash_tracks_the_definition(void **state)
{
    (void)state;
    const char *q = "select 1 as a";
    Repo base = build("s/v - 1h.sql", q, NULL);
    Repo renamed = build("s/v - 2h.sql", q, NULL);
    Repo query = build("s/v - 1h.sql", "select 2 as a", NULL);
    Repo tests = build("s/v - 1h.sql", q, "s/v_test.sql", "select true", NULL);
    Repo conf = build("s/v - 1h.sql", q, "s.conf", "grant_select=jane", NULL);
    assert_int_equal(strlen(base.views[0].hash), 64);
    assert_string_equal(base.views[0].hash, renamed.views[0].hash);
    assert_string_not_equal(base.views[0].hash, query.views[0].hash);
    assert_string_not_equal(base.views[0].hash, tests.views[0].hash);
    assert_string_not_equal(base.views[0].hash, conf.views[0].hash);
    repo_free(&base);
    repo_free(&renamed);
    repo_free(&query);
    repo_free(&tests);
    repo_free(&conf);
}

static void test_threads_give_the_same_result(void **state)
{
    (void)state;
    enum { N = 300 };
    RepoFile files[N];
    for (int i = 0; i < N; i++) {
        files[i].path = xasprintf("s/v%03d - 1h.sql", i);
        files[i].text = i ? xasprintf("select x from s.v%03d join s.v%03d using (x)", i / 2, i - 1)
                          : xstrdup("select 1 as x");
    }
    Repo one, many;
    repo_build(files, N, &(RepoOptions){.threads = 1}, &one);
    repo_build(files, N, &(RepoOptions){.threads = 4}, &many);
    assert_valid(&one);
    assert_valid(&many);
    for (int i = 0; i < N; i++) {
        assert_string_equal(one.views[i].hash, many.views[i].hash);
        assert_int_equal(one.views[i].n_deps, many.views[i].n_deps);
    }
    assert_int_equal(repo_find(&many, "s.v299")->n_deps, 2);
    repo_free(&one);
    repo_free(&many);
    for (int i = 0; i < N; i++) {
        free(files[i].path);
        free(files[i].text);
    }
}

static void test_pathological_sql_is_contained(void **state)
{
    (void)state;
    /* 100,000 chained additions: the parser recurses that deep (8 MB of stack is not enough). */
    enum { TERMS = 100000 };
    char *deep = xmalloc(TERMS * 2 + 32);
    char *p = deep + sprintf(deep, "select 1");
    for (int i = 0; i < TERMS; i++)
        p += sprintf(p, "+1");
    strcpy(p, " as x");
    char *huge = xmalloc(REPO_MAX_SQL_BYTES + 64);
    memset(huge, ' ', REPO_MAX_SQL_BYTES + 63);
    memcpy(huge, "select 1 as x", 13);
    huge[REPO_MAX_SQL_BYTES + 63] = '\0';
    Repo r = build("s/deep - 1h.sql", deep, "s/huge - 1h.sql", huge, NULL);
    assert_int_equal(r.diags.n, 1);
    assert_problem(&r, "s/huge - 1h.sql", 1, "Duro reads SQL files of at most 1024 KiB");
    assert_non_null(repo_find(&r, "s.deep"));
    repo_free(&r);
    free(deep);
    free(huge);
}

static void test_missing_directory(void **state)
{
    (void)state;
    Repo r;
    assert_int_equal(repo_load("/nonexistent/views", NULL, &r), -1);
    assert_int_equal(r.diags.n, 1);
    assert_non_null(strstr(r.diags.items[0].message, "No such file or directory"));
    repo_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example_from_disk),
        cmocka_unit_test(test_single_view),
        cmocka_unit_test(test_empty_repository),
        cmocka_unit_test(test_dependency_names_follow_sql),
        cmocka_unit_test(test_cte_and_unqualified_names),
        cmocka_unit_test(test_redshift_syntax_falls_back_to_tokenizer),
        cmocka_unit_test(test_syntax_errors_by_dialect),
        cmocka_unit_test(test_effective_interval_and_enabled),
        cmocka_unit_test(test_cycle_is_printed),
        cmocka_unit_test(test_root_without_interval),
        cmocka_unit_test(test_keys_checked_against_output_columns),
        cmocka_unit_test(test_inherited_distkey_blames_the_schema_file),
        cmocka_unit_test(test_diststyle_key_needs_a_distkey),
        cmocka_unit_test(test_every_problem_is_reported),
        cmocka_unit_test(test_duplicates_and_processor_parts),
        cmocka_unit_test(test_processor_ddl_names_its_view),
        cmocka_unit_test(test_hash_tracks_the_definition),
        cmocka_unit_test(test_threads_give_the_same_result),
        cmocka_unit_test(test_pathological_sql_is_contained),
        cmocka_unit_test(test_missing_directory),
    };
    return cmocka_run_group_tests_name("repo", tests, NULL, NULL);
}
