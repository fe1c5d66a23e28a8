/*
 * Build markers: who is building a view. A run in progress names the process
 * that runs it by its pid, a random id drawn at the process's start (its
 * instance) and the boot and start time of that process; this file tells
 * whether such a process can still be building, and keeps this process's own
 * builds in progress and the ends of runs the catalog could not take yet.
 * Not for: SQL or the catalog file (catalog/store).
 *
 * Thread-safe: every Store of this process (one per thread) shares the state.
 */
#ifndef DURO_CATALOG_MARKER_H
#define DURO_CATALOG_MARKER_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog/run.h"

/* This process's instance: 32 hex digits, random, drawn once per process start. */
const char *marker_instance(void);
/*
 * "<boot id>/<start time in clock ticks>" of process pid (0 = this process), from /proc; NULL when
 * /proc does not tell (no such process, no /proc). Caller frees.
 */
char *marker_process_start(int64_t pid);

typedef enum MarkerState {
    MARKER_BUILDING, /* a build that may be running: leave it */
    MARKER_GONE,     /* its process is gone, its pid is another process's now, or it is this
                        process's and its build ended */
} MarkerState;

/*
 * What the running run run_id of the catalog catalog_key (from store) is, by the
 * marker it carries: the pid, instance and process start recorded with it
 * (instance and start NULL for a run recorded before markers had them).
 */
MarkerState marker_judge(const char *catalog_key, int64_t run_id, int64_t pid, const char *instance,
                         const char *start);

/* The run run_id of catalog_key was claimed by this process and is building. */
void marker_claimed(const char *catalog_key, int64_t run_id);

/* How a run ended, kept while the catalog cannot take it. */
typedef struct MarkerEnd {
    RunOutcome outcome;
    int64_t finished_us;
    int64_t rows;
    char *error;
    char *built_hash;
    int64_t retry_us;
} MarkerEnd;

/*
 * The build of run_id ended; end (copied; NULL when it is recorded) is kept
 * until marker_take_end hands it back, so that the run stops counting as
 * building in this process whatever the catalog says. At most MARKER_MAX_ENDS
 * ends are kept per process; beyond, the oldest is forgotten (its run is then
 * closed as interrupted).
 */
#define MARKER_MAX_ENDS 256
void marker_ended(const char *catalog_key, int64_t run_id, const MarkerEnd *end);
/*
 * Takes the end kept for a run of catalog_key (the oldest): returns true and fills
 * *run_id and *end (caller frees with marker_end_free), or false when none is kept.
 */
bool marker_take_end(const char *catalog_key, int64_t *run_id, MarkerEnd *end);
/* Whether an end is kept for run_id of catalog_key. */
bool marker_is_ended(const char *catalog_key, int64_t run_id);
/* A copy of the end kept for run_id (caller frees with marker_end_free); false when none is. */
bool marker_peek_end(const char *catalog_key, int64_t run_id, MarkerEnd *end);
void marker_end_free(MarkerEnd *end);

#endif
