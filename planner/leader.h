/*
 * Which instance leads the scheduler. With a shared catalog ([catalog] url), instances elect one
 * with a session-level advisory lock on the catalog's server, held on a connection of its own:
 * the server lets it go when that connection ends (the process died, or was cut off: TCP
 * keepalives; or it was frozen: the session's idle timeout, the lease). Taking it bumps the
 * generation in duro_leader, which fences scheduled runs (catalog/store_run_begin). Without a
 * shared catalog the process always leads, generation 0. Not for: what the leader schedules
 * (planner/scheduler).
 */
#ifndef DURO_PLANNER_LEADER_H
#define DURO_PLANNER_LEADER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/settings.h"

/* How often a follower tries the lock and the leader checks it still leads. */
#define LEADER_POLL_MS 1000
/* The lease: a leader that sends nothing for this long loses its session, and the lock. */
#define LEADER_LEASE_S 10

typedef struct Leader Leader;

/* Starts electing (a thread) when s has a shared catalog; else a Leader that always leads.
 * NULL with *error when the thread cannot start. */
Leader *leader_start(const Settings *s, char **error);
void leader_stop(Leader *l);

/* Whether this process leads now; the generation it leads under (0 when it does not, and
 * without a shared catalog). Safe from any thread. */
bool leader_leads(Leader *l);
int64_t leader_generation(Leader *l);

/* Who leads, as the catalog said at the last poll (without a shared catalog: this process). */
typedef struct LeaderInfo {
    bool shared;   /* a shared catalog */
    bool known;    /* a leader is recorded: the fields below mean something */
    bool this_one; /* it is this process */
    int64_t generation;
    char instance[40];
    char host[300];
    int64_t since_us;
} LeaderInfo;

/* The process's Leader's view of who leads (this_one and shared false when none started). */
void leader_current(LeaderInfo *out);

#endif
