/*
 * The managed views as the gateway sees them: the list read from the catalog
 * (again when its files change), how a read of a relation goes (staleness and
 * stale_read), a cache of statement classifications, and refreshes handed to
 * the scheduler with their outcome back on the gateway's loop, and the reads
 * counted (proxy/reads.c). One per gateway,
 * used on its thread only. Not for: one session's statements (inspect.c).
 */
#ifndef DURO_PROXY_VIEWS_H
#define DURO_PROXY_VIEWS_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "catalog/store.h"
#include "core/util.h"
#include "planner/scheduler.h"
#include "proxy/intercept.h"

typedef struct Views Views;
typedef struct ViewsRefresh ViewsRefresh;

/* How a read of a relation goes. */
typedef enum ViewsRead {
    VIEWS_READ_NOW,        /* not a managed view, or a fresh one */
    VIEWS_READ_WAIT,       /* stale with stale_read = wait, or never built, or idle */
    VIEWS_READ_BACKGROUND, /* stale with stale_read = serve: refresh in the background */
    VIEWS_READ_HELD,       /* stale, and a backoff holds its refresh back: read it now, warned */
    VIEWS_READ_REFUSE,     /* never built, and a backoff holds its build back: an error */
} ViewsRead;

/* What views_read found; the strings are valid until the next call on the Views. */
typedef struct ViewsReadInfo {
    const char *view;    /* the managed view read, schema.table */
    bool built;          /* it has a live table */
    const char *failed;  /* HELD, REFUSE: the view whose failure holds it back */
    const char *error;   /* that view's last error */
    int64_t next_try_us; /* when it is tried again */
} ViewsReadInfo;

/* The SQLSTATE of a read of a view that was never built while a backoff holds its build back. */
#define VIEWS_NEVER_BUILT_SQLSTATE "55000" /* object_not_in_prerequisite_state */

/* Told on the loop's thread that a refresh finished. */
typedef void (*ViewsRefreshDone)(void *arg, ViewsRefresh *r);

/*
 * Opens the catalog at path for the views of the gateway on base; refreshes go
 * to sc (NULL: every refresh ends cancelled). NULL with *error (caller frees).
 */
Views *views_open(struct event_base *base, const char *path, Scheduler *sc,
                  char **error) MUST_CHECK;
/* Frees the list, the cache and the refreshes not yet freed. NULL-safe. */
void views_free(Views *v);
/* The catalog connection (for the virtual tables). */
Store *views_store(Views *v);

/* What a read of relation ("schema.table" or "table") asks for; *info tells of the view. */
ViewsRead views_read(Views *v, const char *relation, ViewsReadInfo *info);
/* Counts a statement of role reading view (info->view of views_read) for duro.status. */
void views_note_read(Views *v, const char *view, const char *role);
/*
 * What a reader of view is told when the refresh of failed (view itself or a
 * view it reads) failed (error) and is tried again at next_try_us (0 =
 * unknown): the WARNING when the view is built, else the error. Caller frees.
 */
char *views_failure_message(const char *view, bool built, const char *failed, const char *error,
                            int64_t next_try_us);
/* The pre-filter: could sql concern Duro (its name, or a managed view's table name)? */
bool views_may_concern(Views *v, const char *sql, size_t len);
/* intercept_analyze, cached by text; the result is valid until the next call. */
const InterceptInfo *views_classify(Views *v, const char *sql);

/*
 * Submits a refresh of view. done(arg, r) follows on the loop's thread unless
 * done is NULL (then nobody waits and it frees itself).
 */
ViewsRefresh *views_refresh(Views *v, ViewsRefreshDone done, void *arg, const char *view,
                            bool force, bool only_if_stale, RunTrigger trigger);
/* Nobody waits for it any more: it frees itself when done. NULL-safe. */
void views_refresh_detach(ViewsRefresh *r);
/* The outcome of a finished refresh. */
const SchedulerRequest *views_refresh_result(const ViewsRefresh *r);
/* Frees a finished refresh whose waiter was told. */
void views_refresh_free(ViewsRefresh *r);

#endif
