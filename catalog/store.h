/*
 * The catalog: Duro's own state in one SQLite file (WAL mode). Views as last
 * loaded from the repository, with the hash of their definition and the hash of
 * their last successful build; refresh runs and the duration of each of their
 * steps. Not for: deciding what is stale (planner/staleness) or reading files.
 *
 * A Store is one SQLite connection: use it from one thread at a time. Threads
 * that read concurrently each open their own Store on the same path.
 * Timestamps are microseconds since the Unix epoch (UTC); intervals, seconds.
 */
#ifndef DURO_CATALOG_STORE_H
#define DURO_CATALOG_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog/repo.h"
#include "catalog/run.h"
#include "core/util.h"

#define STORE_SCHEMA_VERSION 8

/*
 * Bounds of what is read back from the catalog, whoever wrote it: a timestamp
 * outside 0 .. STORE_MAX_TIME_US (the end of year 9999), a count or an interval
 * out of its range is unknown (0, or -1 for rows), never used for arithmetic;
 * a text longer than STORE_MAX_TEXT bytes is cut there.
 */
#define STORE_MAX_TIME_US 253402300799999999LL
#define STORE_MAX_TEXT    65536

typedef struct Store Store;

/*
 * Opens (creating or migrating to STORE_SCHEMA_VERSION) the catalog at path.
 * On failure returns -1, sets *error (caller frees) and *out to NULL; a file
 * written by a newer Duro (higher schema version) is refused, not touched.
 * The first open of a file in a process checks it (SQLite's quick_check, a read
 * of every page; in part only beyond 256 MB) and refuses a damaged one, saying so.
 */
int store_open(const char *path, Store **out, char **error) MUST_CHECK;
void store_close(Store *s);
int store_schema_version(Store *s);
/* Whether the catalog is a PostgreSQL database ([catalog] url), shared by instances. */
bool store_shared(const Store *s);
/* A number that changes when another connection (or process) changed the catalog; -1 on error.
 * On PostgreSQL it costs no round trip (it counts the change notifications received). */
int64_t store_data_version(Store *s);

typedef struct StoreSyncStats {
    int added;
    int changed; /* definition hash differs from the stored one */
    int removed;
    int unchanged;
} StoreSyncStats;

/*
 * Makes the views table match the repository in one transaction: adds new
 * views, updates changed ones, deletes views no longer in it (their runs are
 * kept). A changed view's definition hash then differs from the hash of its
 * last successful build, so it stays stale until a build of the new definition
 * succeeds: however often sync runs, and across restarts.
 * Returns 0, or -1 with *error set (nothing changed).
 */
int store_sync(Store *s, const Repo *r, int64_t now_us, StoreSyncStats *stats,
               char **error) MUST_CHECK;

typedef struct StoreView {
    char *name;
    char *source;
    char *kind;                 /* "sql" or "processor" */
    int64_t interval;           /* own, seconds; 0 = none */
    int64_t effective_interval; /* seconds; 0 = none */
    bool enabled;
    char *config;     /* config_describe() text */
    char *depends_on; /* comma-separated view names, "" for none */
    char *hash;       /* definition hash now */
    char *built_hash; /* definition hash of the last successful build; NULL = never built */
    int64_t first_seen_us;
    int64_t changed_us;      /* when the definition hash last changed (first_seen_us at first) */
    int64_t last_success_us; /* finish of the last successful build; 0 = never */
    int64_t last_duration_us;
    int64_t rows;       /* rows of the last successful build; -1 = unknown */
    char *last_outcome; /* outcome of the newest finished run, or NULL */
    bool last_failed;   /* that outcome is not ok, and the run built the definition as it is now */
    char *last_error;   /* when last_failed: the error of that run; else NULL */
    bool running;       /* a run is in progress */
    int failures;       /* failures of the view's own (not a dependency's) since its last
                           success, of the definition as it is now */
    int64_t retry_us;   /* the next try after the newest of those; 0 when there is none */
    int64_t last_read_us; /* the last read through the gateway the catalog has; 0 = none */
} StoreView;

/* Returns 0 and fills *out, 1 when there is no such view, -1 on error. */
int store_get_view(Store *s, const char *name, StoreView *out) MUST_CHECK;
/* All views sorted by name. Returns 0 or -1. Free with store_views_free. */
int store_list_views(Store *s, StoreView **out, size_t *n) MUST_CHECK;
/* The same with only each view's name filled in (the rest zero or NULL): no read of the runs. */
int store_list_view_names(Store *s, StoreView **out, size_t *n) MUST_CHECK;
void store_view_free(StoreView *v);
void store_views_free(StoreView *v, size_t n);

/*
 * Claims view for a build by this process and starts its run (outcome
 * running, recorded with trigger and the process's marker: pid, instance and
 * start, see catalog/marker). Runs of the view left running by a build that
 * cannot be running any more are closed as cancelled first: its process is
 * gone, its pid is another process's now (a restart as PID 1), or it is this
 * process's and ended. Ends of runs the catalog could not take before are
 * written first.
 * fence > 0 (a scheduled run on a shared catalog): the leader's generation the run was decided
 * under, checked in the same transaction against the catalog's (duro_leader), so that a leader
 * deposed meanwhile records nothing.
 * Returns 0, 1 when a live build (of this process or another) has the view
 * already (nothing recorded; store_error says which), 2 when the fence is stale (nothing
 * recorded), or -1 on error.
 */
int store_run_begin(Store *s, const char *view, RunTrigger trigger, int64_t started_us,
                    int64_t fence, int64_t *run_id) MUST_CHECK;

/*
 * Closes as cancelled every run left running by a build that cannot be running
 * (as store_run_begin), after writing the ends kept from failed writes; *closed
 * counts the runs closed as cancelled.
 */
int store_runs_close_dead(Store *s, int64_t now_us, int *closed) MUST_CHECK;
/* Records one pipeline step of a run; error is NULL when the step succeeded. */
int store_run_step(Store *s, int64_t run_id, const char *step, int64_t started_us,
                   int64_t finished_us, const char *error) MUST_CHECK;
/*
 * Finishes a run: outcome ok, failed, tests_failed or cancelled. For ok,
 * built_hash (the definition hash the run built) becomes the view's built hash
 * and finished_us its last success. retry_us > 0 marks a failure of the view's
 * own (not a dependency's, not a stop) and says when it may be tried again
 * (planner/backoff); 0 for none.
 * The run stops counting as building in this process whatever happens: when
 * the catalog cannot take its end (a full disk), -1 is returned and the end is
 * kept in memory and written by the next store_run_begin, store_run_finish or
 * store_runs_close_dead of this process on this catalog.
 */
int store_run_finish(Store *s, int64_t run_id, RunOutcome outcome, int64_t finished_us,
                     int64_t rows, const char *error, const char *built_hash,
                     int64_t retry_us) MUST_CHECK;

typedef struct StoreStep {
    char *step;
    int64_t started_us;
    int64_t finished_us;
    char *error;
} StoreStep;

typedef struct StoreRun {
    int64_t id;
    char *view;
    char *trigger;
    char *outcome;
    int64_t started_us;
    int64_t finished_us; /* 0 while running */
    int64_t rows;        /* -1 = unknown */
    char *error;
    StoreStep *steps;
    size_t n_steps;
} StoreRun;

/* Runs newest first; view NULL = all views; limit 0 = no limit. Returns 0 or -1. */
int store_list_runs(Store *s, const char *view, size_t limit, StoreRun **out, size_t *n) MUST_CHECK;
/*
 * Runs without their steps, newest (highest id) first: of view (NULL = all views), with an id
 * below before_id (0 = from the newest), at most limit (0 = no limit). Returns 0 or -1.
 */
int store_runs_newest(Store *s, const char *view, int64_t before_id, size_t limit, StoreRun **out,
                      size_t *n) MUST_CHECK;
void store_runs_free(StoreRun *runs, size_t n);

/* What the notifications (planner/notify) told of a view, so that a restart does not repeat it. */
typedef struct StoreNotice {
    bool failing;            /* a failure was told, and no recovery since */
    int64_t failure_sent_us; /* when a failure was last told; 0 = never */
    bool overdue;            /* an alert_after breach was told, and no recovery since */
    int64_t ok_runs;         /* successful runs of the view on record, counted up to 2 (read
                                only): 1 tells a view's first build */
} StoreNotice;

/* Fills *out (all zero for a view never told of). Returns 0 or -1. */
int store_notice_get(Store *s, const char *view, StoreNotice *out) MUST_CHECK;
/* Records what was told of view. Returns 0 or -1. */
int store_notice_put(Store *s, const char *view, const StoreNotice *n) MUST_CHECK;

/* ---- reads for the web UI (web/): bounded, each served by an index ---- */

int store_web_count_views(Store *s, int64_t *n) MUST_CHECK;
/*
 * A page of views, failed ones first, then by last refresh (newest first; never built last),
 * then name: limit views from offset, each as store_get_view fills it. Returns 0 or -1.
 */
int store_web_views_page(Store *s, size_t offset, size_t limit, StoreView **out,
                         size_t *n) MUST_CHECK;
/*
 * Up to limit views by name with only name, depends_on, enabled, built_hash (NULL or ""),
 * last_failed and running filled in: what a drawn dependency graph needs. Returns 0 or -1.
 */
int store_web_graph(Store *s, size_t limit, StoreView **out, size_t *n) MUST_CHECK;
/* Appends to out the views that read view (up to 1000, by name). Returns 0 or -1. */
int store_web_dependents(Store *s, const char *view, StrVec *out) MUST_CHECK;
/* The mean duration of view's last 20 successful runs; -1 when it has none. Returns 0 or -1. */
int store_web_mean_duration(Store *s, const char *view, int64_t *mean_us) MUST_CHECK;
/* How many runs started since since_us, and their time spent building until now_us. */
int store_web_activity(Store *s, int64_t since_us, int64_t now_us, int64_t *runs,
                       int64_t *busy_us) MUST_CHECK;
/* Up to limit runs (newest first, no steps) that ran during [from_us, to_us). Returns 0 or -1. */
int store_web_runs_window(Store *s, int64_t from_us, int64_t to_us, size_t limit, StoreRun **out,
                          size_t *n) MUST_CHECK;
/* Up to limit runs in progress, oldest first, no steps. Returns 0 or -1. */
int store_web_runs_running(Store *s, size_t limit, StoreRun **out, size_t *n) MUST_CHECK;
/*
 * Up to limit runs with their steps, newest first: of view (NULL = all), started at since_us or
 * later, and after the run before_id in that order (0 = from the newest). Returns 0 or -1.
 */
int store_web_runs(Store *s, const char *view, int64_t since_us, int64_t before_id, size_t limit,
                   StoreRun **out, size_t *n) MUST_CHECK;
/* 0 when the catalog answers a query, -1 (store_error says why) when it does not. */
int store_web_ping(Store *s) MUST_CHECK;

/*
 * Retention: deletes the runs started before before_us, with their steps, at
 * most batch runs per write transaction and max_batches transactions per call
 * (*more tells whether some may remain). Kept whatever their age: a run in
 * progress, each view's newest finished run, its last good run, its last failed
 * run and its own failures since that good run (catalog/store_prune.c). Runs
 * of views no longer in the repository follow the same rules. *deleted counts
 * the runs deleted, also when -1 is returned (batches already committed stay).
 */
int store_prune_runs(Store *s, int64_t before_us, int batch, int max_batches, int64_t *deleted,
                     bool *more) MUST_CHECK;

/* The roles kept per view and hour; more are shown as a last name "…". */
#define STORE_MAX_READERS 20
/* Hourly read counts are kept this many hours (the 24 h shown, and a margin). */
#define STORE_READS_KEEP_HOURS 48

/*
 * Reads of a view through the gateway (catalog/store_reads.c). Given to
 * store_reads_add: what one hour (hour = µs since the epoch / 3600 s) added.
 * From store_reads_summary: a view's last 24 hours (hour is 0).
 */
typedef struct StoreReads {
    char *view;
    int64_t hour;
    int64_t reads;
    int64_t last_read_us; /* 0: never */
    char *readers;        /* sorted, comma-separated, bounded as above; "" when none */
} StoreReads;

/*
 * Adds reads counted in memory to the catalog in one transaction (counts
 * summed, readers merged) and drops hours older than STORE_READS_KEEP_HOURS.
 */
int store_reads_add(Store *s, const StoreReads *r, size_t n, int64_t now_us) MUST_CHECK;
/* Per view that was ever read: reads and readers of the 24 hours up to now_us, last read. */
int store_reads_summary(Store *s, int64_t now_us, StoreReads **out, size_t *n) MUST_CHECK;
void store_reads_free(StoreReads *r, size_t n);
/* The entry of view in what store_reads_summary gave (sorted by view), or NULL. */
const StoreReads *store_reads_find(const StoreReads *r, size_t n, const char *view);
/*
 * The union of two reader lists ("a,b" and "b,c"), sorted, without
 * duplicates, at most STORE_MAX_READERS names then "…" when some were left out.
 * Caller frees.
 */
char *store_readers_merge(const char *a, const char *b);

/* The last SQLite error message of this connection. */
const char *store_error(Store *s);

#endif
