/*
 * Run outcomes and triggers to and from text (see run.h): one table each,
 * indexed by the enum. Not for: what an outcome means to staleness.
 */
#include "catalog/run.h"

#include <string.h>

static const char *const outcome_names[] = {
    [RUN_OK] = "ok",
    [RUN_FAILED] = "failed",
    [RUN_TESTS_FAILED] = "tests_failed",
    [RUN_CANCELLED] = "cancelled",
    [RUN_RUNNING] = "running",
};

static const char *const trigger_names[] = {
    [RUN_TRIGGER_SCHEDULE] = "schedule",
    [RUN_TRIGGER_CALL] = "call",
    [RUN_TRIGGER_READ] = "read",
    [RUN_TRIGGER_WEB] = "web",
    [RUN_TRIGGER_DEPENDENCY] = "dependency",
};

/* The index of name in names, or -1. */
static int find(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    return -1;
}

const char *run_outcome_name(RunOutcome o)
{
    return (size_t)o < ARRAY_LEN(outcome_names) ? outcome_names[o] : "unknown";
}

int run_outcome_parse(const char *name, RunOutcome *out)
{
    int i = find(outcome_names, ARRAY_LEN(outcome_names), name);
    if (i < 0)
        return -1;
    *out = (RunOutcome)i;
    return 0;
}

const char *run_trigger_name(RunTrigger t)
{
    return (size_t)t < ARRAY_LEN(trigger_names) ? trigger_names[t] : "unknown";
}

int run_trigger_parse(const char *name, RunTrigger *out)
{
    int i = find(trigger_names, ARRAY_LEN(trigger_names), name);
    if (i < 0)
        return -1;
    *out = (RunTrigger)i;
    return 0;
}
