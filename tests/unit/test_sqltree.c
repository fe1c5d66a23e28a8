/*
 * Unit tests for catalog/sqltree.c: the relations the walk reports under WITH scoping (recursive,
 * non-recursive, shadowing, nested WITH, WITH on data-modifying statements), the other messages it
 * visits and stopping, the depth bound of both parsing and walking, and parse errors with their
 * offsets. Table-driven; each row names what it checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/sqltree.h"

/* What a walk saw: relations as "schema.name" / "name", and function names. */
typedef struct Seen {
    StrVec relations;
    StrVec functions;
    int stop_after; /* stop at this many relations; 0: never */
} Seen;

static bool on_relation(void *arg, const PgQuery__RangeVar *rv)
{
    Seen *s = arg;
    if (rv->schemaname[0])
        strvec_push_owned(&s->relations, xasprintf("%s.%s", rv->schemaname, rv->relname));
    else
        strvec_push(&s->relations, rv->relname);
    return s->stop_after == 0 || (int)s->relations.n < s->stop_after;
}

static bool on_message(void *arg, const ProtobufCMessage *m)
{
    Seen *s = arg;
    if (m->descriptor == &pg_query__func_call__descriptor) {
        const PgQuery__FuncCall *fc = (const PgQuery__FuncCall *)m;
        const PgQuery__Node *last = fc->funcname[fc->n_funcname - 1];
        strvec_push(&s->functions, last->string->sval);
    }
    return true;
}

/* Walks every statement of sql; returns what the walks saw as "r1, r2 | f1, f2" (caller frees). */
static char *walk_text(const char *sql, int stop_after, SqlTreeWalk *status)
{
    SqlTree tree;
    Seen seen = {{0}, {0}, stop_after};
    SqlTreeVisitor visitor = {on_relation, on_message, &seen};
    assert_int_equal(sqltree_parse(sql, &tree), 0);
    *status = SQLTREE_DONE;
    for (size_t i = 0; i < tree.result->n_stmts && *status == SQLTREE_DONE; i++)
        *status = sqltree_walk(&tree.result->stmts[i]->stmt->base, &visitor);
    sqltree_free(&tree);
    char *rels = strvec_join(&seen.relations, ", ");
    char *funcs = strvec_join(&seen.functions, ", ");
    char *out = xasprintf("%s | %s", rels, funcs);
    free(rels);
    free(funcs);
    strvec_free(&seen.relations);
    strvec_free(&seen.functions);
    return out;
}

static const struct {
    const char *what, *sql, *seen;
} walk_cases[] = {
    {"plain relations in text order", "select * from a join s.b on true, c.d.e", "a, s.b, d.e | "},
    {"a CTE is not a relation", "with c as (select * from t) select * from c", "t | "},
    {"non-recursive: a body reads the real table of its own name",
     "with t as (select * from t) select * from t", "t | "},
    {"non-recursive: later CTEs see earlier ones only",
     "with a as (select * from b), b as (select * from a) select * from a, b", "b | "},
    {"recursive: every CTE is visible in every body",
     "with recursive a as (select * from b), b as (select * from a) select * from a", " | "},
    {"qualified names are never CTEs", "with t as (select 1) select * from s.t, t", "s.t | "},
    {"shadowing: an inner CTE body sees the outer one",
     "with x as (select * from t1) select * from (with x as (select * from x) select * from x) s",
     "t1 | "},
    {"nested WITH in a subquery is popped after it",
     "with x as (select 1) select * from (with y as (select * from x) select * from y) s, y",
     "y | "},
    {"nested WITH under EXISTS",
     "select 1 from a where exists (with b as (select * from c) select * from b)", "a, c | "},
    {"WITH on a data-modifying statement: its bodies first",
     "with src as (select * from s.raw) insert into s.t select * from src", "s.raw, s.t | "},
    {"WITH in UPDATE and DELETE",
     "with k as (select 1) update t set a = 1 from k; with k as (select 1) delete from u using k",
     "t, u | "},
    {"FOR UPDATE OF names aliases, not relations", "select * from s.t x for update of x", "s.t | "},
    {"function calls reach the message visitor",
     "select f(1), s.g(h(2)) from t where x in (select k() from u)", "t, u | f, g, h, k"},
};

static void test_walk(void **state)
{
    (void)state;
    size_t failed = 0;
    for (size_t i = 0; i < ARRAY_LEN(walk_cases); i++) {
        SqlTreeWalk status;
        char *seen = walk_text(walk_cases[i].sql, 0, &status);
        if (strcmp(seen, walk_cases[i].seen) != 0 || status != SQLTREE_DONE) {
            print_error("case \"%s\"\n  sql:  %s\n  seen: \"%s\" (want \"%s\"), status %d\n",
                        walk_cases[i].what, walk_cases[i].sql, seen, walk_cases[i].seen, status);
            failed++;
        }
        free(seen);
    }
    assert_int_equal(failed, 0);
}

/* A visitor that returns false stops the walk there. */
static void test_stop(void **state)
{
    (void)state;
    SqlTreeWalk status;
    char *seen = walk_text("select * from a, b, c", 2, &status);
    assert_string_equal(seen, "a, b | ");
    assert_int_equal(status, SQLTREE_STOPPED);
    free(seen);
}

/* A text whose tree nests far too deep is turned away by sqltree_parse (as too deep, not as a
 * syntax error), without exhausting the stack: chained operators and nested subqueries. */
static void test_parse_depth_limit(void **state)
{
    (void)state;
    enum { TERMS = 5000 };
    char *chain = xmalloc(TERMS * 2 + 32);
    char *p = chain + sprintf(chain, "select 1");
    for (int i = 0; i < TERMS; i++)
        p += sprintf(p, "+1");
    strcpy(p, " from t");
    SqlTree tree;
    assert_int_equal(sqltree_parse(chain, &tree), -1);
    assert_true(tree.too_deep);
    assert_null(tree.result);
    sqltree_free(&tree);

    enum { SUBQUERIES = 2000 };
    char *parens = xmalloc(SUBQUERIES * 9 + 32);
    p = parens + sprintf(parens, "select ");
    for (int i = 0; i < SUBQUERIES; i++)
        p += sprintf(p, "(select ");
    *p++ = '1';
    for (int i = 0; i < SUBQUERIES; i++)
        *p++ = ')';
    *p = '\0';
    assert_int_equal(sqltree_parse(parens, &tree), -1);
    assert_true(tree.too_deep);
    sqltree_free(&tree);

    /* Just within: a few hundred levels parse and walk. */
    strcpy(chain + strlen("select 1") + 2 * 100, " from t");
    SqlTreeWalk status;
    char *seen = walk_text(chain, 0, &status);
    assert_string_equal(seen, "t | ");
    assert_int_equal(status, SQLTREE_DONE);
    free(seen);
    free(parens);
    free(chain);
}

typedef struct Parsed {
    const char *sql;
    int rc;
    bool too_deep;
} Parsed;

static void *parse_on_thread(void *arg)
{
    Parsed *p = arg;
    SqlTree tree;
    p->rc = sqltree_parse(p->sql, &tree);
    p->too_deep = tree.too_deep;
    sqltree_free(&tree);
    return NULL;
}

/* A chain of a quarter million operators (1+1+..., 500 kB) on a thread with a small stack:
 * libpg_query needs stack in proportion to it, more than that thread has, and before the JSON
 * check packing its tree took minutes. Turned away as too deep; and a text over SQLTREE_MAX_TEXT
 * is not read at all. */
static void test_parse_long_chain(void **state)
{
    (void)state;
    enum { TERMS = 250000 };
    char *chain = xmalloc(TERMS * 2 + 32);
    char *p = chain + sprintf(chain, "select 1");
    for (int i = 0; i < TERMS; i++)
        p += sprintf(p, "+1");
    *p = '\0';
    Parsed parsed = {chain, 0, false};
    pthread_attr_t attr;
    pthread_t thread;
    assert_int_equal(pthread_attr_init(&attr), 0);
    assert_int_equal(pthread_attr_setstacksize(&attr, 256 * 1024), 0);
    assert_int_equal(pthread_create(&thread, &attr, parse_on_thread, &parsed), 0);
    pthread_attr_destroy(&attr);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(parsed.rc, -1);
    assert_true(parsed.too_deep);
    free(chain);

    char *huge = xmalloc(SQLTREE_MAX_TEXT + 64);
    p = huge + sprintf(huge, "select '");
    memset(p, 'x', SQLTREE_MAX_TEXT);
    strcpy(p + SQLTREE_MAX_TEXT, "' from t");
    SqlTree tree;
    assert_int_equal(sqltree_parse(huge, &tree), -1);
    assert_true(tree.too_deep);
    assert_non_null(strstr(tree.error, "too long"));
    sqltree_free(&tree);
    free(huge);
}

/* sqltree_walk bounds its own depth on a tree built in memory (no parser in between). */
static void test_walk_depth_limit(void **state)
{
    (void)state;
    enum { LEVELS = SQLTREE_MAX_DEPTH }; /* two messages a level: twice the bound */
    PgQuery__Node *nodes = xcalloc(LEVELS + 1, sizeof(PgQuery__Node));
    PgQuery__AExpr *exprs = xcalloc(LEVELS, sizeof(PgQuery__AExpr));
    PgQuery__RangeVar rv = PG_QUERY__RANGE_VAR__INIT;
    rv.relname = "deep";
    for (int i = 0; i < LEVELS; i++) {
        pg_query__node__init(&nodes[i]);
        pg_query__a__expr__init(&exprs[i]);
        nodes[i].node_case = PG_QUERY__NODE__NODE_A_EXPR;
        nodes[i].a_expr = &exprs[i];
        exprs[i].lexpr = &nodes[i + 1];
    }
    pg_query__node__init(&nodes[LEVELS]);
    nodes[LEVELS].node_case = PG_QUERY__NODE__NODE_RANGE_VAR;
    nodes[LEVELS].range_var = &rv;

    Seen seen = {{0}, {0}, 0};
    SqlTreeVisitor visitor = {on_relation, NULL, &seen};
    assert_int_equal(sqltree_walk(&nodes[0].base, &visitor), SQLTREE_TOO_DEEP);
    assert_int_equal(seen.relations.n, 0);
    /* A little less than half as deep is within the bound and reaches the relation. */
    assert_int_equal(sqltree_walk(&nodes[LEVELS / 2 + 10].base, &visitor), SQLTREE_DONE);
    assert_int_equal(seen.relations.n, 1);
    strvec_free(&seen.relations);
    free(exprs);
    free(nodes);
}

/* Parse errors: the parser's message and the byte offset it points at. */
static void test_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *sql, *message;
        int offset;
    } cases[] = {
        {"select a, from t", "syntax error at or near \"from\"", 10},
        {"select 'é', from t", "syntax error at or near \"from\"", 13},
        {"select 1 from t where", "syntax error at end of input", 21},
        {"select 'open", "unterminated quoted string at or near \"'open\"", 7},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        SqlTree tree;
        assert_int_equal(sqltree_parse(cases[i].sql, &tree), -1);
        assert_string_equal(tree.error, cases[i].message);
        assert_int_equal(tree.error_offset, cases[i].offset);
        assert_false(tree.too_deep);
        sqltree_free(&tree);
    }
    assert_int_equal(sqltree_cursor_offset("abc", 0), -1);
    assert_int_equal(sqltree_cursor_offset("éa", 2), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walk),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_parse_depth_limit),
        cmocka_unit_test(test_parse_long_chain),
        cmocka_unit_test(test_walk_depth_limit),
        cmocka_unit_test(test_parse_errors),
    };
    return cmocka_run_group_tests_name("sqltree", tests, NULL, NULL);
}
