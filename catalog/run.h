/*
 * What a refresh run is in the catalog: its outcome (ok, failed, tests_failed,
 * cancelled, running) and what started it (schedule, call, read, web,
 * dependency), as enums with one table each for the text the catalog stores
 * and duro.runs shows. Not for: recording runs (catalog/store).
 */
#ifndef DURO_CATALOG_RUN_H
#define DURO_CATALOG_RUN_H

#include "core/util.h"

typedef enum RunOutcome {
    RUN_OK,
    RUN_FAILED,
    RUN_TESTS_FAILED,
    RUN_CANCELLED,
    RUN_RUNNING, /* not finished yet */
} RunOutcome;

typedef enum RunTrigger {
    RUN_TRIGGER_SCHEDULE,   /* the scheduler found the view stale */
    RUN_TRIGGER_CALL,       /* CALL duro_refresh, or duro refresh */
    RUN_TRIGGER_READ,       /* a query read the view while it was stale */
    RUN_TRIGGER_WEB,        /* a button of the web UI */
    RUN_TRIGGER_DEPENDENCY, /* built first for a view that reads it */
} RunTrigger;

/* The catalog's word for an outcome: "ok", "failed", "tests_failed", "cancelled", "running". */
const char *run_outcome_name(RunOutcome o);
/* The outcome named name (exact, lower case). Returns 0, or -1 when there is none. */
int run_outcome_parse(const char *name, RunOutcome *out) MUST_CHECK;

/* The catalog's word for a trigger: "schedule", "call", "read", "web", "dependency". */
const char *run_trigger_name(RunTrigger t);
/* The trigger named name (exact, lower case). Returns 0, or -1 when there is none. */
int run_trigger_parse(const char *name, RunTrigger *out) MUST_CHECK;

#endif
