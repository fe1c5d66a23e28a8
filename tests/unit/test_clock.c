/*
 * The clocks: wall time is epoch microseconds, monotonic time never goes back,
 * and a time converts to the timespec a timed wait takes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/clock.h"

static void test_clocks(void **state)
{
    (void)state;
    /* 2020-01-01 as a floor: a wall time in seconds or nanoseconds would miss it. */
    int64_t wall = clock_wall_us();
    assert_true(wall > INT64_C(1577836800) * CLOCK_US_PER_SECOND);
    assert_true(wall < INT64_C(4102444800) * CLOCK_US_PER_SECOND);
    int64_t a = clock_mono_us(), b = clock_mono_us();
    assert_true(a > 0);
    assert_true(b >= a);
}

static void test_timespec(void **state)
{
    (void)state;
    struct timespec ts = clock_timespec(INT64_C(3) * CLOCK_US_PER_SECOND + 250);
    assert_int_equal(ts.tv_sec, 3);
    assert_int_equal(ts.tv_nsec, 250000);
    ts = clock_timespec(-5); /* a deadline before the epoch of its clock: already passed */
    assert_int_equal(ts.tv_sec, 0);
    assert_int_equal(ts.tv_nsec, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_timespec),
    };
    return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}
