/*
 * planner/notify's pure parts: the rule that a view's failure is told at most
 * once per NOTIFY_REPEAT_US, the JSON body Slack takes, a webhook URL kept out
 * of error texts, and the step named in a pipeline error. Not for: posting or
 * the catalog (tests/e2e/test_notify.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "planner/notify.h"

#define S   1000000LL
#define NOW 1700000000000000LL

static void test_a_failure_is_told_at_most_every_ten_minutes(void **state)
{
    (void)state;
    assert_true(notify_failure_due(0, NOW));               /* never told */
    assert_false(notify_failure_due(NOW, NOW));            /* just told */
    assert_false(notify_failure_due(NOW - 599 * S, NOW));  /* 9 min 59 s ago */
    assert_true(notify_failure_due(NOW - 600 * S, NOW));   /* 10 min ago */
    assert_true(notify_failure_due(NOW - 86400 * S, NOW)); /* yesterday */
    assert_true(notify_failure_due(NOW + 3600 * S, NOW));  /* the clock went back */
}

static void test_json_body(void **state)
{
    (void)state;
    char *j = notify_json("a \"b\" c\\d\nline\ttab\x01");
    assert_string_equal(j, "{\"text\": \"a \\\"b\\\" c\\\\d\\nline\\u0009tab\\u0001\"}");
    free(j);
    j = notify_json("New views: x.v — ünïcode");
    assert_string_equal(j, "{\"text\": \"New views: x.v — ünïcode\"}");
    free(j);
}

static void test_the_webhook_url_is_redacted(void **state)
{
    (void)state;
    const char *url = "https://hooks.slack.com/services/T0/B0/sekrit";
    char *r = notify_redact("Failed to connect to https://hooks.slack.com/services/T0/B0/sekrit "
                            "(POST /services/T0/B0/sekrit)",
                            url);
    assert_string_equal(r, "Failed to connect to <webhook> (POST <webhook>)");
    free(r);
    r = notify_redact("Could not resolve host: hooks.slack.com", url);
    assert_string_equal(r, "Could not resolve host: hooks.slack.com");
    free(r);
}

static void test_the_step_of_an_error(void **state)
{
    (void)state;
    char step[32];
    assert_string_equal(notify_split_step("create_temp: division by zero", step, sizeof step),
                        "division by zero");
    assert_string_equal(step, "create_temp");
    assert_string_equal(notify_split_step("dependency x.y failed: boom", step, sizeof step),
                        "dependency x.y failed: boom");
    assert_string_equal(step, "");
    assert_string_equal(notify_split_step("no step here", step, sizeof step), "no step here");
    assert_string_equal(step, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_failure_is_told_at_most_every_ten_minutes),
        cmocka_unit_test(test_json_body),
        cmocka_unit_test(test_the_webhook_url_is_redacted),
        cmocka_unit_test(test_the_step_of_an_error),
    };
    return cmocka_run_group_tests_name("notify", tests, NULL, NULL);
}
