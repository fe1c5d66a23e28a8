/*
 * Duro's metrics in Prometheus' text format, for the web UI's /metrics. Not for: serving them
 * (web/) or logging.
 */
#ifndef DURO_PLANNER_METRICS_H
#define DURO_PLANNER_METRICS_H

#include "catalog/store.h"

/* The metrics as Prometheus text (malloc'd, the caller frees), or NULL on failure. */
char *metrics_text(Store *store);

#endif
