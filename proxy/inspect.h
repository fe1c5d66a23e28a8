/*
 * Interception of Duro's SQL in one session ([gateway] inspect = on): each
 * client message the relay holds gets one decision (relay it, answer it with
 * answer.c, hold it for a refresh, refuse it), with the extended-protocol
 * bookkeeping that keeps Duro's answers in order with the warehouse's. Not for:
 * moving bytes or the session's life (session.c), the view list (views.c).
 */
#ifndef DURO_PROXY_INSPECT_H
#define DURO_PROXY_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"
#include "proxy/answer.h"
#include "proxy/relay.h"
#include "proxy/views.h"

typedef struct Inspect Inspect;

/* What the session does with a client message after inspect_statement. */
typedef enum InspectVerdict {
    INSPECT_PASS,   /* relay it to the warehouse as it is */
    INSPECT_ANSWER, /* Duro answered it (or dropped it): nothing to relay */
    INSPECT_WAIT,   /* keep it held: it comes to inspect_statement again after ops->resume */
    INSPECT_REFUSE, /* malformed: end the session with 08P01 and the reason given */
} InspectVerdict;

/* What the module needs of its session; arg is the session. */
typedef struct InspectOps {
    /* Queues bytes of Duro's for the client and flushes them. */
    void (*to_client)(void *arg, const void *data, size_t len);
    /* True when the warehouse is between messages to the client, so one of Duro's may go. */
    bool (*client_at_boundary)(void *arg);
    /* Appends bytes of Duro's for the warehouse and flushes them. */
    void (*to_server)(void *arg, const void *data, size_t len);
    /* Hands the held client message to inspect_statement again, from an event of its own. */
    void (*resume)(void *arg);
} InspectOps;

/* What every session of a gateway shares; owned by the gateway. */
typedef struct InspectEnv {
    Views *views;
    const AnswerEnv *answer; /* the catalog and the virtual tables' database */
    const StrVec *admins;    /* [worker] admins; empty = everyone */
    size_t limit;            /* [gateway] inspect_limit: larger queries pass unexamined */
    /* [catalog] publish_every when duro.status and duro.runs are published as duro.*, else 0:
     * what they cannot answer live is relayed to those copies, with a NOTICE of their age. */
    int64_t copy_age;
} InspectEnv;

/* A module for session id (in logs); env and ops outlive it. */
Inspect *inspect_new(const InspectEnv *env, uint32_t id, const InspectOps *ops, void *arg);
/* Frees it; a refresh it waits for goes on without it. NULL-safe. */
void inspect_free(Inspect *in);
/* The client's role, once known (borrowed: it outlives the module). */
void inspect_set_user(Inspect *in, const char *user);

/* A ParameterStatus from the warehouse (whole message): TimeZone is noted for Duro's answers. */
void inspect_server_parameter(Inspect *in, const uint8_t *msg, size_t len);

/*
 * At the header of a client message of size bytes once the session is ready:
 * hold it, or pass it. A Query or Parse over env->limit passes as it arrives,
 * unexamined: Duro neither answers it nor holds it for a stale view.
 */
RelayVerdict inspect_header(Inspect *in, char type, size_t size);
/* A held client message, whole; *why is set for INSPECT_REFUSE (valid until the next call). */
InspectVerdict inspect_statement(Inspect *in, const uint8_t *msg, size_t len, const char **why);

/* The type of each message from the warehouse, at its header (what it answered so far). */
void inspect_server_header(Inspect *in, char type);
/* A ReadyForQuery from the warehouse: true when it answers a Sync of Duro's (not relayed). */
bool inspect_server_ready(Inspect *in, char tx_status);
/* True when the next ReadyForQuery answers a Sync of Duro's (inspect_server_ready would say so). */
bool inspect_server_ready_is_ours(const Inspect *in);
/* An ErrorResponse from the warehouse: true when it answers a message of Duro's (not relayed). */
bool inspect_server_error(Inspect *in);
/* A CloseComplete from the warehouse: true when it answers a Close of Duro's (not relayed). */
bool inspect_server_close_complete(Inspect *in);

/* A cancel request: true when the session waited for a refresh, which it no longer does, or for
 * a query on duro.* being evaluated, which ends with 57014. */
bool inspect_cancel_wait(Inspect *in);

#endif
