/*
 * Unit tests for planner/publish.c's pure parts: the batching rule (a publish only when something
 * changed, at most one every publish_every) and the timestamps written as INSERT parameters. The
 * thread and the warehouse are tested end to end by tests/e2e/test_publish.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "planner/publish.h"

#define S 1000000LL

static void test_due_only_on_change(void **state)
{
    (void)state;
    /* Nothing changed: never due, however long ago the last publish was. */
    assert_false(publish_due(42, 42, 0, 100 * S, 10 * S));
    assert_false(publish_due(42, 42, 1 * S, 3600 * S, 10 * S));
    /* A change: due at once the first time, then not before publish_every has passed. */
    assert_true(publish_due(0, 42, 0, 5 * S, 10 * S));
    assert_false(publish_due(41, 42, 100 * S, 109 * S, 10 * S));
    assert_true(publish_due(41, 42, 100 * S, 110 * S, 10 * S));
}

/* At most one transaction every publish_every, whatever the rate of changes: a change every
 * second for an hour gives 360 publishes with publish_every = 10 s. */
static void test_due_at_most_once_per_period(void **state)
{
    (void)state;
    int64_t last = 0;
    uint64_t published = 0;
    int commits = 0;
    for (int64_t t = 1; t <= 3600; t++) {
        uint64_t fp = (uint64_t)t; /* changes every second */
        if (publish_due(published, fp, last, t * S, 10 * S)) {
            published = fp;
            last = t * S;
            commits++;
        }
    }
    assert_int_equal(commits, 360);
}

static void test_format_time(void **state)
{
    (void)state;
    char buf[48];
    publish_format_time(0, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01 00:00:00.000000+00");
    publish_format_time(1764831323123456LL, buf, sizeof buf);
    assert_string_equal(buf, "2025-12-04 06:55:23.123456+00");
    publish_format_time(-1, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31 23:59:59.999999+00");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_due_only_on_change),
        cmocka_unit_test(test_due_at_most_once_per_period),
        cmocka_unit_test(test_format_time),
    };
    return cmocka_run_group_tests_name("publish", tests, NULL, NULL);
}
