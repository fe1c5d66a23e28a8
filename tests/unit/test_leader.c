/*
 * The scheduler's leader election (planner/leader) on a real PostgreSQL catalog: of two
 * instances exactly one leads, under generation 1; when its session ends, it stops leading at
 * once and the other takes over under generation 2, within the bound the README states. Without
 * a shared catalog a process always leads. Needs DURO_TEST_CATALOG_URL (tools/with-pg).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog/store.h"
#include "core/clock.h"
#include "core/settings.h"
#include "planner/leader.h"

static const char *server_url;

/* server_url with dbname in place of its database. */
static char *url_of(const char *dbname)
{
    const char *slash = strrchr(server_url, '/');
    return xasprintf("%.*s/%s", (int)(slash - server_url), server_url, dbname);
}

static void admin(const char *sql)
{
    PGconn *c = PQconnectdb(server_url);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Waits up to ms for exactly one of a, b to lead; returns it, or NULL. */
static Leader *one_leads(Leader *a, Leader *b, int ms)
{
    for (int waited = 0; waited <= ms; waited += 50) {
        bool la = leader_leads(a), lb = leader_leads(b);
        if (la != lb)
            return la ? a : b;
        sleep_ms(50);
    }
    return NULL;
}

static void test_one_of_two_leads_and_the_other_takes_over(void **state)
{
    (void)state;
    admin("CREATE DATABASE t_leader");
    Settings s = {0};
    s.catalog.url = url_of("t_leader");
    s.catalog.path = xstrdup("unused.db");
    Store *store = NULL;
    char *error = NULL;
    if (store_open(s.catalog.url, &store, &error) != 0) /* the catalog's schema */
        fail_msg("%s", error);

    Leader *a = leader_start(&s, &error), *b = leader_start(&s, &error);
    assert_non_null(a);
    assert_non_null(b);
    Leader *first = one_leads(a, b, 5000);
    assert_non_null(first);
    Leader *other = first == a ? b : a;
    assert_int_equal(leader_generation(first), 1);
    assert_int_equal(leader_generation(other), 0);
    sleep_ms(1500); /* it stays put */
    assert_true(leader_leads(first) && !leader_leads(other));

    /* The leader's session ends (as when its process dies or the server cuts it off). */
    int64_t t0 = clock_mono_us();
    admin("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND "
          "granted AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = "
          "'t_leader')");
    Leader *next = NULL;
    for (int waited = 0; waited <= 5000 && !next; waited += 50) {
        if (leader_leads(other) && !leader_leads(first))
            next = other;
        else
            sleep_ms(50);
    }
    assert_ptr_equal(next, other);
    int64_t took_ms = (clock_mono_us() - t0) / 1000;
    print_message("takeover after the leader's session ended: %lld ms\n", (long long)took_ms);
    assert_int_equal(leader_generation(other), 2);
    assert_false(leader_leads(first));

    leader_stop(a);
    leader_stop(b);
    store_close(store);
    free(s.catalog.url);
    free(s.catalog.path);
    admin("DROP DATABASE t_leader WITH (FORCE)");
}

static void test_without_a_shared_catalog_the_process_leads(void **state)
{
    (void)state;
    Settings s = {0};
    s.catalog.url = "";
    s.catalog.path = "duro.db";
    char *error = NULL;
    Leader *l = leader_start(&s, &error);
    assert_non_null(l);
    assert_true(leader_leads(l));
    assert_int_equal(leader_generation(l), 0);
    LeaderInfo info;
    leader_current(&info);
    assert_false(info.shared);
    leader_stop(l);
}

int main(void)
{
    server_url = getenv("DURO_TEST_CATALOG_URL");
    if (!server_url) {
        fprintf(stderr, "test_leader: needs DURO_TEST_CATALOG_URL (tools/with-pg)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_of_two_leads_and_the_other_takes_over),
        cmocka_unit_test(test_without_a_shared_catalog_the_process_leads),
    };
    return cmocka_run_group_tests_name("leader", tests, NULL, NULL);
}
