/*
 * Publishing duro.status and duro.runs as real tables in the warehouse ([catalog] publish): a
 * thread of its own, with its own warehouse and catalog connections, that keeps the tables
 * "<[catalog] schema>".status and .runs (created by the service account, SELECT granted to
 * [catalog] readers, else to [worker] admins) in step with the catalog, which stays the source of
 * truth. At most one warehouse transaction every [catalog] publish_every, and only when something
 * changed: runs are appended after the last id published as final, the status rows replaced
 * whole. A missing table is created again and everything republished. A service account that may
 * not create the schema or the tables gets one warning naming the GRANT to run; Duro goes on.
 * Not for: answering clients (proxy/ relays to these tables what the virtual tables cannot
 * answer), or the SQL text (planner/dialect.c).
 */
#ifndef DURO_PLANNER_PUBLISH_H
#define DURO_PLANNER_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/settings.h"
#include "core/util.h"

typedef struct Publisher Publisher;

/*
 * Starts the thread when [catalog] publish is on (*out NULL when it is off). s must outlive it.
 * Returns 0, or -1 with *error (caller frees) when the thread cannot start.
 */
int publish_start(const Settings *s, Publisher **out, char **error) MUST_CHECK;
/* Stops the thread (a statement running is cancelled), closes its connections, frees. NULL-safe. */
void publish_stop(Publisher *p);

/* The rule for whether a publish is due: something changed since the last one (fingerprints of
 * the status rows and of the runs not yet final differ), and publish_every has passed since the
 * last transaction (last_us 0 = none yet). Times in µs of one clock. */
bool publish_due(uint64_t published_fp, uint64_t current_fp, int64_t last_us, int64_t now_us,
                 int64_t every_us);

/* The runs' values as text for INSERT parameters: a timestamp (µs since the epoch, UTC) as
 * "2026-12-04 06:55:23.123456+00" into buf (at least 40 bytes). */
void publish_format_time(int64_t us, char *buf, size_t size);

#endif
