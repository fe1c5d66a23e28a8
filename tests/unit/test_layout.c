/*
 * The repository's file-name grammar, driven by layout_cases.txt: each line a
 * path and what Duro must make of it (a role with name and interval, or an
 * error whose message contains the given text).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/layout.h"
#include "catalog/repo.h"
#include "core/util.h"

static const char *role_name(LayoutRole r)
{
    static const char *const names[] = {
        [LAYOUT_IGNORED] = "ignored",
        [LAYOUT_ERROR] = "error",
        [LAYOUT_VIEW] = "view",
        [LAYOUT_TESTS] = "tests",
        [LAYOUT_SELECT] = "select",
        [LAYOUT_PROCESSOR] = "processor",
        [LAYOUT_REQUIREMENTS] = "requirements",
        [LAYOUT_GLOBAL_CONF] = "global-conf",
        [LAYOUT_SCHEMA_CONF] = "schema-conf",
        [LAYOUT_TABLE_CONF] = "table-conf",
    };
    return names[r];
}

/* What the classification of one path looks like in the cases file's notation. */
static char *describe(const LayoutName *ln)
{
    switch (ln->role) {
    case LAYOUT_IGNORED:
    case LAYOUT_GLOBAL_CONF:
        return xstrdup(role_name(ln->role));
    case LAYOUT_ERROR:
        return xasprintf("error %s", ln->error);
    case LAYOUT_SCHEMA_CONF:
        return xasprintf("%s %s", role_name(ln->role), ln->schema);
    case LAYOUT_VIEW:
        return xasprintf("view %s.%s %" PRId64, ln->schema, ln->table, ln->interval);
    default:
        return xasprintf("%s %s.%s", role_name(ln->role), ln->schema, ln->table);
    }
}

static void test_layout_cases(void **state)
{
    (void)state;
    char *text = read_file("layout_cases.txt", NULL);
    assert_non_null(text);
    int cases = 0, failures = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        char *tab = strrchr(line, '\t'); /* paths may hold tabs; expectations don't */
        assert_non_null(tab);
        *tab = '\0';
        const char *path = line, *want = tab + 1;
        LayoutName ln;
        layout_classify(path, REPO_MAX_IDENT_POSTGRES, &ln);
        char *got = describe(&ln);
        bool ok = strncmp(want, "error ", 6) == 0
                      ? (ln.role == LAYOUT_ERROR && strstr(ln.error, want + 6) != NULL)
                      : strcmp(got, want) == 0;
        if (!ok) {
            print_error("%s: want '%s', got '%s'\n", path, want, got);
            failures++;
        }
        free(got);
        cases++;
    }
    free(text);
    assert_true(cases > 40);
    assert_int_equal(failures, 0);
}

static void test_redshift_allows_longer_names(void **state)
{
    (void)state;
    char path[200];
    snprintf(path, sizeof(path), "first/%0100d.sql", 0);
    path[6] = 't'; /* an identifier of 100 characters */
    LayoutName ln;
    layout_classify(path, REPO_MAX_IDENT_POSTGRES, &ln);
    assert_int_equal(ln.role, LAYOUT_ERROR);
    layout_classify(path, REPO_MAX_IDENT_REDSHIFT, &ln);
    assert_int_equal(ln.role, LAYOUT_VIEW);
    assert_int_equal(strlen(ln.table), 100);
}

static void test_identifier(void **state)
{
    (void)state;
    assert_true(layout_is_identifier("cities", 6));
    assert_true(layout_is_identifier("_x1", 3));
    assert_false(layout_is_identifier("1x", 2));
    assert_false(layout_is_identifier("a-b", 3));
    assert_false(layout_is_identifier("", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_cases),
        cmocka_unit_test(test_redshift_allows_longer_names),
        cmocka_unit_test(test_identifier),
    };
    return cmocka_run_group_tests_name("layout", tests, NULL, NULL);
}
