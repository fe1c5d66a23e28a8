/*
 * Duro's SQL evaluated off the gateway's loop: a small pool of threads, each with its own catalog
 * connection, in-memory database and warehouse connection, runs queries on duro.status and
 * duro.runs under [gateway] duro_query_timeout and duro_query_max_bytes, cancellable, with the
 * rows a role may see (its SELECT privileges, checked against the warehouse and cached briefly).
 * Not for: the wire format (answer.c) or deciding what is Duro's SQL (intercept.c).
 */
#ifndef DURO_PROXY_EVALUATE_H
#define DURO_PROXY_EVALUATE_H

#include <event2/event.h>
#include <stddef.h>

#include "core/settings.h"
#include "sqlengine/vtable.h"

typedef struct EvalPool EvalPool;
typedef struct EvalJob EvalJob;

/* Called on the gateway's loop when a job has finished (or was cancelled); arg as submitted. */
typedef void (*EvalDoneFn)(void *arg);

/* Starts the threads; results come back on base's loop. Reads s only during the call. */
EvalPool *eval_start(struct event_base *base, const Settings *s, char **error) MUST_CHECK;
/* Stops the threads (a running query is interrupted) and frees the pool; jobs must have been
 * detached or finished. NULL-safe. */
void eval_free(EvalPool *p);

/*
 * Queues st (borrowed: it must stay alive until the job finishes or is detached; the loop's
 * copy is taken before either) with its parameters as text (copied), for the role user (copied)
 * with timestamptz printed in zone (copied; NULL = UTC). done runs on the loop once. Returns
 * NULL with *err (53300) when too many queries wait already.
 */
EvalJob *eval_submit(EvalPool *p, const VtStatement *st, char *const *params, size_t nparams,
                     const char *user, const char *zone, EvalDoneFn done, void *arg, VtError *err);
/* Asks the job to stop (a CancelRequest): it finishes with 57014. */
void eval_cancel(EvalJob *j);
/* Whether done has run. */
bool eval_finished(const EvalJob *j);
/* A finished job's outcome, and the job freed: 0 with the rows (caller frees with
 * vtable_rows_free), or -1 with *err. */
int eval_take(EvalJob *j, VtValue **rows, size_t *nrows, VtError *err);
/* Its session is gone: done will not run, and the job is freed once it has stopped. */
void eval_detach(EvalJob *j);

#endif
