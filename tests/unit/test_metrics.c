/*
 * core/metrics: the Prometheus text exposition (HELP/TYPE lines, label values
 * escaped, integers and infinities as Prometheus reads them, cumulative
 * histogram buckets with _sum and _count) and the counters behind it.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/metrics.h"

static void test_family_and_samples(void **state)
{
    (void)state;
    MetricsText t = {0};
    metrics_text_family(&t, "duro_x_total", "counter", "Things done.");
    metrics_text_sample(&t, "duro_x_total", NULL, 3);
    const char *labels[] = {"view", "a.b", "outcome", "ok", NULL};
    metrics_text_sample(&t, "duro_x_total", labels, 12345678901.0);
    metrics_text_sample(&t, "duro_y", NULL, 0.25);
    metrics_text_sample(&t, "duro_y", NULL, INFINITY);
    metrics_text_sample(&t, "duro_y", NULL, NAN);
    char *text = metrics_text_take(&t);
    assert_string_equal(text, "# HELP duro_x_total Things done.\n"
                              "# TYPE duro_x_total counter\n"
                              "duro_x_total 3\n"
                              "duro_x_total{view=\"a.b\",outcome=\"ok\"} 12345678901\n"
                              "duro_y 0.25\n"
                              "duro_y +Inf\n"
                              "duro_y NaN\n");
    free(text);
}

/* A view name is an SQL identifier, but a quoted one may hold anything: it stays one label. */
static void test_label_values_are_escaped(void **state)
{
    (void)state;
    MetricsText t = {0};
    const char *labels[] = {"view", "s.\"we\\ird\"\nname", NULL};
    metrics_text_sample(&t, "duro_v", labels, 1);
    char *text = metrics_text_take(&t);
    assert_string_equal(text, "duro_v{view=\"s.\\\"we\\\\ird\\\"\\nname\"} 1\n");
    free(text);
}

static void test_histogram_buckets_are_cumulative(void **state)
{
    (void)state;
    MetricsHistogramSnapshot h = {0};
    metrics_snapshot_observe(&h, 5000);             /* 5 ms: le 0.01 */
    metrics_snapshot_observe(&h, 10000);            /* 10 ms: le 0.01 (bounds are inclusive) */
    metrics_snapshot_observe(&h, 2000000);          /* 2 s: le 5 */
    metrics_snapshot_observe(&h, 7200LL * 1000000); /* 2 h: +Inf only */
    metrics_snapshot_observe(&h, -3);               /* a clock step: counts as 0 */
    MetricsText t = {0};
    const char *labels[] = {"view", "a.b", NULL};
    metrics_text_histogram(&t, "duro_d_seconds", labels, &h);
    char *text = metrics_text_take(&t);
    assert_non_null(strstr(text, "duro_d_seconds_bucket{view=\"a.b\",le=\"0.01\"} 3\n"));
    assert_non_null(strstr(text, "duro_d_seconds_bucket{view=\"a.b\",le=\"1\"} 3\n"));
    assert_non_null(strstr(text, "duro_d_seconds_bucket{view=\"a.b\",le=\"5\"} 4\n"));
    assert_non_null(strstr(text, "duro_d_seconds_bucket{view=\"a.b\",le=\"3600\"} 4\n"));
    assert_non_null(strstr(text, "duro_d_seconds_bucket{view=\"a.b\",le=\"+Inf\"} 5\n"));
    assert_non_null(strstr(text, "duro_d_seconds_sum{view=\"a.b\"} 7202.0150000000003\n") ||
                    strstr(text, "duro_d_seconds_sum{view=\"a.b\"} 7202.015\n"));
    assert_non_null(strstr(text, "duro_d_seconds_count{view=\"a.b\"} 5\n"));
    /* One line per bucket, +Inf included, then _sum and _count. */
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, METRICS_N_BUCKETS + 1 + 2);
    free(text);
}

static void test_counters_gauges_and_histograms(void **state)
{
    (void)state;
    uint64_t before = metrics_counter(METRICS_BYTES_TO_CLIENTS);
    metrics_add(METRICS_BYTES_TO_CLIENTS, 1000);
    metrics_add(METRICS_BYTES_TO_CLIENTS, 24);
    assert_true(metrics_counter(METRICS_BYTES_TO_CLIENTS) == before + 1024);
    metrics_gauge_add(METRICS_SESSIONS_OPEN, 2);
    metrics_gauge_add(METRICS_SESSIONS_OPEN, -1);
    assert_int_equal(metrics_gauge(METRICS_SESSIONS_OPEN), 1);
    metrics_observe(METRICS_STALE_WAIT_SECONDS, 300000); /* 0.3 s: le 0.5 */
    MetricsHistogramSnapshot h;
    metrics_histogram_read(METRICS_STALE_WAIT_SECONDS, &h);
    assert_int_equal(h.counts[3], 1);
    assert_true(h.sum_us == 300000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_family_and_samples),
        cmocka_unit_test(test_label_values_are_escaped),
        cmocka_unit_test(test_histogram_buckets_are_cumulative),
        cmocka_unit_test(test_counters_gauges_and_histograms),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
