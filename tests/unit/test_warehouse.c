/*
 * Unit tests for the names planner/warehouse.c gives warehouse sessions: the instance prefix
 * (configured or derived from the host and the catalog's path) and which names belong to a
 * Duro process that is gone. No warehouse: tests/e2e/test_orphans.py runs them against one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "planner/warehouse.h"

/* Settings with only what the names read: [worker] instance and [catalog] path. */
static Settings settings_with(const char *instance, const char *catalog)
{
    Settings s;
    memset(&s, 0, sizeof(s));
    s.worker.instance = (char *)instance;
    s.catalog.path = (char *)catalog;
    return s;
}

/* The start time of process pid as the names carry it (hex clock ticks), read from /proc. */
static unsigned long long start_of(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')') + 2;
    for (int i = 0; i < 19; i++)
        p = strchr(p, ' ') + 1;
    return strtoull(p, NULL, 10);
}

static void test_instance_prefix(void **state)
{
    (void)state;
    Settings s = settings_with("prod-eu.1_a", "/x/duro.db");
    char *p = wh_instance_prefix(&s);
    assert_string_equal(p, "duro/prod-eu.1_a/");
    free(p);

    s = settings_with("a b/c*d%", "/x/duro.db");
    p = wh_instance_prefix(&s);
    assert_string_equal(p, "duro/a_b_c_d_/");
    free(p);

    s = settings_with("abcdefghijklmnopqrstuvwxyz", "/x/duro.db");
    p = wh_instance_prefix(&s);
    assert_string_equal(p, "duro/abcdefghijklmnopqrst/");
    free(p);

    /* Derived: 8 hex digits, the same for the same catalog, another for another one. */
    s = settings_with("", "/var/lib/duro/duro.db");
    char *a = wh_instance_prefix(&s), *again = wh_instance_prefix(&s);
    s = settings_with("", "/var/lib/duro/other.db");
    char *b = wh_instance_prefix(&s);
    assert_int_equal(strlen(a), strlen("duro/12345678/"));
    assert_int_equal(strspn(a + 5, "0123456789abcdef"), 8);
    assert_string_equal(a, again);
    assert_string_not_equal(a, b);
    free(a);
    free(again);
    free(b);
}

static void test_orphaned(void **state)
{
    (void)state;
    Settings s = settings_with("blue", "/x/duro.db");
    char name[128];
    long me = (long)getpid();

    /* This process: not an orphan; an earlier one with its id: an orphan. */
    snprintf(name, sizeof(name), "duro/blue/%ld.%llx/build first.cities", me, start_of(me));
    assert_false(wh_name_orphaned(&s, name));
    snprintf(name, sizeof(name), "duro/blue/%ld.%llx", me, start_of(me));
    assert_false(wh_name_orphaned(&s, name));
    snprintf(name, sizeof(name), "duro/blue/%ld.%llx/build first.cities", me, start_of(me) + 1);
    assert_true(wh_name_orphaned(&s, name));

    /* Another live process (the parent): not an orphan, unless its id was reused. */
    long parent = (long)getppid();
    snprintf(name, sizeof(name), "duro/blue/%ld.%llx/cleanup", parent, start_of(parent));
    assert_false(wh_name_orphaned(&s, name));
    snprintf(name, sizeof(name), "duro/blue/%ld.%llx/cleanup", parent, start_of(parent) + 7);
    assert_true(wh_name_orphaned(&s, name));

    /* A process that has ended: an orphan. */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    snprintf(name, sizeof(name), "duro/blue/%ld.0/build first.cities", (long)child);
    assert_true(wh_name_orphaned(&s, name));

    /* Another instance's, or not a name Duro gives: never. */
    snprintf(name, sizeof(name), "duro/green/%ld.0/build first.cities", (long)child);
    assert_false(wh_name_orphaned(&s, name));
    snprintf(name, sizeof(name), "duro/bluebird/%ld.0", (long)child);
    assert_false(wh_name_orphaned(&s, name));
    assert_false(wh_name_orphaned(&s, "duro/blue/"));
    assert_false(wh_name_orphaned(&s, "duro/blue/x.1/build a.b"));
    assert_false(wh_name_orphaned(&s, "duro/blue/123/build a.b"));
    assert_false(wh_name_orphaned(&s, "duro/blue/-5.1"));
    assert_false(wh_name_orphaned(&s, "duro/blue/99999999999.1"));
    assert_false(wh_name_orphaned(&s, "duro/blue/123.zz"));
    assert_false(wh_name_orphaned(&s, "psql"));
    assert_false(wh_name_orphaned(&s, ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_instance_prefix),
        cmocka_unit_test(test_orphaned),
    };
    return cmocka_run_group_tests_name("warehouse", tests, NULL, NULL);
}
