/*
 * The gateway: a PostgreSQL-wire server on [gateway] listen that relays every
 * client session to a warehouse connection of its own (README, "The gateway"), on a libevent
 * loop in a thread of its own. The calls below are safe from any thread.
 * Not for: the protocol (codec.c), one session's life (session.c).
 */
#ifndef DURO_PROXY_GATEWAY_H
#define DURO_PROXY_GATEWAY_H

#include "core/settings.h"
#include "core/util.h"
#include "planner/scheduler.h"

typedef struct Gateway Gateway;

/*
 * Binds [gateway] listen, loads the TLS files, opens the catalog and starts
 * serving; refreshes asked for with SQL go to sc (which must outlive the
 * gateway's sessions: free the gateway after stopping sc). Returns NULL with
 * *error (caller frees) when it cannot: address in use, a bad certificate or
 * key. Reads s only during the call.
 */
Gateway *gateway_start(const Settings *s, Scheduler *sc, char **error) MUST_CHECK;

/* Stops accepting connections; sessions go on. */
void gateway_stop_accepting(Gateway *gw);

/* Ends every session: a FATAL 57P01 error to each client, then close. */
void gateway_close_sessions(Gateway *gw);

/* Client connections open right now. */
int gateway_sessions(const Gateway *gw);

/* Stops the gateway's loop and thread; sessions stay as they are until gateway_free. */
void gateway_halt(Gateway *gw);

/* Closes everything, stops the loop (if gateway_halt did not) and frees the gateway. NULL-safe. */
void gateway_free(Gateway *gw);

#endif
