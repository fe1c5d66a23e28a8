/*
 * Notifications to Slack incoming webhooks (or any endpoint taking the same
 * JSON): failed refreshes, recoveries, new and updated views (batched),
 * alert_after breaches and their end, and a periodic summary. What was told of
 * each view is kept in the catalog, so a failure is not told again within
 * NOTIFY_REPEAT_US, across restarts. Two threads of their own: one decides
 * (reads the catalog), one posts (libcurl, timeouts, retries with backoff);
 * both queues are bounded and what does not fit is counted as dropped, so a
 * dead webhook never slows a refresh or the gateway. Not for: what a refresh
 * is (planner/refresh) or /metrics (planner/metrics).
 */
#ifndef DURO_PLANNER_NOTIFY_H
#define DURO_PLANNER_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/settings.h"
#include "planner/refresh.h"

#define NOTIFY_REPEAT_US (600LL * 1000000) /* a view's failure is told at most this often */

typedef struct Notifier Notifier;

/*
 * Starts the notifier when a webhook of s is set (s outlives it); *out is NULL
 * when none is. Returns 0, or -1 with *error (caller frees). While it runs,
 * notify_report hands it what the scheduler builds.
 */
int notify_start(const Settings *s, Notifier **out, char **error) MUST_CHECK;
/* Stops it: what is queued gets a few seconds to go out, the rest is counted dropped. NULL-safe. */
void notify_stop(Notifier *n);

/* Hands the builds of rep to the running notifier, if any. Never blocks on the network. */
void notify_report(const RefreshReport *rep);

/* ---- Pure parts, for tests ---- */

/* Whether a failure may be told at now_us when the view's last one was told at sent_us (0: never).
 */
bool notify_failure_due(int64_t sent_us, int64_t now_us);
/* {"text": text} with text escaped as a JSON string. Caller frees. */
char *notify_json(const char *text);
/* text with every occurrence of url, and of its path, replaced by "<webhook>". Caller frees. */
char *notify_redact(const char *text, const char *url);
/* Splits a pipeline error "step: message" into its step (copied into step, size bytes; "" when
 * the error names none) and returns the message. */
const char *notify_split_step(const char *error, char *step, size_t size);

#endif
