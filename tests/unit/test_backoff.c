/*
 * planner/backoff: the delay after each failure in a row, which triggers obey
 * it, a view held back by its own failure or by a stale dependency's (not by
 * a fresh one's), and the next refresh duro.status shows. Not for: how the
 * catalog counts failures (test_store.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "planner/backoff.h"

#define S    1000000LL
#define NOW  1700000000000000LL
#define POLL 30

static void test_delay_doubles_up_to_an_hour(void **state)
{
    (void)state;
    assert_true(backoff_retry_us(POLL, 1, NOW) == NOW + 30 * S);
    assert_true(backoff_retry_us(POLL, 2, NOW) == NOW + 60 * S);
    assert_true(backoff_retry_us(POLL, 3, NOW) == NOW + 120 * S);
    assert_true(backoff_retry_us(POLL, 7, NOW) == NOW + 1920 * S);
    assert_true(backoff_retry_us(POLL, 8, NOW) == NOW + BACKOFF_MAX_US);
    assert_true(backoff_retry_us(POLL, 1000000, NOW) == NOW + BACKOFF_MAX_US);
    assert_true(backoff_retry_us(7200, 1, NOW) == NOW + BACKOFF_MAX_US);
}

static void test_explicit_triggers_are_not_held(void **state)
{
    (void)state;
    assert_true(backoff_applies(RUN_TRIGGER_SCHEDULE));
    assert_true(backoff_applies(RUN_TRIGGER_READ));
    assert_true(backoff_applies(RUN_TRIGGER_DEPENDENCY));
    assert_false(backoff_applies(RUN_TRIGGER_CALL));
    assert_false(backoff_applies(RUN_TRIGGER_WEB));
}

/* A view of the catalog: built (fresh for an hour) or never built, with a next try or none. */
static StoreView view(char *name, char *depends_on, bool built, int64_t retry_us)
{
    return (StoreView){
        .name = name,
        .depends_on = depends_on,
        .enabled = true,
        .hash = "h",
        .built_hash = built ? "h" : NULL,
        .last_success_us = built ? NOW - 60 * S : 0,
        .effective_interval = 3600,
        .retry_us = retry_us,
    };
}

static void test_held_by_itself_or_a_stale_dependency(void **state)
{
    (void)state;
    /* a.x failed and backs off; b.y reads it (a.x never built: stale); c.z reads b.y. */
    StoreView views[] = {
        view("a.x", "", false, NOW + 30 * S), view("b.y", "a.x", false, 0),
        view("c.z", "b.y", false, 0), view("d.w", "", false, NOW - 1), /* its backoff is over */
    };
    size_t n = 4;
    BackoffHold h = backoff_check(views, n, 0, RUN_TRIGGER_READ, NOW);
    assert_ptr_equal(h.failed, &views[0]);
    assert_true(h.until_us == NOW + 30 * S);
    h = backoff_check(views, n, 2, RUN_TRIGGER_SCHEDULE, NOW);
    assert_ptr_equal(h.failed, &views[0]); /* through b.y */
    assert_true(h.until_us == NOW + 30 * S);
    assert_null(backoff_check(views, n, 2, RUN_TRIGGER_CALL, NOW).failed);
    assert_null(backoff_check(views, n, 0, RUN_TRIGGER_WEB, NOW).failed);
    assert_null(backoff_check(views, n, 3, RUN_TRIGGER_READ, NOW).failed);
    assert_null(backoff_check(views, n, 0, RUN_TRIGGER_READ, NOW + 30 * S).failed);
}

static void test_a_fresh_dependency_holds_nothing_back(void **state)
{
    (void)state;
    /* a.x is fresh, though a forced CALL of it failed: nothing rebuilds it, b.y may go. */
    StoreView views[] = {
        view("a.x", "", true, NOW + 30 * S),
        view("b.y", "a.x", false, 0),
    };
    assert_null(backoff_check(views, 2, 1, RUN_TRIGGER_READ, NOW).failed);
    /* Two dependencies held back: the later next try is the one that counts. */
    StoreView two[] = {
        view("a.x", "", false, NOW + 30 * S),
        view("a.y", "", false, NOW + 90 * S),
        view("b.z", "a.x,a.y", false, 0),
    };
    BackoffHold h = backoff_check(two, 3, 2, RUN_TRIGGER_READ, NOW);
    assert_ptr_equal(h.failed, &two[1]);
    assert_true(h.until_us == NOW + 90 * S);
}

static void test_next_refresh(void **state)
{
    (void)state;
    StoreView views[] = {
        view("a.x", "", false, NOW + 30 * S), view("b.y", "a.x", false, 0),
        view("c.z", "", true, 0),
        view("d.w", "", true, NOW + 7200 * S), /* fresh until NOW + 3540 s, held longer */
    };
    assert_true(backoff_next_refresh(views, 4, 0, NOW) == NOW + 30 * S);
    assert_true(backoff_next_refresh(views, 4, 1, NOW) == NOW + 30 * S);
    assert_true(backoff_next_refresh(views, 4, 2, NOW) == NOW + 3540 * S);
    assert_true(backoff_next_refresh(views, 4, 3, NOW) == NOW + 7200 * S);
    views[1].enabled = false;
    assert_true(backoff_next_refresh(views, 4, 1, NOW) == 0);
}

/* Cycles cannot reach the catalog, but the walk must end anyway. */
static void test_a_cycle_ends_the_walk(void **state)
{
    (void)state;
    StoreView views[] = {
        view("a.x", "a.y", false, 0),
        view("a.y", "a.x", false, NOW + 30 * S),
    };
    BackoffHold h = backoff_check(views, 2, 0, RUN_TRIGGER_READ, NOW);
    assert_ptr_equal(h.failed, &views[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delay_doubles_up_to_an_hour),
        cmocka_unit_test(test_explicit_triggers_are_not_held),
        cmocka_unit_test(test_held_by_itself_or_a_stale_dependency),
        cmocka_unit_test(test_a_fresh_dependency_holds_nothing_back),
        cmocka_unit_test(test_next_refresh),
        cmocka_unit_test(test_a_cycle_ends_the_walk),
    };
    return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
