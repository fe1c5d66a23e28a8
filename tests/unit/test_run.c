/*
 * Run outcomes and triggers: every enum value has its catalog word, and the
 * word parses back to it; anything else does not parse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "catalog/run.h"

static const struct {
    RunOutcome outcome;
    const char *name;
} outcomes[] = {
    {RUN_OK, "ok"},
    {RUN_FAILED, "failed"},
    {RUN_TESTS_FAILED, "tests_failed"},
    {RUN_CANCELLED, "cancelled"},
    {RUN_RUNNING, "running"},
};

static const struct {
    RunTrigger trigger;
    const char *name;
} triggers[] = {
    {RUN_TRIGGER_SCHEDULE, "schedule"},
    {RUN_TRIGGER_CALL, "call"},
    {RUN_TRIGGER_READ, "read"},
    {RUN_TRIGGER_WEB, "web"},
    {RUN_TRIGGER_DEPENDENCY, "dependency"},
};

static void test_outcomes(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(outcomes); i++) {
        RunOutcome o = RUN_RUNNING;
        assert_string_equal(run_outcome_name(outcomes[i].outcome), outcomes[i].name);
        assert_int_equal(run_outcome_parse(outcomes[i].name, &o), 0);
        assert_int_equal(o, outcomes[i].outcome);
    }
    RunOutcome o;
    assert_int_equal(run_outcome_parse("OK", &o), -1);
    assert_int_equal(run_outcome_parse("busy", &o), -1);
    assert_int_equal(run_outcome_parse("", &o), -1);
    assert_int_equal(run_outcome_parse(NULL, &o), -1);
    assert_string_equal(run_outcome_name((RunOutcome)99), "unknown");
}

static void test_triggers(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(triggers); i++) {
        RunTrigger t = RUN_TRIGGER_WEB;
        assert_string_equal(run_trigger_name(triggers[i].trigger), triggers[i].name);
        assert_int_equal(run_trigger_parse(triggers[i].name, &t), 0);
        assert_int_equal(t, triggers[i].trigger);
    }
    RunTrigger t;
    assert_int_equal(run_trigger_parse("cron", &t), -1);
    assert_int_equal(run_trigger_parse("Call", &t), -1);
    assert_int_equal(run_trigger_parse(NULL, &t), -1);
    assert_string_equal(run_trigger_name((RunTrigger)99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outcomes),
        cmocka_unit_test(test_triggers),
    };
    return cmocka_run_group_tests_name("run", tests, NULL, NULL);
}
