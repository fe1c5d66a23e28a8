/*
 * Process-wide counters, gauges and fixed-bucket histograms for /metrics, kept
 * with relaxed atomics so that any thread (the gateway's loop included) adds
 * to them without a lock; and the Prometheus text exposition writer (HELP and
 * TYPE lines, escaped label values, histogram buckets). Not for: what a view's
 * figures are (planner/metrics reads them from the catalog at scrape time).
 */
#ifndef DURO_CORE_METRICS_H
#define DURO_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

/* Counters: only ever grow. */
typedef enum MetricsCounter {
    METRICS_SESSIONS_OPENED,      /* client sessions admitted */
    METRICS_BYTES_TO_WAREHOUSE,   /* relayed from clients to the warehouse */
    METRICS_BYTES_TO_CLIENTS,     /* relayed from the warehouse to clients */
    METRICS_STATEMENTS_INSPECTED, /* client messages handed to the interception */
    METRICS_STALE_WAITS,          /* statements held for the refresh of a stale view */
    METRICS_CALLS_OK,             /* CALL duro_refresh that built (or had nothing to do) */
    METRICS_CALLS_FAILED,         /* ... that failed or were held back by a backoff */
    METRICS_CALLS_UNKNOWN,        /* ... that named no view */
    METRICS_CALLS_CANCELLED,      /* ... that Duro's stop cancelled */
    METRICS_NOTIFY_SENT,          /* notifications a webhook accepted */
    METRICS_NOTIFY_RETRIED,       /* attempts that failed and were tried again */
    METRICS_NOTIFY_DROPPED,       /* notifications given up (queue full or out of tries) */
    METRICS_N_COUNTERS,
} MetricsCounter;

/* Gauges: go up and down. */
typedef enum MetricsGauge {
    METRICS_SESSIONS_OPEN,   /* client sessions admitted and not closed */
    METRICS_SCHEDULER_QUEUE, /* refresh requests queued and not finished */
    METRICS_LEADER,          /* 1 while this process leads the scheduler (planner/leader) */
    METRICS_N_GAUGES,
} MetricsGauge;

typedef enum MetricsHistogram {
    METRICS_REFRESH_SECONDS,    /* each build, whatever its outcome */
    METRICS_STALE_WAIT_SECONDS, /* how long a statement waited for a stale view */
    METRICS_N_HISTOGRAMS,
} MetricsHistogram;

/* The upper bounds (seconds) of every histogram's buckets; +Inf follows. */
#define METRICS_N_BUCKETS 12
extern const double metrics_buckets[METRICS_N_BUCKETS];

void metrics_add(MetricsCounter c, uint64_t n);
uint64_t metrics_counter(MetricsCounter c);
void metrics_gauge_add(MetricsGauge g, int64_t delta);
int64_t metrics_gauge(MetricsGauge g);
/* Counts one observation of us microseconds (negative counts as 0). */
void metrics_observe(MetricsHistogram h, int64_t us);

/* A copy of one histogram; counts[i] is not cumulative, counts[METRICS_N_BUCKETS] is +Inf's. */
typedef struct MetricsHistogramSnapshot {
    uint64_t counts[METRICS_N_BUCKETS + 1];
    uint64_t sum_us;
} MetricsHistogramSnapshot;
void metrics_histogram_read(MetricsHistogram h, MetricsHistogramSnapshot *out);
/* Observes into a snapshot (for histograms kept elsewhere, under their owner's lock). */
void metrics_snapshot_observe(MetricsHistogramSnapshot *s, int64_t us);

/* ---- The text exposition format ---- */

/* A growing text; the writer aborts on out-of-memory like xmalloc. */
typedef struct MetricsText {
    char *data;
    size_t len;
    size_t cap;
} MetricsText;

void metrics_text_printf(MetricsText *t, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* "# HELP name help" and "# TYPE name type" (type: counter, gauge, histogram). */
void metrics_text_family(MetricsText *t, const char *name, const char *type, const char *help);
/*
 * One sample line: name, labels (NULL-terminated key, value pairs, values
 * escaped here; NULL for none) and value (integers without a fraction, NaN and
 * ±Inf as Prometheus spells them).
 */
void metrics_text_sample(MetricsText *t, const char *name, const char *const *labels, double value);
/* The _bucket (cumulative, le=), _sum (seconds) and _count lines of one histogram. */
void metrics_text_histogram(MetricsText *t, const char *name, const char *const *labels,
                            const MetricsHistogramSnapshot *s);
/* Appends v escaped as a label value: backslash, double quote and newline. */
void metrics_text_escape(MetricsText *t, const char *v);
/* The text (caller frees), the MetricsText emptied. */
char *metrics_text_take(MetricsText *t);

#endif
