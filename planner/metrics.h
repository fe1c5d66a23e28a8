/*
 * What /metrics shows: metrics_text renders the Prometheus text exposition of
 * the process's counters (core/metrics), the refreshes counted here by view
 * and outcome, and the per-view figures the catalog holds at scrape time
 * (seconds since the last good refresh, effective interval, views by state).
 * Not for: serving it over HTTP (web/), or counting the gateway's work.
 */
#ifndef DURO_PLANNER_METRICS_H
#define DURO_PLANNER_METRICS_H

#include <stdint.h>

#include "catalog/store.h"
#include "planner/refresh.h"

/*
 * The text exposition, reading the catalog through store (a connection of the
 * caller's thread). Returns a malloc'd text, or NULL when the catalog cannot
 * be read.
 */
char *metrics_text(Store *store);

/* Counts each build of rep by view and outcome, and its duration. Safe from any thread. */
void metrics_count_report(const RefreshReport *rep);
/* Counts one build (what metrics_count_report does for each). */
void metrics_count_refresh(const char *view, RunOutcome outcome, int64_t duration_us);

#endif
