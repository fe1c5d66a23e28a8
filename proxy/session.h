/*
 * One client session of the gateway, from accept to close: the startup
 * packets (TLS, GSSAPI refusal, cancel requests, protocol version), the
 * warehouse connection, authentication relayed both ways, then the relay with
 * the few messages the gateway looks at. Internal to proxy/; gateway.c owns
 * the list of sessions and frees them.
 */
#ifndef DURO_PROXY_SESSION_H
#define DURO_PROXY_SESSION_H

#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/util.h"
#include "planner/scheduler.h"
#include "proxy/answer.h"
#include "proxy/backend.h"

typedef struct Gateway Gateway;
typedef struct Session Session;
typedef struct GatewayRefresh GatewayRefresh;

/* What sessions need of their gateway; owned by the gateway, read-only for sessions. */
typedef struct GatewayEnv {
    struct event_base *base;
    SSL_CTX *server_ctx;  /* NULL: no TLS for clients */
    bool tls_required;    /* [gateway] tls = require */
    uint32_t max_message; /* largest message a client may send, its length field */
    int max_clients;
    BackendTarget warehouse; /* where sessions connect */
    bool inspect;            /* [gateway] inspect: answer Duro's SQL, hold reads of stale views */
    const StrVec *admins;    /* [worker] admins; empty = everyone */
    AnswerEnv answer;        /* the catalog and the virtual tables' database */
} GatewayEnv;

/* Starts a session on an accepted, non-blocking socket (the session owns it). */
Session *session_new(Gateway *gw, const GatewayEnv *env, evutil_socket_t fd,
                     const struct sockaddr *peer, int peer_len);

/* Ends a session that is still running: the error (57P01) to its client, then close. */
void session_shutdown(Session *s);

/* Frees a dead session (see gateway_session_dead) and everything it holds. */
void session_free(Session *s);

/* The session's number in logs. */
uint32_t session_id(const Session *s);
/* True when a CancelRequest's PID and key are the ones this session gave its client. */
bool session_cancel_matches(const Session *s, uint32_t pid, uint32_t key);
/* The cancel request this connection carried has reached the warehouse: close it. */
void session_cancel_done(Session *s);
/* The warehouse's own PID and cancel key of the session's backend; false before it sent them. */
bool session_backend_key(const Session *s, uint32_t *pid, uint32_t *key);

/* True once the session was counted against max_clients (gateway_admit said yes). */
bool session_admitted(const Session *s);

/* Links for the gateway's list. */
Session **session_next(Session *s);
Session **session_prev(Session *s);

/* A refresh of the session's finished (see gateway_refresh); called on the gateway's thread. */
void session_refresh_done(Session *s, GatewayRefresh *r);
/* A cancel request for a session that waits for a refresh instead of the warehouse. */
bool session_cancel_wait(Session *s);

/* ---- implemented by gateway.c, for sessions ---- */

/* How a read of a relation goes. */
typedef enum GatewayRead {
    GATEWAY_READ_NOW,        /* not a managed view, or a fresh one */
    GATEWAY_READ_WAIT,       /* stale with stale_read = wait, or never built */
    GATEWAY_READ_BACKGROUND, /* stale with stale_read = serve: refresh in the background */
} GatewayRead;

/* What a read of relation ("schema.table" or "table") asks for; *view is its name then. */
GatewayRead gateway_read(Gateway *gw, const char *relation, const char **view);
/* The pre-filter: could sql concern Duro (its name, or a managed view's table name)? */
bool gateway_may_concern(Gateway *gw, const char *sql, size_t len);
/* intercept_analyze, cached by text; the result is valid until the next call. */
const InterceptInfo *gateway_classify(Gateway *gw, const char *sql);

/* A refresh asked for by a session (or by nobody, for stale_read = serve). */
/* Submits it; session_refresh_done(s) follows unless s is NULL (then it frees itself). */
GatewayRefresh *gateway_refresh(Gateway *gw, Session *s, const char *view, bool force,
                                bool only_if_stale, const char *trigger);
/* The session no longer waits for it: it frees itself when done. NULL-safe. */
void gateway_refresh_detach(GatewayRefresh *r);
/* The outcome of a finished refresh. */
const SchedulerRequest *gateway_refresh_result(const GatewayRefresh *r);
/* Frees a finished refresh the session was told about. */
void gateway_refresh_free(GatewayRefresh *r);

/* A session finished its startup: true when it may go on, false over max_clients. */
bool gateway_admit(Gateway *gw, Session *s);
/* The session is dead: its sockets may be closed and its memory freed, after this callback. */
void gateway_session_dead(Gateway *gw, Session *s);
/*
 * A CancelRequest arrived on requester's connection: find the session by PID and key and
 * forward it. True when it is on its way: session_cancel_done(requester) follows once the
 * warehouse has taken it (unless requester is dead by then). False: nothing to forward.
 */
bool gateway_cancel_request(Gateway *gw, Session *requester, uint32_t pid, uint32_t key);
/* A fresh session id (never 0 and never in use) and a random cancel key. */
uint32_t gateway_new_session_id(Gateway *gw);

#endif
