/*
 * Table-driven tests of planner/staleness: every branch of needs_refresh,
 * state and next_refresh, one row per situation. Not for: the catalog that
 * supplies these inputs (test_store.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "planner/staleness.h"

#define S     1000000LL /* microseconds per second */
#define HOUR  (3600 * S)
#define T0    1700000000000000LL /* when the last successful build finished */
#define NO_US 0

/* Distinct buffers with equal contents: the rules must compare text, not pointers. */
static const char h1[] = "1111111111111111111111111111111111111111111111111111111111111111";
static const char h1_copy[] = "1111111111111111111111111111111111111111111111111111111111111111";
static const char h2[] = "2222222222222222222222222222222222222222222222222222222222222222";

typedef struct Case {
    const char *name;
    StalenessInput in;
    bool needs_refresh;
    ViewState state;
    int64_t next_refresh;
} Case;

/* Input fields: enabled, refreshing, last_run_failed, hash, built_hash, last_success_us,
 * effective_interval (s), now_us, quiet (nothing reads it: planner/idle, test_idle.c). */
static const Case cases[] = {
    {"fresh: built, same definition, within the interval",
     {true, false, false, h1, h1_copy, T0, 3600, T0 + 1 * S},
     false,
     VIEW_STATE_FRESH,
     T0 + HOUR},
    {"fresh: one microsecond before the interval ends",
     {true, false, false, h1, h1_copy, T0, 3600, T0 + HOUR - 1},
     false,
     VIEW_STATE_FRESH,
     T0 + HOUR},
    {"stale: exactly at the interval boundary",
     {true, false, false, h1, h1_copy, T0, 3600, T0 + HOUR},
     true,
     VIEW_STATE_STALE,
     T0 + HOUR},
    {"stale: interval elapsed",
     {true, false, false, h1, h1_copy, T0, 3600, T0 + 5 * HOUR},
     true,
     VIEW_STATE_STALE,
     T0 + 5 * HOUR},
    {"stale: definition changed but built a second ago",
     {true, false, false, h2, h1, T0, 3600, T0 + 1 * S},
     true,
     VIEW_STATE_STALE,
     T0 + 1 * S},
    {"stale: definition changed, no interval",
     {true, false, false, h2, h1, T0, 0, T0 + 1 * S},
     true,
     VIEW_STATE_STALE,
     T0 + 1 * S},
    {"stale: current hash unknown counts as changed",
     {true, false, false, NULL, h1, T0, 3600, T0 + 1 * S},
     true,
     VIEW_STATE_STALE,
     T0 + 1 * S},
    {"fresh: no interval, same definition, built years ago",
     {true, false, false, h1, h1_copy, T0, 0, T0 + 3 * 365 * 24 * HOUR},
     false,
     VIEW_STATE_FRESH,
     0},
    {"fresh: weekly view six days after its build",
     {true, false, false, h1, h1_copy, T0, 7 * 24 * 3600, T0 + 6 * 24 * HOUR},
     false,
     VIEW_STATE_FRESH,
     T0 + 7 * 24 * HOUR},
    {"fresh: clock went back before the last build",
     {true, false, false, h1, h1_copy, T0, 3600, T0 - 10 * S},
     false,
     VIEW_STATE_FRESH,
     T0 + HOUR},
    {"fresh: an absurd interval does not overflow (treated as none)",
     {true, false, false, h1, h1_copy, T0, INT64_MAX, T0 + HOUR},
     false,
     VIEW_STATE_FRESH,
     0},
    {"never: never built",
     {true, false, false, h1, NULL, NO_US, 3600, T0},
     true,
     VIEW_STATE_NEVER,
     T0},
    {"never: never built, no interval",
     {true, false, false, h1, NULL, NO_US, 0, T0},
     true,
     VIEW_STATE_NEVER,
     T0},
    {"disabled: never built",
     {false, false, false, h1, NULL, NO_US, 3600, T0},
     false,
     VIEW_STATE_DISABLED,
     0},
    {"disabled: definition changed and overdue",
     {false, false, false, h2, h1, T0, 3600, T0 + 5 * HOUR},
     false,
     VIEW_STATE_DISABLED,
     0},
    {"disabled beats refreshing and failed",
     {false, true, true, h1, h1_copy, T0, 3600, T0 + 1 * S},
     false,
     VIEW_STATE_DISABLED,
     0},
    {"refreshing: a fresh view being rebuilt",
     {true, true, false, h1, h1_copy, T0, 3600, T0 + 1 * S},
     false,
     VIEW_STATE_REFRESHING,
     T0 + HOUR},
    {"refreshing beats stale (definition changed)",
     {true, true, false, h2, h1, T0, 3600, T0 + 1 * S},
     true,
     VIEW_STATE_REFRESHING,
     T0 + 1 * S},
    {"refreshing beats failed",
     {true, true, true, h1, h1_copy, T0, 3600, T0 + 5 * HOUR},
     true,
     VIEW_STATE_REFRESHING,
     T0 + 5 * HOUR},
    {"refreshing beats never",
     {true, true, false, h1, NULL, NO_US, 3600, T0},
     true,
     VIEW_STATE_REFRESHING,
     T0},
    {"failed beats fresh (an older build is still live)",
     {true, false, true, h1, h1_copy, T0, 3600, T0 + 1 * S},
     false,
     VIEW_STATE_FAILED,
     T0 + HOUR},
    {"failed beats stale",
     {true, false, true, h2, h1, T0, 3600, T0 + 5 * HOUR},
     true,
     VIEW_STATE_FAILED,
     T0 + 5 * HOUR},
    {"failed beats never",
     {true, false, true, h1, NULL, NO_US, 3600, T0},
     true,
     VIEW_STATE_FAILED,
     T0},
    /* idle: a refresh is due and withheld because nothing reads the view. */
    {"idle: quiet, and the interval has passed",
     {true, false, false, h1, h1_copy, T0, 3600, T0 + 5 * HOUR, true},
     true,
     VIEW_STATE_IDLE,
     0},
    {"idle: quiet, and the definition changed",
     {true, false, false, h2, h1, T0, 3600, T0 + 1 * S, true},
     true,
     VIEW_STATE_IDLE,
     0},
    {"fresh: quiet, but still within its interval",
     {true, false, false, h1, h1_copy, T0, 3600, T0 + 1 * S, true},
     false,
     VIEW_STATE_FRESH,
     T0 + HOUR},
    {"never beats idle: a quiet view is built once",
     {true, false, false, h1, NULL, NO_US, 3600, T0, true},
     true,
     VIEW_STATE_NEVER,
     T0},
    {"failed beats idle",
     {true, false, true, h1, h1_copy, T0, 3600, T0 + 5 * HOUR, true},
     true,
     VIEW_STATE_FAILED,
     0},
    {"refreshing beats idle (a read or CALL is building it)",
     {true, true, false, h1, h1_copy, T0, 3600, T0 + 5 * HOUR, true},
     true,
     VIEW_STATE_REFRESHING,
     0},
    {"disabled beats idle",
     {false, false, false, h1, h1_copy, T0, 3600, T0 + 5 * HOUR, true},
     false,
     VIEW_STATE_DISABLED,
     0},
};

static void test_table(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const Case *c = &cases[i];
        bool needs = staleness_needs_refresh(&c->in);
        ViewState st = staleness_state(&c->in);
        int64_t next = staleness_next_refresh(&c->in);
        if (needs != c->needs_refresh) {
            print_error("%s: needs_refresh %d, want %d\n", c->name, needs, c->needs_refresh);
            failures++;
        }
        if (st != c->state) {
            print_error("%s: state %s, want %s\n", c->name, view_state_name(st),
                        view_state_name(c->state));
            failures++;
        }
        if (next != c->next_refresh) {
            print_error("%s: next_refresh %lld, want %lld\n", c->name, (long long)next,
                        (long long)c->next_refresh);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/*
 * For an enabled view: due now exactly when the schedule refreshes it; otherwise later (or
 * never). The schedule refreshes what needs a refresh unless it is idle; idle needs a refresh.
 */
static void test_next_refresh_agrees_with_scheduled(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const StalenessInput *in = &cases[i].in;
        bool idle = staleness_idle(in);
        assert_true(staleness_scheduled(in) == (staleness_needs_refresh(in) && !idle));
        if (idle)
            assert_true(staleness_needs_refresh(in) && in->quiet && in->built_hash);
        if (!in->enabled)
            continue;
        int64_t next = staleness_next_refresh(in);
        if (staleness_scheduled(in))
            assert_true(next == in->now_us);
        else
            assert_true(next == 0 || next > in->now_us);
    }
}

/* Values at the ends of int64_t (a damaged catalog) give answers, never an overflow (UBSan). */
static void test_extreme_values(void **state)
{
    (void)state;
    static const int64_t times[] = {INT64_MIN, INT64_MIN + 1, -1, 0, 1, INT64_MAX - 1, INT64_MAX};
    static const int64_t intervals[] = {INT64_MIN, -1, 0, 1, 3600, INT64_MAX / 1000000, INT64_MAX};
    for (size_t a = 0; a < sizeof times / sizeof times[0]; a++)
        for (size_t b = 0; b < sizeof times / sizeof times[0]; b++)
            for (size_t k = 0; k < sizeof intervals / sizeof intervals[0]; k++) {
                StalenessInput in = {.enabled = true,
                                     .hash = "h",
                                     .built_hash = "h",
                                     .last_success_us = times[a],
                                     .effective_interval = intervals[k],
                                     .now_us = times[b]};
                bool needs = staleness_needs_refresh(&in);
                int64_t next = staleness_next_refresh(&in);
                assert_true(staleness_state(&in) == (needs ? VIEW_STATE_STALE : VIEW_STATE_FRESH));
                if (needs)
                    assert_true(next == in.now_us);
            }
    /* Built at the start of time with an hourly interval: long due, not in the far future. */
    StalenessInput old = {.enabled = true,
                          .hash = "h",
                          .built_hash = "h",
                          .last_success_us = INT64_MIN,
                          .effective_interval = 3600,
                          .now_us = T0};
    assert_true(staleness_needs_refresh(&old));
    old.last_success_us = INT64_MAX; /* "built" at the end of time: due then, saturated */
    assert_false(staleness_needs_refresh(&old));
    assert_true(staleness_next_refresh(&old) == INT64_MAX);
}

static void test_state_names(void **state)
{
    (void)state;
    static const struct {
        ViewState state;
        const char *name;
    } names[] = {
        {VIEW_STATE_FRESH, "fresh"},
        {VIEW_STATE_STALE, "stale"},
        {VIEW_STATE_REFRESHING, "refreshing"},
        {VIEW_STATE_FAILED, "failed"},
        {VIEW_STATE_NEVER, "never"},
        {VIEW_STATE_DISABLED, "disabled"},
        {VIEW_STATE_IDLE, "idle"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_string_equal(view_state_name(names[i].state), names[i].name);
    assert_string_equal(view_state_name((ViewState)99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_next_refresh_agrees_with_scheduled),
        cmocka_unit_test(test_extreme_values),
        cmocka_unit_test(test_state_names),
    };
    return cmocka_run_group_tests_name("staleness", tests, NULL, NULL);
}
