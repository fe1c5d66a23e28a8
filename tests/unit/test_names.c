/*
 * SQL names: folding and the identifier limit, quoting, schema.table read and written, and the
 * default schema.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/names.h"

static void test_ident(void **state)
{
    (void)state;
    static const char long_ascii[] =
        "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijABCDE";
    static const struct {
        const char *text;
        const char *name;
    } cases[] = {
        {"cities", "cities"},
        {"Cities", "cities"},
        {"\"Cities\"", "Cities"},
        {"\"a\"\"b\"", "a\"b"},
        {"\"\"", ""},
        {"\"with space\"", "with space"},
        {"ÉTÉ", "ÉtÉ"}, /* only ASCII letters fold, as PostgreSQL does for UTF-8 */
        {long_ascii, "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *name = names_ident(cases[i].text, strlen(cases[i].text));
        assert_string_equal(name, cases[i].name);
        assert_true(strlen(name) <= NAMES_MAX_IDENT);
        free(name);
    }
}

static void test_ident_keeps_utf8_whole(void **state)
{
    (void)state;
    char text[80];
    memset(text, 'a', 62);
    memcpy(text + 62, "é", 2); /* bytes 62 and 63: the cut at 63 would split it */
    text[64] = '\0';
    char *name = names_ident(text, strlen(text));
    assert_int_equal(strlen(name), 62);
    free(name);
}

static void test_quote(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *quoted;
    } cases[] = {{"cities", "\"cities\""},
                 {"a\"b", "\"a\"\"b\""},
                 {"", "\"\""},
                 {"Odd.Name", "\"Odd.Name\""}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *q = names_quote(cases[i].name);
        assert_string_equal(q, cases[i].quoted);
        char *back = names_ident(q, strlen(q));
        assert_string_equal(back, cases[i].name);
        free(back);
        free(q);
    }
    char *t = names_quote_table("first", "cities", "_duro_temp");
    assert_string_equal(t, "\"first\".\"cities_duro_temp\"");
    free(t);
    t = names_quote_table("first", "cities", NULL);
    assert_string_equal(t, "\"first\".\"cities\"");
    free(t);
}

static void test_qualified(void **state)
{
    (void)state;
    static const struct {
        const char *schema;
        const char *table;
        const char *name;
    } cases[] = {{"first", "cities", "first.cities"}, {NULL, "cities", "public.cities"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *name = names_qualified(cases[i].schema, cases[i].table);
        assert_string_equal(name, cases[i].name);
        free(name);
    }
    assert_string_equal(names_schema_or_default(NULL), NAMES_DEFAULT_SCHEMA);
    assert_string_equal(names_schema_or_default("first"), "first");
}

/* A typed name and what a parser makes of it (NULL: rejected). */
typedef struct ParseCase {
    const char *text;
    const char *name;
} ParseCase;

static void run_parse_cases(char *(*parse)(const char *), const ParseCase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *name = parse(cases[i].text);
        bool ok = name == NULL ? cases[i].name == NULL
                               : cases[i].name != NULL && strcmp(name, cases[i].name) == 0;
        if (!ok) {
            print_error("'%s': want %s, got %s\n", cases[i].text,
                        cases[i].name ? cases[i].name : "rejected", name ? name : "rejected");
            fail();
        }
        free(name);
    }
}

static void test_parse_qualified(void **state)
{
    (void)state;
    static const ParseCase cases[] = {
        {"first.cities", "first.cities"},
        {"First.Cities", "first.cities"},
        {"  first . cities  ", "first.cities"},
        {"\"first\".\"cities\"", "first.cities"},
        {"\"First\".cities", "First.cities"},
        {"\"Odd.Name\".x", "Odd.Name.x"},
        {"\"a\"\"b\".c", "a\"b.c"},
        {"cities", NULL},
        {"a.b.c", NULL},
        {".cities", NULL},
        {"first.", NULL},
        {"\"\".cities", NULL},
        {"\"first.cities", NULL},
        {"my schema.cities", NULL},
        {"", NULL},
    };
    run_parse_cases(names_parse_qualified, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_parse_view(void **state)
{
    (void)state;
    static const ParseCase cases[] = {
        {"first.cities", "first.cities"},
        {"Cities", "public.cities"},
        {"\"Cities\"", "public.Cities"},
        {"a.b.c", NULL},
        {"", NULL},
        {"\"open", NULL},
    };
    run_parse_cases(names_parse_view, cases, sizeof(cases) / sizeof(cases[0]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ident),           cmocka_unit_test(test_ident_keeps_utf8_whole),
        cmocka_unit_test(test_quote),           cmocka_unit_test(test_qualified),
        cmocka_unit_test(test_parse_qualified), cmocka_unit_test(test_parse_view),
    };
    return cmocka_run_group_tests_name("names", tests, NULL, NULL);
}
