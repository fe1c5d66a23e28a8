/*
 * The process's counters (see metrics.h): one relaxed atomic per figure, so
 * adding is one locked instruction and a scrape sees each figure whole (not
 * all of them at one instant, which Prometheus does not ask for); and the
 * writer of the text exposition format.
 */
#include "core/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double metrics_buckets[METRICS_N_BUCKETS] = {0.01, 0.05, 0.1, 0.5, 1,   5,
                                                   10,   30,   60,  300, 900, 3600};

typedef struct Histogram {
    atomic_uint_fast64_t counts[METRICS_N_BUCKETS + 1];
    atomic_uint_fast64_t sum_us;
} Histogram;

static atomic_uint_fast64_t counters[METRICS_N_COUNTERS];
static atomic_int_fast64_t gauges[METRICS_N_GAUGES];
static Histogram histograms[METRICS_N_HISTOGRAMS];

void metrics_add(MetricsCounter c, uint64_t n)
{
    atomic_fetch_add_explicit(&counters[c], n, memory_order_relaxed);
}

uint64_t metrics_counter(MetricsCounter c)
{
    return atomic_load_explicit(&counters[c], memory_order_relaxed);
}

void metrics_gauge_add(MetricsGauge g, int64_t delta)
{
    atomic_fetch_add_explicit(&gauges[g], delta, memory_order_relaxed);
}

int64_t metrics_gauge(MetricsGauge g)
{
    return atomic_load_explicit(&gauges[g], memory_order_relaxed);
}

/* The bucket of an observation: the first whose bound it does not exceed, else +Inf's. */
static size_t bucket_of(int64_t us)
{
    double secs = (double)us / 1e6;
    size_t i = 0;
    while (i < METRICS_N_BUCKETS && secs > metrics_buckets[i])
        i++;
    return i;
}

void metrics_observe(MetricsHistogram h, int64_t us)
{
    if (us < 0)
        us = 0;
    atomic_fetch_add_explicit(&histograms[h].counts[bucket_of(us)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&histograms[h].sum_us, (uint64_t)us, memory_order_relaxed);
}

void metrics_histogram_read(MetricsHistogram h, MetricsHistogramSnapshot *out)
{
    for (size_t i = 0; i <= METRICS_N_BUCKETS; i++)
        out->counts[i] = atomic_load_explicit(&histograms[h].counts[i], memory_order_relaxed);
    out->sum_us = atomic_load_explicit(&histograms[h].sum_us, memory_order_relaxed);
}

void metrics_snapshot_observe(MetricsHistogramSnapshot *s, int64_t us)
{
    if (us < 0)
        us = 0;
    s->counts[bucket_of(us)]++;
    s->sum_us += (uint64_t)us;
}

/* ---- The text exposition format ---- */

static void text_reserve(MetricsText *t, size_t more)
{
    if (t->len + more + 1 > t->cap)
        grow_array((void **)&t->data, &t->cap, t->len + more + 1, 1);
}

void metrics_text_printf(MetricsText *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    text_reserve(t, (size_t)n);
    if ((size_t)n < sizeof small) {
        memcpy(t->data + t->len, small, (size_t)n + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf(t->data + t->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    t->len += (size_t)n;
}

static void text_append(MetricsText *t, const char *s, size_t n)
{
    text_reserve(t, n);
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

void metrics_text_escape(MetricsText *t, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            text_append(t, "\\\\", 2);
        else if (*p == '"')
            text_append(t, "\\\"", 2);
        else if (*p == '\n')
            text_append(t, "\\n", 2);
        else
            text_append(t, p, 1);
    }
}

void metrics_text_family(MetricsText *t, const char *name, const char *type, const char *help)
{
    metrics_text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k="v",...} with the labels of the sample and, when le is set, le="...". */
static void text_series(MetricsText *t, const char *name, const char *const *labels, const char *le)
{
    text_append(t, name, strlen(name));
    if (!(labels && labels[0]) && !le)
        return;
    text_append(t, "{", 1);
    bool first = true;
    for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
        metrics_text_printf(t, "%s%s=\"", first ? "" : ",", labels[i]);
        metrics_text_escape(t, labels[i + 1]);
        text_append(t, "\"", 1);
        first = false;
    }
    if (le)
        metrics_text_printf(t, "%sle=\"%s\"", first ? "" : ",", le);
    text_append(t, "}", 1);
}

/* A value as Prometheus reads it. */
static void text_value(MetricsText *t, double value)
{
    if (isnan(value))
        text_append(t, " NaN\n", 5);
    else if (isinf(value))
        metrics_text_printf(t, " %s\n", value > 0 ? "+Inf" : "-Inf");
    else if (value == floor(value) && fabs(value) < 1e15)
        metrics_text_printf(t, " %.0f\n", value);
    else
        metrics_text_printf(t, " %.15g\n", value);
}

void metrics_text_sample(MetricsText *t, const char *name, const char *const *labels, double value)
{
    text_series(t, name, labels, NULL);
    text_value(t, value);
}

void metrics_text_histogram(MetricsText *t, const char *name, const char *const *labels,
                            const MetricsHistogramSnapshot *s)
{
    size_t n = strlen(name);
    char *series = xmalloc(n + 16);
    uint64_t cumulative = 0;
    snprintf(series, n + 16, "%s_bucket", name);
    for (size_t i = 0; i <= METRICS_N_BUCKETS; i++) {
        char le[32];
        if (i < METRICS_N_BUCKETS)
            snprintf(le, sizeof le, "%g", metrics_buckets[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        cumulative += s->counts[i];
        text_series(t, series, labels, le);
        text_value(t, (double)cumulative);
    }
    snprintf(series, n + 16, "%s_sum", name);
    metrics_text_sample(t, series, labels, (double)s->sum_us / 1e6);
    snprintf(series, n + 16, "%s_count", name);
    metrics_text_sample(t, series, labels, (double)cumulative);
    free(series);
}

char *metrics_text_take(MetricsText *t)
{
    char *out = t->data ? t->data : xstrdup("");
    *t = (MetricsText){0};
    return out;
}
