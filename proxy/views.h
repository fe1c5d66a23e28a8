/*
 * The managed views as the gateway sees them: the list read from the catalog
 * (again when its files change), how a read of a relation goes (staleness and
 * stale_read), a cache of statement classifications, and refreshes handed to
 * the scheduler with their outcome back on the gateway's loop. One per gateway,
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
    VIEWS_READ_WAIT,       /* stale with stale_read = wait, or never built */
    VIEWS_READ_BACKGROUND, /* stale with stale_read = serve: refresh in the background */
} ViewsRead;

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

/* What a read of relation ("schema.table" or "table") asks for; *view is its name then. */
ViewsRead views_read(Views *v, const char *relation, const char **view);
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
