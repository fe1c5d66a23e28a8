/*
 * View configuration: the key=value grammar, value checks with file and line,
 * grant_select editing (=, +=, -=, the legacy "-a, +c" form, null) and
 * inheritance over global, schema and table files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/config.h"

/* Parses text as path and expects no problem. */
static ConfigFile parse_ok(const char *path, const char *text)
{
    ConfigFile f;
    DiagList d = {0};
    config_file_parse(path, text, &f, &d);
    for (size_t i = 0; i < d.n; i++)
        print_error("unexpected: %s:%d: %s\n", d.items[i].path, d.items[i].line,
                    d.items[i].message);
    assert_int_equal(d.n, 0);
    diag_free(&d);
    return f;
}

/* Parses text and expects exactly one problem, on line, containing text `want`. */
static void expect_problem(const char *text, int line, const char *want)
{
    ConfigFile f;
    DiagList d = {0};
    config_file_parse("x.conf", text, &f, &d);
    if (d.n != 1 || d.items[0].line != line || !strstr(d.items[0].message, want)) {
        print_error("for '%s' want line %d '%s', got %zu problems%s%s\n", text, line, want, d.n,
                    d.n ? ": " : "", d.n ? d.items[0].message : "");
        fail();
    }
    diag_free(&d);
    config_file_free(&f);
}

/* The effective grants after applying each text in order, as "a,b". */
static char *grants_after(const char *const *texts, size_t n)
{
    ViewConfig c;
    config_init(&c);
    for (size_t i = 0; i < n; i++) {
        ConfigFile f = parse_ok("x.conf", texts[i]);
        config_apply(&c, &f);
        config_file_free(&f);
    }
    char *out = strvec_join(&c.grant_select, ",");
    config_free(&c);
    return out;
}

#define assert_grants(want, ...)                                                                   \
    do {                                                                                           \
        const char *texts_[] = {__VA_ARGS__};                                                      \
        char *got_ = grants_after(texts_, sizeof(texts_) / sizeof(texts_[0]));                     \
        assert_string_equal(got_, want);                                                           \
        free(got_);                                                                                \
    } while (0)

static void test_grant_select_forms(void **state)
{
    (void)state;
    assert_grants("metabase", "grant_select=metabase");
    assert_grants("jane,john", "grant_select=metabase", "grant_select=jane, john");
    assert_grants("jane,metabase", "grant_select=metabase", "grant_select+=jane");
    assert_grants("", "grant_select=metabase", "grant_select-=metabase");
    /* the original tool read this as the key "grant_select-" */
    assert_grants("jane", "grant_select=metabase,jane", "grant_select-=metabase");
    assert_grants("jane", "grant_select=metabase, jane", "grant_select -= metabase");
    assert_grants("c", "grant_select=a", "grant_select=-a, +c");
    assert_grants("", "grant_select=a,b", "grant_select=null");
    assert_grants("", "grant_select=a,b", "grant_select=");
    assert_grants("a,b", "grant_select=a", "grant_select+=b", "grant_select+=a");
    assert_grants("jane", "grant_select=Jane");
    assert_grants("Jane", "grant_select=\"Jane\"");
    assert_grants("group analysts,jane", "grant_select=jane, GROUP Analysts");
    assert_grants("role reporting", "grant_select=role reporting");
    assert_grants("metabase-ro", "grant_select=metabase-ro");
    assert_grants("x", "grant_select-=nobody", "grant_select=x");
}

static void test_spec_example_inheritance(void **state)
{
    (void)state;
    /* global.conf, finances.conf, finances/simplified.conf of examples/views */
    assert_grants("metabase", "grant_select=metabase", "grant_select-=metabase",
                  "grant_select+=metabase");
    assert_grants("", "grant_select=metabase", "grant_select-=metabase");
    /* first/cities.conf replaces the global list */
    assert_grants("jane,john", "grant_select=metabase", "grant_select=jane, john");
}

static void test_five_places_override(void **state)
{
    (void)state;
    const char *files[5][2] = {
        {"global.conf", "timeout=2h\nstale_read=serve\ndiststyle=even\n"},
        {"first.conf", "timeout=3h\n"},
        {"first/first.conf", "timeout=4h\ndistkey=city\n"},
        {"first.cities.conf", "timeout=5h\n"},
        {"first/cities.conf", "sortkey=city, country\ndiststyle=null\n"},
    };
    ViewConfig c;
    config_init(&c);
    ConfigFile parsed[5];
    for (int i = 0; i < 5; i++) {
        parsed[i] = parse_ok(files[i][0], files[i][1]);
        config_apply(&c, &parsed[i]);
    }
    assert_int_equal(c.timeout, 5 * 3600);
    assert_int_equal(c.stale_read, STALE_READ_SERVE);
    assert_null(c.diststyle);
    assert_string_equal(c.distkey, "city");
    assert_string_equal(c.distkey_origin.path, "first/first.conf");
    assert_int_equal(c.distkey_origin.line, 2);
    assert_int_equal(c.sortkey.n, 2);
    assert_string_equal(c.sortkey.items[1], "country");
    assert_string_equal(c.sortkey_origin.path, "first/cities.conf");
    for (int i = 0; i < 5; i++)
        config_file_free(&parsed[i]);
    config_free(&c);
}

static void test_null_resets_to_default(void **state)
{
    (void)state;
    ConfigFile a = parse_ok("a.conf", "timeout=2h\nenabled=false\nstale_read=serve\n"
                                      "snapshots_interval=1d\nsortkey=a\n");
    ConfigFile b = parse_ok("b.conf", "timeout=null\nenabled=null\nstale_read=NULL\n"
                                      "snapshots_interval=null\nsortkey=null\n");
    ViewConfig c;
    config_init(&c);
    config_apply(&c, &a);
    assert_false(c.enabled);
    config_apply(&c, &b);
    assert_int_equal(c.timeout, CONFIG_DEFAULT_TIMEOUT);
    assert_true(c.enabled);
    assert_int_equal(c.stale_read, STALE_READ_WAIT);
    assert_int_equal(c.snapshots_interval, 0);
    assert_int_equal(c.sortkey.n, 0);
    assert_null(c.sortkey_origin.path);
    config_file_free(&a);
    config_file_free(&b);
    config_free(&c);
}

static void test_comments_and_spacing(void **state)
{
    (void)state;
    ConfigFile f = parse_ok("x.conf", "# grants\n\n   grant_select = jane   # analysts\r\n"
                                      "timeout=30m\n\tenabled = FALSE\n");
    assert_int_equal(f.n, 3);
    assert_int_equal(f.entries[0].line, 3);
    assert_string_equal(f.entries[0].value, "jane");
    assert_string_equal(f.entries[2].value, "false");
    config_file_free(&f);
}

static void test_problems_name_the_line(void **state)
{
    (void)state;
    expect_problem("timeout=1h\ncolour=blue\n", 2, "unknown key 'colour'");
    expect_problem("\n\ngrant_select\n", 3, "expected key=value");
    expect_problem("diststyle=random\n", 1, "invalid diststyle 'random'");
    expect_problem("timeout=10s\n", 1, "invalid interval '10s' for timeout");
    expect_problem("snapshots_interval=1.5h\n", 1, "invalid interval '1.5h'");
    expect_problem("snapshots_stored_for=0d\n", 1, "invalid interval '0d'");
    expect_problem("stale_read=maybe\n", 1, "invalid stale_read 'maybe'");
    expect_problem("enabled=perhaps\n", 1, "invalid enabled 'perhaps'");
    expect_problem("distkey=a, b\n", 1, "invalid distkey 'a, b'");
    expect_problem("sortkey=a,,b\n", 1, "empty item");
    expect_problem("timeout+=1h\n", 1, "'+=' only applies to grant_select");
    expect_problem("grant_select=a, -b\n", 1, "mixes plain names with +name/-name");
    expect_problem("grant_select+=-b\n", 1, "belong in 'grant_select=' only");
    expect_problem("grant_select+=null\n", 1, "null resets a key");
    expect_problem("grant_select=jane smith\n", 1, "'jane smith' is not a user");
    expect_problem("timeout=1h\ntimeout=2h\n", 2, "timeout is already set on line 1");
}

static void test_bad_line_skipped_rest_applies(void **state)
{
    (void)state;
    ConfigFile f;
    DiagList d = {0};
    config_file_parse("x.conf", "timeout=2h\nbogus=1\ngrant_select=jane\n", &f, &d);
    assert_int_equal(d.n, 1);
    assert_int_equal(f.n, 2);
    diag_free(&d);
    config_file_free(&f);
}

static void test_describe_is_canonical(void **state)
{
    (void)state;
    const char *orders[2] = {"grant_select=john, jane\n",
                             "grant_select=jane\ngrant_select+=john\n"};
    char *texts[2];
    for (int i = 0; i < 2; i++) {
        ViewConfig c;
        config_init(&c);
        ConfigFile f = parse_ok("x.conf", orders[i]);
        config_apply(&c, &f);
        texts[i] = config_describe(&c);
        config_file_free(&f);
        config_free(&c);
    }
    assert_string_equal(texts[0], texts[1]);
    assert_non_null(strstr(texts[0], "grant_select=jane,john\n"));
    assert_non_null(strstr(texts[0], "timeout=3600\n"));
    free(texts[0]);
    free(texts[1]);
}

/* The stale_read of a described config reads back as it was set; absent means wait. */
static void test_described_stale_read(void **state)
{
    (void)state;
    const char *cases[] = {"", "stale_read=serve\n", "stale_read=wait\n"};
    const StaleRead want[] = {STALE_READ_WAIT, STALE_READ_SERVE, STALE_READ_WAIT};
    for (size_t i = 0; i < 3; i++) {
        ViewConfig c;
        config_init(&c);
        ConfigFile f = parse_ok("x.conf", cases[i]);
        config_apply(&c, &f);
        char *text = config_describe(&c);
        assert_int_equal(config_described_stale_read(text), want[i]);
        free(text);
        config_file_free(&f);
        config_free(&c);
    }
    assert_int_equal(config_described_stale_read(""), STALE_READ_WAIT);
    assert_int_equal(config_described_stale_read("grant_select=x\nstale_read=serve"),
                     STALE_READ_SERVE);
}

/* alert_after: a duration (seconds too), inherited and reset like the others; described only
 * when set, so that a view without it keeps the definition hash it had. */
static void test_alert_after(void **state)
{
    (void)state;
    ViewConfig c;
    config_init(&c);
    char *plain = config_describe(&c);
    assert_null(strstr(plain, "alert_after"));
    assert_int_equal(config_described_alert_after(plain), 0);
    ConfigFile schema = parse_ok("x.conf", "alert_after = 2h\n");
    config_apply(&c, &schema);
    assert_int_equal(c.alert_after, 7200);
    ConfigFile table = parse_ok("x/t.conf", "alert_after=90s\n");
    config_apply(&c, &table);
    char *text = config_describe(&c);
    assert_int_equal(config_described_alert_after(text), 90);
    ConfigFile reset = parse_ok("x/u.conf", "alert_after=null\n");
    config_apply(&c, &reset);
    assert_int_equal(c.alert_after, 0);
    expect_problem("alert_after=soon\n", 1, "invalid duration 'soon' for alert_after");
    expect_problem("alert_after=0m\n", 1, "invalid duration");
    /* idle_after, inherited like the others; written out only when set, so that a view
     * without it keeps the definition hash it had before the key did anything. */
    char *without = config_describe(&c);
    assert_null(strstr(without, "idle_after"));
    assert_int_equal(config_described_idle_after(without), 0);
    ConfigFile idle = parse_ok("x/v.conf", "idle_after = 7d\n");
    config_apply(&c, &idle);
    assert_int_equal(c.idle_after, 7 * 86400);
    char *with_idle = config_describe(&c);
    assert_int_equal(config_described_idle_after(with_idle), 7 * 86400);
    assert_int_equal(config_described_alert_after(with_idle), 0);
    assert_int_equal(strncmp(with_idle, without, strlen(without)), 0);
    ConfigFile idle_off = parse_ok("x/w.conf", "idle_after = null\n");
    config_apply(&c, &idle_off);
    assert_int_equal(c.idle_after, 0);
    char *reset_idle = config_describe(&c);
    assert_string_equal(reset_idle, without);
    free(reset_idle);
    free(with_idle);
    free(without);
    config_file_free(&idle);
    config_file_free(&idle_off);
    expect_problem("idle_after=later\n", 1, "invalid duration 'later' for idle_after");
    free(plain);
    free(text);
    config_file_free(&schema);
    config_file_free(&table);
    config_file_free(&reset);
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grant_select_forms),
        cmocka_unit_test(test_spec_example_inheritance),
        cmocka_unit_test(test_five_places_override),
        cmocka_unit_test(test_null_resets_to_default),
        cmocka_unit_test(test_comments_and_spacing),
        cmocka_unit_test(test_problems_name_the_line),
        cmocka_unit_test(test_bad_line_skipped_rest_applies),
        cmocka_unit_test(test_describe_is_canonical),
        cmocka_unit_test(test_described_stale_read),
        cmocka_unit_test(test_alert_after),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
