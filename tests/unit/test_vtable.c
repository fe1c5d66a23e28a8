/*
 * Unit tests for the SQL engine (sqlengine/): SELECTs over duro.status and duro.runs, driven by
 * vtable_cases.txt (queries, parameters, and the columns, types and text values PostgreSQL gives
 * over the same fixture, or the SQLSTATE expected), plus the API's edges: reloading, parameter
 * counts, client-given parameter types and the values' binary fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlengine/vtable.h"

/* 2026-11-22 00:00:00 UTC, and the fixture's clock: 07:00 that day. */
#define DAY0 INT64_C(1795305600000000)
#define H    INT64_C(3600000000)
#define MIN  INT64_C(60000000)
#define SEC  INT64_C(1000000)
#define NOW  (DAY0 + 7 * H)

static const VtStatusRow fixture_status[] = {
    {"first.cities", "1h", "1h", "fresh", DAY0 + 6 * H + 30 * MIN + 123456, 1.5,
     DAY0 + 7 * H + 30 * MIN + 123456, 120, "", NULL, "first/cities.sql", 42,
     DAY0 + 6 * H + 55 * MIN, "jane,john"},
    {"first.orders", NULL, "24h", "stale", DAY0 - 18 * H, 12.25, DAY0 + 6 * H, 5000, "first.cities",
     NULL, "first/orders.sql", 0, VT_NULL_TIME, NULL},
    {"second.daily", "30m", "30m", "failed", DAY0 + 5 * H, 0.5, DAY0 + 5 * H + 30 * MIN, 10,
     "first.orders,first.cities", "boom: 'quoted'", "second/daily.sql", 0, VT_NULL_TIME, NULL},
    {"second.never", NULL, "24h", "never", VT_NULL_TIME, NAN, VT_NULL_TIME, -1, "", NULL,
     "second/never.sql", 0, VT_NULL_TIME, NULL},
    {"third.big", "1w", "1w", "refreshing", DAY0 - 48 * H, 3600, DAY0 + 5 * 24 * H,
     INT64_C(9000000000), "", NULL, "third/big.sql", 0, VT_NULL_TIME, NULL},
    {"Odd.Name", NULL, "24h", "disabled", VT_NULL_TIME, NAN, VT_NULL_TIME, -1, NULL, NULL,
     "odd/name.sql", 0, VT_NULL_TIME, NULL},
};

static const VtRunRow fixture_runs[] = {
    {1, "first.cities", DAY0 - 19 * H, DAY0 - 19 * H + 1500000, "ok", 1.5, 100, "schedule", NULL},
    {2, "first.orders", DAY0 - 18 * H, DAY0 - 18 * H + 12250000, "ok", 12.25, 4900, "schedule",
     NULL},
    {3, "first.cities", DAY0 + 5 * H + 30 * MIN, DAY0 + 5 * H + 30 * MIN + SEC, "ok", 1.0, 110,
     "call", NULL},
    {4, "second.daily", DAY0 + 4 * H, DAY0 + 4 * H + 500000, "ok", 0.5, 10, "schedule", NULL},
    {5, "second.daily", DAY0 + 5 * H, DAY0 + 5 * H + 2 * SEC, "failed", 2.0, -1, "schedule",
     "boom"},
    {6, "first.cities", DAY0 + 6 * H + 30 * MIN + 123456, DAY0 + 6 * H + 30 * MIN + 1623456, "ok",
     1.5, 120, "read", NULL},
    {7, "third.big", DAY0 - 48 * H, DAY0 - 47 * H, "ok", 3600, INT64_C(9000000000), "dependency",
     NULL},
    {8, "third.big", DAY0 + 6 * H + 45 * MIN, VT_NULL_TIME, "running", NAN, -1, "call", NULL},
    {9, "first.orders", DAY0 + 6 * H + 50 * MIN, DAY0 + 6 * H + 50 * MIN + 3 * SEC, "tests_failed",
     3, -1, "web", "test x failed"},
    {10, "second.daily", DAY0 + 6 * H + 55 * MIN, DAY0 + 6 * H + 55 * MIN + 250000, "cancelled",
     0.25, -1, "call", NULL},
};

/* A database holding the fixture, with the clock at NOW. */
static VtDb *open_fixture(void)
{
    char *error = NULL;
    VtDb *db = vtable_open(&error);
    assert_non_null(db);
    assert_int_equal(vtable_load(db, fixture_status, ARRAY_LEN(fixture_status), fixture_runs,
                                 ARRAY_LEN(fixture_runs), &error),
                     0);
    vtable_set_clock(db, NOW);
    return db;
}

/* One case of vtable_cases.txt; the strings point into the file's text. */
typedef struct Case {
    const char *what, *sql;
    const char *params[8];
    size_t nparams;
    const char *error, *ptypes, *columns;
    const char *timezone; /* the session's TimeZone; NULL = UTC */
    StrVec rows;
} Case;

/* The value of a "key value" line (NUL-terminated in place), or NULL when the key differs. */
static char *line_value(char *line, const char *key)
{
    size_t n = strlen(key);
    return strncmp(line, key, n) == 0 && line[n] == ' ' ? line + n + 1 : NULL;
}

/* Parses the cases file (text is modified in place and must outlive the cases). */
static Case *parse_cases(char *text, size_t *n_out)
{
    Case *cases = NULL;
    size_t n = 0, cap = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *v;
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (strncmp(line, "== ", 3) == 0) {
            grow_array((void **)&cases, &cap, n + 1, sizeof(Case));
            memset(&cases[n], 0, sizeof(Case));
            cases[n++].what = line + 3;
            continue;
        }
        assert_true(n > 0);
        Case *c = &cases[n - 1];
        if ((v = line_value(line, "sql")) != NULL) {
            c->sql = v;
        } else if ((v = line_value(line, "param")) != NULL) {
            assert_true(c->nparams < ARRAY_LEN(c->params));
            c->params[c->nparams++] = strcmp(v, "\\N") == 0 ? NULL : v;
        } else if ((v = line_value(line, "error")) != NULL) {
            c->error = v;
        } else if ((v = line_value(line, "timezone")) != NULL) {
            c->timezone = v;
        } else if ((v = line_value(line, "ptypes")) != NULL) {
            c->ptypes = v;
        } else if ((v = line_value(line, "columns")) != NULL) {
            c->columns = v;
        } else if ((v = line_value(line, "row")) != NULL) {
            strvec_push(&c->rows, v);
        } else if (strcmp(line, "row") == 0) {
            strvec_push(&c->rows, ""); /* one empty-text column */
        } else {
            fail_msg("bad line in vtable_cases.txt: %s", line);
        }
    }
    *n_out = n;
    return cases;
}

/* Runs one case; prints what differs and returns false on a mismatch. */
static bool check_case(VtDb *db, const Case *c)
{
    VtError err;
    VtValue *rows = NULL;
    size_t nrows = 0;
    bool ok = true;
    if (vtable_set_timezone(db, c->timezone) != 0) {
        print_error("case \"%s\": unknown time zone %s\n", c->what, c->timezone);
        return false;
    }
    VtStatement *st = vtable_prepare(db, c->sql, NULL, 0, &err);
    if (st != NULL && vtable_execute(st, c->params, c->nparams, &rows, &nrows, &err) != 0)
        rows = NULL, nrows = 0, ok = false;
    else if (st != NULL)
        ok = true;
    bool failed = st == NULL || !ok;
    if (c->error != NULL || failed) {
        bool match = failed && c->error != NULL && strcmp(err.sqlstate, c->error) == 0 &&
                     err.message[0] != '\0';
        if (!match)
            print_error("case \"%s\": expected %s, got %s %s\n", c->what,
                        c->error ? c->error : "rows", failed ? err.sqlstate : "rows",
                        failed ? err.message : "");
        vtable_statement_free(st);
        return match;
    }
    size_t ncols = vtable_ncolumns(st);
    StrVec parts = {0};
    for (size_t i = 0; i < vtable_nparams(st); i++)
        strvec_push_owned(&parts, xasprintf("%u", vtable_param_type(st, i)));
    char *ptypes = strvec_join(&parts, ",");
    strvec_clear(&parts);
    for (size_t i = 0; i < ncols; i++) {
        const VtColumn *col = vtable_column(st, i);
        strvec_push_owned(&parts, xasprintf("%s:%u", col->name, col->type_oid));
    }
    char *columns = strvec_join(&parts, ",");
    strvec_clear(&parts);
    ok = strcmp(ptypes, c->ptypes ? c->ptypes : "") == 0 && strcmp(columns, c->columns) == 0;
    if (!ok)
        print_error("case \"%s\": ptypes %s columns %s\n", c->what, ptypes, columns);
    for (size_t r = 0; r < nrows; r++) {
        for (size_t i = 0; i < ncols; i++) {
            const VtValue *v = &rows[r * ncols + i];
            strvec_push(&parts, v->null ? "\\N" : v->text);
        }
        char *line = strvec_join(&parts, "|");
        strvec_clear(&parts);
        if (r >= c->rows.n || strcmp(line, c->rows.items[r]) != 0) {
            print_error("case \"%s\": row %zu is \"%s\", expected \"%s\"\n", c->what, r, line,
                        r < c->rows.n ? c->rows.items[r] : "(none)");
            ok = false;
        }
        free(line);
    }
    if (nrows < c->rows.n) {
        print_error("case \"%s\": %zu rows, expected %zu\n", c->what, nrows, c->rows.n);
        ok = false;
    }
    strvec_free(&parts);
    free(ptypes);
    free(columns);
    vtable_rows_free(rows, nrows, ncols);
    vtable_statement_free(st);
    return ok;
}

static void test_cases(void **state)
{
    (void)state;
    char *text = read_file("vtable_cases.txt", NULL);
    assert_non_null(text);
    size_t n = 0;
    Case *cases = parse_cases(text, &n);
    assert_true(n > 100);
    VtDb *db = open_fixture();
    int failures = 0;
    for (size_t i = 0; i < n; i++)
        if (!check_case(db, &cases[i]))
            failures++;
    vtable_close(db);
    for (size_t i = 0; i < n; i++)
        strvec_free(&cases[i].rows);
    free(cases);
    free(text);
    if (failures > 0)
        print_error("%d of %zu cases failed\n", failures, n);
    assert_int_equal(failures, 0);
}

/* Prepares sql on db, failing the test with the error when it does not translate. */
static VtStatement *must_prepare(VtDb *db, const char *sql, const uint32_t *types, size_t ntypes)
{
    VtError err;
    VtStatement *st = vtable_prepare(db, sql, types, ntypes, &err);
    if (st == NULL)
        fail_msg("%s: %s %s", sql, err.sqlstate, err.message);
    return st;
}

static void test_values_and_reload(void **state)
{
    (void)state;
    VtDb *db = open_fixture();
    VtStatement *st =
        must_prepare(db,
                     "select id, started, duration_s, rows > 100 as big, finished from duro.runs "
                     "where id = $1",
                     NULL, 0);
    const char *params[] = {"6"};
    VtValue *rows;
    size_t nrows;
    VtError err;
    assert_int_equal(vtable_execute(st, params, 1, &rows, &nrows, &err), 0);
    assert_int_equal(nrows, 1);
    assert_int_equal(rows[0].i, 6);
    assert_int_equal(rows[1].i, DAY0 + 6 * H + 30 * MIN + 123456);
    assert_true(rows[2].f == 1.5);
    assert_int_equal(rows[3].i, 1);
    assert_string_equal(rows[3].text, "t");
    assert_int_equal(rows[4].i, DAY0 + 6 * H + 30 * MIN + 1623456);
    assert_int_equal(vtable_column(st, 3)->type_len, 1);
    assert_int_equal(vtable_column(st, 1)->type_len, 8);
    vtable_rows_free(rows, nrows, vtable_ncolumns(st));

    /* Reloading replaces the rows; the statement stays usable. */
    char *error = NULL;
    VtRunRow one = {6, "x.y", 0, VT_NULL_TIME, "running", NAN, -1, "call", NULL};
    assert_int_equal(vtable_load(db, NULL, 0, &one, 1, &error), 0);
    assert_int_equal(vtable_execute(st, params, 1, &rows, &nrows, &err), 0);
    assert_int_equal(nrows, 1);
    assert_string_equal(rows[1].text, "1970-01-01 00:00:00+00");
    assert_true(rows[2].null);
    assert_true(rows[3].null);
    assert_true(rows[4].null);
    vtable_rows_free(rows, nrows, vtable_ncolumns(st));

    /* Wrong parameter count. */
    assert_int_equal(vtable_execute(st, NULL, 0, &rows, &nrows, &err), -1);
    assert_string_equal(err.sqlstate, "08P01");
    vtable_statement_free(st);
    vtable_close(db);
}

static void test_client_param_types(void **state)
{
    (void)state;
    VtDb *db = open_fixture();
    /* varchar for a text column, int4 for an int8 one, a declared but unused third */
    const uint32_t types[] = {1043, 23, 0};
    VtStatement *st = must_prepare(
        db, "select id from duro.runs where view = $1 and id > $2 order by id", types, 3);
    assert_int_equal(vtable_nparams(st), 3);
    assert_int_equal(vtable_param_type(st, 0), 1043);
    assert_int_equal(vtable_param_type(st, 1), 23);
    assert_int_equal(vtable_param_type(st, 2), 25);
    const char *params[] = {"first.cities", "3", "unused"};
    VtValue *rows;
    size_t nrows;
    VtError err;
    assert_int_equal(vtable_execute(st, params, 3, &rows, &nrows, &err), 0);
    assert_int_equal(nrows, 1);
    assert_string_equal(rows[0].text, "6");
    vtable_rows_free(rows, nrows, 1);
    const char *bad[] = {"first.cities", "99999999999", NULL};
    assert_int_equal(vtable_execute(st, bad, 3, &rows, &nrows, &err), -1);
    assert_string_equal(err.sqlstate, "22003");
    vtable_statement_free(st);

    /* A parameter declared text compared with a timestamp: no such operator, as in PostgreSQL */
    const uint32_t text_type[] = {25};
    assert_null(
        vtable_prepare(db, "select id from duro.runs where started > $1", text_type, 1, &err));
    assert_string_equal(err.sqlstate, "42883");
    vtable_close(db);
}

static int64_t fake_clock_us;
static int64_t fake_now(void)
{
    return fake_clock_us += 1000; /* a millisecond passes at each look */
}

/* A cross join that never ends in time, a cancel flag and a result bound stop an execution with
 * PostgreSQL's errors, and the same statement runs again afterwards. */
static void test_limits(void **state)
{
    (void)state;
    VtDb *db = open_fixture();
    VtError err;
    VtStatement *st = vtable_prepare(
        db,
        "select count(*) from duro.runs a, duro.runs b, duro.runs c, duro.runs d, duro.runs e, "
        "duro.runs f, duro.runs g, duro.runs h",
        NULL, 0, &err);
    assert_non_null(st);
    VtValue *rows = NULL;
    size_t nrows = 0;
    VtStop why;
    fake_clock_us = 0;
    VtLimits timeout = {.deadline_us = 50 * 1000, .now_us = fake_now};
    assert_int_equal(vtable_execute_limited(st, NULL, 0, &timeout, &rows, &nrows, &err, &why), -1);
    assert_int_equal(why, VT_STOP_TIMEOUT);
    assert_string_equal(err.sqlstate, "57014");
    assert_string_equal(err.message, "canceling statement due to statement timeout");

    atomic_bool cancel = true;
    VtLimits cancelled = {.cancel = &cancel};
    assert_int_equal(vtable_execute_limited(st, NULL, 0, &cancelled, &rows, &nrows, &err, &why),
                     -1);
    assert_int_equal(why, VT_STOP_CANCEL);
    assert_string_equal(err.message, "canceling statement due to user request");
    vtable_statement_free(st);

    st = vtable_prepare(db, "select a.error, b.view from duro.runs a, duro.runs b", NULL, 0, &err);
    assert_non_null(st);
    VtLimits small = {.max_bytes = 1000};
    assert_int_equal(vtable_execute_limited(st, NULL, 0, &small, &rows, &nrows, &err, &why), -1);
    assert_int_equal(why, VT_STOP_SIZE);
    assert_string_equal(err.sqlstate, "54000");
    VtLimits big = {.max_bytes = 1 << 20};
    assert_int_equal(vtable_execute_limited(st, NULL, 0, &big, &rows, &nrows, &err, &why), 0);
    assert_int_equal(nrows, 100);
    vtable_rows_free(rows, nrows, 2);

    /* A copy on another database runs there with that database's rows. */
    char *error = NULL;
    VtDb *other = vtable_open(&error);
    assert_non_null(other);
    VtStatement *copy = vtable_statement_copy(other, st, &err);
    assert_non_null(copy);
    assert_int_equal(vtable_ncolumns(copy), 2);
    assert_int_equal(vtable_execute(copy, NULL, 0, &rows, &nrows, &err), 0);
    assert_int_equal(nrows, 0);
    vtable_statement_free(copy);
    vtable_statement_free(st);
    vtable_close(other);
    vtable_close(db);
}

static void test_unsupported_messages(void **state)
{
    (void)state;
    VtDb *db = open_fixture();
    VtError err;
    assert_null(vtable_prepare(db, "select view, rank() over () from duro.status", NULL, 0, &err));
    assert_string_equal(err.sqlstate, "0A000");
    assert_string_equal(err.message, "duro.status: window functions are not supported");
    assert_null(
        vtable_prepare(db, "select * from duro.runs r where r.id in (select 1)", NULL, 0, &err));
    assert_string_equal(err.message, "duro.runs: subqueries are not supported");
    assert_null(vtable_prepare(db, "select nope from duro.runs", NULL, 0, &err));
    assert_string_equal(err.sqlstate, "42703");
    assert_string_equal(err.message, "column \"nope\" does not exist");
    vtable_close(db);
}

/* Which view's runs a statement can read, so only those need loading: a view = literal or text
 * parameter its WHERE requires, duro.runs its only table; else any (NULL). */
static void test_runs_view(void **state)
{
    (void)state;
    VtDb *db = open_fixture();
    VtError err;
    static const struct {
        const char *sql;
        const char *want; /* with $1 = 'p.q' */
    } cases[] = {
        {"select * from duro.runs where view = 'a.b'", "a.b"},
        {"select * from duro.runs r where 'a.b' = r.view and id > 3 order by id desc limit 2",
         "a.b"},
        {"select * from duro.runs where view = $1 order by id desc limit 20", "p.q"},
        {"select * from duro.runs where outcome = 'ok' and (view = $1 and id > 0)", "p.q"},
        {"select * from duro.runs where view = 'a.b' or view = 'c.d'", NULL},
        {"select * from duro.runs where view <> 'a.b'", NULL},
        {"select * from duro.runs where upper(view) = 'A.B'", NULL},
        {"select * from duro.runs where not (view = 'a.b')", NULL},
        {"select * from duro.runs", NULL},
        {"select * from duro.status where view = 'a.b'", NULL},
        {"select * from duro.runs a, duro.runs b where a.view = 'a.b'", NULL},
        {"select * from duro.runs a join duro.status s on s.view = a.view where a.view = 'x.y'",
         NULL},
    };
    const char *params[] = {"p.q"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        VtStatement *st = vtable_prepare(db, cases[i].sql, NULL, 0, &err);
        if (st == NULL)
            fail_msg("%s: %s", cases[i].sql, err.message);
        const char *got = vtable_runs_view(st, params, vtable_nparams(st));
        if (cases[i].want == NULL ? got != NULL : got == NULL || strcmp(got, cases[i].want) != 0)
            fail_msg("%s: got %s", cases[i].sql, got ? got : "NULL");
        /* A copy for another database says the same. */
        VtStatement *copy = vtable_statement_copy(db, st, &err);
        assert_non_null(copy);
        const char *again = vtable_runs_view(copy, params, vtable_nparams(copy));
        assert_true(again == got || (again && got && strcmp(again, got) == 0));
        vtable_statement_free(copy);
        vtable_statement_free(st);
    }
    /* A NULL parameter says nothing: every run is loaded, and view = NULL finds none. */
    VtStatement *st = vtable_prepare(db, "select * from duro.runs where view = $1", NULL, 0, &err);
    const char *null_param[] = {NULL};
    assert_null(vtable_runs_view(st, null_param, 1));
    vtable_statement_free(st);
    /* Only the runs of duro.runs: a statement on duro.status alone reads no runs. */
    st = vtable_prepare(db, "select count(*) from duro.status", NULL, 0, &err);
    assert_false(vtable_reads(st, VT_TABLE_RUNS));
    assert_true(vtable_reads(st, VT_TABLE_STATUS));
    vtable_statement_free(st);
    vtable_close(db);
}

/* The text of every value of a result, one line per row, for comparing two results. */
static char *result_text(VtStatement *st, const char *const *params, size_t nparams)
{
    VtValue *rows = NULL;
    size_t nrows = 0, ncols = vtable_ncolumns(st);
    VtError err;
    if (vtable_execute(st, params, nparams, &rows, &nrows, &err) != 0)
        fail_msg("%s", err.message);
    StrVec lines = {0};
    for (size_t r = 0; r < nrows; r++) {
        StrVec cells = {0};
        for (size_t c = 0; c < ncols; c++)
            strvec_push(&cells, rows[r * ncols + c].null ? "NULL" : rows[r * ncols + c].text);
        strvec_push_owned(&lines, strvec_join(&cells, "|"));
        strvec_free(&cells);
    }
    char *text = strvec_join(&lines, "\n");
    strvec_free(&lines);
    vtable_rows_free(rows, nrows, ncols);
    return text;
}

/* duro.leader: its one row as loaded, typed, replaced by a reload, and read by itself. */
static void test_leader(void **state)
{
    (void)state;
    VtDb *db = open_fixture();
    VtStatement *st = must_prepare(
        db, "select instance, host, generation, since, this_instance from duro.leader", NULL, 0);
    assert_int_equal(vtable_column(st, 2)->type_oid, VT_OID_INT8);
    assert_int_equal(vtable_column(st, 3)->type_oid, VT_OID_TIMESTAMPTZ);
    assert_int_equal(vtable_column(st, 4)->type_oid, VT_OID_BOOL);
    assert_true(vtable_reads(st, VT_TABLE_LEADER));
    assert_false(vtable_reads(st, VT_TABLE_STATUS));
    char *text = result_text(st, NULL, 0);
    assert_string_equal(text, ""); /* nothing loaded: no leader */
    free(text);
    char *error = NULL;
    VtLeaderRow row = {"a1b2", "db-1:4242", 7, DAY0 + H, true};
    assert_int_equal(vtable_load_leader(db, &row, 1, &error), 0);
    text = result_text(st, NULL, 0);
    assert_string_equal(text, "a1b2|db-1:4242|7|2026-11-22 01:00:00+00|t");
    free(text);
    row = (VtLeaderRow){"c3d4", "db-2:17", 8, VT_NULL_TIME, false};
    assert_int_equal(vtable_load_leader(db, &row, 1, &error), 0);
    text = result_text(st, NULL, 0);
    assert_string_equal(text, "c3d4|db-2:17|8|NULL|f");
    free(text);
    vtable_statement_free(st);
    /* Loading the other tables leaves it be. */
    assert_int_equal(vtable_load(db, NULL, 0, NULL, 0, &error), 0);
    st = must_prepare(db, "select count(*) from duro.leader where not this_instance", NULL, 0);
    text = result_text(st, NULL, 0);
    assert_string_equal(text, "1");
    free(text);
    vtable_statement_free(st);
    vtable_close(db);
}

/*
 * How many of the newest runs a statement can read (ORDER BY id DESC with a LIMIT, duro.runs
 * alone, no condition but view = ...), so only those need loading; and that loading only those
 * gives the same rows as loading every run.
 */
static void test_runs_newest(void **state)
{
    (void)state;
    VtDb *db = open_fixture();
    VtError err;
    static const struct {
        const char *sql;
        int want; /* with $1 = '2', $2 = '1' (or $1 = 'second.daily', $2 = '2'); -1: any run */
    } cases[] = {
        {"select * from duro.runs order by id desc limit 3", 3},
        {"select * from duro.runs order by id desc limit 3 offset 2", 5},
        {"select id, view from duro.runs order by runs.id desc, started limit $1", 2},
        {"select * from duro.runs order by id desc limit $1 offset $2", 3},
        {"select * from duro.runs where view = 'second.daily' order by id desc limit 2", 2},
        {"select * from duro.runs r where r.view = $1 order by r.id desc limit $2", 2},
        {"select * from duro.runs order by id desc fetch first 4 rows only", 4},
        {"select * from duro.runs order by id desc limit 0", 0},
        {"select * from duro.runs order by id limit 3", -1},
        {"select * from duro.runs order by started desc limit 3", -1},
        {"select * from duro.runs order by id desc", -1},
        {"select * from duro.runs order by id desc limit all", -1},
        {"select * from duro.runs where outcome = 'ok' order by id desc limit 3", -1},
        {"select * from duro.runs where view = 'first.cities' and id < 6 order by id desc limit 1",
         -1},
        {"select distinct view from duro.runs order by id desc limit 3", -1},
        {"select view, count(*) from duro.runs group by view, id order by id desc limit 3", -1},
        {"select started as id from duro.runs order by id desc limit 3", -1},
        {"select view as id, id as n from duro.runs order by id desc limit 3", -1},
        {"select id::text from duro.runs order by id desc limit 3", -1},
        {"select * from duro.runs order by id desc limit 3 + 1", -1},
        {"select * from duro.runs, duro.status order by id desc limit 3", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        VtStatement *st = vtable_prepare(db, cases[i].sql, NULL, 0, &err);
        if (st == NULL)
            fail_msg("%s: %s", cases[i].sql, err.message);
        bool by_view = strstr(cases[i].sql, "r.view = $1") != NULL;
        const char *params[] = {by_view ? "second.daily" : "2", by_view ? "2" : "1"};
        size_t np = vtable_nparams(st), count = 99;
        bool bounded = vtable_runs_newest(st, params, np, &count);
        if (bounded != (cases[i].want >= 0) || (bounded && count != (size_t)cases[i].want))
            fail_msg("%s: got %s %zu", cases[i].sql, bounded ? "bounded" : "any", count);
        VtStatement *copy = vtable_statement_copy(db, st, &err);
        size_t again = 99;
        assert_int_equal(vtable_runs_newest(copy, params, np, &again), bounded);
        assert_int_equal(again, count);
        vtable_statement_free(copy);
        if (bounded) {
            /* The same rows from only the newest count runs of the view asked for. */
            char *all = result_text(st, params, np);
            const char *view = vtable_runs_view(st, params, np);
            VtRunRow kept[ARRAY_LEN(fixture_runs)];
            size_t nk = 0;
            for (size_t r = ARRAY_LEN(fixture_runs); r-- > 0 && nk < count;)
                if (!view || strcmp(fixture_runs[r].view, view) == 0)
                    kept[nk++] = fixture_runs[r];
            char *error = NULL;
            assert_int_equal(
                vtable_load(db, fixture_status, ARRAY_LEN(fixture_status), kept, nk, &error), 0);
            char *some = result_text(st, params, np);
            if (strcmp(all, some) != 0)
                fail_msg("%s: every run gives\n%s\nthe newest %zu give\n%s", cases[i].sql, all,
                         count, some);
            free(all);
            free(some);
            assert_int_equal(vtable_load(db, fixture_status, ARRAY_LEN(fixture_status),
                                         fixture_runs, ARRAY_LEN(fixture_runs), &error),
                             0);
        }
        vtable_statement_free(st);
    }
    /* A NULL or negative parameter bounds nothing. */
    VtStatement *st =
        vtable_prepare(db, "select * from duro.runs order by id desc limit $1", NULL, 0, &err);
    const char *null_param[] = {NULL}, *negative[] = {"-1"};
    size_t count;
    assert_false(vtable_runs_newest(st, null_param, 1, &count));
    assert_false(vtable_runs_newest(st, negative, 1, &count));
    vtable_statement_free(st);
    vtable_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_values_and_reload),
        cmocka_unit_test(test_client_param_types),
        cmocka_unit_test(test_unsupported_messages),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_runs_view),
        cmocka_unit_test(test_runs_newest),
        cmocka_unit_test(test_leader),
    };
    return cmocka_run_group_tests_name("vtable", tests, NULL, NULL);
}
