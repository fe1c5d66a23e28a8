/*
 * One client session of the gateway, from accept to close: the startup
 * packets (TLS, GSSAPI refusal, cancel requests, protocol version), the
 * warehouse connection, authentication relayed both ways, then the relay; the
 * client messages that may be Duro's SQL go to inspect.c. Internal to proxy/;
 * gateway.c owns the list of sessions and frees them.
 */
#ifndef DURO_PROXY_SESSION_H
#define DURO_PROXY_SESSION_H

#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/util.h"
#include "proxy/answer.h"
#include "proxy/backend.h"
#include "proxy/inspect.h"

typedef struct Gateway Gateway;
typedef struct Session Session;

/* What sessions need of their gateway; owned by the gateway, read-only for sessions. */
typedef struct GatewayEnv {
    struct event_base *base;
    SSL_CTX *server_ctx;  /* NULL: no TLS for clients */
    bool tls_required;    /* [gateway] tls = require */
    uint32_t max_message; /* largest message a client may send, its length field */
    int max_clients;
    int max_logins;          /* connections logging in at once (see gateway.c) */
    int login_timeout_s;     /* from accept to the first ReadyForQuery */
    BackendTarget warehouse; /* where sessions connect */
    bool inspect;            /* [gateway] inspect: answer Duro's SQL, hold reads of stale views */
    AnswerEnv answer;        /* the catalog and the virtual tables' database */
    InspectEnv inspection;   /* for inspect.c, with inspect */
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

/* True from accept until the session is logged in (its first ReadyForQuery) or closing. */
bool session_logging_in(const Session *s);
/*
 * When (clock_mono_us) a session was accepted, if it is still logging in and waits for its
 * client: in the TLS handshake, for a startup packet, or for an answer to the warehouse's
 * authentication request. 0 otherwise (waiting for the warehouse, logged in): never evicted.
 */
int64_t session_evictable_since(const Session *s);
/* Ends a session that is logging in to make room for a newer one: 53300 to its client, close. */
void session_evict(Session *s, int max_logins);

/* Links for the gateway's list. */
Session **session_next(Session *s);
Session **session_prev(Session *s);

/* A cancel request: true when the session waited for a refresh (not the warehouse) and stops. */
bool session_cancel_wait(Session *s);

/* ---- implemented by gateway.c, for sessions ---- */

/* A session finished its startup: true when it may go on, false over max_clients. */
bool gateway_admit(Gateway *gw, Session *s);
/* A session counted as logging in since its accept is logged in, or closing. Once per session. */
void gateway_login_done(Gateway *gw, Session *s);
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
