/*
 * Opening a connection to the warehouse for the gateway: TCP to a host name
 * (resolved without blocking), then the SSLRequest exchange and the TLS
 * handshake as [warehouse] sslmode says. Hands its owner a connected Conn.
 * Not for: the startup message and authentication, which the session relays
 * from its own client.
 */
#ifndef DURO_PROXY_BACKEND_H
#define DURO_PROXY_BACKEND_H

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <openssl/ssl.h>
#include <stdbool.h>

#include "proxy/stream.h"
#include "proxy/tls.h"

typedef struct BackendTarget {
    const char *host;
    int port;
    TlsSslMode sslmode;
    SSL_CTX *ctx;           /* client context; NULL only with TLS_SSLMODE_DISABLE */
    struct evdns_base *dns; /* NULL: libevent resolves with a blocking lookup */
    int timeout_s;          /* for connecting and the TLS handshake */
} BackendTarget;

/*
 * Called once: with a connected Stream (ownership passes to the callee; no
 * callbacks, reading disabled), or with st NULL and an error message (valid
 * during the call) that names the warehouse.
 */
typedef void (*BackendReadyFn)(Stream *st, const char *error, void *arg);

typedef struct BackendConnect BackendConnect;

/* Starts connecting; the callback never runs before this returns. The target is copied. */
BackendConnect *backend_connect(struct event_base *base, const BackendTarget *t, BackendReadyFn cb,
                                void *arg);

/* Stops a connection attempt whose callback has not run yet; it never will. */
void backend_connect_abort(BackendConnect *bc);

#endif
