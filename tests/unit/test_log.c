/*
 * The log writes one line per event: a message's control characters are escaped, its trailing
 * newline dropped, and a long message cut short rather than overflowing; text kept elsewhere (the
 * catalog's errors, the command line's report) is escaped the same way, newlines kept or not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/log.h"

static void test_escape(void **state)
{
    (void)state;
    char out[256];
    /* A user name that tries to start a log line of its own. */
    log_escape("user alice\n2026-12-03T00:00:00Z INFO refresh first.cities ok", out, sizeof(out));
    assert_string_equal(out, "user alice\\n2026-12-03T00:00:00Z INFO refresh first.cities ok");
    /* libpq's multi-line error, ending with a newline. */
    log_escape("ERROR:  division by zero\nDETAIL:  in view\n", out, sizeof(out));
    assert_string_equal(out, "ERROR:  division by zero\\nDETAIL:  in view");
    log_escape("a\rb\tc\x1b[31md\x7f", out, sizeof(out));
    assert_string_equal(out, "a\\rb\\tc\\x1b[31md\\x7f");
    log_escape("caf\xc3\xa9", out, sizeof(out)); /* UTF-8 passes as it is */
    assert_string_equal(out, "caf\xc3\xa9");
}

static void test_escape_bounded(void **state)
{
    (void)state;
    char out[8];
    assert_int_equal(log_escape("0123456789", out, sizeof(out)), 7);
    assert_string_equal(out, "0123456");
    /* An escape that does not fit whole is left out, never cut in half. */
    assert_int_equal(log_escape("012345\n", out, sizeof(out)), 6);
    assert_int_equal(log_escape("01234\x01", out, sizeof(out)), 5);
    assert_string_equal(out, "01234");
}

static void test_escape_dup(void **state)
{
    (void)state;
    /* A warehouse error quoting data a client wrote: a terminal escape and a carriage return. */
    const char *error = "invalid input syntax: \"\x1b[2J\rfirst.cities: ok\"\nDETAIL:  row 3\n";
    char *one = log_escape_dup(error, LOG_ESCAPE_ONE_LINE);
    assert_string_equal(one,
                        "invalid input syntax: \"\\x1b[2J\\rfirst.cities: ok\"\\nDETAIL:  row 3");
    free(one);
    char *kept = log_escape_dup(error, LOG_ESCAPE_KEEP_LINES);
    assert_string_equal(kept,
                        "invalid input syntax: \"\\x1b[2J\\rfirst.cities: ok\"\nDETAIL:  row 3");
    free(kept);
    /* Never cut short, whatever its length. */
    char long_in[5000];
    memset(long_in, '\x01', sizeof long_in - 1);
    long_in[sizeof long_in - 1] = '\0';
    char *all = log_escape_dup(long_in, LOG_ESCAPE_KEEP_LINES);
    assert_int_equal(strlen(all), 4 * (sizeof long_in - 1));
    free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_escape_bounded),
        cmocka_unit_test(test_escape_dup),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
