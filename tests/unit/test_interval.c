/*
 * The interval grammar: a positive integer and m, h, d or w, nothing else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>

#include "catalog/interval.h"

static void test_valid(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t seconds;
    } cases[] = {{"30m", 1800},  {"24h", 86400}, {"7d", 604800}, {"1w", 604800},     {"1H", 3600},
                 {"2D", 172800}, {"90M", 5400},  {"01h", 3600},  {"520w", 314496000}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t s = 0;
        assert_int_equal(interval_parse(cases[i].text, &s), 0);
        assert_int_equal(s, cases[i].seconds);
    }
}

static void test_invalid(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "",    "h",   "1",   "1.5h", "10s", "0h",   "0m",
        "-1h", "1 h", "1hh", " 1h",  "1h ", "521w", "99999999999999999999h",
        "1y"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t s = 0;
        if (interval_parse(cases[i], &s) == 0) {
            print_error("'%s' was accepted\n", cases[i]);
            fail();
        }
    }
}

static void test_format(void **state)
{
    (void)state;
    char buf[32];
    interval_format(86400, buf, sizeof(buf));
    assert_string_equal(buf, "1d");
    interval_format(5400, buf, sizeof(buf));
    assert_string_equal(buf, "90m");
    interval_format(1209600, buf, sizeof(buf));
    assert_string_equal(buf, "2w");
    interval_format(3600 * 25, buf, sizeof(buf));
    assert_string_equal(buf, "25h");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests_name("interval", tests, NULL, NULL);
}
