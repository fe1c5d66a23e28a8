/*
 * The web UI of `duro serve` on [web] listen: HTML pages, their JSON API, /healthz and /metrics,
 * served by libevent's HTTP server on a thread and event base of its own, reading the catalog on
 * its own connection; refreshes asked for here go through the scheduler. Not for: the gateway
 * (proxy/) or building views (planner/).
 */
#ifndef DURO_WEB_WEB_H
#define DURO_WEB_WEB_H

#include "core/settings.h"
#include "core/util.h"
#include "planner/scheduler.h"

typedef struct Web Web;

/*
 * Whether [web] may serve as configured: a listen address that is not loopback needs a
 * [web] token, unless [web] public = on. Returns 0, or -1 with *error (caller frees).
 */
int web_check_settings(const Settings *s, char **error) MUST_CHECK;

/* Opens the catalog, binds [web] listen and starts the thread. NULL with *error on failure. */
Web *web_start(const Settings *s, Scheduler *sc, char **error);
/* Stops serving and joins the thread: no request is taken or submitted after it returns. */
void web_stop(Web *w);
/* Frees a stopped Web; call after the scheduler is freed (its requests may still be ours). */
void web_free(Web *w);

#endif
