/*
 * Tests of planner/idle: when a view is quiet (nothing read it for its idle_after), through the
 * views that read a dependency, and the state that follows (planner/staleness). Not for: the
 * catalog that records reads (test_reads.c) or the states without idle_after (test_staleness.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "planner/idle.h"

#define S    1000000LL /* microseconds per second */
#define HOUR (3600 * S)
#define T0   1700000000000000LL /* when every view entered the catalog */

#define NO_IDLE "grant_select=\nenabled=true\n"
#define IDLE_1H "grant_select=\nenabled=true\nidle_after=3600\n"
#define IDLE_3H "grant_select=\nenabled=true\nidle_after=10800\n"

/* A built view of the catalog (names must be given in sorted order). */
static StoreView view(const char *name, int64_t interval, const char *config, const char *deps)
{
    return (StoreView){
        .name = (char *)name,
        .interval = interval,
        .effective_interval = interval ? interval : 3600,
        .enabled = true,
        .config = (char *)config,
        .depends_on = (char *)deps,
        .hash = (char *)"h",
        .built_hash = (char *)"h",
        .first_seen_us = T0,
        .last_success_us = T0,
    };
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A view with its own interval: quiet once its idle clock (last read, else entering the
 * catalog) is idle_after old; never without idle_after. Builds do not restart the clock. */
static void test_own_interval(void **state)
{
    (void)state;
    StoreView v[] = {view("a.plain", 3600, NO_IDLE, ""), view("a.report", 3600, IDLE_1H, "")};
    v[1].last_success_us = T0 + 2 * HOUR; /* rebuilt since: the clock does not move */
    assert_false(idle_quiet(v, N(v), 1, T0 + HOUR - 1));
    assert_true(idle_quiet(v, N(v), 1, T0 + HOUR));
    assert_false(idle_quiet(v, N(v), 0, T0 + 100 * HOUR));
    v[1].last_read_us = T0 + 30 * 60 * S; /* a read restarts it */
    assert_false(idle_quiet(v, N(v), 1, T0 + HOUR));
    assert_true(idle_quiet(v, N(v), 1, T0 + 90 * 60 * S));
    v[1].enabled = false;
    assert_false(idle_quiet(v, N(v), 1, T0 + 100 * HOUR));
    assert_false(idle_quiet(v, N(v), 9, T0)); /* out of range */
}

/* A dependency without an interval of its own: quiet when every enabled view reading it is, and
 * its own reads are as old as its idle_after, or the longest of its readers'. */
static void test_dependency(void **state)
{
    (void)state;
    StoreView v[] = {
        view("a.base", 0, NO_IDLE, ""),
        view("a.other", 3600, NO_IDLE, "a.base"),
        view("a.report", 3600, IDLE_1H, "a.base"),
    };
    enum { BASE, OTHER, REPORT };
    int64_t now = T0 + 2 * HOUR;
    assert_true(idle_quiet(v, N(v), REPORT, now));
    /* a.other reads it and is not quiet: kept fresh for a.other. */
    assert_false(idle_quiet(v, N(v), BASE, now));
    v[OTHER].enabled = false; /* a disabled reader needs nothing */
    assert_true(idle_quiet(v, N(v), BASE, now));
    /* Its own read keeps it, for its reader's idle_after. */
    v[BASE].last_read_us = T0 + 90 * 60 * S;
    assert_false(idle_quiet(v, N(v), BASE, now));
    assert_true(idle_quiet(v, N(v), BASE, T0 + 150 * 60 * S));
    /* Its own idle_after wins over its reader's. */
    v[BASE].last_read_us = 0;
    v[BASE].config = (char *)IDLE_3H;
    assert_false(idle_quiet(v, N(v), BASE, now));
    assert_true(idle_quiet(v, N(v), BASE, T0 + 3 * HOUR));
    /* A read of its reader keeps both. */
    v[REPORT].last_read_us = T0 + 2 * HOUR + S;
    assert_false(idle_quiet(v, N(v), BASE, T0 + 3 * HOUR));
    /* Nothing reads it (all readers disabled): kept as it was. */
    v[REPORT].enabled = false;
    assert_false(idle_quiet(v, N(v), BASE, T0 + 100 * HOUR));
}

/* A dependency with an interval of its own is judged by its own reads; a chain of dependencies
 * follows its last reader; a dependency cycle is never quiet (and the walk ends). */
static void test_chains_and_cycles(void **state)
{
    (void)state;
    StoreView v[] = {
        view("a.base", 0, NO_IDLE, ""),      view("a.dim", 86400, NO_IDLE, ""),
        view("a.mid", 0, NO_IDLE, "a.base"), view("a.report", 3600, IDLE_1H, "a.dim,a.mid"),
        view("x.one", 0, NO_IDLE, "x.two"),  view("x.two", 0, NO_IDLE, "x.one"),
    };
    int64_t now = T0 + 2 * HOUR;
    assert_true(idle_quiet(v, N(v), 3, now));
    assert_true(idle_quiet(v, N(v), 2, now));  /* a.mid, read by a.report only */
    assert_true(idle_quiet(v, N(v), 0, now));  /* a.base, read by a.mid only */
    assert_false(idle_quiet(v, N(v), 1, now)); /* a.dim has its own interval, no idle_after */
    assert_false(idle_quiet(v, N(v), 4, now));
    assert_false(idle_quiet(v, N(v), 5, now));
    /* All at once says the same as one at a time. */
    bool *all = idle_quiet_all(v, N(v), now);
    for (size_t i = 0; i < N(v); i++)
        assert_true(all[i] == idle_quiet(v, N(v), i, now));
    free(all);
}

/* idle_staleness: quiet filled in, and the state, schedule and next refresh that follow. */
static void test_state(void **state)
{
    (void)state;
    StoreView v[] = {view("a.base", 0, NO_IDLE, ""), view("a.report", 3600, IDLE_1H, "a.base")};
    /* Quiet within its interval: fresh, its refresh still due at the end of the interval. */
    v[1].last_success_us = T0 + 90 * 60 * S;
    assert_true(idle_quiet(v, N(v), 1, T0 + 2 * HOUR));
    StalenessInput in = idle_staleness(v, N(v), 1, T0 + 2 * HOUR, NULL);
    assert_int_equal(staleness_state(&in), VIEW_STATE_FRESH);
    assert_true(staleness_scheduled(&in) == false);
    assert_true(staleness_next_refresh(&in) == T0 + 150 * 60 * S);
    /* The interval passed: idle, no scheduled refresh; a read would build it. */
    in = idle_staleness(v, N(v), 1, T0 + 3 * HOUR, NULL);
    assert_true(in.quiet);
    assert_int_equal(staleness_state(&in), VIEW_STATE_IDLE);
    assert_true(staleness_needs_refresh(&in));
    assert_false(staleness_scheduled(&in));
    assert_int_equal(staleness_next_refresh(&in), 0);
    in = idle_staleness(v, N(v), 0, T0 + 3 * HOUR, NULL);
    assert_int_equal(staleness_state(&in), VIEW_STATE_IDLE);
    bool all[] = {false, false}; /* what idle_quiet_all said is taken as it is */
    in = idle_staleness(v, N(v), 0, T0 + 3 * HOUR, all);
    assert_int_equal(staleness_state(&in), VIEW_STATE_STALE);
    /* Never built: built whatever its reads. */
    v[1].built_hash = NULL;
    in = idle_staleness(v, N(v), 1, T0 + 3 * HOUR, NULL);
    assert_int_equal(staleness_state(&in), VIEW_STATE_NEVER);
    assert_true(staleness_scheduled(&in));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_interval),
        cmocka_unit_test(test_dependency),
        cmocka_unit_test(test_chains_and_cycles),
        cmocka_unit_test(test_state),
    };
    return cmocka_run_group_tests_name("idle", tests, NULL, NULL);
}
