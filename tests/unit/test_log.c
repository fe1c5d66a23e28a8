/*
 * The log writes one line per event: a message's control characters are escaped, its trailing
 * newline dropped, and a long message cut short rather than overflowing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_escape_bounded),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
