/*
 * Tests of web/escape.c: what the web UI writes from untrusted text (HTML, JSON, URLs), the
 * timestamps it reads from addresses, and its formats of times, durations and intervals. Table
 * driven. Not for: the pages themselves (tests/e2e/test_web.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "web/context.h"

typedef void (*Writer)(struct evbuffer *b, const char *s);

/* What writer makes of in, as a NUL-terminated string (the caller frees). */
static char *written(Writer writer, const char *in)
{
    struct evbuffer *b = evbuffer_new();
    writer(b, in);
    size_t len = evbuffer_get_length(b);
    char *out = xmalloc(len + 1);
    evbuffer_remove(b, out, len);
    out[len] = '\0';
    evbuffer_free(b);
    return out;
}

static const struct {
    Writer writer;
    const char *in, *want;
} writes[] = {
    {web_html, "first.cities", "first.cities"},
    {web_html, "<script>alert('x')</script>", "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"},
    {web_html, "a & \"b\"", "a &amp; &quot;b&quot;"},
    {web_html, "", ""},
    {web_json_str, "plain", "\"plain\""},
    {web_json_str, "q\"b\\n\nt\x01", "\"q\\\"b\\\\n\\nt\\u0001\""},
    {web_json_str, "</script>", "\"\\u003c/script\\u003e\""},
    {web_json_str, NULL, "null"},
    {web_url, "first.cities", "first.cities"},
    {web_url, "a b/c?d&e#\xc3\xa9", "a%20b%2Fc%3Fd%26e%23%C3%A9"},
};

static void test_writers(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        char *got = written(writes[i].writer, writes[i].in);
        assert_string_equal(got, writes[i].want);
        free(got);
    }
}

static const struct {
    const char *in;
    int rc;
    int64_t us;
} times[] = {
    {"2026-12-04T05:30:00Z", 0, 1796362200000000LL},
    {"2026-12-04T05:30Z", 0, 1796362200000000LL},
    {"2026-12-04T05:30:00", 0, 1796362200000000LL},
    {"2026-12-04", 0, 1796342400000000LL},
    {"2026-12-04 05:30:00Z", 0, 1796362200000000LL},
    {"1970-01-01T00:00:00Z", 0, 0},
    {"2026-13-01", -1, 0},
    {"2026-12-04T25:00", -1, 0},
    {"2026-12-04T05:30:00+02", -1, 0},
    {"yesterday", -1, 0},
    {"", -1, 0},
    {"2026-12-04T05", -1, 0},
};

static void test_parse_time(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        int64_t us = -1;
        int rc = web_parse_time(times[i].in, &us);
        assert_int_equal(rc, times[i].rc);
        if (rc == 0)
            assert_true(us == times[i].us);
    }
    char out[32];
    web_time(out, 1796362200000000LL);
    assert_string_equal(out, "2026-12-04T05:30:00Z");
    web_time(out, 0);
    assert_string_equal(out, "");
}

static void test_durations_and_intervals(void **state)
{
    (void)state;
    static const struct {
        int64_t us;
        const char *want;
    } durations[] = {
        {-1, "-"},
        {850000, "850 ms"},
        {12300000, "12.3 s"},
        {245000000, "4 min 5 s"},
        {7380000000LL, "2 h 3 min"},
    };
    char out[32];
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
        web_duration(out, durations[i].us);
        assert_string_equal(out, durations[i].want);
    }
    static const struct {
        int64_t s;
        const char *want;
    } intervals[] = {{0, ""},      {45, "45s"},   {5400, "90m"},
                     {3600, "1h"}, {86400, "1d"}, {90061, "90061s"}};
    for (size_t i = 0; i < sizeof intervals / sizeof intervals[0]; i++) {
        web_interval(out, intervals[i].s);
        assert_string_equal(out, intervals[i].want);
    }
}

static void test_view_state(void **state)
{
    (void)state;
    StoreView v = {.enabled = true, .built_hash = "h"};
    assert_int_equal(web_view_state(&v), WEB_STATE_OK);
    v.last_failed = true;
    assert_int_equal(web_view_state(&v), WEB_STATE_FAILED);
    v.running = true; /* a run in progress says more than the last one */
    assert_int_equal(web_view_state(&v), WEB_STATE_RUNNING);
    StoreView never = {.enabled = true};
    assert_int_equal(web_view_state(&never), WEB_STATE_NEVER);
    StoreView off = {.built_hash = "h"};
    assert_int_equal(web_view_state(&off), WEB_STATE_DISABLED);
    assert_string_equal(web_outcome_class("tests_failed"), "failed");
    assert_string_equal(web_outcome_class("nonsense"), "other");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writers),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_durations_and_intervals),
        cmocka_unit_test(test_view_state),
    };
    return cmocka_run_group_tests_name("web_escape", tests, NULL, NULL);
}
